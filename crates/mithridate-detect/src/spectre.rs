//! SPECTRE (Hayase, Kong, Somani & Oh, "SPECTRE: Defending Against Backdoor Attacks Using
//! Robust Statistics", ICML 2021): whiten each class with a robust covariance estimate, then
//! score samples by their QUantum Entropy (QUE) projection.
//!
//! Per class `c` with `n_c` representations (penultimate activations):
//!
//! 1. **Project.** Centre and project onto the top `k = min(components, d, n_c - 1)` principal
//!    directions (directions with no variance, below `1e-9` of the first, are dropped).
//! 2. **Robust covariance** (tolerating `B = ⌈min(removal_factor · ε, 1/2) · n_c⌉` outliers,
//!    and never leaving fewer than `k + 1` points): concentration steps of the minimum
//!    covariance determinant estimator (Rousseeuw & Van Driessen 1999) — whiten every point
//!    with the current estimate `(μ, Σ)` of the kept set, keep the `n_c - B` points with the
//!    smallest whitened norms `‖Σ^{-1/2}(x - μ)‖²`, re-estimate, until the kept set no longer
//!    changes (at most 20 rounds). A trimmed estimate is too small, so `Σ` is rescaled until
//!    the median whitened norm of the class equals the `χ²_k` median (Wilson–Hilferty), the
//!    MCD's consistency correction under Gaussian clean data.
//! 3. **Robust mean** (the filter of Diakonikolas et al. 2016 in the whitened space, as in the
//!    paper): with `z = Σ^{-1/2}(x - μ)`, while the top eigenvalue `λ` of the covariance of the
//!    kept `z` exceeds the clean bound `(1 + √(k/m))² (1 + √(k/h))²` (the Marchenko–Pastur
//!    edge of `m` kept points, widened by the noise of an estimate from `h = n_c - B` points)
//!    and fewer than `B` points were removed, remove the kept points with the largest
//!    squared projection on the top eigenvector (`⌈B/8⌉` per round). The robust mean `μ̂` is
//!    the mean of what remains; the scale stays that of step 2. (Why two stages: the kept
//!    set's own covariance always whitens it to `I`, so the "top eigenvalue near 1" test is
//!    only informative against a covariance fixed beforehand, as in the paper's step order.)
//! 4. **QUE score.** Whiten all class points, `z_i = Σ^{-1/2}(x_i - μ̂)`, `M = (1/n_c) Σ z_i z_iᵀ`,
//!    `Q = exp(α (M - I)/(‖M‖₂ - 1)) / tr(exp(α (M - I)/(‖M‖₂ - 1)))` through the
//!    eigendecomposition of `M` (the denominator is floored at `1e-9`: a class with
//!    `‖M‖₂ <= 1` scores along its top direction), and `τ_i = z_iᵀ Q z_i`. `α → 0` gives the
//!    whitened norm, `α → ∞` the top whitened direction; the paper uses `α = 4`.
//! 5. **Flags.** The top `removal_factor · ε · n_c` scores of each *suspicious* class are
//!    flagged (of every class with `all-classes`, the paper's rule).
//!
//! **Verdict.** A class's statistic is `‖M‖₂` divided by the clean bound
//! `(1 + √(k/n_c))² (1 + √(k/h))²`: poison that the robust estimate excluded inflates the
//! whitened covariance along its direction (a share `ε` at whitened distance `δ` adds about
//! `ε δ²`), clean Gaussian classes stay near or below 1. A class is suspicious when its
//! statistic exceeds `threshold` (default 1: above the clean bound; clean Gaussian classes
//! measure 0.4-0.65) *and* it is more than twice the median class's statistic (the spectral detectors' rule, so a model whose classes are all
//! heavy-tailed does not flag everything).
//!
//! Assumptions: clean representations of a class are roughly Gaussian in the top-`k` PCA
//! space and the poison is under half of its class; unlike spectral signatures, the poison
//! need not lie along a high-variance direction (whitening exposes a shift along a direction
//! in which clean samples barely vary). Needs `n_c` well above `k` for a stable covariance.
//!
//! Scaling: per class `O(n_c d² + d³)` for the PCA, then `O(R (n_c k² + k³))` for `R <= 20`
//! concentration and `<= 8` filter rounds; `O(n d² + k_cls d³)` overall for `n` samples,
//! dimension `d`, `k_cls` classes. Classes with fewer than 4 samples score 0, never flagged.
//!
//! ```
//! use mithridate_detect::ParamGuard;
//! use mithridate_detect::{spectre::SpectreParams, Embeddings};
//! // 100 points: x spread widely (-50..50), y in a narrow band; the last 5 sit off the band
//! // in y by 3, a shift the x spread hides from the top principal direction.
//! let mut v = Vec::new();
//! for i in 0..100 {
//!     let band = ((i * 37) % 11) as f32 * 0.02 - 0.1 + ((i * 7) % 5) as f32 * 0.01;
//!     v.extend([((i * 53) % 100) as f32 - 50.0, if i >= 95 { 3.0 } else { band }]);
//! }
//! let (labels, ids) = (vec![0u32; 100], (0..100u64).collect::<Vec<_>>());
//! let params = SpectreParams { expected_rate: 0.05, removal_factor: 1.0, ..Default::default() };
//! let d = params.check()?.detect_embeddings(&Embeddings::new(&v, 2, &labels, &ids, 1)?)?;
//! assert_eq!(d.flagged, vec![95, 96, 97, 98, 99]);
//! # Ok::<(), mithridate_detect::DetectError>(())
//! ```

