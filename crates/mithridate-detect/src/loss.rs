//! Early-training loss scoring. Networks fit clean, consistent patterns before they memorise
//! mislabeled samples (Arpit et al., "A Closer Look at Memorization in Deep Networks", ICML
//! 2017), so after a short training run mislabeled samples keep a *high* loss; backdoor poisons
//! are the opposite, learned faster than clean data, so they have an unusually *low* loss
//! (Li, Lyu, Koren, Lyu, Li & Ma, "Anti-Backdoor Learning", NeurIPS 2021).
//!
//! A fresh model (the context's [`crate::TrainSpec`] architecture and configuration, seeded by
//! the context seed) is trained for `epochs` epochs on the scanned set, as the whole-epoch
//! stages of the scan's shared staged run ([`crate::staged_run`], quarter-epoch fits, the run
//! the [`dynamics`](crate::dynamics) detector reads at every stage); each sample's
//! score is its cross-entropy `-log p(y|x)` ([`Direction::High`]) or its negation
//! ([`Direction::Low`]), and the top `removal_factor · expected_rate · n` scores are flagged.
//! Cost: one short training run plus one forward pass. Class verdict statistic: mean score of
//! the class; suspicious when the class holds at least twice its share of the flags.
//!
//! ```
//! use mithridate_detect::ParamGuard;
//! use mithridate_detect::loss::{Direction, LossParams};
//! let p = LossParams { epochs: 1, expected_rate: 0.1, removal_factor: 1.5, direction: Direction::High };
//! assert!(p.check().is_ok());
//! assert!(LossParams { epochs: 0, ..p }.check().is_err());
//! ```

use crate::detection::{flag_count, flag_top};
use crate::staged_run::{stage_losses, Pace};
use crate::{check_flag_budget, DetectError, Detection, Detector, Result, ScanContext};
use mithridate_core::ParamGuard;

/// Which tail of the loss distribution is suspicious.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// High loss: label noise / flipping.
    High,
    /// Low loss: backdoor poisons (learned first).
    Low,
}

/// Unchecked parameters of [`EarlyLoss`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct LossParams {
    /// Training epochs before scoring, at least 1.
    pub epochs: usize,
    /// Expected poison share of the set, in `(0, 1]`.
    pub expected_rate: f64,
    /// Flag `removal_factor · expected_rate` of the set (capped at all of it); `> 0`.
    pub removal_factor: f64,
    pub direction: Direction,
}

impl Default for LossParams {
    fn default() -> Self {
        LossParams {
            epochs: 1,
            expected_rate: 0.1,
            removal_factor: 1.5,
            direction: Direction::High,
        }
    }
}

impl ParamGuard for LossParams {
    type Checked = EarlyLoss;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(DetectError::param("the loss detector needs epochs >= 1"));
        }
        check_flag_budget(self.expected_rate, self.removal_factor)?;
        Ok(())
    }

    fn build(self) -> EarlyLoss {
        EarlyLoss { params: self }
    }
}

/// The early-loss detector with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct EarlyLoss {
    params: LossParams,
}

impl EarlyLoss {
    /// Flags from per-sample losses (row order of `labels`/`ids`).
    pub fn detect_losses(
        &self,
        losses: &[f32],
        labels: &[u32],
        ids: &[u64],
        num_classes: usize,
    ) -> Result<Detection> {
        let n = labels.len();
        if losses.len() != n || ids.len() != n || n == 0 {
            return Err(DetectError::input(format!(
                "{} losses and {} ids for {n} samples",
                losses.len(),
                ids.len()
            )));
        }
        if let Some(&y) = labels.iter().find(|&&y| y as usize >= num_classes) {
            return Err(DetectError::input(format!("label {y} is not a class")));
        }
        let sign = match self.params.direction {
            Direction::High => 1.0,
            Direction::Low => -1.0,
        };
        let scores: Vec<f64> = losses.iter().map(|&l| sign * f64::from(l)).collect();
        let mut flags = vec![false; n];
        let share = (self.params.expected_rate * self.params.removal_factor).min(1.0);
        let rows: Vec<usize> = (0..n).collect();
        flag_top(&scores, &rows, flag_count(n, share), &mut flags);
        let mut per_class = vec![(0usize, 0usize, 0f64); num_classes];
        for r in 0..n {
            let c = &mut per_class[labels[r] as usize];
            c.0 += 1;
            c.1 += usize::from(flags[r]);
            c.2 += scores[r];
        }
        let total_flags = flags.iter().filter(|&&f| f).count();
        Ok(Detection::from_rows(
            self.name(),
            self.parameters(),
            crate::detection::Rows {
                ids,
                labels,
                num_classes,
            },
            &scores,
            &flags,
            |c| {
                let (size, flagged, sum) = per_class[c as usize];
                let mean = if size == 0 { 0.0 } else { sum / size as f64 };
                let expected = total_flags as f64 * size as f64 / n as f64;
                (
                    size > 0 && flagged as f64 >= 2.0 * expected && flagged > 0,
                    mean,
                )
            },
        ))
    }
}

impl Detector for EarlyLoss {
    fn name(&self) -> &'static str {
        "loss"
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    /// Reads the losses after `epochs` epochs of the scan's shared staged run at the
    /// [`dynamics`](crate::dynamics) detector's default pace (quarter-epoch stages), so a
    /// scan running both trains once (see [`crate::staged_run`]).
    fn scan(&self, ctx: &ScanContext) -> Result<Detection> {
        let data = ctx.data();
        let pace = shared_pace()?;
        let stage = pace.stage_after_epochs(self.params.epochs).ok_or_else(|| {
            DetectError::param("the shared run's pace places no stage at this epoch")
        })?;
        let losses = stage_losses(ctx, pace, stage)?;
        self.detect_losses(&losses, data.labels(), data.ids(), data.num_classes())
    }
}

/// The dynamics detector's default pace (2 epochs in 8 stages, i.e. 1 in 4): every whole
/// epoch ends on a stage.
fn shared_pace() -> Result<Pace> {
    let d = crate::dynamics::DynamicsParams::default();
    Pace::new(d.epochs, d.stages)
}

/// The registry entry (see [`crate::registry::DETECTORS`]).
pub const ENTRY: crate::registry::DetectorEntry = crate::registry::DetectorEntry {
    name: "loss",
    role: mithridate_core::Role::Detector,
    modalities: &[],
    summary: "per-sample loss after a short training run; high (label noise) or low (backdoors learned first) tail flagged; epochs (1), expected-rate (0.1), removal-factor (1.5), direction=high|low",
    paper: "Arpit et al. 2017; Li et al. 2021",
    taxonomy: crate::registry::SANITIZATION,
    requires: &[mithridate_core::Requirement::Training],
    provides: &[],
    build: |p| crate::registry::checked::<LossParams>("loss", p),
};
