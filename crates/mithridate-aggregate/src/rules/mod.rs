//! The aggregation rules, one module each, all behind [`Aggregator`].

pub mod bulyan;
pub mod centered_clipping;
pub mod dp_fedavg;
pub mod fedavg;
pub mod flame;
pub mod fltrust;
pub mod foolsgold;
pub mod geomed;
pub mod krum;
pub mod norm_bound;
pub mod order_stats;
pub mod sum_form;

use crate::error::{check_tolerance, Result};
use crate::rules::foolsgold::FoolsGoldHistory;
use crate::rules::sum_form::SumForm;
use crate::updates::{Aggregation, Round};

/// State a stateful rule carries from one round to the next, owned by the caller so every
/// call is a pure function of (round, state) and the caller decides what persists.
#[derive(Debug, Clone, Default)]
pub struct RoundState {
    /// Centered clipping's centre: read as the starting point, replaced by the new aggregate.
    pub centre: Option<Vec<f32>>,
    /// FoolsGold's per-client running sums of updates.
    pub history: FoolsGoldHistory,
    /// DP-FedAvg's adaptive clip norm for the next round (`None`: the configured initial one).
    pub clip_norm: Option<f64>,
}

/// A Byzantine-robust (or plain) aggregation rule.
///
/// A rule is built from checked hyperparameters, including `f`, the number of Byzantine
/// clients it must withstand. `aggregate` refuses rounds where `f` exceeds
/// [`max_byzantine`](Aggregator::max_byzantine) for the round's `n`, rather than returning an
/// answer without the guarantee.
pub trait Aggregator: Send + Sync + std::fmt::Debug {
    /// Short name: the registry name ([`RULES`](crate::registry::RULES)), or for a
    /// pre-aggregated rule its first step's.
    fn name(&self) -> &'static str;
    /// The number of Byzantine clients `f` this instance is configured to withstand.
    fn byzantine(&self) -> usize;
    /// The largest `f` the rule tolerates among `n` clients.
    fn max_byzantine(&self, n: usize) -> usize;
    /// The tolerance condition in words, e.g. `"n >= 2f + 3"`.
    fn tolerance(&self) -> &'static str;
    /// Whether the rule weighs clients by [`Round::with_weights`] (FedAvg, the geometric
    /// median, norm bounding); the others treat clients uniformly and refuse weights rather
    /// than ignore them. Callers with sample counts (a Flower strategy) pass them only here.
    fn uses_weights(&self) -> bool {
        false
    }
    /// The noise multiplier `z` of a differentially private rule (noise std / clip norm on the
    /// sum of clipped updates), for user-level accounting; `None` for the others.
    fn noise_multiplier(&self) -> Option<f64> {
        None
    }
    /// The rule's client/server split when the server may see only the sum of the clients'
    /// vectors (secure aggregation); `None` when it needs individual updates.
    fn sum_form(&self) -> Option<&dyn SumForm> {
        None
    }
    /// Aggregates one round; stateful rules read and update `state`.
    fn aggregate(&self, round: &Round<'_>, state: &mut RoundState) -> Result<Aggregation>;

    /// Errors unless the configured `f` is tolerated for `n` clients.
    fn check_clients(&self, n: usize) -> Result<()> {
        check_tolerance(
            self.name(),
            self.byzantine(),
            n,
            self.max_byzantine(n),
            self.tolerance(),
        )
    }
}

/// Adds `N(0, std^2)` to every coordinate, drawn from ChaCha8 seeded with `seed` (same seed,
/// same noise); `std = 0` adds nothing. `name` is the parameter blamed if `std` is invalid.
pub(crate) fn add_gaussian_noise(
    aggregate: &mut [f32],
    std: f64,
    seed: u64,
    name: &'static str,
) -> Result<()> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    if std == 0.0 {
        return Ok(());
    }
    let normal = Normal::new(0.0f64, std).map_err(|e| crate::AggregateError::Param {
        name,
        reason: e.to_string(),
    })?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for x in aggregate {
        *x = (*x as f64 + normal.sample(&mut rng)) as f32;
    }
    Ok(())
}

/// `(n - 1) / 2`: the largest `f` with an honest majority (`n > 2f`).
pub(crate) fn honest_majority(n: usize) -> usize {
    n.saturating_sub(1) / 2
}
