//! Centered clipping.

use crate::error::{check_finite_at_least_zero, AggregateError, Result};
use crate::kernels::{
    median_f64, row_sq_distances, weighted_row_sum, weighted_row_sum_and_sq_distances,
};
use crate::registry::{params, RuleBuilder, MITIGATES_MODEL_POISONING};
use crate::rules::{honest_majority, Aggregator, RoundState};
use crate::updates::{check_vector, Aggregation, Round};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;

/// Registry entry: `centered-clipping[:tau=<radius>,iterations=<L>]`.
pub const ENTRY: Entry<RuleBuilder> = Entry {
    name: "centered-clipping",
    role: Role::AggregationRule,
    modalities: &[],
    summary: "L steps of clipping the updates to radius tau around the previous aggregate; tau (default: median distance to the centre), iterations L (default 3)",
    paper: "Karimireddy, He, Jaggi 2021",
    taxonomy: MITIGATES_MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: |f, p| {
        let mut params: CenteredClippingParams = params("centered-clipping", p)?;
        params.byzantine = f;
        Ok(Box::new(params.check()?))
    },
};

/// Hyperparameters of [`CenteredClipping`]; `.check()` validates them once. As JSON:
/// `tau`, `iterations`; `byzantine` comes from the scenario.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct CenteredClippingParams {
    /// Byzantine clients to withstand.
    #[serde(skip)]
    pub byzantine: usize,
    /// Clipping radius `tau`; `None` uses, at each iteration, the median distance of the
    /// updates to the current centre (scale-free; an honest majority keeps it honest).
    #[serde(rename = "tau")]
    pub radius: Option<f64>,
    /// Clipping iterations `L` (the paper uses 1-3).
    pub iterations: usize,
}

impl CenteredClippingParams {
    /// Defaults: adaptive radius, 3 iterations.
    pub fn new(byzantine: usize) -> Self {
        CenteredClippingParams {
            byzantine,
            radius: None,
            iterations: 3,
        }
    }
}

impl Default for CenteredClippingParams {
    fn default() -> Self {
        CenteredClippingParams::new(0)
    }
}

impl ParamGuard for CenteredClippingParams {
    type Checked = CenteredClipping;
    type Error = AggregateError;
    fn check_ref(&self) -> Result<()> {
        if let Some(r) = self.radius {
            check_finite_at_least_zero("radius", r, true)?;
        }
        if self.iterations == 0 {
            return Err(AggregateError::Param {
                name: "iterations",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
    fn build(self) -> CenteredClipping {
        CenteredClipping { params: self }
    }
}

/// Centered clipping (Karimireddy, He, Jaggi 2021, "Learning from History for Byzantine
/// Robust Optimization").
///
/// From a centre `v_0` (the previous round's aggregate; zero when there is none), iterate
/// `L` times: `v <- v + (1/n) sum_i (x_i - v) min(1, tau / ||x_i - v||)`. Each client moves the
/// result by at most `tau / n` per iteration. The theory needs a Byzantine fraction below a
/// constant; we require at least an honest majority, `f < n/2` (with the adaptive radius a
/// Byzantine majority would set `tau`). Client weights are not used (uniform `1/n`, as in the
/// paper).
///
/// State is explicit: [`aggregate_from`](CenteredClipping::aggregate_from) takes the centre and
/// is pure; the trait method reads `state.centre` and stores the new aggregate there.
/// `aggregate = a v_0 + sum_i weights[i] x_i` with `a = 1 - sum_i weights[i]` (the centre's
/// weight). `scores` are the distances to the centre of the last iteration.
///
/// ```
/// use mithridate_aggregate::{CenteredClippingParams, ParamGuard, Round, Updates};
/// let u = Updates::new(&[1.0, 2.0, 100.0], 3, 1).unwrap();
/// let mut p = CenteredClippingParams::new(1);
/// p.radius = Some(1.0);
/// p.iterations = 1;
/// let out = p.check().unwrap().aggregate_from(&Round::new(u), Some(&[1.5])).unwrap();
/// // (1/3) * (-0.5 + 0.5 + 1.0) = 1/3 step from 1.5
/// assert!((out.aggregate[0] - (1.5 + 1.0 / 3.0)).abs() < 1e-6);
/// ```
#[derive(Debug, Clone)]
pub struct CenteredClipping {
    params: CenteredClippingParams,
}

impl CenteredClipping {
    /// One aggregation from an explicit centre (`None` = zero vector).
    pub fn aggregate_from(&self, round: &Round<'_>, centre: Option<&[f32]>) -> Result<Aggregation> {
        round.reject_weights(self.name())?;
        let u = round.updates();
        let (n, d) = (u.n(), u.d());
        self.check_clients(n)?;
        let zero;
        let v0: &[f32] = match centre {
            Some(c) => {
                check_vector("centre", c, d)?;
                c
            }
            None => {
                zero = vec![0.0f32; d];
                &zero
            }
        };
        // v = a * v0 + X^T c, kept both as coefficients (for exact weights) and materialised.
        let mut a = 1.0f64;
        let mut c = vec![0.0f64; n];
        let mut v = v0.to_vec();
        let mut sq = row_sq_distances(u, &v);
        let mut dist = Vec::new();
        for iteration in 1..=self.params.iterations {
            dist = sq.iter().map(|x| x.sqrt()).collect();
            let tau = self.params.radius.unwrap_or_else(|| median_f64(&dist));
            let s: Vec<f64> = dist
                .iter()
                .map(|&r| if r > tau { tau / r } else { 1.0 })
                .collect();
            let total: f64 = s.iter().sum::<f64>() / n as f64;
            a *= 1.0 - total;
            for (ci, si) in c.iter_mut().zip(&s) {
                *ci = *ci * (1.0 - total) + si / n as f64;
            }
            // The next iteration's distances come out of the same pass over the rows.
            if iteration < self.params.iterations {
                (v, sq) = weighted_row_sum_and_sq_distances(u, &c, Some((a, v0)));
            } else {
                v = weighted_row_sum(u, &c, Some((a, v0)));
            }
        }
        Ok(Aggregation::from_weights(v, c, Some(dist)))
    }
}

impl Aggregator for CenteredClipping {
    fn name(&self) -> &'static str {
        "centered-clipping"
    }
    fn byzantine(&self) -> usize {
        self.params.byzantine
    }
    fn max_byzantine(&self, n: usize) -> usize {
        honest_majority(n)
    }
    fn tolerance(&self) -> &'static str {
        "n > 2f"
    }
    fn aggregate(&self, round: &Round<'_>, state: &mut RoundState) -> Result<Aggregation> {
        let out = self.aggregate_from(round, state.centre.as_deref())?;
        state.centre = Some(out.aggregate.clone());
        Ok(out)
    }
}
