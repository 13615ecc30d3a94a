//! Cell kinds checked and run by crates above the pipeline.
//!
//! Continual retraining (mithridate-continual) is built from this crate's attacks, training
//! and scans, so its executor cannot live here without a dependency cycle. It plugs in as a
//! [`CellKind`] instead: the assessment asks the kind to check each of its cells once, before
//! the first cell runs, and the checked cell runs itself. The CLI and the Python package pass
//! every kind they link ([`CellKinds`]); a library user who passes none gets a one-line error
//! naming the kind if the configuration has such cells.

use super::cell::CheckedCell;
use crate::data::DataCache;
use crate::error::{PipelineError, Result};
use mithridate_assess::plan::CellSpec;
use mithridate_assess::record::Outcome;
use std::path::Path;
use std::sync::Arc;

/// An error of a kind's own crate, carried as one line.
pub type KindError = Box<dyn std::error::Error + Send + Sync>;

/// A kind of cell whose checks and execution live in another crate.
pub trait CellKind: Send + Sync {
    /// The `kind` tag of the cells it runs (as in `results.jsonl`, e.g. `continual`).
    fn kind(&self) -> &'static str;
    /// Checks `spec` (a cell of this kind) once: names, parameters, dataset.
    fn check(
        &self,
        spec: &CellSpec,
        data: &DataCache,
    ) -> Result<Arc<dyn CheckedKindCell>, KindError>;
}

/// A checked cell of a [`CellKind`].
pub trait CheckedKindCell: Send + Sync + std::fmt::Debug {
    /// Runs the cell. `work` is a directory it may keep state in, under a name of its own, so
    /// a killed assessment resumes the cell where it stopped.
    fn run(&self, data: &DataCache, work: &Path) -> Result<Outcome, KindError>;
}

/// The kinds an assessment can run beyond the centralized, federated and RAG cells.
#[derive(Clone, Default)]
pub struct CellKinds {
    kinds: Vec<Arc<dyn CellKind>>,
}

impl CellKinds {
    /// No extra kinds: centralized, federated and RAG cells only.
    pub fn none() -> CellKinds {
        CellKinds::default()
    }

    /// Adds `kind` (a later kind with the same tag replaces an earlier one).
    pub fn with(mut self, kind: Arc<dyn CellKind>) -> CellKinds {
        self.kinds.retain(|k| k.kind() != kind.kind());
        self.kinds.push(kind);
        self
    }

    /// Checks `spec` with its kind; centralized, federated and RAG cells are checked here.
    pub fn check(&self, spec: &CellSpec, data: &DataCache) -> Result<CheckedCell> {
        let tag = match spec {
            CellSpec::Continual(_) => "continual",
            _ => return CheckedCell::new(spec),
        };
        let kind = self.kinds.iter().find(|k| k.kind() == tag).ok_or_else(|| {
            PipelineError::invalid(format!(
                "{tag} cells need the {tag} runner, which this program does not link \
                 (run them with `mithridate assess` or the Python package)"
            ))
        })?;
        let checked = kind
            .check(spec, data)
            .map_err(|e| PipelineError::invalid(crate::error::one_line(e.as_ref())))?;
        Ok(CheckedCell::Kind(checked))
    }
}
