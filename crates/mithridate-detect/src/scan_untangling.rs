//! SCAn, statistical contamination analysis (Tang, Wang, Zhang & Wang, "Demon in the Variant:
//! Statistical Analysis of DNNs for Robust Backdoor Contamination Detection", USENIX Security
//! 2021): untangle each representation into a class identity and a class-independent
//! variation, then test every class for a two-component mixture.
//!
//! 1. **Reduce.** Centre all representations and project them onto the top
//!    `p = min(components, d, n - 1)` principal directions of the whole set (directions with
//!    variance below `1e-9` of the first are dropped).
//! 2. **Global untangling.** Model `r = μ_{y} + ε` with identities `μ ~ N(0, S_μ)` and a
//!    variation `ε ~ N(0, S_ε)` shared by all classes. Start from the class means
//!    (`S_μ` = covariance of every sample's class mean, `S_ε` = within-class covariance) and
//!    iterate the paper's EM: `u_c = S_μ (m_c S_μ + S_ε)^{-1} Σ_{i∈c} r_i` (the posterior mean
//!    of class `c`'s identity, `m_c` samples), then `S_μ = cov(u_{y_i})`,
//!    `S_ε = cov(r_i - u_{y_i})` over all samples, until both change by less than `1e-6` of
//!    their Frobenius norms (at most 100 rounds). `S_ε` gets a ridge `ρ λ̄ I` (`λ̄` its mean
//!    eigenvalue) wherever it is inverted. As in the authors' code, the M-step uses the
//!    posterior means only (no posterior covariance terms): with classes of a few samples
//!    this shrinks `S_μ`'s small eigenvalues towards 0; from about 10 samples per class it
//!    recovers both covariances (tested on data drawn from the model).
//! 3. **Local two-subgroup model.** In the space whitened by `S_ε` (`z = S_ε^{-1/2} r`, so the
//!    shared variation is the identity), split each class into two subgroups with means
//!    `u_1, u_2` by alternating assignment and mean updates — Lloyd's 2-means, from
//!    k-means++ starts, `restarts` of them seeded from the scan seed, the best fit kept. The
//!    log-likelihood ratio of two subgroups against one identity `u_c`, per sample:
//!    `J_c = (1/m_c) Σ_{i∈c} [‖z_i - u_c‖² - ‖z_i - u_{g(i)}‖²]`.
//! 4. **Decision.** `J*_c = (J_c - median J) / (1.4826 · MAD(J))` over classes with at least 4
//!    samples; a class with `J*_c > threshold` (the paper: `e² ≈ 7.39`) is contaminated and
//!    the samples of its smaller subgroup are flagged. Statistic = `J*_c`; a sample's score
//!    is `max(J*_c, 0)` if it belongs to the smaller subgroup of its class, else 0.
//!
//! Assumptions: clean classes share one variation structure (so `S_ε` whitens them all) and
//! a backdoor makes the target class a mixture of its own identity and the sources'; most
//! classes are clean (the median and MAD are taken over classes). Unlike per-class budgets,
//! nothing is flagged when no class stands out, so a clean set loses nothing. With fewer than
//! 3 such classes the normalisation is meaningless: `J* = 0`, nothing is flagged.
//!
//! Scaling: PCA `O(n d² + d³)`; EM `O(T (n p² + k p³))` for `T <= 100` rounds and `k` classes;
//! 2-means `O(restarts · iterations · n p)`; memory `O(n p)`.
//!
//! ```
//! use mithridate_detect::ParamGuard;
//! use mithridate_detect::{scan_untangling::ScanUntanglingParams, Embeddings};
//! // Six classes of 40 points at (5c, ±wobble); class 2 also holds 10 points at (10, 6).
//! let (mut v, mut labels) = (Vec::new(), Vec::new());
//! for c in 0..6u32 {
//!     for i in 0..40 {
//!         let wobble = ((i * 7 + c as usize * 3) % 9) as f32 * 0.25 - 1.0;
//!         let other = ((i * 5 + c as usize) % 7) as f32 * 0.3 - 0.9;
//!         v.extend([5.0 * c as f32 + wobble, other]);
//!         labels.push(c);
//!     }
//! }
//! for i in 0..10 {
//!     v.extend([10.0 + (i % 3) as f32 * 0.3, 6.0 + (i % 4) as f32 * 0.2]);
//!     labels.push(2);
//! }
//! let ids: Vec<u64> = (0..labels.len() as u64).collect();
//! let d = ScanUntanglingParams::default().check()?
//!     .detect_embeddings(&Embeddings::new(&v, 2, &labels, &ids, 6)?, 0)?;
//! assert_eq!(d.suspicious_classes(), vec![2]);
//! assert_eq!(d.flagged, (240..250).collect::<Vec<u64>>());
//! # Ok::<(), mithridate_detect::DetectError>(())
//! ```

