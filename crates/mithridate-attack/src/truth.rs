//! The ground-truth record every attack returns: which samples it added or modified, how,
//! with what parameters, and what it wants the trained model to do (the goal, with the
//! test-time trigger for backdoors). Written as JSON next to the poisoned set.

use crate::trigger::{Mapping, Trigger};
use crate::{AttackError, Budget, Result, Taxonomy};
use mithridate_data::Modality;
use std::path::Path;

/// Format tag of ground-truth files, bumped on incompatible changes.
pub const FORMAT: &str = "mithridate-attack-truth/1";

/// What one attack did to one training set.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroundTruth {
    pub format: String,
    /// Registry name of the attack.
    pub attack: String,
    /// The attack's checked parameters.
    pub parameters: serde_json::Value,
    pub seed: u64,
    pub budget: BudgetRecord,
    /// Modality and class count of the poisoned set.
    pub modality: Modality,
    pub num_classes: usize,
    /// Sample counts before and after (they differ when the attack adds samples).
    pub samples_before: usize,
    pub samples_after: usize,
    pub taxonomy: Taxonomy,
    pub goal: Goal,
    /// Every sample that differs from the clean set, sorted by id.
    pub changes: Vec<SampleChange>,
}

/// The budget as requested and as resolved.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BudgetRecord {
    pub requested: Budget,
    /// What the rate is a fraction of, e.g. `training set` or `target class 0`.
    pub pool: String,
    pub pool_size: usize,
    /// Samples the attack chose to poison.
    pub selected: usize,
}

/// What the attacker wants from the model trained on the poisoned set.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Goal {
    /// Lower accuracy across the board.
    Availability,
    /// Test inputs of class `source` classified as `target`.
    TargetedMisclassification { source: u32, target: u32 },
    /// Inputs carrying `trigger` classified per `mapping`; clean accuracy unharmed.
    Backdoor { trigger: Trigger, mapping: Mapping },
    /// One victim input (true class `victim_label`) classified as `target`.
    Instance {
        victim_id: u64,
        victim_label: u32,
        target: u32,
        /// The victim's dense features, so the goal can be checked without its dataset.
        victim_features: Vec<f32>,
    },
}

/// How a sample differs from the clean set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// An existing sample (same id) with new features and/or label.
    Modified,
    /// A new sample with a fresh id.
    Added,
}

/// One poisoned sample.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SampleChange {
    pub id: u64,
    pub kind: ChangeKind,
    /// Clean label (`None` for added samples).
    pub label_from: Option<u32>,
    pub label_to: u32,
    pub features_changed: bool,
    /// For added samples: the clean sample they were crafted from.
    pub source_id: Option<u64>,
}

impl GroundTruth {
    /// Ids of all added or modified samples, ascending.
    pub fn poisoned_ids(&self) -> Vec<u64> {
        self.changes.iter().map(|c| c.id).collect()
    }

    /// The test-time trigger, for backdoor attacks.
    pub fn trigger(&self) -> Option<(&Trigger, Mapping)> {
        match &self.goal {
            Goal::Backdoor { trigger, mapping } => Some((trigger, *mapping)),
            _ => None,
        }
    }

    /// Writes the record as pretty JSON through the workspace's one atomic writer (0644:
    /// truth files are shared with whoever scores detectors).
    pub fn write(&self, path: &Path) -> Result<()> {
        let fail = |message: String| AttackError::File {
            path: path.to_path_buf(),
            message,
        };
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| fail(e.to_string()))?;
        json.push(b'\n');
        mithridate_core::write_atomic(path, &json, mithridate_core::FileMode::Shared)
            .map_err(|e| fail(e.to_string()))
    }

    /// Reads a record written by [`GroundTruth::write`], checking its format tag.
    pub fn read(path: &Path) -> Result<Self> {
        let fail = |message: String| AttackError::File {
            path: path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        Self::from_slice(&bytes, path)
    }

    /// [`GroundTruth::read`] on a record held in memory; `path` names it in errors.
    pub fn from_slice(bytes: &[u8], path: &Path) -> Result<Self> {
        let fail = |message: String| AttackError::File {
            path: path.to_path_buf(),
            message,
        };
        let truth: GroundTruth = serde_json::from_slice(bytes)
            .map_err(|e| fail(format!("not a ground-truth record: {e}")))?;
        if truth.format != FORMAT {
            return Err(fail(format!(
                "unsupported ground-truth format '{}' (expected '{FORMAT}')",
                truth.format
            )));
        }
        Ok(truth)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn truth_files_are_shared_0644_and_round_trip() {
        let truth = GroundTruth {
            format: FORMAT.into(),
            attack: "label-flip".into(),
            parameters: serde_json::json!({}),
            seed: 1,
            budget: BudgetRecord {
                requested: crate::Budget::Rate(0.0),
                pool: "training set".into(),
                pool_size: 2,
                selected: 0,
            },
            modality: Modality::Tabular { features: 1 },
            num_classes: 2,
            samples_before: 2,
            samples_after: 2,
            taxonomy: crate::Taxonomy::availability(),
            goal: Goal::Availability,
            changes: vec![],
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.npz.truth.json");
        truth.write(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert_eq!(GroundTruth::read(&path).unwrap(), truth);
    }
}