use crate::detection::{flag_count, flag_top};
use crate::linalg::principal;
use crate::symmetric::{centred_times, inverse_sqrt, mean_cov, sym_eigen};
use crate::{check_flag_budget, DetectError, Detection, Detector, Embeddings, Result};
use faer::Mat;
use mithridate_core::ParamGuard;

/// Classes smaller than this score 0 (no covariance to estimate).
const MIN_CLASS: usize = 4;
/// Concentration rounds at most.
const MAX_CONCENTRATION: usize = 20;
/// Filter rounds (each removes `⌈B/8⌉` points).
const FILTER_CHUNKS: usize = 8;
/// Relative ridge added to covariance eigenvalues before inversion.
const RIDGE: f64 = 1e-6;

/// Unchecked parameters of [`Spectre`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct SpectreParams {
    /// Expected poison share `ε` of a poisoned class, in `(0, 1]`.
    pub expected_rate: f64,
    /// Flag `removal_factor · ε` of each suspicious class (capped at 1); `> 0`. The robust
    /// estimate tolerates the same share, capped at 1/2.
    pub removal_factor: f64,
    /// PCA dimensions `k` kept per class (capped by the dimension and `n_c - 1`); `>= 1`.
    pub components: usize,
    /// QUE temperature `α`; finite, `> 0`.
    pub alpha: f64,
    /// A class is suspicious when `‖M‖₂` exceeds its clean bound by this factor (and twice
    /// the median class); finite, `> 0`.
    pub threshold: f64,
    /// Flag in every class, not only suspicious ones (the paper's per-class removal).
    pub all_classes: bool,
}

impl Default for SpectreParams {
    fn default() -> Self {
        SpectreParams {
            expected_rate: 0.1,
            removal_factor: 1.5,
            components: 32,
            alpha: 4.0,
            threshold: 1.0,
            all_classes: false,
        }
    }
}

impl ParamGuard for SpectreParams {
    type Checked = Spectre;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        check_flag_budget(self.expected_rate, self.removal_factor)?;
        if self.components == 0 {
            return Err(DetectError::param("components must be at least 1, got 0"));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(DetectError::param(format!(
                "alpha must be finite and > 0, got {}",
                self.alpha
            )));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(DetectError::param(format!(
                "threshold must be finite and > 0, got {}",
                self.threshold
            )));
        }
        Ok(())
    }

    fn build(self) -> Spectre {
        Spectre { params: self }
    }
}