use crate::kmeans::kmeans;
use crate::linalg::principal;
use crate::symmetric::{inverse_sqrt, ridge_shift, sym_eigen};
use crate::{DetectError, Detection, Detector, Embeddings, Result, ScanContext};
use faer::Mat;
use mithridate_core::ParamGuard;

/// Classes smaller than this are neither split nor counted in the normalisation.
const MIN_CLASS: usize = 4;
/// EM rounds at most.
const MAX_EM: usize = 100;
/// EM stops when `S_μ` and `S_ε` change by less than this share of their norms.
const EM_TOLERANCE: f64 = 1e-6;
/// `1.4826 · MAD` estimates the standard deviation of Gaussian data.
const MAD_TO_SD: f64 = 1.4826;

/// Unchecked parameters of [`ScanUntangling`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct ScanUntanglingParams {
    /// PCA dimensions `p` of the representations (capped by the dimension and `n - 1`); `>= 1`.
    pub components: usize,
    /// A class is contaminated when its normalised statistic `J*` exceeds this; finite.
    pub threshold: f64,
    /// 2-means restarts per class; `>= 1`.
    pub restarts: usize,
    /// Ridge `ρ` on `S_ε`'s eigenvalues, relative to their mean; finite, `>= 0`.
    pub ridge: f64,
}

impl Default for ScanUntanglingParams {
    fn default() -> Self {
        ScanUntanglingParams {
            components: 64,
            threshold: std::f64::consts::E * std::f64::consts::E,
            restarts: 5,
            ridge: 1e-3,
        }
    }
}

impl ParamGuard for ScanUntanglingParams {
    type Checked = ScanUntangling;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        if self.components == 0 {
            return Err(DetectError::param("components must be at least 1, got 0"));
        }
        if self.restarts == 0 {
            return Err(DetectError::param("restarts must be at least 1, got 0"));
        }
        if !self.threshold.is_finite() {
            return Err(DetectError::param(format!(
                "threshold must be finite, got {}",
                self.threshold
            )));
        }
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            return Err(DetectError::param(format!(
                "ridge must be finite and >= 0, got {}",
                self.ridge
            )));
        }
        Ok(())
    }

    fn build(self) -> ScanUntangling {
        ScanUntangling { params: self }
    }
}

/// The SCAn detector with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct ScanUntangling {
    params: ScanUntanglingParams,
}

/// The untangled global model: `S_μ`, the ridged `S_ε`, in the PCA space.
struct GlobalModel {
    s_mu: Mat<f64>,
    s_eps: Mat<f64>,
}

impl ScanUntangling {
    /// Scores and flags precomputed representations; `seed` seeds the 2-means restarts.
    pub fn detect_embeddings(&self, emb: &Embeddings, seed: u64) -> Result<Detection> {
        let n = emb.len();
        let classes = emb.class_rows();
        let mut j_star = vec![0f64; classes.len()];
        let mut minority = vec![false; n];
        if let Some(x) = self.reduce(emb)? {
            let model = self.untangle(&x, &classes)?;
            let whiten = inverse_sqrt(&model.s_eps, 0.0)?;
            let z = &x * &whiten;
            let mut j = vec![None; classes.len()];
            for (c, rows) in classes.iter().enumerate() {
                if rows.len() < MIN_CLASS {
                    continue;
                }
                let identity = posterior_identity(&model, &x, rows)?;
                let identity_z: Vec<f64> = (0..z.ncols())
                    .map(|col| (0..x.ncols()).map(|a| identity[a] * whiten[(a, col)]).sum())
                    .collect();
                let class_seed = seed.wrapping_add((c as u64).wrapping_mul(0x9E37_79B9));
                let (stat, small) =
                    split_statistic(&z, rows, &identity_z, self.params.restarts, class_seed)?;
                j[c] = Some(stat);
                for (&r, s) in rows.iter().zip(small) {
                    minority[r] = s;
                }
            }
            j_star = robust_z(&j);
        }
        let suspicious: Vec<bool> = j_star.iter().map(|&s| s > self.params.threshold).collect();
        let labels = emb.labels();
        let flags: Vec<bool> = (0..n)
            .map(|r| minority[r] && suspicious[labels[r] as usize])
            .collect();
        let scores: Vec<f64> = (0..n)
            .map(|r| {
                if minority[r] {
                    j_star[labels[r] as usize].max(0.0)
                } else {
                    0.0
                }
            })
            .collect();
        Ok(Detection::from_rows(
            self.name(),
            self.parameters(),
            emb.rows(),
            &scores,
            &flags,
            |c| (suspicious[c as usize], j_star[c as usize]),
        ))
    }

