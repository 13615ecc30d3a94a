//! FoolsGold.

use crate::error::{check_finite_at_least_zero, AggregateError, Result};
use crate::kernels::{gram_rows, weighted_row_sum};
use crate::registry::{params, RuleBuilder, FILTERS_MODEL_POISONING};
use crate::rules::{Aggregator, RoundState};
use crate::updates::{Aggregation, Round};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;
use std::collections::BTreeMap;

/// Registry entry: `foolsgold[:confidence=<kappa>]`.
pub const ENTRY: Entry<RuleBuilder> = Entry {
    name: "foolsgold",
    role: Role::AggregationRule,
    modalities: &[],
    summary: "down-weights clients whose summed update histories are too similar (sybils); confidence kappa (default 1)",
    paper: "Fung, Yoon, Beschastnikh 2020",
    taxonomy: FILTERS_MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: |f, p| {
        let mut params: FoolsGoldParams = params("foolsgold", p)?;
        params.byzantine = f;
        Ok(Box::new(params.check()?))
    },
};

/// FoolsGold's state: the running sum of every client's updates, keyed by client id.
#[derive(Debug, Clone, Default)]
pub struct FoolsGoldHistory {
    sums: BTreeMap<u64, Vec<f32>>,
}

impl FoolsGoldHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of clients seen.
    pub fn len(&self) -> usize {
        self.sums.len()
    }
    /// Whether no client has been seen.
    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }
    /// A client's accumulated update.
    pub fn get(&self, id: u64) -> Option<&[f32]> {
        self.sums.get(&id).map(Vec::as_slice)
    }
}

/// Hyperparameters of [`FoolsGold`]; `.check()` validates them once. As JSON: `confidence`;
/// `byzantine` comes from the scenario.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct FoolsGoldParams {
    /// Byzantine clients (sybils) the deployment expects; only checked against `n`.
    #[serde(skip)]
    pub byzantine: usize,
    /// Confidence `kappa > 0` of the logit re-weighting (paper default 1).
    pub confidence: f64,
}

impl FoolsGoldParams {
    /// Defaults: `kappa = 1`.
    pub fn new(byzantine: usize) -> Self {
        FoolsGoldParams {
            byzantine,
            confidence: 1.0,
        }
    }
}

impl Default for FoolsGoldParams {
    fn default() -> Self {
        FoolsGoldParams::new(0)
    }
}

impl ParamGuard for FoolsGoldParams {
    type Checked = FoolsGold;
    type Error = AggregateError;
    fn check_ref(&self) -> Result<()> {
        check_finite_at_least_zero("confidence", self.confidence, true)
    }
    fn build(self) -> FoolsGold {
        FoolsGold { params: self }
    }
}

/// FoolsGold (Fung, Yoon, Beschastnikh 2020, "The Limitations of Federated Learning in Sybil
/// Settings").
///
/// Sybils pursuing one goal send updates that stay similar over rounds. With `H_i` client
/// `i`'s summed history (this round included) and `cs_ij = cos(H_i, H_j)`, `v_i = max_{j!=i}
/// cs_ij`: pardoning `cs_ij *= v_i / v_j` when `v_j > v_i`; `alpha_i = 1 - max_j cs_ij`
/// clipped to `[0, 1]`, divided by `max alpha`, values of 1 set to 0.99, then
/// `alpha_i = kappa (ln(alpha_i / (1 - alpha_i)) + 0.5)` clipped to `[0, 1]`. The aggregate is
/// `sum_i alpha_i x_i / sum_i alpha_i` (zero if all `alpha_i = 0`). Without feature-importance
/// weighting (the paper's optional extension). Needs at least one honest client; no
/// majority assumption, so `f <= n - 1`. Client weights are not used.
///
/// State is explicit: [`aggregate_with_history`](FoolsGold::aggregate_with_history) updates a
/// caller-owned [`FoolsGoldHistory`]; client ids come from [`Round::with_client_ids`].
/// `scores` are `max_j cs_ij` after pardoning (higher = more sybil-like).
///
/// ```
/// use mithridate_aggregate::{FoolsGoldHistory, FoolsGoldParams, ParamGuard, Round, Updates};
/// // Clients 1 and 2 send the same direction: their weights collapse to 0.
/// let rows = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
/// let u = Updates::new(&rows, 3, 3).unwrap();
/// let mut history = FoolsGoldHistory::new();
/// let fg = FoolsGoldParams::new(1).check().unwrap();
/// let out = fg.aggregate_with_history(&Round::new(u), &mut history).unwrap();
/// assert_eq!(out.selected, vec![true, false, false]);
/// assert_eq!(out.aggregate, vec![1.0, 0.0, 0.0]);
/// ```
#[derive(Debug, Clone)]
pub struct FoolsGold {
    params: FoolsGoldParams,
}

