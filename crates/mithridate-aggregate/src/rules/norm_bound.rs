//! Norm bounding with optional Gaussian noise.

use crate::error::AggregateError;
use crate::error::{check_finite_at_least_zero, Result};
use crate::kernels::{median_f64, row_sq_norms, weighted_row_sum};
use crate::registry::{params, RuleBuilder, MITIGATES_MODEL_POISONING};
use crate::rules::sum_form::SumForm;
use crate::rules::{add_gaussian_noise, honest_majority, Aggregator, RoundState};
use crate::updates::{Aggregation, Round};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;

/// Registry entry: `norm-bound[:bound=<M>,noise-std=<sigma>]`.
pub const ENTRY: Entry<RuleBuilder> = Entry {
    name: "norm-bound",
    role: Role::AggregationRule,
    modalities: &[],
    summary: "clip every update to norm M, average, add N(0, sigma^2) noise; bound M (default: median norm), noise-std sigma (default 0)",
    paper: "Sun, Kairouz, Suresh, McMahan 2019",
    taxonomy: MITIGATES_MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: |f, p| {
        let mut params: NormBoundParams = params("norm-bound", p)?;
        params.byzantine = f;
        Ok(Box::new(params.check()?))
    },
};

/// Hyperparameters of [`NormBound`]; `.check()` validates them once. As JSON: `bound`,
/// `noise-std`; `byzantine` comes from the scenario.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct NormBoundParams {
    /// Byzantine clients to withstand (checked against `n`).
    #[serde(skip)]
    pub byzantine: usize,
    /// Norm bound `M`; `None` uses the median client norm of the round.
    pub bound: Option<f64>,
    /// Standard deviation `sigma` of Gaussian noise added to each aggregate coordinate (0 = none).
    pub noise_std: f64,
}

impl NormBoundParams {
    /// Defaults: median-norm bound, no noise.
    pub fn new(byzantine: usize) -> Self {
        NormBoundParams {
            byzantine,
            bound: None,
            noise_std: 0.0,
        }
    }
}

impl Default for NormBoundParams {
    fn default() -> Self {
        NormBoundParams::new(0)
    }
}

impl ParamGuard for NormBoundParams {
    type Checked = NormBound;
    type Error = AggregateError;
    fn check_ref(&self) -> Result<()> {
        if let Some(m) = self.bound {
            check_finite_at_least_zero("bound", m, true)?;
        }
        check_finite_at_least_zero("noise_std", self.noise_std, false)
    }
    fn build(self) -> NormBound {
        NormBound { params: self }
    }
}

/// Norm bounding with optional weak differential privacy noise (Sun, Kairouz, Suresh,
/// McMahan 2019, "Can You Really Backdoor Federated Learning?").
///
/// Each update is clipped to norm `M`: `x_i * min(1, M / ||x_i||)`, then averaged with the
/// client weights `w_i`; optionally `N(0, sigma^2)` noise is added per coordinate, drawn from
/// ChaCha8 seeded with the round's seed (same seed, same noise). A client moves the aggregate
/// by at most `w_i M`. A defence against boosted (model-replacement) updates rather than a
/// Byzantine-robust estimator; with the default median-norm bound an honest majority is needed
/// to keep `M` honest, so `f < n/2`. `weights[i] = w_i min(1, M/||x_i||)` are the linear
/// coefficients (they sum to less than 1 when clipping bites). `scores` are the client norms.
///
/// ```
/// use mithridate_aggregate::{Aggregator, NormBoundParams, ParamGuard, Round, RoundState, Updates};
/// let u = Updates::new(&[3.0, 4.0, 0.0, 1.0], 2, 2).unwrap();
/// let mut p = NormBoundParams::new(0);
/// p.bound = Some(1.0);
/// let out = p.check().unwrap().aggregate(&Round::new(u), &mut RoundState::default()).unwrap();
/// // (0.6, 0.8) and (0, 1) averaged.
/// assert!((out.aggregate[0] - 0.3).abs() < 1e-6 && (out.aggregate[1] - 0.9).abs() < 1e-6);
/// ```
#[derive(Debug, Clone)]
pub struct NormBound {
    params: NormBoundParams,
}

impl Aggregator for NormBound {
    fn name(&self) -> &'static str {
        "norm-bound"
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
    /// Only with a fixed `bound` (the default median bound needs every client's norm).
    fn sum_form(&self) -> Option<&dyn SumForm> {
        self.params.bound.map(|_| self as &dyn SumForm)
    }
    fn aggregate(&self, round: &Round<'_>, _state: &mut RoundState) -> Result<Aggregation> {
        let u = round.updates();
        self.check_clients(u.n())?;
        let norms: Vec<f64> = row_sq_norms(u).into_iter().map(f64::sqrt).collect();
        let bound = self.params.bound.unwrap_or_else(|| median_f64(&norms));
        let weights: Vec<f64> = round
            .normalized_weights()
            .iter()
            .zip(&norms)
            .map(|(w, norm)| if *norm > bound { w * bound / norm } else { *w })
            .collect();
        let mut aggregate = weighted_row_sum(u, &weights, None);
        add_gaussian_noise(
            &mut aggregate,
            self.params.noise_std,
            round.seed(),
            "noise_std",
        )?;
        Ok(Aggregation::from_weights(aggregate, weights, Some(norms)))
    }
}

impl SumForm for NormBound {
    fn client_clip(&self, _state: &RoundState) -> Option<f64> {
        self.params.bound
    }
    /// `sum / contributors + N(0, sigma^2)`, as the clear-text rule with uniform weights.
    fn finish(
        &self,
        sum: &[f64],
        _within_clip: f64,
        contributors: usize,
        _planned: usize,
        seed: u64,
        _state: &mut RoundState,
    ) -> Result<Vec<f32>> {
        if contributors == 0 {
            return Err(AggregateError::NoClients);
        }
        let mut aggregate: Vec<f32> = sum
            .iter()
            .map(|s| (s / contributors as f64) as f32)
            .collect();
        add_gaussian_noise(&mut aggregate, self.params.noise_std, seed, "noise_std")?;
        Ok(aggregate)
    }
}
