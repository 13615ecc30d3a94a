//! The run's checkpoint: everything a killed run needs to resume with identical results,
//! written atomically after the bootstrap and after every step.

use crate::error::io_err;
use crate::monitor::{MonitorReading, MonitorThresholds};
use crate::screen::ScreenResult;
use crate::{ContinualError, Result};
use mithridate_core::{write_atomic, FileMode};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Format tag of `state.json`.
pub const FORMAT: &str = "mithridate-continual-state/1";

/// What makes two runs the same run (a resume must match it exactly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunIdentity {
    pub data: String,
    pub seed: u64,
    pub config: serde_json::Value,
    pub campaign: String,
    pub campaign_params: serde_json::Value,
}

/// A model put into service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub model_hash: String,
    /// The step whose retrain produced it (`None`: the bootstrap model).
    pub step: Option<usize>,
    /// Batches it was trained on (the bootstrap set is implied).
    pub batches: Vec<usize>,
}

/// What happened to one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Candidate passed everything and now serves.
    Deploy,
    /// Something failed: the batch is quarantined and the deployed model stays.
    Block,
}

/// A registry detector's scan of the batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorFlags {
    pub detector: String,
    pub flagged: Vec<u64>,
}

/// One step of the loop, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: usize,
    pub batch_root: String,
    pub batch_samples: usize,
    /// Ground truth (evaluation only, never used by the loop's decisions).
    pub poisoned_ids: Vec<u64>,
    /// Stored samples the campaign rewrote this step (ground truth, evaluation only).
    pub tampered_ids: Vec<u64>,
    pub signature_ok: bool,
    pub signature_problem: Option<String>,
    pub overlapping_ids: Vec<u64>,
    /// Stored samples that no longer match their signed manifests (found by verification).
    pub changed_in_storage: Vec<u64>,
    pub screen: ScreenResult,
    pub detectors: Vec<DetectorFlags>,
    pub candidate_hash: Option<String>,
    pub gate_passed: Option<bool>,
    pub gate_reasons: Vec<String>,
    pub decision: Decision,
    pub block_reasons: Vec<String>,
    /// Ids the step names as responsible (screen suspects, changed stored samples, or the
    /// whole batch when its manifest is not trusted).
    pub named_ids: Vec<u64>,
    pub deployed_hash: String,
    pub deployed_accuracy: f64,
    /// Attack success of the deployed model on the campaign's goal (null before any poison).
    pub deployed_asr: Option<f64>,
    pub thresholds: MonitorThresholds,
    pub monitors: MonitorReading,
}

/// The checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub format: String,
    pub identity: RunIdentity,
    /// The next batch to ingest (`batches` when the run is complete).
    pub next_step: usize,
    pub deployed: Deployment,
    pub deployments: Vec<Deployment>,
    /// Batches in storage that the current training set is made of.
    pub accepted: Vec<usize>,
    /// Every id ever ingested (ascending), accepted or quarantined.
    pub ingested_ids: Vec<u64>,
    /// Stored ids excluded from training after verification found them changed.
    pub excluded_ids: Vec<u64>,
    /// Root of the last ingested batch's manifest (the next one's diff parent).
    pub last_root: String,
    pub bootstrap_root: String,
    pub steps: Vec<StepRecord>,
    /// The campaign's goal (ground truth of its first poisoning, sample list dropped):
    /// evaluation only, to measure the deployed model's attack success and stamp the
    /// attacker's triggered requests.
    pub campaign_truth: Option<mithridate_attack::GroundTruth>,
    /// Audit records this checkpoint covers.
    pub audit_records: u64,
    /// The gate policy calibrated at the bootstrap (`None`: the configured policy).
    #[serde(default)]
    pub gate_calibration: Option<crate::gate_calibration::GateCalibration>,
}

pub fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

impl RunState {
    /// Writes the checkpoint atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = state_path(dir);
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| ContinualError::invalid(format!("state cannot be written: {e}")))?;
        bytes.push(b'\n');
        write_atomic(&path, &bytes, FileMode::Shared).map_err(io_err(&path))
    }

    /// Reads the checkpoint of `dir`, if any.
    pub fn load(dir: &Path) -> Result<Option<RunState>> {
        let path = state_path(dir);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        let state: RunState = serde_json::from_slice(&bytes).map_err(|e| {
            ContinualError::invalid(format!(
                "{}: not a continual checkpoint: {e}",
                path.display()
            ))
        })?;
        if state.format != FORMAT {
            return Err(ContinualError::invalid(format!(
                "{}: format '{}' is not {FORMAT}",
                path.display(),
                state.format
            )));
        }
        Ok(Some(state))
    }
}
