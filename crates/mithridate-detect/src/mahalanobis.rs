//! Class-conditional Mahalanobis distance (Lee, Lee, Lee & Shin, "A Simple Unified Framework
//! for Detecting Out-of-Distribution Samples and Adversarial Attacks", NeurIPS 2018), used as
//! a poisoned-sample score.
//!
//! Fit a Gaussian per class with a tied covariance on the representations `R` (penultimate
//! activations): class means `μ_c`, pooled within-class covariance
//! `Σ = (1/n) Σ_i (R_i - μ_{y_i})(R_i - μ_{y_i})^T`. Each sample is scored by its squared
//! Mahalanobis distance to the mean of its *given* label,
//! `M_i = (R_i - μ_{y_i})^T (Σ + ρ λ̄ I)^{-1} (R_i - μ_{y_i})`, computed through the
//! eigendecomposition `Σ = U Λ U^T` as `Σ_k ((R_i - μ_{y_i}) · u_k)^2 / (λ_k + ρ λ̄)`, where `λ̄`
//! is the mean eigenvalue and `ρ` a small ridge (directions without variance do not dominate).
//! The top `removal_factor · ε · n_c` scores of each class are flagged, as spectral signatures
//! budget them.
//!
//! Assumption: poisoned samples are atypical of the class they are labelled as (dirty-label
//! backdoors, label flips) in the model's representation. Unlike the spectral score it is
//! invariant to any invertible linear map of the representation (with `ρ = 0`), so a feature
//! with a large scale cannot hide the outliers. It does not assume the poison is a minority
//! direction, but a poison that is the majority of its class moves the class mean onto itself.
//!
//! Scaling: `O(n d^2 + d^3)` (one pooled scatter matrix and one eigendecomposition), memory
//! `O(n d)`. Classes with fewer than 2 samples score 0.
//!
//! ```
//! use mithridate_detect::ParamGuard;
//! use mithridate_detect::{mahalanobis::MahalanobisParams, Embeddings};
//! // Two classes around (0, 0) and (10, 0); sample 3 is labelled 0 but sits in class 1.
//! let v = [0.0, 0.1, 0.2, -0.1, -0.1, 0.0, 10.0, 0.1, 10.1, 0.0, 9.9, -0.1, 10.0, 0.2, 0.1, -0.2];
//! let labels = [0u32, 0, 0, 0, 1, 1, 1, 0];
//! let ids: Vec<u64> = (0..8).collect();
//! let d = MahalanobisParams { expected_rate: 0.2, removal_factor: 1.0, ridge: 1e-3 }.check()?
//!     .detect_embeddings(&Embeddings::new(&v, 2, &labels, &ids, 2)?)?;
//! // Each class flags its most atypical sample; sample 3 scores highest of all.
//! assert!(d.flagged.contains(&3));
//! let top = d.scores.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
//! assert_eq!(top.0, 3);
//! # Ok::<(), mithridate_detect::DetectError>(())
//! ```

use crate::detection::{flag_count, flag_top, twice_median_verdict};
use crate::{check_flag_budget, DetectError, Detection, Detector, Embeddings, Result};
use faer::{Mat, Side};
use mithridate_core::ParamGuard;

/// Unchecked parameters of [`Mahalanobis`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct MahalanobisParams {
    /// Expected poison share `ε` of each class, in `(0, 1]`.
    pub expected_rate: f64,
    /// Flag `removal_factor · ε` of each class (capped at 1); `> 0`.
    pub removal_factor: f64,
    /// Ridge `ρ` added to every eigenvalue, relative to their mean; `>= 0`.
    pub ridge: f64,
}

impl Default for MahalanobisParams {
    fn default() -> Self {
        MahalanobisParams {
            expected_rate: 0.1,
            removal_factor: 1.5,
            ridge: 1e-3,
        }
    }
}

impl ParamGuard for MahalanobisParams {
    type Checked = Mahalanobis;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        check_flag_budget(self.expected_rate, self.removal_factor)?;
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            return Err(DetectError::param(format!(
                "ridge must be finite and >= 0, got {}",
                self.ridge
            )));
        }
        Ok(())
    }

    fn build(self) -> Mahalanobis {
        Mahalanobis { params: self }
    }
}

/// The Mahalanobis detector with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct Mahalanobis {
    params: MahalanobisParams,
}

