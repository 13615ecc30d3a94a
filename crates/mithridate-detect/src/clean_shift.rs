//! Clean shift: the part of a class that has moved away from the trusted clean samples of that
//! class, along the one direction in input space that separates them best (Fisher 1936's
//! discriminant, cross-fitted), judged by a bimodality test. It needs no model, and it sees
//! clean-label poisons, whose labels are right and whose features are a bounded perturbation,
//! which label-consistency checks cannot see.
//!
//! A poison that adds a shared perturbation `δ` (a patch, a blend, a sinusoid, an optimised
//! `L_∞` trigger as in Narcissus, Zeng et al. 2023) to a share `p` of class `c` moves that
//! share by `δ`. Measured against the clean samples' within-class covariance `Σ`, a
//! perturbation that natural images rarely contain (high-frequency, or off the class's
//! manifold) is long: `δᵀ Σ⁻¹ δ` is large even when `‖δ‖_∞` is 16/255.
//!
//! 1. **Covariance.** `S` = the trusted clean samples' pooled within-class covariance (each
//!    class centred on its own mean), shrunk towards `μ I` (`μ = tr S / d`) by the
//!    Ledoit & Wolf (2004) weight `λ = min(1, b² / ‖S - μ I‖²_F)`, with
//!    `b² = (1/m²) Σ_i ‖x_i‖⁴ - (1/m) ‖S‖²_F` over the `m` centred rows: `Σ = (1 - λ) S + λ μ I`.
//! 2. **Cross-fitted direction, per class.** The scanned rows `X_c` and the clean rows `C_c`
//!    are split (seeded) into halves `X¹, X²` and `C¹, C²`. For fold `f`:
//!    `w_f = Σ⁻¹ (mean X^f - mean C^f)`, then `refine-rounds` times: split the projections
//!    `X^f w_f` at their 2-means (Otsu) threshold and use the upper group's mean in place of
//!    `mean X^f` (at a low poison share the plain mean difference is mostly sampling noise;
//!    the upper group is mostly poison). The other half `X^{3-f}` and the held-out clean half
//!    `C^{3-f}` are scored with `w_f`: `(x w_f - med(C^{3-f} w_f)) / √(w_fᵀ Σ w_f)`, centred
//!    on the held-out clean rows and scaled by the clean spread along `w_f` (estimated from
//!    every trusted sample, so the two folds share a scale; a MAD of the few held-out rows of
//!    one class, or the scanned half's, whose median falls between the modes when half the
//!    class is poisoned, did not). No row is scored by a direction it helped to fit.
//! 3. **Verdict** (the rule shared with confusion training, [`crate::tails`]): scores are
//!    robust z-scores within the class; a class is suspicious when Ashman's D of its 2-means
//!    split is at least `min-separation` and an outlier among the classes (`class-outlier`).
//!    Then two checks of ours: the upper mode must hold at least `min-mode-share` of the
//!    class, and the held-out clean half must not share it (a mode holding
//!    [`crate::confusion::HELD_OUT_VETO`] of its flagged share of the held-out clean rows is
//!    content the trusted samples have too). Flagged: the upper mode, at most
//!    `max-class-share` of the class.
//!
//! Why `min-mode-share` (5%): MNIST's training and test digits come from disjoint writers, and
//! a writer's style absent from the trusted samples is a real, separated mode (a NumPy
//! prototype of this detector, scaled by the held-out clean rows' MAD, found such modes in 2
//! of 8 clean 6,000-image MNIST subsets: 16 and 22 rows, 2.5% and 3.5% of their class, D 5.15
//! and 4.35).
//! A clean-label trigger needs far more of its class to implant (Narcissus here: 0-6 points
//! over the clean model's floor at 10% of the class, stop 47), and dirty-label poisons at
//! 1% of a ten-class set are ~10% of their target class.
//!
//! Assumptions: the trusted samples come from the scanned data's distribution (a different
//! split of the same source), with at least 8 rows per class; the poison is a shared additive
//! change. A trigger that differs per sample (a patch at a random position, a warp as in
//! WaNet) has no common direction and is not seen; input-consistency and confusion training
//! cover those. Dense inputs only (token ids have no Euclidean geometry). Features on one
//! scale (pixels): the shrinkage target `μ I` is one common variance, so a feature far
//! quieter than the rest is diluted (a table with 8 columns of standard deviation 1 and 4 of
//! 0.05, 150 clean rows: a shift of 8 of the quiet columns' standard deviations scored 1-2
//! robust units and was not flagged, one of 20 was); standardise such columns first.
//!
//! Cost: `O(m d² + d³)` for the covariance and its inverse (`m` clean rows, `d` features, at
//! most [`MAX_FEATURES`]), then `O((1 + refine-rounds) n d)` for `n` scanned rows: linear in
//! the scanned set and independent of the number of classes. Measured (release, 2 cores,
//! 1,000 clean samples, `d = 784`): 0.2 s for 6,000 images, 0.4 s for 60,000.
//!
//! ```
//! use mithridate_data::{Dataset, Features, Modality};
//! use mithridate_detect::{clean_shift::CleanShiftParams, ParamGuard};
//! // Three classes of 8 features; class 0 of the scanned set has 30 of its 200 rows shifted
//! // by +0.5 in feature 5 (where clean samples barely vary). The trusted set: 60 per class.
//! let row = |c: u32, i: u64, shift: bool| -> Vec<f32> {
//!     (0..8u64)
//!         .map(|j| {
//!             let noise = ((i * 7919 + j * 104_729 + u64::from(c) * 31) % 1000) as f32 / 1000.0 - 0.5;
//!             let spread = if j == 5 { 0.05 } else { 1.0 };
//!             c as f32 * 2.0 * (j == 0) as u8 as f32 + spread * noise + if shift && j == 5 { 0.5 } else { 0.0 }
//!         })
//!         .collect()
//! };
//! let build = |per: u64, shifted: u64, base: u64| -> Dataset {
//!     let (mut x, mut y, mut ids) = (Vec::new(), Vec::new(), Vec::new());
//!     for c in 0..3u32 {
//!         for i in 0..per {
//!             x.extend(row(c, base + i, c == 0 && i < shifted));
//!             y.push(c);
//!             ids.push(u64::from(c) * 10_000 + base + i);
//!         }
//!     }
//!     Dataset::new(Modality::Tabular { features: 8 }, Features::Dense(x), y, ids, 3, vec![]).unwrap()
//! };
//! let (scanned, clean) = (build(200, 30, 0), build(60, 0, 5_000));
//! let d = CleanShiftParams { class_outlier: 0.0, ..Default::default() }.check()?.detect(&scanned, &clean, 0)?;
//! assert_eq!(d.suspicious_classes(), vec![0]);
//! assert_eq!(d.flagged, (0..30).collect::<Vec<u64>>());
//! # Ok::<(), mithridate_detect::DetectError>(())
//! ```

