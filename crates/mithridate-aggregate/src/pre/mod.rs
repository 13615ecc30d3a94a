//! Pre-aggregators: steps that transform a round's updates before any aggregation rule
//! (nearest-neighbour mixing, bucketing, static clipping), chained by [`PreAggregated`].
//!
//! Every step is linear in the updates once its data-dependent choices are made: it outputs
//! `m` rows `y = M x` for an `m x n` matrix `M` (mixing, bucket averages, a diagonal of
//! clipping factors). The chain runs the steps in order, then the rule on the last `y`, and
//! pulls the rule's per-row weights back to the original clients, `w = M_1^T ... M_k^T w_rule`,
//! so every client's effective weight is reported whatever the chain.

pub mod bucketing;
pub mod clipping;
pub mod nnm;

use crate::error::Result;
use crate::rules::{Aggregator, RoundState};
use crate::updates::{Aggregation, Round, Updates};

/// One step's output: `rows` (`m x d`, row-major) equal to `matrix` (`m x n`, row-major) times
/// the input updates.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixed {
    pub rows: Vec<f32>,
    /// Output rows `m`.
    pub m: usize,
    pub matrix: Vec<f64>,
}

/// A step run on the updates before the aggregation rule.
pub trait PreAggregator: Send + Sync + std::fmt::Debug {
    /// Registry name, as in `"nnm+krum"`.
    fn name(&self) -> &'static str;
    /// The largest `f` the step itself tolerates among `n` inputs.
    fn max_byzantine(&self, n: usize) -> usize;
    /// The step's tolerance condition in words.
    fn tolerance(&self) -> &'static str;
    /// Rows it outputs for `n` inputs.
    fn outputs(&self, n: usize) -> usize;
    /// Transforms the updates; `seed` is the round's (for randomised steps).
    fn apply(&self, updates: &Updates<'_>, seed: u64) -> Result<Mixed>;
}

/// Pre-aggregation steps, then a rule: the checked form of `"bucketing:s=2+clipping:tau=1+median"`.
///
/// `name` and `tolerance` are the first step's; the tolerated `f` is the smallest of every
/// step's bound and the rule's bound on the rows it receives. Client weights are refused (the
/// steps treat clients uniformly). Client ids reach the rule only while the row count is
/// unchanged (bucketing's buckets are not clients). `scores` are the rule's: per client when
/// the chain keeps one row per client, otherwise each client gets the score of the output row
/// it contributes most to.
///
/// ```
/// use mithridate_aggregate::pre::{nnm::Nnm, PreAggregated};
/// use mithridate_aggregate::{Aggregator, CoordinateMedian, Round, RoundState, Updates};
/// let u = Updates::new(&[0.0, 1.0, 2.0, 100.0], 4, 1).unwrap();
/// let rule = PreAggregated::new(vec![Box::new(Nnm::new(1))], Box::new(CoordinateMedian::new(1)));
/// let out = rule.aggregate(&Round::new(u), &mut RoundState::default()).unwrap();
/// // mixed: 1, 1, 1, 34 (3 nearest each) -> median 1
/// assert!((out.aggregate[0] - 1.0).abs() < 1e-6);
/// ```
#[derive(Debug)]
pub struct PreAggregated {
    steps: Vec<Box<dyn PreAggregator>>,
    inner: Box<dyn Aggregator>,
}

impl PreAggregated {
    /// `steps` (at least one) in order, then `inner`.
    pub fn new(steps: Vec<Box<dyn PreAggregator>>, inner: Box<dyn Aggregator>) -> Self {
        assert!(!steps.is_empty(), "a pre-aggregated rule needs a step");
        PreAggregated { steps, inner }
    }
}

impl Aggregator for PreAggregated {
    fn name(&self) -> &'static str {
        self.steps[0].name()
    }
    fn byzantine(&self) -> usize {
        self.inner.byzantine()
    }
    fn max_byzantine(&self, n: usize) -> usize {
        let mut rows = n;
        let mut bound = usize::MAX;
        for step in &self.steps {
            bound = bound.min(step.max_byzantine(rows));
            rows = step.outputs(rows);
        }
        bound.min(self.inner.max_byzantine(rows))
    }
    fn tolerance(&self) -> &'static str {
        self.steps[0].tolerance()
    }
    fn aggregate(&self, round: &Round<'_>, state: &mut RoundState) -> Result<Aggregation> {
        round.reject_weights(self.name())?;
        let u = round.updates();
        let (n, d) = (u.n(), u.d());
        self.check_clients(n)?;
        // Each step's matrix with its input row count; only the latest rows are kept.
        let mut matrices: Vec<(Vec<f64>, usize)> = Vec::with_capacity(self.steps.len());
        let mut rows: Option<(Vec<f32>, usize)> = None;
        for step in &self.steps {
            let (mixed, inputs) = match &rows {
                None => (step.apply(u, round.seed())?, n),
                Some((prev, m)) => (step.apply(&Updates::new(prev, *m, d)?, round.seed())?, *m),
            };
            matrices.push((mixed.matrix, inputs));
            rows = Some((mixed.rows, mixed.m));
        }
        let (rows, m) = rows.expect("at least one step");
        let inner = self
            .inner
            .aggregate(&round.with_mixed_updates(Updates::new(&rows, m, d)?), state)?;
        // Pull the weights (and the scores) back through the steps, last first.
        let (mut weights, mut scores, mut outputs) = (inner.weights, inner.scores, m);
        for (matrix, inputs) in matrices.iter().rev() {
            let cols = *inputs;
            weights = (0..cols)
                .map(|j| {
                    (0..outputs)
                        .map(|i| matrix[i * cols + j] * weights[i])
                        .sum()
                })
                .collect();
            if outputs != cols {
                scores = scores.map(|s| {
                    (0..cols)
                        .map(|j| s[main_contributor(matrix, outputs, cols, j)])
                        .collect()
                });
            }
            outputs = cols;
        }
        Ok(Aggregation::from_weights(inner.aggregate, weights, scores))
    }
}

/// The output row of `matrix` (`m x cols`) with the largest coefficient in column `j` (first
/// on ties).
fn main_contributor(matrix: &[f64], m: usize, cols: usize, j: usize) -> usize {
    (0..m).fold(0, |best, i| {
        if matrix[i * cols + j] > matrix[best * cols + j] {
            i
        } else {
            best
        }
    })
}