    /// Step 1: the globally centred representations on their top `p` principal directions,
    /// or `None` when nothing varies (fewer than 2 samples, or all equal).
    fn reduce(&self, emb: &Embeddings) -> Result<Option<Mat<f64>>> {
        let n = emb.len();
        if n < 2 {
            return Ok(None);
        }
        let all: Vec<usize> = (0..n).collect();
        let pca = principal(emb, &all, self.params.components.min(n - 1))?;
        let top = pca.values.first().copied().unwrap_or(0.0);
        let p = pca.values.iter().take_while(|&&v| v > 1e-9 * top).count();
        if p == 0 {
            return Ok(None);
        }
        let projected = pca.projected();
        Ok(Some(Mat::from_fn(n, p, |i, j| projected[(i, j)])))
    }

    /// Step 2: the EM estimate of `S_μ` and `S_ε`.
    fn untangle(&self, x: &Mat<f64>, classes: &[Vec<usize>]) -> Result<GlobalModel> {
        let (n, p) = (x.nrows(), x.ncols());
        let sums: Vec<Vec<f64>> = classes
            .iter()
            .map(|rows| {
                (0..p)
                    .map(|j| rows.iter().map(|&r| x[(r, j)]).sum())
                    .collect()
            })
            .collect();
        let mut identities: Vec<Vec<f64>> = sums
            .iter()
            .zip(classes)
            .map(|(s, rows)| s.iter().map(|v| v / rows.len().max(1) as f64).collect())
            .collect();
        let (mut s_mu, mut s_eps) = moments(x, classes, &identities);
        for _ in 0..MAX_EM {
            let s_eps_ridged = self.ridged(&s_eps)?;
            for (c, rows) in classes.iter().enumerate() {
                if rows.is_empty() {
                    continue;
                }
                let a = &s_mu * faer::Scale(rows.len() as f64) + &s_eps_ridged;
                let a_inv = sym_eigen(&a)?.apply(|v| 1.0 / v.max(f64::MIN_POSITIVE));
                let sum = Mat::from_fn(p, 1, |j, _| sums[c][j]);
                let u = &s_mu * (&a_inv * &sum);
                identities[c] = (0..p).map(|j| u[(j, 0)]).collect();
            }
            let (next_mu, next_eps) = moments(x, classes, &identities);
            let change = (&next_mu - &s_mu).norm_l2() + (&next_eps - &s_eps).norm_l2();
            let size = next_mu.norm_l2() + next_eps.norm_l2();
            s_mu = next_mu;
            s_eps = next_eps;
            if change <= EM_TOLERANCE * size || !change.is_finite() {
                break;
            }
        }
        if !(s_mu.norm_l2().is_finite() && s_eps.norm_l2().is_finite()) {
            return Err(DetectError::Linalg(format!(
                "SCAn's EM diverged on {n} samples of dimension {p}"
            )));
        }
        Ok(GlobalModel {
            s_mu,
            s_eps: self.ridged(&s_eps)?,
        })
    }

    /// `S + ρ λ̄ I`.
    fn ridged(&self, s: &Mat<f64>) -> Result<Mat<f64>> {
        let values = sym_eigen(s)?.values;
        let shift = ridge_shift(&values, self.params.ridge);
        Ok(Mat::from_fn(s.nrows(), s.ncols(), |i, j| {
            s[(i, j)] + if i == j { shift } else { 0.0 }
        }))
    }
}

