//! Training-dynamics scoring: anti-backdoor learning's isolation of the samples a network
//! learns fastest (Li, Lyu, Koren, Lyu, Li & Ma, "Anti-Backdoor Learning: Training Clean Models
//! on Poisoned Data", NeurIPS 2021), followed over training time instead of read once.
//!
//! ABL's observation: a backdoor is a simpler task than the clean one (a trigger maps to one
//! label), so poisoned samples' loss drops much faster than clean samples' of the same label;
//! conversely mislabeled samples (targeted flips) are learned last (Arpit et al. 2017). The
//! [`loss`](crate::loss) detector reads one snapshot; this one follows the whole curve.
//!
//! **Training.** A fresh model (the context's [`crate::TrainSpec`] architecture, optimiser and
//! batch size; initialised and shuffled from the context seed) is trained for `epochs` epochs
//! `E` in `stages` equal stages `S`: the training stream is `E` seeded permutations of the rows,
//! and stage `t` trains on stream positions `[(t-1) E n / S, t E n / S)` by calling
//! `Classifier::fit` for one epoch on that subset (the engine's `fit` continues from the
//! current weights, so this *is* one continued run; its optimiser state restarts each call,
//! which resets Adam's moment estimates every `E n / S` rows). After each stage every sample's
//! cross-entropy `ℓ_i(t)` is recorded. The run is the scan's shared staged run
//! ([`crate::staged_run`]): the [`loss`](crate::loss) detector reads its whole-epoch stages,
//! so a scan running both trains once.
//!
//! **Score.** With `v_i(t) = -ln max(ℓ_i(t), 1e-12)` (log loss, because losses of learned
//! samples span orders of magnitude), `z_i(t)` is the robust z-score of `v_i(t)` among the
//! samples *of the same label* (median and 1.4826 MAD), and the score is the area under that
//! normalised curve, `s_i = (1/S) Σ_t z_i(t)` (direction `low`: learned early and far = high
//! score) or its negation (direction `high`: learned late, label flips). Normalising per label
//! and per stage removes the differences between easy and hard classes and between early and
//! late stages; only *how early and how far a sample leads its own class* remains.
//!
//! **Verdict and flags** (shared with SCALE-UP, see [`crate::tails`]): each class's scores are
//! split by exact 1-D 2-means; the class statistic is Ashman's D of the split (bimodality of
//! its fast tail); a class is suspicious when `D >= min-separation` and, with 5 or more
//! classes, `D` is a robust outlier among the classes (z >= `class-outlier`). Only suspicious
//! classes are flagged: their upper cluster, at most `max-class-share` of the class. Why a
//! data-driven split rather than a `removal_factor · expected_rate` budget: an all-to-one
//! poison of rate `ε` is `≈ ε K` of its target class (a third of it at 5% with 10 classes),
//! a share the defender does not know; the 2-means cut adapts to it, the share cap bounds it.
//! On clean data no class stands out, so almost nothing is flagged.
//!
//! Cost: `E` epochs of training plus `S` forward passes over the set; memory `O(S n)`.
//! Assumes at least 2 classes and `E n / S >= 1` rows per stage.
//!
//! ```
//! use mithridate_detect::ParamGuard;
//! use mithridate_detect::dynamics::DynamicsParams;
//! let p = DynamicsParams::default();
//! assert_eq!((p.epochs, p.stages), (2, 8));
//! assert!(p.check().is_ok());
//! let err = DynamicsParams { stages: 1, ..p }.check().unwrap_err().to_string();
//! assert!(err.contains("stages"), "{err}");
//! assert!(DynamicsParams { max_class_share: 1.5, ..p }.check().is_err());
//! ```

use crate::context::class_rows;
use crate::detection::Rows;
use crate::loss::Direction;
use crate::staged_run::{stage_losses, Pace};
use crate::tails::{robust_z, TailRule};
use crate::{check_share, DetectError, Detection, Detector, Result, ScanContext};
use mithridate_core::ParamGuard;

/// Smallest loss kept before taking logs (a fully learned sample's loss underflows to 0).
const LOSS_FLOOR: f64 = 1e-12;

