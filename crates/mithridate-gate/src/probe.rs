//! Trigger probes: stamp a known trigger on the holdout and see whether the candidate obeys it
//! more than the baseline does.

use crate::model_scan::GradientModel;
use crate::{GateError, Result};
use mithridate_attack::{apply_trigger, GroundTruth};
use mithridate_data::Dataset;
use serde::{Deserialize, Serialize};

/// Attack success of one trigger under both models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeOutcome {
    /// What the probe is called in reports (e.g. the ground-truth file name).
    pub name: String,
    /// The attack that defined the trigger, e.g. `badnets`.
    pub attack: String,
    /// Triggered holdout inputs (those whose true class differs from the trigger's target).
    pub samples: usize,
    /// Share of triggered inputs the baseline classifies as the trigger's target.
    pub baseline_success: f64,
    /// Same for the candidate.
    pub candidate_success: f64,
}

impl ProbeOutcome {
    /// `candidate_success - baseline_success`: how much more the candidate obeys the trigger.
    pub fn increase(&self) -> f64 {
        self.candidate_success - self.baseline_success
    }
}

/// Share of `predictions[i] == targets[i]` (0 for no samples).
///
/// ```
/// assert_eq!(mithridate_gate::probe::success_rate(&[0, 0, 3, 0], &[0, 0, 0, 1]), 0.5);
/// ```
pub fn success_rate(predictions: &[u32], targets: &[u32]) -> f64 {
    if targets.is_empty() {
        return 0.0;
    }
    let hits = predictions
        .iter()
        .zip(targets)
        .filter(|(p, t)| p == t)
        .count();
    hits as f64 / targets.len() as f64
}

/// Stamps `truth`'s backdoor trigger on every holdout input whose class is not the trigger's
/// target (for its mapping) and measures both models' attack success rate, the standard
/// backdoor metric (Gu, Dolan-Gavitt & Garg, 2017, "BadNets"). A candidate that learned the
/// backdoor obeys the trigger far more often than the deployed model, which never saw it.
///
/// Errors when `truth` is not a backdoor, its trigger does not fit the holdout's modality,
/// or no holdout input can be triggered (every input already has the target class).
pub fn run_probe(
    name: &str,
    truth: &GroundTruth,
    baseline: &dyn GradientModel,
    candidate: &dyn GradientModel,
    holdout: &Dataset,
) -> Result<ProbeOutcome> {
    let (trigger, mapping) = truth.trigger().ok_or_else(|| {
        GateError::Input(format!(
            "probe {name}: attack '{}' has no trigger (only backdoor ground truths can be probed)",
            truth.attack
        ))
    })?;
    let k = holdout.num_classes();
    let (rows, targets): (Vec<usize>, Vec<u32>) = holdout
        .labels()
        .iter()
        .enumerate()
        .filter_map(|(row, &y)| mapping.target_for(y, k).map(|t| (row, t)))
        .unzip();
    if rows.is_empty() {
        return Err(GateError::Input(format!(
            "probe {name}: no holdout input has a class other than the trigger's target"
        )));
    }
    let probe_input = |e: String| GateError::Input(format!("probe {name}: {e}"));
    let subset = holdout
        .select(&rows)
        .map_err(|e| probe_input(e.to_string()))?;
    let triggered = apply_trigger(trigger, &subset).map_err(|e| probe_input(e.to_string()))?;
    let baseline_pred = baseline.predict(&triggered)?;
    let candidate_pred = candidate.predict(&triggered)?;
    Ok(ProbeOutcome {
        name: name.to_string(),
        attack: truth.attack.clone(),
        samples: rows.len(),
        baseline_success: success_rate(&baseline_pred, &targets),
        candidate_success: success_rate(&candidate_pred, &targets),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_rate_counts_target_hits() {
        assert_eq!(success_rate(&[], &[]), 0.0);
        assert_eq!(success_rate(&[1, 1, 1], &[1, 1, 1]), 1.0);
        assert_eq!(success_rate(&[0, 2, 1, 1], &[1, 1, 1, 1]), 0.5);
    }

    #[test]
    fn increase_is_candidate_minus_baseline() {
        let p = ProbeOutcome {
            name: "p".into(),
            attack: "badnets".into(),
            samples: 10,
            baseline_success: 0.1,
            candidate_success: 0.9,
        };
        assert!((p.increase() - 0.8).abs() < 1e-12);
    }
}