impl Mahalanobis {
    /// Scores and flags precomputed representations.
    pub fn detect_embeddings(&self, emb: &Embeddings) -> Result<Detection> {
        let (n, d) = (emb.len(), emb.dim());
        let classes = emb.class_rows();
        let mut means = vec![vec![0f64; d]; classes.len()];
        for (c, rows) in classes.iter().enumerate() {
            for &r in rows {
                for (m, &v) in means[c].iter_mut().zip(emb.row(r)) {
                    *m += f64::from(v);
                }
            }
            for m in &mut means[c] {
                *m /= rows.len().max(1) as f64;
            }
        }
        let residual = Mat::from_fn(n, d, |i, j| {
            f64::from(emb.row(i)[j]) - means[emb.labels()[i] as usize][j]
        });
        let covariance = (residual.transpose() * &residual) * faer::Scale(1.0 / n as f64);
        let eigen = covariance
            .self_adjoint_eigen(Side::Lower)
            .map_err(|e| DetectError::Linalg(format!("eigendecomposition failed: {e:?}")))?;
        let values: Vec<f64> = (0..d).map(|k| eigen.S()[k].max(0.0)).collect();
        let floor = self.params.ridge * values.iter().sum::<f64>() / d as f64;
        let projected = &residual * eigen.U();
        let mut scores = vec![0f64; n];
        for (i, score) in scores.iter_mut().enumerate() {
            if classes[emb.labels()[i] as usize].len() < 2 {
                continue;
            }
            *score = (0..d)
                .map(|k| projected[(i, k)].powi(2) / (values[k] + floor).max(f64::MIN_POSITIVE))
                .sum();
        }
        let share = (self.params.expected_rate * self.params.removal_factor).min(1.0);
        let mut flags = vec![false; n];
        let mut class_mean = vec![0f64; classes.len()];
        for (c, rows) in classes.iter().enumerate() {
            if rows.len() < 2 {
                continue;
            }
            class_mean[c] = rows.iter().map(|&r| scores[r]).sum::<f64>() / rows.len() as f64;
            flag_top(&scores, rows, flag_count(rows.len(), share), &mut flags);
        }
        Ok(Detection::from_rows(
            self.name(),
            self.parameters(),
            emb.rows(),
            &scores,
            &flags,
            // A class whose samples sit far from their own mean on average (twice the median
            // class) holds samples that do not belong to it.
            twice_median_verdict(class_mean),
        ))
    }
}

embedding_detector!(Mahalanobis, "mahalanobis");

/// The registry entry (see [`crate::registry::DETECTORS`]).
pub const ENTRY: crate::registry::DetectorEntry = crate::registry::DetectorEntry {
    name: "mahalanobis",
    role: mithridate_core::Role::Detector,
    modalities: &[],
    summary: "squared Mahalanobis distance to the mean of the sample's labelled class under a tied covariance of the embeddings; flags removal-factor x expected-rate per class; expected-rate (0.1), removal-factor (1.5), ridge (0.001)",
    paper: "Lee, Lee, Lee & Shin 2018",
    taxonomy: crate::registry::SANITIZATION,
    requires: &[mithridate_core::Requirement::Model],
    provides: &[],
    build: |p| crate::registry::checked::<MahalanobisParams>("mahalanobis", p),
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Class 0 around the origin, class 1 around (10, 10), one class-1 point labelled 0.
    fn data(scale_x: f32) -> (Vec<f32>, Vec<u32>, Vec<u64>) {
        let mut v = Vec::new();
        let mut labels = Vec::new();
        for i in 0..40 {
            let (c, centre) = if i < 20 { (0, 0.0) } else { (1, 10.0) };
            let wobble = ((i * 7) % 5) as f32 * 0.2 - 0.4;
            let other = ((i * 3) % 7) as f32 * 0.15 - 0.45;
            v.extend([(centre + wobble) * scale_x, centre + other]);
            labels.push(c);
        }
        v.extend([10.0 * scale_x, 10.1]);
        labels.push(0);
        let ids = (0..labels.len() as u64).collect();
        (v, labels, ids)
    }

    fn flagged(scale_x: f32) -> Vec<u64> {
        let (v, labels, ids) = data(scale_x);
        MahalanobisParams {
            expected_rate: 0.05,
            removal_factor: 1.0,
            ridge: 0.0,
        }
        .check()
        .unwrap()
        .detect_embeddings(&Embeddings::new(&v, 2, &labels, &ids, 2).unwrap())
        .unwrap()
        .flagged
    }

    #[test]
    fn finds_the_mislabelled_point_whatever_the_scale_of_a_feature() {
        assert!(flagged(1.0).contains(&40));
        // Affine invariance: stretching one feature a thousandfold changes nothing.
        assert_eq!(flagged(1.0), flagged(1000.0));
    }

    #[test]
    fn rejects_impossible_parameters() {
        let bad = |p: MahalanobisParams| p.check().is_err();
        let base = MahalanobisParams::default();
        assert!(bad(MahalanobisParams { expected_rate: 0.0, ..base }));
        assert!(bad(MahalanobisParams { removal_factor: -1.0, ..base }));
        assert!(bad(MahalanobisParams { ridge: f64::NAN, ..base }));
    }
}