/// `S_μ` = covariance of every sample's class identity, `S_ε` = covariance of the residuals
/// `r_i - u_{y_i}`, both over all samples (divided by `n`).
fn moments(x: &Mat<f64>, classes: &[Vec<usize>], identities: &[Vec<f64>]) -> (Mat<f64>, Mat<f64>) {
    let (n, p) = (x.nrows(), x.ncols());
    let mut label = vec![0usize; n];
    for (c, rows) in classes.iter().enumerate() {
        rows.iter().for_each(|&r| label[r] = c);
    }
    let u = Mat::from_fn(n, p, |i, j| identities[label[i]][j]);
    let e = Mat::from_fn(n, p, |i, j| x[(i, j)] - u[(i, j)]);
    let cov = |m: &Mat<f64>| {
        let mean: Vec<f64> = (0..p)
            .map(|j| (0..n).map(|i| m[(i, j)]).sum::<f64>() / n as f64)
            .collect();
        let c = Mat::from_fn(n, p, |i, j| m[(i, j)] - mean[j]);
        (c.transpose() * &c) * faer::Scale(1.0 / n as f64)
    };
    (cov(&u), cov(&e))
}

/// The posterior mean of one class's identity under the global model:
/// `S_μ (m S_μ + S_ε)^{-1} Σ r_i`.
fn posterior_identity(model: &GlobalModel, x: &Mat<f64>, rows: &[usize]) -> Result<Vec<f64>> {
    let p = x.ncols();
    let a = &model.s_mu * faer::Scale(rows.len() as f64) + &model.s_eps;
    let a_inv = sym_eigen(&a)?.apply(|v| 1.0 / v.max(f64::MIN_POSITIVE));
    let sum = Mat::from_fn(p, 1, |j, _| rows.iter().map(|&r| x[(r, j)]).sum::<f64>());
    let u = &model.s_mu * (&a_inv * &sum);
    Ok((0..p).map(|j| u[(j, 0)]).collect())
}

/// Step 3 on one class (whitened rows `z[rows]`, whitened identity): `J_c` and, per class
/// row, whether it belongs to the smaller subgroup (ties: the second).
fn split_statistic(
    z: &Mat<f64>,
    rows: &[usize],
    identity: &[f64],
    restarts: usize,
    seed: u64,
) -> Result<(f64, Vec<bool>)> {
    let p = z.ncols();
    let points: Vec<f64> = rows
        .iter()
        .flat_map(|&r| (0..p).map(move |j| z[(r, j)]))
        .collect();
    let fit = kmeans(&points, p, 2, restarts, seed)?;
    let to_identity: f64 = rows
        .iter()
        .map(|&r| {
            (0..p)
                .map(|j| (z[(r, j)] - identity[j]).powi(2))
                .sum::<f64>()
        })
        .sum();
    let j = (to_identity - fit.inertia) / rows.len() as f64;
    let second = fit.assignment.iter().filter(|&&g| g == 1).count();
    let small_group = usize::from(2 * second <= rows.len());
    Ok((
        j,
        fit.assignment.iter().map(|&g| g == small_group).collect(),
    ))
}

/// `(J - median)/(1.4826 MAD)` over the classes that have a statistic (others 0); all 0 with
/// fewer than 3 such classes.
fn robust_z(stats: &[Option<f64>]) -> Vec<f64> {
    let present: Vec<f64> = stats.iter().flatten().copied().collect();
    if present.len() < 3 {
        return vec![0.0; stats.len()];
    }
    let median = median_of(&present);
    let deviations: Vec<f64> = present.iter().map(|v| (v - median).abs()).collect();
    let largest = deviations.iter().copied().fold(0.0, f64::max);
    // A zero MAD (most classes identical) is floored so the statistic stays finite.
    let spread = (MAD_TO_SD * median_of(&deviations))
        .max(1e-12 * largest)
        .max(f64::MIN_POSITIVE);
    stats
        .iter()
        .map(|s| s.map_or(0.0, |v| (v - median) / spread))
        .collect()
}

/// Median (mean of the two middle values for an even count); 0 for none.
fn median_of(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    }
}

