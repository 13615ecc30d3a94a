//! Geometric median (RFA).

use crate::error::{check_finite_at_least_zero, AggregateError, Result};
use crate::kernels::{gram, weighted_row_sum};
use crate::registry::{params, RuleBuilder, MITIGATES_MODEL_POISONING};
use crate::rules::{honest_majority, Aggregator, RoundState};
use crate::updates::{Aggregation, Round};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;

/// Registry entry: `geomed[:smoothing=..,tolerance=..,max-iterations=..]`.
pub const ENTRY: Entry<RuleBuilder> = Entry {
    name: "geomed",
    role: Role::AggregationRule,
    modalities: &[],
    summary: "geometric median by smoothed Weiszfeld (RFA); smoothing nu (default 1e-6), relative tolerance (1e-7), max-iterations (1000)",
    paper: "Pillutla, Kakade, Harchaoui 2022",
    taxonomy: MITIGATES_MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: |f, p| {
        let mut params: GeometricMedianParams = params("geomed", p)?;
        params.byzantine = f;
        Ok(Box::new(params.check()?))
    },
};

/// Hyperparameters of [`GeometricMedian`]; `.check()` validates them once. As JSON:
/// `smoothing`, `tolerance`, `max-iterations`; `byzantine` comes from the scenario.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct GeometricMedianParams {
    /// Byzantine clients to withstand.
    #[serde(skip)]
    pub byzantine: usize,
    /// Smoothing `nu > 0`: distances below it count as `nu` (avoids division by zero when
    /// the estimate lands on an update).
    pub smoothing: f64,
    /// Stop when the objective improves by less than `tolerance` times its value.
    pub tolerance: f64,
    /// Upper bound on Weiszfeld iterations.
    pub max_iterations: usize,
}

impl GeometricMedianParams {
    /// Defaults: `nu = 1e-6`, relative tolerance `1e-7`, at most 1000 iterations.
    pub fn new(byzantine: usize) -> Self {
        GeometricMedianParams {
            byzantine,
            smoothing: 1e-6,
            tolerance: 1e-7,
            max_iterations: 1000,
        }
    }
}

impl Default for GeometricMedianParams {
    fn default() -> Self {
        GeometricMedianParams::new(0)
    }
}

impl ParamGuard for GeometricMedianParams {
    type Checked = GeometricMedian;
    type Error = AggregateError;
    fn check_ref(&self) -> Result<()> {
        check_finite_at_least_zero("smoothing", self.smoothing, true)?;
        check_finite_at_least_zero("tolerance", self.tolerance, false)?;
        if self.max_iterations == 0 {
            return Err(AggregateError::Param {
                name: "max_iterations",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
    fn build(self) -> GeometricMedian {
        GeometricMedian { params: self }
    }
}

/// Geometric median by smoothed Weiszfeld, as in RFA (Pillutla, Kakade, Harchaoui 2022,
/// "Robust Aggregation for Federated Learning").
///
/// Minimises `F(v) = sum_i a_i max(nu, ||v - x_i||)` (`a_i` the normalised client weights):
/// starting from the weighted mean, iterate `v <- sum_i b_i x_i / sum_i b_i` with
/// `b_i = a_i / max(nu, ||v - x_i||)` until `F` improves by less than `tolerance * F` (byzfl
/// instead runs a fixed number of steps from zero without a convergence check). Tolerates
/// `f < n/2` (breakdown point 1/2).
///
/// Because every iterate is a convex combination `v = sum_i c_i x_i`, distances follow from the
/// f64 Gram matrix: `||v - x_i||^2 = c'Gc - 2(Gc)_i + G_ii`. One GEMM, then each iteration costs
/// `O(n^2)` instead of two passes over the data, and `weights = c` exactly. `scores` are the
/// final distances `||v - x_i||`.
///
/// ```
/// use mithridate_aggregate::{Aggregator, GeometricMedianParams, ParamGuard, Round, RoundState, Updates};
/// // Three points on a line: the geometric median is the middle one.
/// let u = Updates::new(&[0.0, 1.0, 10.0], 3, 1).unwrap();
/// let rule = GeometricMedianParams::new(1).check().unwrap();
/// let out = rule.aggregate(&Round::new(u), &mut RoundState::default()).unwrap();
/// assert!((out.aggregate[0] - 1.0).abs() < 1e-3);
/// ```
#[derive(Debug, Clone)]
pub struct GeometricMedian {
    params: GeometricMedianParams,
}

impl GeometricMedian {
    /// Runs smoothed Weiszfeld on a Gram matrix; returns the coefficients `c` and the final
    /// distances.
    pub(crate) fn weiszfeld(&self, g: &[f64], n: usize, a: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let nu = self.params.smoothing;
        let distances = |c: &[f64]| -> Vec<f64> {
            let gc: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|j| g[i * n + j] * c[j]).sum())
                .collect();
            let cgc: f64 = c.iter().zip(&gc).map(|(x, y)| x * y).sum();
            (0..n)
                .map(|i| (cgc - 2.0 * gc[i] + g[i * n + i]).max(0.0).sqrt())
                .collect()
        };
        let objective =
            |dist: &[f64]| -> f64 { a.iter().zip(dist).map(|(w, x)| w * x.max(nu)).sum() };
        let mut c = a.to_vec();
        let mut dist = distances(&c);
        let mut value = objective(&dist);
        for _ in 0..self.params.max_iterations {
            let b: Vec<f64> = a.iter().zip(&dist).map(|(w, x)| w / x.max(nu)).collect();
            let total: f64 = b.iter().sum();
            let next: Vec<f64> = b.iter().map(|x| x / total).collect();
            let next_dist = distances(&next);
            let next_value = objective(&next_dist);
            // Weiszfeld never increases F; stop at convergence (or on rounding noise).
            if next_value > value {
                break;
            }
            let improvement = value - next_value;
            c = next;
            dist = next_dist;
            value = next_value;
            if improvement <= self.params.tolerance * value {
                break;
            }
        }
        (c, dist)
    }
}

impl Aggregator for GeometricMedian {
    fn name(&self) -> &'static str {
        "geomed"
    }
    fn byzantine(&self) -> usize {
        self.params.byzantine
    }
    fn max_byzantine(&self, n: usize) -> usize {
        honest_majority(n)
    }
    fn uses_weights(&self) -> bool {
        true
    }
    fn tolerance(&self) -> &'static str {
        "n > 2f"
    }
    fn aggregate(&self, round: &Round<'_>, _state: &mut RoundState) -> Result<Aggregation> {
        let u = round.updates();
        let n = u.n();
        self.check_clients(n)?;
        let a = round.normalized_weights();
        let g = gram(u);
        let (c, dist) = self.weiszfeld(&g, n, &a);
        let aggregate = weighted_row_sum(u, &c, None);
        Ok(Aggregation::from_weights(aggregate, c, Some(dist)))
    }
}