/// The SPECTRE detector with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct Spectre {
    params: SpectreParams,
}

/// One class's QUE scores (class row order) and `‖M‖₂` over its clean bound.
struct ClassScores {
    scores: Vec<f64>,
    statistic: f64,
}

impl Spectre {
    /// Scores and flags precomputed representations.
    pub fn detect_embeddings(&self, emb: &Embeddings) -> Result<Detection> {
        let share = (self.params.expected_rate * self.params.removal_factor).min(1.0);
        let classes = emb.class_rows();
        let mut scores = vec![0f64; emb.len()];
        let mut statistic = vec![0f64; classes.len()];
        for (c, rows) in classes.iter().enumerate() {
            if let Some(fit) = self.score_class(emb, rows, share)? {
                for (&r, &s) in rows.iter().zip(&fit.scores) {
                    scores[r] = s;
                }
                statistic[c] = fit.statistic;
            }
        }
        let suspicious = self.verdicts(&statistic);
        let mut flags = vec![false; emb.len()];
        for (c, rows) in classes.iter().enumerate() {
            if rows.len() >= MIN_CLASS && (self.params.all_classes || suspicious[c]) {
                flag_top(&scores, rows, flag_count(rows.len(), share), &mut flags);
            }
        }
        Ok(Detection::from_rows(
            self.name(),
            self.parameters(),
            emb.rows(),
            &scores,
            &flags,
            |c| (suspicious[c as usize], statistic[c as usize]),
        ))
    }

    /// Suspicious: statistic above `threshold` and above twice the median class's.
    fn verdicts(&self, statistic: &[f64]) -> Vec<bool> {
        let mut sorted = statistic.to_vec();
        sorted.sort_by(f64::total_cmp);
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        statistic
            .iter()
            .map(|&s| s > self.params.threshold && (s > 2.0 * median || statistic.len() < 3))
            .collect()
    }

    fn score_class(
        &self,
        emb: &Embeddings,
        rows: &[usize],
        share: f64,
    ) -> Result<Option<ClassScores>> {
        let n = rows.len();
        if n < MIN_CLASS {
            return Ok(None);
        }
        let pca = principal(emb, rows, self.params.components.min(n - 1))?;
        let top = pca.values.first().copied().unwrap_or(0.0);
        let k = pca.values.iter().take_while(|&&v| v > 1e-9 * top).count();
        if k == 0 {
            return Ok(None);
        }
        let projected = pca.projected();
        let x = Mat::from_fn(n, k, |i, j| projected[(i, j)]);
        let budget = flag_count(n, share.min(0.5)).min(n - k - 1);
        let robust = robust_estimate(&x, budget)?;
        let z = centred_times(&x, &robust.mean, &inverse_sqrt(&robust.cov, RIDGE)?);
        let (scores, spread) = que_scores(&z, self.params.alpha)?;
        Ok(Some(ClassScores {
            scores,
            statistic: spread / clean_bound(k, n, n - budget),
        }))
    }
}