/// Unchecked parameters of [`TrainingDynamics`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct DynamicsParams {
    /// Total training epochs `E`, at least 1.
    pub epochs: usize,
    /// Loss snapshots `S` (equal stages of `E / S` epochs), at least 2.
    pub stages: usize,
    /// `low`: the fast-learned tail (backdoors); `high`: the slow tail (label flips).
    pub direction: Direction,
    /// Robust z-score a class's separation must reach among the classes (>= 0; 0 disables).
    pub class_outlier: f64,
    /// Smallest Ashman's D of a suspicious class's split (> 0).
    pub min_separation: f64,
    /// Most of a suspicious class that is flagged, in `(0, 1]`.
    pub max_class_share: f64,
}

impl Default for DynamicsParams {
    fn default() -> Self {
        DynamicsParams {
            epochs: 2,
            stages: 8,
            direction: Direction::Low,
            class_outlier: 3.0,
            min_separation: 3.5,
            max_class_share: 0.5,
        }
    }
}

impl ParamGuard for DynamicsParams {
    type Checked = TrainingDynamics;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(DetectError::param("training dynamics needs epochs >= 1"));
        }
        if self.stages < 2 {
            return Err(DetectError::param(format!(
                "training dynamics needs stages >= 2, got {}",
                self.stages
            )));
        }
        check_tail_rule(
            self.class_outlier,
            self.min_separation,
            self.max_class_share,
        )
    }

    fn build(self) -> TrainingDynamics {
        TrainingDynamics { params: self }
    }
}

/// Checks the shared per-class rule's thresholds (see [`crate::tails`]).
pub(crate) fn check_tail_rule(outlier: f64, separation: f64, share: f64) -> Result<()> {
    if !(outlier.is_finite() && outlier >= 0.0) {
        return Err(DetectError::param(format!(
            "class outlier must be finite and >= 0, got {outlier}"
        )));
    }
    if !(separation.is_finite() && separation > 0.0) {
        return Err(DetectError::param(format!(
            "min separation must be positive, got {separation}"
        )));
    }
    check_share("max class share", share)?;
    Ok(())
}

/// The training-dynamics detector with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct TrainingDynamics {
    params: DynamicsParams,
}

impl TrainingDynamics {
    /// Flags from recorded loss curves: `curves[t][r]` is row `r`'s loss after stage `t`.
    pub fn detect_curves(
        &self,
        curves: &[Vec<f32>],
        labels: &[u32],
        ids: &[u64],
        num_classes: usize,
    ) -> Result<Detection> {
        let n = labels.len();
        if n == 0 || ids.len() != n || curves.is_empty() {
            return Err(DetectError::input(format!(
                "{} loss curves and {} ids for {n} samples",
                curves.len(),
                ids.len()
            )));
        }
        if let Some(bad) = curves.iter().find(|c| c.len() != n) {
            return Err(DetectError::input(format!(
                "a stage holds {} losses for {n} samples",
                bad.len()
            )));
        }
        if curves.iter().flatten().any(|l| !l.is_finite() || *l < 0.0) {
            return Err(DetectError::input("losses must be finite and non-negative"));
        }
        if let Some(&y) = labels.iter().find(|&&y| y as usize >= num_classes) {
            return Err(DetectError::input(format!("label {y} is not a class")));
        }
        let classes = class_rows(labels, num_classes);
        let mut area = vec![0f64; n];
        let mut z = vec![0f64; n];
        for stage in curves {
            let learned: Vec<f64> = stage
                .iter()
                .map(|&l| -f64::from(l).max(LOSS_FLOOR).ln())
                .collect();
            for rows in &classes {
                robust_z(&learned, rows, 0.0, &mut z);
            }
            area.iter_mut().zip(&z).for_each(|(a, z)| *a += z);
        }
        let sign = match self.params.direction {
            Direction::Low => 1.0,
            Direction::High => -1.0,
        };
        let scores: Vec<f64> = area
            .iter()
            .map(|a| sign * a / curves.len() as f64)
            .collect();
        let rows = Rows {
            ids,
            labels,
            num_classes,
        };
        Ok(self
            .rule()
            .detection(self.name(), self.parameters(), rows, &scores, &classes))
    }

    fn rule(&self) -> TailRule {
        TailRule {
            class_outlier: self.params.class_outlier,
            min_separation: self.params.min_separation,
            max_class_share: self.params.max_class_share,
        }
    }

