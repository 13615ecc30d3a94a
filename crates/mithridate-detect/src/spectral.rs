//! Spectral signatures (Tran, Li & Madry, "Spectral Signatures in Backdoor Attacks",
//! NeurIPS 2018).
//!
//! For each class `c` with representations `R_c` (`n_c x d`, penultimate activations), centre
//! them (`R̂ = R_c - mean`), take the top right singular vector `v` of `R̂`, and score every
//! sample by its squared projection `τ_i = (R̂_i · v)^2`. The top `removal_factor · ε · n_c`
//! scores of each class are flagged, where `ε` is the expected poison share (the paper removes
//! `1.5 ε`).
//!
//! Assumption: poisoned samples of a class are separated from its clean samples along one
//! direction that carries a large share of the class's variance (the paper's "spectral
//! signature"), which holds when the backdoor is learned through a distinct feature.
//! Per-class budgeting follows the paper: with an all-to-one backdoor, every class loses
//! `removal_factor · ε · n_c` samples, so precision is at most the poison share of the flags;
//! [`Detection::classes`](crate::Detection) carries each class's top-eigenvalue share of the
//! variance (`λ_1 / Σλ`) as `statistic` to show which class holds the signature.
//!
//! Scaling: `O(n d^2 + k d^3)` for `n` samples of dimension `d` in `k` classes (the scatter
//! matrix and one `d x d` symmetric eigendecomposition per class, via faer); memory `O(n_c d)`.
//! Classes with fewer than 2 samples score 0 and are never flagged; an empty class is skipped.
//!
//! ```
//! use mithridate_detect::ParamGuard;
//! use mithridate_detect::{spectral::SpectralParams, Embeddings};
//! // 30 points of class 0 spread along y; 3 poisoned ones shifted by 8 along x.
//! let mut v = Vec::new();
//! for i in 0..30 { v.extend([if i >= 27 { 8.0 } else { 0.0 }, (i % 5) as f32 * 0.3]); }
//! let (labels, ids) = (vec![0u32; 30], (0..30u64).collect::<Vec<_>>());
//! let d = SpectralParams { expected_rate: 0.1, removal_factor: 1.0 }.check()?
//!     .detect_embeddings(&Embeddings::new(&v, 2, &labels, &ids, 1)?)?;
//! assert_eq!(d.flagged, vec![27, 28, 29]);
//! # Ok::<(), mithridate_detect::DetectError>(())
//! ```

use crate::detection::{flag_count, flag_top, twice_median_verdict};
use crate::linalg::principal;
use crate::{check_flag_budget, DetectError, Detection, Detector, Embeddings, Result};
use mithridate_core::ParamGuard;

/// Unchecked parameters of [`SpectralSignatures`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct SpectralParams {
    /// Expected poison share `ε` of each class, in `(0, 1]`.
    pub expected_rate: f64,
    /// Flag `removal_factor · ε` of each class (the paper: 1.5); `> 0`, and the product is
    /// capped at 1.
    pub removal_factor: f64,
}

impl Default for SpectralParams {
    fn default() -> Self {
        SpectralParams {
            expected_rate: 0.1,
            removal_factor: 1.5,
        }
    }
}

impl ParamGuard for SpectralParams {
    type Checked = SpectralSignatures;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        check_flag_budget(self.expected_rate, self.removal_factor)?;
        Ok(())
    }

    fn build(self) -> SpectralSignatures {
        SpectralSignatures { params: self }
    }
}

/// The spectral-signatures detector with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct SpectralSignatures {
    params: SpectralParams,
}

impl SpectralSignatures {
    /// Scores and flags precomputed representations.
    pub fn detect_embeddings(&self, emb: &Embeddings) -> Result<Detection> {
        let share = (self.params.expected_rate * self.params.removal_factor).min(1.0);
        let mut scores = vec![0f64; emb.len()];
        let mut flags = vec![false; emb.len()];
        let mut concentration = vec![0f64; emb.num_classes()];
        for (class, rows) in emb.class_rows().iter().enumerate() {
            if rows.len() < 2 {
                continue;
            }
            let p = principal(emb, rows, emb.dim())?;
            let total: f64 = p.values.iter().sum();
            concentration[class] = if total > 0.0 {
                p.values[0] / total
            } else {
                0.0
            };
            let top = p.directions.col(0);
            for (i, &r) in rows.iter().enumerate() {
                let proj: f64 = (0..emb.dim()).map(|j| p.centred[(i, j)] * top[j]).sum();
                scores[r] = proj * proj;
            }
            flag_top(&scores, rows, flag_count(rows.len(), share), &mut flags);
        }
        Ok(Detection::from_rows(
            self.name(),
            self.parameters(),
            emb.rows(),
            &scores,
            &flags,
            // A class is "suspicious" when one direction dominates its variance far more
            // than in the median class: twice the median concentration.
            twice_median_verdict(concentration),
        ))
    }
}

embedding_detector!(SpectralSignatures, "spectral");

/// The registry entry (see [`crate::registry::DETECTORS`]).
pub const ENTRY: crate::registry::DetectorEntry = crate::registry::DetectorEntry {
    name: "spectral",
    role: mithridate_core::Role::Detector,
    modalities: &[],
    summary: "top singular direction of each class's centred embeddings; flags removal-factor x expected-rate per class; expected-rate (0.1), removal-factor (1.5)",
    paper: "Tran, Li & Madry 2018",
    taxonomy: crate::registry::SANITIZATION,
    requires: &[mithridate_core::Requirement::Model],
    provides: &[],
    build: |p| crate::registry::checked::<SpectralParams>("spectral", p),
};