impl Detector for ScanUntangling {
    fn name(&self) -> &'static str {
        "scan"
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    fn scan(&self, ctx: &ScanContext) -> Result<Detection> {
        self.detect_embeddings(&ctx.embeddings()?, ctx.seed())
    }
}

/// The registry entry (see [`crate::registry::DETECTORS`]).
pub const ENTRY: crate::registry::DetectorEntry = crate::registry::DetectorEntry {
    name: "scan",
    role: mithridate_core::Role::Detector,
    modalities: &[],
    summary: "untangles embeddings into class identity + shared variation (EM), tests each class for two subgroups (likelihood ratio), flags the smaller subgroup of classes whose robust z exceeds the threshold; components (64), threshold (7.389 = e^2), restarts (5), ridge (0.001)",
    paper: "Tang, Wang, Zhang & Wang 2021",
    taxonomy: crate::registry::SANITIZATION,
    requires: &[mithridate_core::Requirement::Model],
    provides: &[],
    build: |p| crate::registry::checked::<ScanUntanglingParams>("scan", p),
};

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// Draws `classes x per_class` samples from the model `r = μ + ε` with
    /// `μ ~ N(0, diag(9, 1))` and `ε ~ N(0, [[1, 0.5], [0.5, 2]])`.
    fn from_the_model(classes: usize, per_class: usize) -> (Vec<f32>, Vec<u32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut normal = || -> f64 { StandardNormal.sample(&mut rng) };
        let (mut values, mut labels) = (Vec::new(), Vec::new());
        for c in 0..classes {
            let mu = [3.0 * normal(), normal()];
            for _ in 0..per_class {
                // Cholesky factor of S_ε: [[1, 0], [0.5, sqrt(1.75)]].
                let (a, b) = (normal(), normal());
                let eps = [a, 0.5 * a + 1.75f64.sqrt() * b];
                values.extend([(mu[0] + eps[0]) as f32, (mu[1] + eps[1]) as f32]);
                labels.push(c as u32);
            }
        }
        (values, labels)
    }

    #[test]
    fn em_recovers_the_identity_and_variation_covariances_of_its_model() {
        let (values, labels) = from_the_model(300, 30);
        let ids: Vec<u64> = (0..labels.len() as u64).collect();
        let emb = Embeddings::new(&values, 2, &labels, &ids, 300).unwrap();
        let detector = ScanUntanglingParams {
            ridge: 0.0,
            ..Default::default()
        }
        .check()
        .unwrap();
        let x = detector.reduce(&emb).unwrap().unwrap();
        let model = detector.untangle(&x, &emb.class_rows()).unwrap();
        // PCA rotates the coordinates: compare eigenvalues, which rotations keep.
        let mu = sym_eigen(&model.s_mu).unwrap().values;
        let eps = sym_eigen(&model.s_eps).unwrap().values;
        let close = |got: f64, want: f64, tol: f64| (got - want).abs() <= tol * want;
        // S_μ = diag(9, 1) from 300 identities (sampling error about 8%).
        assert!(close(mu[0], 9.0, 0.2) && close(mu[1], 1.0, 0.25), "{mu:?}");
        // S_ε eigenvalues (3 ± sqrt(2)) / 2 from 9,000 residuals.
        let (big, small) = ((3.0 + 2f64.sqrt()) / 2.0, (3.0 - 2f64.sqrt()) / 2.0);
        assert!(
            close(eps[0], big, 0.1) && close(eps[1], small, 0.1),
            "{eps:?}"
        );
    }

    #[test]
    fn robust_z_uses_median_and_mad_and_needs_three_classes() {
        // J = [1, 2, 3, 10]: median 2.5, deviations [1.5, 0.5, 0.5, 7.5], MAD 1.0.
        let z = robust_z(&[Some(1.0), Some(2.0), Some(3.0), Some(10.0), None]);
        assert!((z[3] - 7.5 / MAD_TO_SD).abs() < 1e-12, "{z:?}");
        assert!((z[0] + 1.5 / MAD_TO_SD).abs() < 1e-12);
        assert_eq!(z[4], 0.0);
        assert_eq!(robust_z(&[Some(1.0), Some(50.0)]), vec![0.0, 0.0]);
    }
}