impl FoolsGold {
    /// Adds this round to `history` and aggregates with FoolsGold weights.
    pub fn aggregate_with_history(
        &self,
        round: &Round<'_>,
        history: &mut FoolsGoldHistory,
    ) -> Result<Aggregation> {
        round.reject_weights(self.name())?;
        let u = round.updates();
        let (n, d) = (u.n(), u.d());
        self.check_clients(n)?;
        if let Some(existing) = history.sums.values().next() {
            if existing.len() != d {
                return Err(AggregateError::BadVector {
                    what: "FoolsGold history",
                    reason: format!("holds dimension {}, this round has d = {d}", existing.len()),
                });
            }
        }
        for i in 0..n {
            let sum = history
                .sums
                .entry(round.client_id(i))
                .or_insert_with(|| vec![0.0; d]);
            for (s, x) in sum.iter_mut().zip(u.row(i)) {
                *s += x;
            }
        }
        let rows: Vec<&[f32]> = (0..n)
            .map(|i| history.sums[&round.client_id(i)].as_slice())
            .collect();
        let g = gram_rows(&rows, d);
        let alpha_and_scores = foolsgold_weights(&g, n, self.params.confidence);
        let (alpha, scores) = alpha_and_scores;
        let total: f64 = alpha.iter().sum();
        let weights: Vec<f64> = if total > 0.0 {
            alpha.iter().map(|a| a / total).collect()
        } else {
            vec![0.0; n]
        };
        let aggregate = weighted_row_sum(u, &weights, None);
        Ok(Aggregation::from_weights(aggregate, weights, Some(scores)))
    }
}

/// FoolsGold's `alpha` from the Gram matrix of the histories; also returns `max_j cs_ij`.
pub(crate) fn foolsgold_weights(g: &[f64], n: usize, kappa: f64) -> (Vec<f64>, Vec<f64>) {
    if n == 1 {
        return (vec![1.0], vec![0.0]);
    }
    let norm: Vec<f64> = (0..n).map(|i| g[i * n + i].sqrt()).collect();
    let mut cs = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            if i != j && norm[i] > 0.0 && norm[j] > 0.0 {
                cs[i * n + j] = g[i * n + j] / (norm[i] * norm[j]);
            }
        }
    }
    let row_max = |cs: &[f64], i: usize| -> f64 {
        (0..n)
            .filter(|&j| j != i)
            .map(|j| cs[i * n + j])
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let v: Vec<f64> = (0..n).map(|i| row_max(&cs, i)).collect();
    for i in 0..n {
        for j in 0..n {
            if i != j && v[j] > v[i] && v[j] > 0.0 {
                cs[i * n + j] *= v[i] / v[j];
            }
        }
    }
    let scores: Vec<f64> = (0..n).map(|i| row_max(&cs, i)).collect();
    let mut alpha: Vec<f64> = scores.iter().map(|m| (1.0 - m).clamp(0.0, 1.0)).collect();
    let top = alpha.iter().cloned().fold(0.0, f64::max);
    if top > 0.0 {
        for a in &mut alpha {
            *a /= top;
            if *a >= 1.0 {
                *a = 0.99;
            }
            *a = if *a > 0.0 {
                (kappa * ((*a / (1.0 - *a)).ln() + 0.5)).clamp(0.0, 1.0)
            } else {
                0.0
            };
        }
    }
    (alpha, scores)
}

impl Aggregator for FoolsGold {
    fn name(&self) -> &'static str {
        "foolsgold"
    }
    fn byzantine(&self) -> usize {
        self.params.byzantine
    }
    fn max_byzantine(&self, n: usize) -> usize {
        n.saturating_sub(1)
    }
    fn tolerance(&self) -> &'static str {
        "at least one honest client: f <= n - 1"
    }
    fn aggregate(&self, round: &Round<'_>, state: &mut RoundState) -> Result<Aggregation> {
        self.aggregate_with_history(round, &mut state.history)
    }
}
