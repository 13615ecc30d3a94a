//! Federated averaging.

use crate::error::Result;
use crate::kernels::weighted_row_sum;
use crate::rules::{Aggregator, RoundState};
use crate::updates::{Aggregation, Round};

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
    fn tolerance(&self) -> &'static str {
        "no Byzantine client: f = 0"
    }
    fn aggregate(&self, round: &Round<'_>, _state: &mut RoundState) -> Result<Aggregation> {
        let w = round.normalized_weights();
        let aggregate = weighted_row_sum(round.updates(), &w, None);
        Ok(Aggregation::from_weights(aggregate, w, None))
    }
}