use crate::confusion::veto_shared_mode;
use crate::context::class_rows;
use crate::detection::Rows;
use crate::dynamics::check_tail_rule;
use crate::symmetric::sym_eigen;
use crate::tails::{best_two_means_cut, median, robust_z, TailRule};
use crate::{check_share, DetectError, Detection, Detector, Result, ScanContext};
use faer::Mat;
use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Features};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Most input features (the `d x d` covariance and its inverse are held in memory: 128 MiB
/// each at this bound).
pub const MAX_FEATURES: usize = 4096;
/// Fewest scanned and clean rows of a class for a verdict on it (each half holds 4).
const MIN_PER_CLASS: usize = 8;
/// Most refinement rounds.
const MAX_REFINE: usize = 10;
/// Clean rows per block of the covariance product (bounds the working memory to this many
/// rows of `d` values).
const BLOCK_ROWS: usize = 1024;
/// Eigenvalues of the shrunk covariance are floored at this share of the largest.
const RIDGE: f64 = 1e-9;

/// Unchecked parameters of [`CleanShift`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct CleanShiftParams {
    /// Rounds re-estimating the direction from the upper mode of the fitting half, in
    /// `[0, 10]`.
    pub refine_rounds: usize,
    /// Smallest Ashman's D of a suspicious class's split (> 0). Why 5: the largest class D
    /// on clean sets was 2.7-4.25 (26 MNIST and 26 Fashion-MNIST 6,000-image subsets, 2 full
    /// sets each; 4.25 once, on MNIST, 126 rows of a class); the poisons that shift a share
    /// of their class measured 5.9-172 (Narcissus, dirty and clean-label SIG, patches,
    /// blended noise; detect README, "Stop 48").
    pub min_separation: f64,
    /// Robust z-score a class's D must reach among the classes (>= 0; 0 disables).
    pub class_outlier: f64,
    /// Smallest share of its class the upper mode must hold, in `(0, 1]` (see the module docs).
    pub min_mode_share: f64,
    /// Most of a suspicious class that is flagged, in `(0, 1]`.
    pub max_class_share: f64,
}

