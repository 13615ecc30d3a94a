//! Bulyan.

use crate::error::Result;
use crate::kernels::{k_smallest, pairwise_sq_distances};
use crate::order::{coordinatewise, Window};
use crate::registry::{params, NoParams, RuleBuilder, FILTERS_MODEL_POISONING};
use crate::rules::krum::krum_scores;
use crate::rules::{Aggregator, RoundState};
use crate::updates::{Aggregation, Round};
use mithridate_core::registry::{Entry, Role};

/// Registry entry: `bulyan` (no parameters).
pub const ENTRY: Entry<RuleBuilder> = Entry {
    name: "bulyan",
    role: Role::AggregationRule,
    modalities: &[],
    summary: "iterated Krum selects n - 2f, then per coordinate the mean of the n - 4f values nearest the median (no parameters; n >= 4f + 3)",
    paper: "El Mhamdi, Guerraoui, Rouault 2018",
    taxonomy: FILTERS_MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: |f, p| {
        params::<NoParams>("bulyan", p)?;
        Ok(Box::new(Bulyan::new(f)))
    },
};

/// Bulyan (El Mhamdi, Guerraoui, Rouault 2018, "The Hidden Vulnerability of Distributed
/// Learning in Byzantium").
///
/// 1. Selection, as in the paper: run Krum (score over the `|R| - f - 2` nearest others in the
///    remaining set `R`) and move the winner out of `R`, `theta = n - 2f` times (ties: lower
///    index). Flower's newer strategy instead takes one round of Multi-Krum scores: a
///    different rule.
/// 2. Per coordinate `j`, sort the `theta` selected values and average the `beta = theta - 2f`
///    values closest to their median (mean of the two middle values when `theta` is even).
///
/// Tie-break (deterministic, value-based so it does not depend on client order): the `beta`
/// values are taken greedily outwards from the middle of the sorted values, and when the next
/// value below and the next value above are equally far from the median, the smaller value is
/// taken first. Under ALIE the Byzantine rows are identical, so such ties are common; libraries
/// disagree there.
///
/// Tolerates `n >= 4f + 3`. Client weights are not used. `scores` are the first-pass Krum
/// scores over all clients; `selected` marks the `theta` selected; `weights[i]` is the client's
/// average share of the `beta` averaged values.
///
/// ```
/// use mithridate_aggregate::{Aggregator, Bulyan, Round, RoundState, Updates};
/// // n = 7, f = 1: theta = 5, beta = 3.
/// let rows = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 100.0];
/// let u = Updates::new(&rows, 7, 1).unwrap();
/// let out = Bulyan::new(1).aggregate(&Round::new(u), &mut RoundState::default()).unwrap();
/// assert!(!out.selected[6]);
/// assert!((out.aggregate[0] - 2.0).abs() < 1e-6);
/// ```
#[derive(Debug, Clone)]
pub struct Bulyan {
    byzantine: usize,
}

impl Bulyan {
    /// Bulyan withstanding `byzantine` clients.
    pub fn new(byzantine: usize) -> Self {
        Bulyan { byzantine }
    }
}

impl Aggregator for Bulyan {
    fn name(&self) -> &'static str {
        "bulyan"
    }
    fn byzantine(&self) -> usize {
        self.byzantine
    }
    fn max_byzantine(&self, n: usize) -> usize {
        n.saturating_sub(3) / 4
    }
    fn tolerance(&self) -> &'static str {
        "n >= 4f + 3"
    }
    fn aggregate(&self, round: &Round<'_>, _state: &mut RoundState) -> Result<Aggregation> {
        round.reject_weights(self.name())?;
        let u = round.updates();
        let n = u.n();
        self.check_clients(n)?;
        let f = self.byzantine;
        let theta = n - 2 * f;
        let beta = theta - 2 * f;
        let dist = pairwise_sq_distances(u);
        let mut remaining: Vec<usize> = (0..n).collect();
        let first_scores = krum_scores(&dist, n, &remaining, n.saturating_sub(f + 2));
        let mut chosen = Vec::with_capacity(theta);
        for _ in 0..theta {
            let scores = krum_scores(&dist, n, &remaining, remaining.len().saturating_sub(f + 2));
            let best = k_smallest(&scores, 1)[0];
            chosen.push(remaining.remove(best));
        }
        chosen.sort_unstable();
        let out = coordinatewise(u, &chosen, Window::ClosestToMedian(beta));
        let mut weights = vec![0.0; n];
        let mut selected = vec![false; n];
        for (&i, share) in chosen.iter().zip(&out.shares) {
            weights[i] = *share;
            selected[i] = true;
        }
        Ok(Aggregation {
            aggregate: out.aggregate,
            weights,
            selected,
            scores: Some(first_scores),
        })
    }
}