    /// Trains a fresh model stage by stage on `data` and records every sample's loss after
    /// each stage (see the [module](self) docs).
    pub fn loss_curves(&self, ctx: &ScanContext) -> Result<Vec<Vec<f32>>> {
        let data = ctx.data();
        let (n, epochs, stages) = (data.len(), self.params.epochs, self.params.stages);
        let total = n * epochs;
        if total < stages {
            return Err(DetectError::input(format!(
                "{n} samples x {epochs} epochs cannot fill {stages} stages"
            )));
        }
        let pace = Pace::new(epochs, stages)?;
        let mut curves = Vec::with_capacity(stages);
        for stage in 1..=stages {
            curves.push(stage_losses(ctx, pace, stage)?.as_ref().clone());
        }
        Ok(curves)
    }
}

impl Detector for TrainingDynamics {
    fn name(&self) -> &'static str {
        "dynamics"
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    fn scan(&self, ctx: &ScanContext) -> Result<Detection> {
        let curves = self.loss_curves(ctx)?;
        let data = ctx.data();
        self.detect_curves(&curves, data.labels(), data.ids(), data.num_classes())
    }
}

/// The registry entry (see [`crate::registry::DETECTORS`]).
pub const ENTRY: crate::registry::DetectorEntry = crate::registry::DetectorEntry {
    name: "dynamics",
    role: mithridate_core::Role::Detector,
    modalities: &[],
    summary: "loss curves over a short staged training run, normalised within each label; flags the 2-means fast (or slow) tail of classes whose tail stands out; epochs (2), stages (8), direction=low|high (low), class-outlier (3), min-separation (3.5), max-class-share (0.5)",
    paper: "Li et al. 2021 (ABL)",
    taxonomy: crate::registry::SANITIZATION,
    requires: &[mithridate_core::Requirement::Training],
    provides: &[],
    build: |p| crate::registry::checked::<DynamicsParams>("dynamics", p),
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Six classes of 30 samples whose losses fall at per-sample rates; class 2 also holds 6
    /// samples whose loss collapses after the first stage.
    fn curves(planted: bool) -> (Vec<Vec<f32>>, Vec<u32>, Vec<u64>) {
        let mut labels = Vec::new();
        let mut rates = Vec::new();
        for c in 0..6u32 {
            for i in 0..30 {
                labels.push(c);
                rates.push(0.5 + 0.02 * ((i * 7 + c as usize * 3) % 30) as f32);
            }
        }
        if planted {
            for _ in 0..6 {
                labels.push(2);
                rates.push(5.0);
            }
        }
        let stages = (1..=4)
            .map(|t| rates.iter().map(|r| 2.3 * (-r * t as f32).exp()).collect())
            .collect();
        let ids = (0..labels.len() as u64).collect();
        (stages, labels, ids)
    }

    #[test]
    fn the_fast_planted_samples_are_flagged_and_only_in_their_class() {
        let detector = DynamicsParams::default().check().unwrap();
        let (c, labels, ids) = curves(true);
        let d = detector.detect_curves(&c, &labels, &ids, 6).unwrap();
        assert_eq!(d.flagged, (180..186).collect::<Vec<u64>>());
        assert_eq!(d.suspicious_classes(), vec![2]);
        // The slow direction reads the same curves the other way: the planted samples rank last.
        let slow = DynamicsParams {
            direction: Direction::High,
            ..DynamicsParams::default()
        }
        .check()
        .unwrap()
        .detect_curves(&c, &labels, &ids, 6)
        .unwrap();
        assert!(slow.flagged.iter().all(|id| *id < 180));
        let (c, labels, ids) = curves(false);
        let clean = detector.detect_curves(&c, &labels, &ids, 6).unwrap();
        assert!(clean.flagged.is_empty(), "{:?}", clean.flagged);
    }

    #[test]
    fn bad_curves_are_one_line_errors() {
        let detector = DynamicsParams::default().check().unwrap();
        let (mut c, labels, ids) = curves(false);
        assert!(detector.detect_curves(&c, &labels, &ids[1..], 6).is_err());
        assert!(detector.detect_curves(&c, &labels, &ids, 2).is_err());
        c[1][3] = f32::NAN;
        let err = detector
            .detect_curves(&c, &labels, &ids, 6)
            .unwrap_err()
            .to_string();
        assert!(err.contains("finite"), "{err}");
        assert!(detector.detect_curves(&[], &labels, &ids, 6).is_err());
    }
}