/// QUE scores `τ_i = z_iᵀ Q z_i` of whitened rows `z` (step 4 of the module docs) and `‖M‖₂`.
fn que_scores(z: &Mat<f64>, alpha: f64) -> Result<(Vec<f64>, f64)> {
    let (n, k) = (z.nrows(), z.ncols());
    let m = (z.transpose() * z) * faer::Scale(1.0 / n.max(1) as f64);
    let eigen = sym_eigen(&m)?;
    let spread = eigen.values[0];
    // Q's eigenvalues: a softmax of α (λ_j - 1)/(‖M‖₂ - 1), shifted by its maximum (the
    // trace normalisation cancels the shift, so nothing overflows).
    let denominator = (spread - 1.0).max(1e-9);
    let exponents: Vec<f64> = eigen
        .values
        .iter()
        .map(|&l| alpha * (l - 1.0) / denominator)
        .collect();
    let max = exponents.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = exponents.iter().map(|&a| (a - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    let along = z * &eigen.vectors;
    let scores = (0..n)
        .map(|i| {
            (0..k)
                .map(|j| weights[j] * along[(i, j)].powi(2))
                .sum::<f64>()
                / total
        })
        .collect();
    Ok((scores, spread))
}

/// A robust mean and covariance (steps 2 and 3 of the module docs).
struct RobustEstimate {
    mean: Vec<f64>,
    cov: Mat<f64>,
}

/// The largest whitened-covariance eigenvalue expected of `m` clean points in `k` dimensions
/// whitened by an estimate from `h` points: `(1 + √(k/m))² (1 + √(k/h))²`.
fn clean_bound(k: usize, m: usize, h: usize) -> f64 {
    let edge = |n: usize| (1.0 + (k as f64 / n.max(1) as f64).sqrt()).powi(2);
    edge(m) * edge(h)
}

/// Squared norms of the rows of `(x - mean) W`.
fn whitened_norms(x: &Mat<f64>, mean: &[f64], w: &Mat<f64>) -> Vec<f64> {
    let z = centred_times(x, mean, w);
    (0..z.nrows())
        .map(|i| (0..z.ncols()).map(|j| z[(i, j)].powi(2)).sum())
        .collect()
}

/// Median of the `χ²_k` distribution (Wilson–Hilferty): `k (1 - 2/(9k))³`.
fn chi_square_median(k: usize) -> f64 {
    let k = k as f64;
    k * (1.0 - 2.0 / (9.0 * k)).powi(3)
}

/// The `count` indices with the smallest `values` (ties by index), ascending.
fn smallest(values: &[f64], count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    order.truncate(count);
    order.sort_unstable();
    order
}

/// Robust mean and covariance of the rows of `x` (`n x k`), tolerating `budget` outliers.
fn robust_estimate(x: &Mat<f64>, budget: usize) -> Result<RobustEstimate> {
    let (n, k) = (x.nrows(), x.ncols());
    let h = n - budget;
    // Step 2: concentration steps from the whole class.
    let mut kept: Vec<usize> = (0..n).collect();
    for _ in 0..MAX_CONCENTRATION {
        let (mean, cov) = mean_cov(x, &kept);
        let next = smallest(&whitened_norms(x, &mean, &inverse_sqrt(&cov, RIDGE)?), h);
        if next == kept {
            break;
        }
        kept = next;
    }
    let (core_mean, mut cov) = mean_cov(x, &kept);
    let w = inverse_sqrt(&cov, RIDGE)?;
    let mut norms = whitened_norms(x, &core_mean, &w);
    norms.sort_by(f64::total_cmp);
    let scale = norms[n / 2] / chi_square_median(k);
    if scale.is_finite() && scale > 0.0 {
        cov *= faer::Scale(scale);
    }
    // Step 3: filter the mean along the top whitened direction under the fixed scale.
    let z = centred_times(x, &core_mean, &inverse_sqrt(&cov, RIDGE)?);
    let chunk = budget.div_ceil(FILTER_CHUNKS).max(1);
    let mut kept: Vec<usize> = (0..n).collect();
    while n - kept.len() < budget {
        let (centre, spread) = mean_cov(&z, &kept);
        let eigen = sym_eigen(&spread)?;
        if eigen.values[0] <= clean_bound(k, kept.len(), h) {
            break;
        }
        let projection: Vec<f64> = kept
            .iter()
            .map(|&r| {
                (0..k)
                    .map(|j| (z[(r, j)] - centre[j]) * eigen.vectors[(j, 0)])
                    .sum::<f64>()
                    .powi(2)
            })
            .collect();
        let remove = chunk.min(budget - (n - kept.len()));
        let negated: Vec<f64> = projection.iter().map(|p| -p).collect();
        let mut drop = smallest(&negated, remove);
        drop.iter_mut().for_each(|i| *i = kept[*i]);
        kept.retain(|r| drop.binary_search(r).is_err());
    }
    let (mean, _) = mean_cov(x, &kept);
    Ok(RobustEstimate { mean, cov })
}

embedding_detector!(Spectre, "spectre");

/// The registry entry (see [`crate::registry::DETECTORS`]).
pub const ENTRY: crate::registry::DetectorEntry = crate::registry::DetectorEntry {
    name: "spectre",
    role: mithridate_core::Role::Detector,
    modalities: &[],
    summary: "robust (MCD + filter) whitening of each class's top-k PCA embeddings, QUantum Entropy scores; flags removal-factor x expected-rate in classes whose whitened covariance stands out; expected-rate (0.1), removal-factor (1.5), components (32), alpha (4), threshold (1), all-classes (false)",
    paper: "Hayase, Kong, Somani & Oh 2021",
    taxonomy: crate::registry::SANITIZATION,
    requires: &[mithridate_core::Requirement::Model],
    provides: &[],
    build: |p| crate::registry::checked::<SpectreParams>("spectre", p),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn que_scores_match_a_hand_computed_case() {
        // z = (±√3, 0), (0, ±1): M = diag(1.5, 0.5), ‖M‖₂ = 1.5, α (M - I)/(‖M‖₂ - 1) =
        // diag(α, -α), so Q = diag(w, 1 - w) with w = e^α / (e^α + e^-α).
        let r3 = 3f64.sqrt();
        let rows = [[r3, 0.0], [-r3, 0.0], [0.0, 1.0], [0.0, -1.0]];
        let z = Mat::from_fn(4, 2, |i, j| rows[i][j]);
        let (scores, spread) = que_scores(&z, 4.0).unwrap();
        let w = 4f64.exp() / (4f64.exp() + (-4f64).exp());
        assert!((spread - 1.5).abs() < 1e-12);
        assert!((scores[0] - 3.0 * w).abs() < 1e-9, "{scores:?}");
        assert!((scores[3] - (1.0 - w)).abs() < 1e-9, "{scores:?}");
        // A tiny α weighs all directions alike: τ_i -> ‖z_i‖² / k.
        let (flat, _) = que_scores(&z, 1e-9).unwrap();
        assert!(
            (flat[0] - 1.5).abs() < 1e-6 && (flat[2] - 0.5).abs() < 1e-6,
            "{flat:?}"
        );
    }

    #[test]
    fn robust_estimate_ignores_a_far_cluster_that_inflates_the_plain_covariance() {
        // 180 points on a 2-D grid with unit-ish spread, 20 (10%) at (30, 30).
        let mut rows: Vec<[f64; 2]> = (0..180)
            .map(|i| [(i % 15) as f64 / 4.3 - 1.63, (i / 15) as f64 / 3.46 - 1.59])
            .collect();
        rows.extend((0..20).map(|i| [30.0 + 0.01 * i as f64, 30.0]));
        let x = Mat::from_fn(rows.len(), 2, |i, j| rows[i][j]);
        let (_, plain) = mean_cov(&x, &(0..rows.len()).collect::<Vec<_>>());
        let clean: Vec<usize> = (0..180).collect();
        let (clean_mean, clean_cov) = mean_cov(&x, &clean);
        let robust = robust_estimate(&x, 30).unwrap();
        assert!(plain[(0, 0)] > 50.0 * clean_cov[(0, 0)]);
        for j in 0..2 {
            assert!(
                (robust.mean[j] - clean_mean[j]).abs() < 0.1,
                "{:?}",
                robust.mean
            );
            let ratio = robust.cov[(j, j)] / clean_cov[(j, j)];
            assert!((0.5..2.0).contains(&ratio), "variance {j}: {ratio}");
        }
    }
}