impl Default for CleanShiftParams {
    fn default() -> Self {
        CleanShiftParams {
            refine_rounds: 2,
            min_separation: 5.0,
            class_outlier: 3.0,
            min_mode_share: 0.05,
            max_class_share: 0.5,
        }
    }
}

impl ParamGuard for CleanShiftParams {
    type Checked = CleanShift;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        if self.refine_rounds > MAX_REFINE {
            return Err(DetectError::param(format!(
                "clean-shift needs refine-rounds in [0, {MAX_REFINE}], got {}",
                self.refine_rounds
            )));
        }
        check_share("min mode share", self.min_mode_share)?;
        check_tail_rule(
            self.class_outlier,
            self.min_separation,
            self.max_class_share,
        )
    }

    fn build(self) -> CleanShift {
        CleanShift { params: self }
    }
}

/// The clean-shift detector with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct CleanShift {
    params: CleanShiftParams,
}

/// Dense rows of `d` values.
struct Rowset<'a> {
    values: &'a [f32],
    d: usize,
}

impl Rowset<'_> {
    fn row(&self, r: usize) -> &[f32] {
        &self.values[r * self.d..(r + 1) * self.d]
    }

    fn mean(&self, rows: &[usize]) -> Vec<f64> {
        let mut m = vec![0f64; self.d];
        for &r in rows {
            m.iter_mut()
                .zip(self.row(r))
                .for_each(|(a, &v)| *a += f64::from(v));
        }
        let n = rows.len().max(1) as f64;
        m.iter_mut().for_each(|a| *a /= n);
        m
    }

    fn project(&self, rows: &[usize], w: &[f64]) -> Vec<f64> {
        rows.iter()
            .map(|&r| self.row(r).iter().zip(w).map(|(&v, &w)| f64::from(v) * w).sum())
            .collect()
    }
}

