//! Nearest-neighbour mixing (pre-aggregation).

use crate::error::Result;
use crate::kernels::{k_smallest, pairwise_sq_distances};
use crate::rules::{honest_majority, Aggregator, RoundState};
use crate::updates::{Aggregation, Round, Updates};
use faer::{Accum, MatMut, MatRef, Par};

/// Nearest-neighbour mixing (Allouah, Farhadkhani, Guerraoui, Gupta, Pinot, Stephan 2023,
/// "Fixing by Mixing: A Recipe for Optimal Byzantine ML under Heterogeneity").
///
/// Replaces every update by the mean of its `n - f` nearest updates (itself included; ties by
/// lower index), `y_i = (1/(n-f)) sum_{j in N_i} x_j`, then runs the inner rule on the `y_i`.
/// This shrinks the spread of honest vectors that the inner rule sees, which restores
/// optimal robustness under heterogeneity. Requires `f < n/2` and the inner rule's own bound.
/// Memory: one extra `n x d` matrix (the mixed updates). Client weights are not used.
///
/// `weights = M^T w_inner` where `M` is the mixing matrix, so each original client's effective
/// weight is reported; `selected` marks positive effective weights; `scores` are the inner
/// rule's scores of the mixed updates.
///
/// ```
/// use mithridate_aggregate::{Aggregator, CoordinateMedian, Nnm, Round, RoundState, Updates};
/// let u = Updates::new(&[0.0, 1.0, 2.0, 100.0], 4, 1).unwrap();
/// let rule = Nnm::new(1, Box::new(CoordinateMedian::new(1)));
/// let out = rule.aggregate(&Round::new(u), &mut RoundState::default()).unwrap();
/// // mixed: 1, 1, 1, 34 (3 nearest each) -> median 1
/// assert!((out.aggregate[0] - 1.0).abs() < 1e-6);
/// ```
#[derive(Debug)]
pub struct Nnm {
    byzantine: usize,
    inner: Box<dyn Aggregator>,
}

impl Nnm {
    /// Mixing over `n - byzantine` neighbours, then `inner`.
    pub fn new(byzantine: usize, inner: Box<dyn Aggregator>) -> Self {
        Nnm { byzantine, inner }
    }

    /// The row-stochastic `n x n` mixing matrix (row-major).
    fn mixing_matrix(&self, u: &Updates) -> Vec<f64> {
        let n = u.n();
        let dist = pairwise_sq_distances(u);
        let k = n - self.byzantine;
        let mut m = vec![0.0f64; n * n];
        for i in 0..n {
            // Distance to itself is 0, so it is always among its nearest.
            for j in k_smallest(&dist[i * n..(i + 1) * n], k) {
                m[i * n + j] = 1.0 / k as f64;
            }
        }
        m
    }
}

impl Aggregator for Nnm {
    fn name(&self) -> &'static str {
        "nnm"
    }
    fn byzantine(&self) -> usize {
        self.byzantine
    }
    fn max_byzantine(&self, n: usize) -> usize {
        honest_majority(n).min(self.inner.max_byzantine(n))
    }
    fn tolerance(&self) -> &'static str {
        "n > 2f and the inner rule's bound"
    }
    fn aggregate(&self, round: &Round<'_>, state: &mut RoundState) -> Result<Aggregation> {
        round.reject_weights(self.name())?;
        let u = round.updates();
        let (n, d) = (u.n(), u.d());
        self.check_clients(n)?;
        let mixing = self.mixing_matrix(u);
        let mixing32: Vec<f32> = mixing.iter().map(|x| *x as f32).collect();
        let mut mixed = vec![0.0f32; n * d];
        faer::linalg::matmul::matmul(
            MatMut::from_row_major_slice_mut(&mut mixed, n, d),
            Accum::Replace,
            MatRef::from_row_major_slice(&mixing32, n, n),
            MatRef::from_row_major_slice(u.as_slice(), n, d),
            1.0f32,
            Par::rayon(0),
        );
        let mixed_updates = Updates::new(&mixed, n, d)?;
        let inner = self
            .inner
            .aggregate(&round.with_updates(mixed_updates), state)?;
        let weights: Vec<f64> = (0..n)
            .map(|j| (0..n).map(|i| mixing[i * n + j] * inner.weights[i]).sum())
            .collect();
        Ok(Aggregation::from_weights(
            inner.aggregate,
            weights,
            inner.scores,
        ))
    }
}
