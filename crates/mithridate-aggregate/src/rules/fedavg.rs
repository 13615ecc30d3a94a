//! Federated averaging.

use crate::error::{AggregateError, Result};
use crate::kernels::weighted_row_sum;
use crate::registry::{params, NoParams, RuleBuilder};
use crate::rules::sum_form::SumForm;
use crate::rules::{Aggregator, RoundState};
use crate::updates::{Aggregation, Round};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::taxonomy::TaxonomyIds;

/// Registry entry: `fedavg` (no parameters; refuses `f > 0`). Not a mitigation.
pub const ENTRY: Entry<RuleBuilder> = Entry {
    name: "fedavg",
    role: Role::AggregationRule,
    modalities: &[],
    summary: "federated averaging, weighted by client sample counts; the undefended baseline (f = 0, no parameters)",
    paper: "McMahan et al. 2017",
    taxonomy: TaxonomyIds::NONE,
    requires: &[],
    provides: &[],
    build: |f, p| {
        params::<NoParams>("fedavg", p)?;
        if f > 0 {
            return Err(AggregateError::Param {
                name: "byzantine",
                reason: format!(
                    "fedavg tolerates no Byzantine client, got f = {f}; use f = 0 or a robust rule"
                ),
            });
        }
        Ok(Box::new(FedAvg::new()))
    },
};

/// FedAvg (McMahan, Moore, Ramage, Hampson, Agüera y Arcas 2017, "Communication-Efficient
/// Learning of Deep Networks from Decentralized Data").
///
/// `g = sum_i w_i x_i / sum_i w_i`, with `w_i` the client weights (local sample counts) or
/// uniform. Assumes every client is honest: a single Byzantine client moves `g` arbitrarily
/// far, so the tolerance is `f = 0` and configuring `f > 0` is an error.
///
/// ```
/// use mithridate_aggregate::{Aggregator, FedAvg, Round, RoundState, Updates};
/// let u = Updates::new(&[0.0, 2.0, 4.0, 6.0], 2, 2).unwrap();
/// let w = [1.0, 3.0];
/// let round = Round::new(u).with_weights(&w).unwrap();
/// let out = FedAvg::new().aggregate(&round, &mut RoundState::default()).unwrap();
/// assert_eq!(out.aggregate, vec![3.0, 5.0]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct FedAvg;

impl FedAvg {
    /// FedAvg has no hyperparameters.
    pub fn new() -> Self {
        FedAvg
    }
}

impl Aggregator for FedAvg {
    fn name(&self) -> &'static str {
        "fedavg"
    }
    fn byzantine(&self) -> usize {
        0
    }
    fn max_byzantine(&self, _n: usize) -> usize {
        0
    }
    fn uses_weights(&self) -> bool {
        true
    }
    fn tolerance(&self) -> &'static str {
        "no Byzantine client: f = 0"
    }
    /// Under secure aggregation: unweighted (uniform) averaging of the contributors' sum.
    fn sum_form(&self) -> Option<&dyn SumForm> {
        Some(self)
    }
    fn aggregate(&self, round: &Round<'_>, _state: &mut RoundState) -> Result<Aggregation> {
        let w = round.normalized_weights();
        let aggregate = weighted_row_sum(round.updates(), &w, None);
        Ok(Aggregation::from_weights(aggregate, w, None))
    }
}

impl SumForm for FedAvg {
    fn client_clip(&self, _state: &RoundState) -> Option<f64> {
        None
    }
    /// `sum / contributors` (the clients that survived the round).
    fn finish(
        &self,
        sum: &[f64],
        _within_clip: f64,
        contributors: usize,
        _planned: usize,
        _seed: u64,
        _state: &mut RoundState,
    ) -> Result<Vec<f32>> {
        if contributors == 0 {
            return Err(AggregateError::NoClients);
        }
        Ok(sum
            .iter()
            .map(|s| (s / contributors as f64) as f32)
            .collect())
    }
}