impl CleanShift {
    /// Scans `data` against the trusted `clean` samples (same shape, labels among `data`'s
    /// classes); `seed` drives the halves.
    pub fn detect(&self, data: &Dataset, clean: &Dataset, seed: u64) -> Result<Detection> {
        let (Features::Dense(values), Features::Dense(clean_values)) =
            (data.features(), clean.features())
        else {
            return Err(DetectError::input(
                "clean-shift reads dense inputs (images, tables), not token ids",
            ));
        };
        let d = data.modality().sample_len();
        if clean.modality().sample_len() != d || clean.is_empty() {
            return Err(DetectError::input(
                "the trusted clean set's samples differ in shape from the scanned data's, or it is empty",
            ));
        }
        if d > MAX_FEATURES {
            return Err(DetectError::input(format!(
                "clean-shift holds a {d} x {d} covariance; inputs of at most {MAX_FEATURES} features are supported"
            )));
        }
        let k = data.num_classes();
        if let Some(&y) = clean.labels().iter().find(|&&y| y as usize >= k) {
            return Err(DetectError::input(format!(
                "the trusted clean set holds label {y}, the scanned data has {k} classes"
            )));
        }
        let (scanned, trusted) = (Rowset { values, d }, Rowset { values: clean_values, d });
        let (rows, clean_rows) = (class_rows(data.labels(), k), class_rows(clean.labels(), k));
        let precision = shrunk_precision(&trusted, &clean_rows)?;
        let n = data.len();
        let (mut raw, mut scores) = (vec![0f64; n], vec![0f64; n]);
        let mut held_out: Vec<Vec<f64>> = vec![Vec::new(); k];
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); k];
        for c in 0..k {
            if rows[c].len() < MIN_PER_CLASS || clean_rows[c].len() < MIN_PER_CLASS {
                continue;
            }
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xC1EA_5A1F ^ ((c as u64) << 32));
            let halves = |rows: &[usize], rng: &mut ChaCha8Rng| -> [Vec<usize>; 2] {
                let mut order = rows.to_vec();
                order.shuffle(rng);
                [order.iter().step_by(2).copied().collect(), order.iter().skip(1).step_by(2).copied().collect()]
            };
            let (x, b) = (halves(&rows[c], &mut rng), halves(&clean_rows[c], &mut rng));
            for f in 0..2 {
                let (w, spread) = self.direction(&scanned, &x[f], &trusted, &b[f], &precision);
                let reference = trusted.project(&b[1 - f], &w);
                let centre = median(&reference);
                let scale = spread.sqrt();
                if scale <= 0.0 || !scale.is_finite() {
                    continue;
                }
                for (&r, p) in x[1 - f].iter().zip(scanned.project(&x[1 - f], &w)) {
                    raw[r] = (p - centre) / scale;
                }
                held_out[c].extend(reference.iter().map(|v| (v - centre) / scale));
            }
            robust_z(&raw, &rows[c], 0.0, &mut scores);
            groups[c] = rows[c].clone();
        }
        let rule = TailRule {
            class_outlier: self.params.class_outlier,
            min_separation: self.params.min_separation,
            max_class_share: self.params.max_class_share,
        };
        let mut flags = vec![false; n];
        let mut tails = rule.apply(&scores, &groups, &mut flags);
        for c in 0..k {
            if !tails.suspicious[c] {
                continue;
            }
            let flagged = rows[c].iter().filter(|&&r| flags[r]).count();
            if (flagged as f64 / rows[c].len() as f64) < self.params.min_mode_share {
                tails.suspicious[c] = false;
                rows[c].iter().for_each(|&r| flags[r] = false);
            } else if veto_shared_mode(&raw, &rows[c], &held_out[c], &mut flags) {
                tails.suspicious[c] = false;
            }
        }
        let (suspicious, separation) = (&tails.suspicious, &tails.separation);
        Ok(Detection::from_rows(
            self.name(),
            self.parameters(),
            Rows {
                ids: data.ids(),
                labels: data.labels(),
                num_classes: k,
            },
            &scores,
            &flags,
            |c| (suspicious[c as usize], separation[c as usize]),
        ))
    }

    /// `w = Σ⁻¹ Δ` with `Δ` = the mean of the scanned rows' upper mode - the mean of the clean
    /// rows, refined `refine-rounds` times from the plain mean difference (step 2), and the
    /// clean spread along it, `wᵀ Σ w = Δᵀ w`.
    fn direction(
        &self,
        scanned: &Rowset,
        rows: &[usize],
        trusted: &Rowset,
        clean: &[usize],
        precision: &Mat<f64>,
    ) -> (Vec<f64>, f64) {
        let clean_mean = trusted.mean(clean);
        let towards = |mean: Vec<f64>| -> (Vec<f64>, f64) {
            let diff: Vec<f64> = mean.iter().zip(&clean_mean).map(|(a, b)| a - b).collect();
            let w: Vec<f64> = (0..diff.len())
                .map(|i| (0..diff.len()).map(|j| precision[(i, j)] * diff[j]).sum())
                .collect();
            let spread = w.iter().zip(&diff).map(|(a, b)| a * b).sum();
            (w, spread)
        };
        let mut fitted = towards(scanned.mean(rows));
        for _ in 0..self.params.refine_rounds {
            let projected = scanned.project(rows, &fitted.0);
            let mut sorted = projected.clone();
            sorted.sort_by(f64::total_cmp);
            let Some(cut) = best_two_means_cut(&sorted) else { break };
            let threshold = (sorted[cut - 1] + sorted[cut]) / 2.0;
            let upper: Vec<usize> = rows
                .iter()
                .zip(&projected)
                .filter(|(_, &p)| p > threshold)
                .map(|(&r, _)| r)
                .collect();
            fitted = towards(scanned.mean(&upper));
        }
        fitted
    }
}

