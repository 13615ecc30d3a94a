//! Nearest-neighbour mixing (pre-aggregation).

use crate::error::Result;
use crate::kernels::{k_smallest, pairwise_sq_distances};
use crate::pre::{Mixed, PreAggregator};
use crate::registry::{params, NoParams, PreBuilder, MITIGATES_MODEL_POISONING};
use crate::rules::honest_majority;
use crate::updates::Updates;
use faer::{Accum, MatMut, MatRef, Par};
use mithridate_core::registry::{Entry, Role};

/// Registry entry: `nnm` (no parameters; mixes over `n - f` neighbours).
pub const ENTRY: Entry<PreBuilder> = Entry {
    name: "nnm",
    role: Role::PreAggregator,
    modalities: &[],
    summary: "nearest-neighbour mixing: each update becomes the mean of its n - f nearest (no parameters)",
    paper: "Allouah et al. 2023",
    taxonomy: MITIGATES_MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: |f, p| {
        params::<NoParams>("nnm", p)?;
        Ok(Box::new(Nnm::new(f)))
    },
};

/// Nearest-neighbour mixing (Allouah, Farhadkhani, Guerraoui, Gupta, Pinot, Stephan 2023,
/// "Fixing by Mixing: A Recipe for Optimal Byzantine ML under Heterogeneity").
///
/// Replaces every update by the mean of its `n - f` nearest updates (itself included; ties by
/// lower index), `y_i = (1/(n-f)) sum_{j in N_i} x_j`, then runs the inner rule on the `y_i`.
/// This shrinks the spread of honest vectors that the rule after it sees, which restores
/// optimal robustness under heterogeneity. Requires `f < n/2` (and the rule's own bound, see
/// [`PreAggregated`](crate::pre::PreAggregated)). Memory: one extra `n x d` matrix (the mixed
/// updates). The mixing matrix `M` is computed in f64 and applied in f32 (one GEMM).
///
/// ```
/// use mithridate_aggregate::pre::{nnm::Nnm, PreAggregator};
/// use mithridate_aggregate::Updates;
/// let u = Updates::new(&[0.0, 1.0, 2.0, 100.0], 4, 1).unwrap();
/// let mixed = Nnm::new(1).apply(&u, 0).unwrap();
/// // 3 nearest each: (0+1+2)/3 three times, (1+2+100)/3 for the outlier.
/// let expected = [1.0, 1.0, 1.0, 103.0 / 3.0];
/// assert!(mixed.rows.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-5));
/// ```
#[derive(Debug, Clone)]
pub struct Nnm {
    byzantine: usize,
}

impl Nnm {
    /// Mixing over `n - byzantine` neighbours.
    pub fn new(byzantine: usize) -> Self {
        Nnm { byzantine }
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

impl PreAggregator for Nnm {
    fn name(&self) -> &'static str {
        "nnm"
    }
    fn max_byzantine(&self, n: usize) -> usize {
        honest_majority(n)
    }
    fn tolerance(&self) -> &'static str {
        "n > 2f and the inner rule's bound"
    }
    fn outputs(&self, n: usize) -> usize {
        n
    }
    fn apply(&self, u: &Updates<'_>, _seed: u64) -> Result<Mixed> {
        let (n, d) = (u.n(), u.d());
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
        Ok(Mixed {
            rows: mixed,
            m: n,
            matrix: mixing,
        })
    }
}
