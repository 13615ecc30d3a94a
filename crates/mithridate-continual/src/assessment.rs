//! The assessment's continual cells: a `[continual]` block of `assess.toml` runs the loop
//! once per campaign and seed, checked before the first cell runs and recorded in
//! `results.jsonl` like every other cell (mithridate-pipeline's [`CellKind`]).
//!
//! Each cell's run directory (checkpoint, audit log, manifests, models) lives under the
//! assessment's output directory at `continual/<cell>`, so a killed assessment resumes the
//! cell at its last step and `mithridate continual trace` works on it afterwards.
//!
//! ```
//! use mithridate_assess::plan::ContinualCell;
//! use mithridate_continual::assessment::ContinualRun;
//! let cell = |campaign: &str, config: serde_json::Value| ContinualCell {
//!     dataset: "mnist".into(),
//!     campaign: campaign.into(),
//!     params: serde_json::json!({ "rate": 0.005 }),
//!     config,
//!     seed: 0,
//! };
//! assert!(ContinualRun::check(&cell("slow-burn", serde_json::json!({ "batches": 4 }))).is_ok());
//! let typo = ContinualRun::check(&cell("slow-burn", serde_json::json!({ "batchez": 4 })));
//! assert!(typo.unwrap_err().to_string().contains("batchez"));
//! assert!(ContinualRun::check(&cell("slow-brun", serde_json::json!({}))).is_err());
//! ```

use crate::campaign::{self, Campaign};
use crate::config::{ContinualSpec, Retrain};
use crate::state::Decision;
use crate::summary::Outcome;
use crate::{ContinualError, RunRequest};
use mithridate_assess::plan::{CellSpec, ContinualCell};
use mithridate_assess::record::{self, ContinualOutcome, ContinualPoint};
use mithridate_pipeline::assessment::{CellKind, CellKinds, CheckedKindCell, KindError};
use mithridate_pipeline::data::DataCache;
use std::path::Path;
use std::sync::Arc;

/// Every cell kind the assessment runs beyond centralized and federated cells: what the CLI
/// and the Python package pass to `Assessment::prepare`.
pub fn cell_kinds() -> CellKinds {
    CellKinds::none().with(Arc::new(ContinualKind))
}

/// The continual runner: register it in the assessment's `CellKinds`.
pub struct ContinualKind;

impl CellKind for ContinualKind {
    fn kind(&self) -> &'static str {
        "continual"
    }

    fn check(
        &self,
        spec: &CellSpec,
        data: &DataCache,
    ) -> Result<Arc<dyn CheckedKindCell>, KindError> {
        let CellSpec::Continual(cell) = spec else {
            return Err("the continual runner was given a cell of another kind".into());
        };
        let run = ContinualRun::check(cell)?;
        let sets = data.full(&cell.dataset, cell.seed)?;
        crate::stream::Stream::check(&sets.0, &sets.1, &run.spec)
            .map_err(|e| format!("dataset '{}': {e}", cell.dataset))?;
        Ok(Arc::new(run))
    }
}

/// A checked continual cell: the loop's checked configuration and the built campaign.
#[derive(Debug)]
pub struct ContinualRun {
    cell: ContinualCell,
    spec: ContinualSpec,
    campaign: Arc<dyn Campaign>,
}

impl ContinualRun {
    /// Checks the cell's loop configuration, campaign and dataset name (that the dataset fits
    /// the stream is checked by [`ContinualKind`], which has the data).
    pub fn check(cell: &ContinualCell) -> crate::Result<ContinualRun> {
        let spec = crate::named::spec_from_json(&cell.config, None)?;
        let campaign = campaign::build(&cell.campaign, &cell.params)?;
        if !mithridate_pipeline::data::is_builtin(&cell.dataset) {
            return Err(ContinualError::invalid(format!(
                "dataset '{}': the continual loop runs on a built-in image dataset (mnist, fashion-mnist)",
                cell.dataset
            )));
        }
        Ok(ContinualRun {
            cell: cell.clone(),
            spec,
            campaign: campaign.into(),
        })
    }

    /// The run directory under `work`: the cell's id made a file name.
    pub fn run_dir(&self, work: &Path) -> std::path::PathBuf {
        let id = CellSpec::Continual(self.cell.clone()).id();
        let name: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        work.join("continual").join(name)
    }

    /// Runs (or resumes) the loop in its run directory under `work`.
    pub fn run(&self, data: &DataCache, work: &Path) -> crate::Result<ContinualOutcome> {
        let sets = data.full(&self.cell.dataset, self.cell.seed)?;
        let outcome = crate::run(
            RunRequest {
                data: self.cell.dataset.clone(),
                seed: self.cell.seed,
                spec: self.spec.clone(),
                campaign: self.campaign.clone(),
                dir: self.run_dir(work),
                max_steps: None,
            },
            &sets.0,
            &sets.1,
        )?;
        Ok(self.record(&outcome))
    }

    /// The outcome as the assessment records it.
    pub fn record(&self, outcome: &Outcome) -> ContinualOutcome {
        let p = self.spec.params();
        ContinualOutcome {
            campaign: outcome.campaign.clone(),
            parameters: self.campaign.parameters(),
            retrain: match p.retrain {
                Retrain::Scratch => "scratch",
                Retrain::Finetune => "finetune",
            }
            .to_string(),
            model: p.model.clone(),
            batches: outcome.batches,
            batch_size: p.batch_size,
            first_poisoned_batch: outcome.first_poisoned_batch,
            blocked_at: outcome.blocked_at,
            max_deployed_asr: outcome.max_deployed_asr,
            false_blocks: outcome.false_blocks,
            named_poison_ids_recall: outcome.named_poison_ids_recall,
            poisoned_samples: outcome.poisoned_samples,
            named_samples: outcome.named_samples,
            deployments: outcome.deployments,
            alerts: outcome.alerts,
            false_alerts: outcome.false_alerts,
            final_accuracy: outcome.final_accuracy,
            timeline: outcome
                .timeline
                .iter()
                .map(|s| ContinualPoint {
                    step: s.step,
                    poisoned: s.poisoned_ids.len() + s.tampered_ids.len(),
                    named: s.named_ids.len(),
                    blocked: s.decision == Decision::Block,
                    reasons: s.block_reasons.clone(),
                    detector_flags: s.detectors.iter().map(|d| d.flagged.len()).sum(),
                    accuracy: s.deployed_accuracy,
                    asr: s.deployed_asr,
                    alerts: s.monitors.alerts.clone(),
                })
                .collect(),
        }
    }
}

impl CheckedKindCell for ContinualRun {
    fn run(&self, data: &DataCache, work: &Path) -> Result<record::Outcome, KindError> {
        Ok(record::Outcome::Continual(ContinualRun::run(
            self, data, work,
        )?))
    }
}