/// `Σ⁻¹` of the Ledoit-Wolf-shrunk pooled within-class covariance of the clean rows (step 1).
fn shrunk_precision(trusted: &Rowset, clean_rows: &[Vec<usize>]) -> Result<Mat<f64>> {
    let (s, lambda, mu) = ledoit_wolf(trusted, clean_rows)?;
    let shrunk = Mat::from_fn(s.nrows(), s.ncols(), |i, j| {
        (1.0 - lambda) * s[(i, j)] + if i == j { lambda * mu } else { 0.0 }
    });
    let eigen = sym_eigen(&shrunk)?;
    let floor = RIDGE * eigen.values.first().copied().unwrap_or(1.0).max(f64::MIN_POSITIVE);
    Ok(eigen.apply(|v| 1.0 / v.max(floor)))
}

/// The pooled within-class covariance `S` of the clean rows (classes with at least 2 rows),
/// the Ledoit-Wolf weight `λ` and `μ = tr S / d` (step 1).
fn ledoit_wolf(trusted: &Rowset, clean_rows: &[Vec<usize>]) -> Result<(Mat<f64>, f64, f64)> {
    let d = trusted.d;
    let mut sum = Mat::<f64>::zeros(d, d);
    let (mut m, mut fourth) = (0usize, 0f64);
    for rows in clean_rows.iter().filter(|r| r.len() >= 2) {
        let mean = trusted.mean(rows);
        for block in rows.chunks(BLOCK_ROWS) {
            let centred = Mat::from_fn(block.len(), d, |i, j| {
                f64::from(trusted.row(block[i])[j]) - mean[j]
            });
            for i in 0..block.len() {
                let norm: f64 = (0..d).map(|j| centred[(i, j)] * centred[(i, j)]).sum();
                fourth += norm * norm;
            }
            sum += centred.transpose() * &centred;
            m += block.len();
        }
    }
    if m == 0 {
        return Err(DetectError::input(
            "clean-shift needs at least two trusted clean samples of some class",
        ));
    }
    let s = Mat::from_fn(d, d, |i, j| sum[(i, j)] / m as f64);
    let mu = (0..d).map(|i| s[(i, i)]).sum::<f64>() / d as f64;
    if mu <= 0.0 || !mu.is_finite() {
        return Err(DetectError::input(
            "the trusted clean samples do not vary within their classes",
        ));
    }
    let (mut spread, mut total) = (0f64, 0f64);
    for i in 0..d {
        for j in 0..d {
            let v = s[(i, j)];
            total += v * v;
            let off = v - if i == j { mu } else { 0.0 };
            spread += off * off;
        }
    }
    let b2 = (fourth / (m * m) as f64 - total / m as f64).max(0.0);
    let lambda = if spread > 0.0 { (b2 / spread).min(1.0) } else { 1.0 };
    Ok((s, lambda, mu))
}

impl Detector for CleanShift {
    fn name(&self) -> &'static str {
        "clean-shift"
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    fn scan(&self, ctx: &ScanContext) -> Result<Detection> {
        let clean = ctx.require_clean_set(self.name())?;
        self.detect(ctx.data(), clean, ctx.seed())
    }
}

/// The registry entry (see [`crate::registry::DETECTORS`]).
pub const ENTRY: crate::registry::DetectorEntry = crate::registry::DetectorEntry {
    name: "clean-shift",
    role: mithridate_core::Role::Detector,
    modalities: &[],
    summary: "model-free: per class, the cross-fitted Fisher direction (Ledoit-Wolf-shrunk clean covariance) between the scanned rows and the trusted clean rows, scored against held-out clean rows; flags a separated upper mode (a shared additive trigger, including clean-label ones such as Narcissus or clean-label SIG); needs a trusted clean set; blind to per-sample triggers (random-position patches, warps); refine-rounds (2), min-separation (4), class-outlier (3), min-mode-share (0.05), max-class-share (0.5)",
    paper: "Fisher 1936 (discriminant); Ledoit & Wolf 2004 (shrinkage); Ashman et al. 1994 (bimodality)",
    taxonomy: crate::registry::SANITIZATION,
    requires: &[mithridate_core::Requirement::CleanSet],
    provides: &[],
    build: |p| crate::registry::checked::<CleanShiftParams>("clean-shift", p),
};

#[cfg(test)]
#[path = "clean_shift_tests.rs"]
mod tests;
