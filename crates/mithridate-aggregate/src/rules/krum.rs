//! Krum and Multi-Krum.

use crate::error::{AggregateError, Result};
use crate::kernels::{k_smallest, pairwise_sq_distances, weighted_row_sum};
use crate::registry::{params, NoParams, RuleBuilder, FILTERS_MODEL_POISONING};
use crate::rules::{Aggregator, RoundState};
use crate::updates::{Aggregation, Round};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;

/// Registry entry: `krum` (no parameters).
pub const KRUM_ENTRY: Entry<RuleBuilder> = Entry {
    name: "krum",
    role: Role::AggregationRule,
    modalities: &[],
    summary: "the update with the lowest sum of squared distances to its n - f - 2 nearest (no parameters; n >= 2f + 3)",
    paper: "Blanchard, El Mhamdi, Guerraoui, Stainer 2017",
    taxonomy: FILTERS_MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: |f, p| {
        params::<NoParams>("krum", p)?;
        Ok(Box::new(KrumParams::krum(f).check()?))
    },
};

/// Registry entry: `multi-krum[:m=<count>]`.
pub const MULTI_KRUM_ENTRY: Entry<RuleBuilder> = Entry {
    name: "multi-krum",
    role: Role::AggregationRule,
    modalities: &[],
    summary:
        "mean of the m updates with the lowest Krum scores; m = updates averaged (default n - f)",
    paper: "Blanchard, El Mhamdi, Guerraoui, Stainer 2017",
    taxonomy: FILTERS_MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: |f, p| {
        let mut params: KrumParams = params("multi-krum", p)?;
        params.byzantine = f;
        Ok(Box::new(params.check()?))
    },
};

/// Hyperparameters of [`Krum`]; `.check()` validates them once. As JSON (Multi-Krum's
/// parameters) `select` is `m`; `byzantine` comes from the scenario.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct KrumParams {
    /// Byzantine clients to withstand.
    #[serde(skip)]
    pub byzantine: usize,
    /// How many lowest-score updates to average: 1 is Krum; `None` means `n - f`
    /// (Multi-Krum's usual choice, as in byzfl).
    #[serde(rename = "m")]
    pub select: Option<usize>,
}

impl Default for KrumParams {
    /// Multi-Krum with `f = 0` and `m = n - f`.
    fn default() -> Self {
        KrumParams::multi_krum(0)
    }
}

impl KrumParams {
    /// Krum: select the single best update.
    pub fn krum(byzantine: usize) -> Self {
        KrumParams {
            byzantine,
            select: Some(1),
        }
    }
    /// Multi-Krum selecting `n - f` updates.
    pub fn multi_krum(byzantine: usize) -> Self {
        KrumParams {
            byzantine,
            select: None,
        }
    }
}

impl ParamGuard for KrumParams {
    type Checked = Krum;
    type Error = AggregateError;
    fn check_ref(&self) -> Result<()> {
        if self.select == Some(0) {
            return Err(AggregateError::Param {
                name: "select",
                reason: "must select at least one update".into(),
            });
        }
        Ok(())
    }
    fn build(self) -> Krum {
        Krum { params: self }
    }
}

/// Krum and Multi-Krum (Blanchard, El Mhamdi, Guerraoui, Stainer 2017, "Machine Learning
/// with Adversaries: Byzantine Tolerant Gradient Descent").
///
/// Score `s_i = sum of ||x_i - x_j||^2 over the n - f - 2 nearest other updates j` (the
/// paper's definition; byzfl uses `n - f - 1`). Krum returns the update with the lowest score;
/// Multi-Krum averages the `m` lowest-score updates (default `m = n - f`). Ties go to the lower
/// client index. Tolerates `n >= 2f + 3`. Distances come from an f64 Gram matrix (one GEMM),
/// exact enough for the near-duplicates colluders send. Client weights are not used.
///
/// `scores` are the Krum scores (lower = more central).
///
/// ```
/// use mithridate_aggregate::{Aggregator, KrumParams, ParamGuard, Round, RoundState, Updates};
/// // Four clustered updates and one far away (n = 5, f = 1: 3 neighbours each... n - f - 2 = 2).
/// let rows = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 50.0, 50.0];
/// let u = Updates::new(&rows, 5, 2).unwrap();
/// let krum = KrumParams::krum(1).check().unwrap();
/// let out = krum.aggregate(&Round::new(u), &mut RoundState::default()).unwrap();
/// assert_eq!(out.aggregate, vec![0.0, 0.0]);
/// assert!(!out.selected[4]);
/// ```
#[derive(Debug, Clone)]
pub struct Krum {
    params: KrumParams,
}

/// Krum scores of the rows `members` (indices into the `n x n` squared-distance matrix),
/// each over its `neighbours` nearest other members.
pub(crate) fn krum_scores(
    dist: &[f64],
    n: usize,
    members: &[usize],
    neighbours: usize,
) -> Vec<f64> {
    members
        .iter()
        .map(|&i| {
            let mut row: Vec<f64> = members
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| dist[i * n + j])
                .collect();
            row.sort_by(f64::total_cmp);
            row.iter().take(neighbours).sum()
        })
        .collect()
}

impl Krum {
    /// How many updates this instance averages for `n` clients.
    fn select(&self, n: usize) -> usize {
        self.params.select.unwrap_or(n - self.params.byzantine)
    }
}

impl Aggregator for Krum {
    fn name(&self) -> &'static str {
        if self.params.select == Some(1) {
            "krum"
        } else {
            "multi-krum"
        }
    }
    fn byzantine(&self) -> usize {
        self.params.byzantine
    }
    fn max_byzantine(&self, n: usize) -> usize {
        n.saturating_sub(3) / 2
    }
    fn tolerance(&self) -> &'static str {
        "n >= 2f + 3"
    }
    fn aggregate(&self, round: &Round<'_>, _state: &mut RoundState) -> Result<Aggregation> {
        round.reject_weights(self.name())?;
        let u = round.updates();
        let n = u.n();
        self.check_clients(n)?;
        let m = self.select(n);
        if m > n {
            return Err(AggregateError::Param {
                name: "select",
                reason: format!("cannot select {m} of n = {n} updates"),
            });
        }
        let dist = pairwise_sq_distances(u);
        let members: Vec<usize> = (0..n).collect();
        let neighbours = n.saturating_sub(self.params.byzantine + 2);
        let scores = krum_scores(&dist, n, &members, neighbours);
        let mut weights = vec![0.0; n];
        for i in k_smallest(&scores, m) {
            weights[i] = 1.0 / m as f64;
        }
        let aggregate = weighted_row_sum(u, &weights, None);
        Ok(Aggregation::from_weights(aggregate, weights, Some(scores)))
    }
}
