//! Static norm clipping (pre-aggregation).

use crate::error::{check_finite_at_least_zero, AggregateError, Result};
use crate::kernels::row_sq_norms;
use crate::pre::{Mixed, PreAggregator};
use crate::registry::{params, PreBuilder, MITIGATES_MODEL_POISONING};
use crate::updates::Updates;
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;

/// Registry entry: `clipping:tau=<radius>` (`tau` is required).
pub const ENTRY: Entry<PreBuilder> = Entry {
    name: "clipping",
    role: Role::PreAggregator,
    modalities: &[],
    summary: "static clipping: scale every update to norm at most tau (required) before the rule",
    paper: "Karimireddy, He, Jaggi 2021",
    taxonomy: MITIGATES_MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: |_f, p| Ok(Box::new(params::<ClippingParams>("clipping", p)?.check()?)),
};

/// Hyperparameters of [`Clipping`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClippingParams {
    /// Clipping radius `tau > 0`.
    pub tau: f64,
}

impl ParamGuard for ClippingParams {
    type Checked = Clipping;
    type Error = AggregateError;
    fn check_ref(&self) -> Result<()> {
        check_finite_at_least_zero("tau", self.tau, true)
    }
    fn build(self) -> Clipping {
        Clipping { tau: self.tau }
    }
}

/// Static clipping, the fixed-radius baseline of Karimireddy, He, Jaggi 2021 ("Learning from
/// History for Byzantine Robust Optimization", ICML), who show it alone is not robust (its
/// centred variant is `centered-clipping`); as a pre-aggregator it bounds any client's
/// influence on the rule after it.
///
/// `y_i = x_i min(1, tau / ||x_i||)` (norms in f64; a zero update stays zero), one row per
/// client, so the rule's weights map back as `w_i min(1, tau / ||x_i||)`. Adds no Byzantine
/// bound of its own.
///
/// ```
/// use mithridate_aggregate::pre::{clipping::ClippingParams, PreAggregator};
/// use mithridate_aggregate::{ParamGuard, Updates};
/// let u = Updates::new(&[3.0, 4.0, 0.3, 0.4], 2, 2).unwrap();
/// let mixed = ClippingParams { tau: 1.0 }.check().unwrap().apply(&u, 0).unwrap();
/// assert_eq!(mixed.rows, vec![0.6, 0.8, 0.3, 0.4]);
/// assert_eq!(mixed.matrix, vec![0.2, 0.0, 0.0, 1.0]);
/// ```
#[derive(Debug, Clone)]
pub struct Clipping {
    tau: f64,
}

impl PreAggregator for Clipping {
    fn name(&self) -> &'static str {
        "clipping"
    }
    fn max_byzantine(&self, n: usize) -> usize {
        n
    }
    fn tolerance(&self) -> &'static str {
        "the rule's bound"
    }
    fn outputs(&self, n: usize) -> usize {
        n
    }
    fn apply(&self, u: &Updates<'_>, _seed: u64) -> Result<Mixed> {
        let (n, d) = (u.n(), u.d());
        let factors: Vec<f64> = row_sq_norms(u)
            .into_iter()
            .map(|sq| {
                let norm = sq.sqrt();
                if norm > self.tau {
                    self.tau / norm
                } else {
                    1.0
                }
            })
            .collect();
        let mut matrix = vec![0.0f64; n * n];
        let mut rows = Vec::with_capacity(n * d);
        for (i, c) in factors.iter().enumerate() {
            matrix[i * n + i] = *c;
            rows.extend(u.row(i).iter().map(|x| (*x as f64 * c) as f32));
        }
        Ok(Mixed { rows, m: n, matrix })
    }
}
