//! The assessment: a configuration validated once into checked cells, run (resumably,
//! shardably, in parallel) into a results store.
//!
//! ```no_run
//! use mithridate_assess::{config::Config, plan::Shard, store::Store};
//! use mithridate_pipeline::assessment::{Assessment, CellKinds, Executor};
//! use mithridate_pipeline::data::DataCache;
//!
//! let data = DataCache::new(mithridate_data::DataHome::from_env()?);
//! // The built-in default also has continual cells: pass
//! // `mithridate_continual::assessment::cell_kinds()` to run them; `none()` refuses them.
//! let config = Config::parse(&std::fs::read_to_string("bench/detect-quick.toml")?)?;
//! let assessment = Assessment::prepare(&config, 1, 0, &data, &CellKinds::none())?;
//! let store = Store::open(std::path::Path::new("assessment"))?;
//! let summary = assessment.run(&Executor::new(data), &store, Shard::ALL, 2, &|_| {})?;
//! println!("{} cells ran", summary.ran);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cell;
mod executor;
mod kind;
mod language;
mod privacy;
mod rag;
mod validate;

pub use cell::{CentralizedRun, CheckedCell, FederatedRun};
pub use executor::Executor;
pub use kind::{CellKind, CellKinds, CheckedKindCell, KindError};
pub use language::{LmRun, TextRun};
pub use privacy::{DpaRun, PrivacyRun};
pub use rag::RagRun;
pub use validate::validate;

use crate::data::DataCache;
use crate::error::Result;
use mithridate_assess::config::Config;
use mithridate_assess::plan::{self, Cell, Shard};
use mithridate_assess::runner::{self, Event, RunSummary};
use mithridate_assess::store::Store;

/// Every cell of a configuration with its checked spec.
pub struct Assessment {
    cells: Vec<Cell>,
    /// `checked[i]` is the checked form of `cells[i]`.
    checked: Vec<CheckedCell>,
}

impl Assessment {
    /// Validates `config` (loading its datasets into `data`), plans seeds
    /// `base_seed..base_seed + seeds` and checks every cell once; cells of other kinds than
    /// centralized, federated and RAG (continual) are checked by the matching entry of `kinds`.
    pub fn prepare(
        config: &Config,
        seeds: u64,
        base_seed: u64,
        data: &DataCache,
        kinds: &CellKinds,
    ) -> Result<Assessment> {
        if seeds == 0 {
            return Err(crate::PipelineError::invalid("--seeds must be at least 1"));
        }
        validate(config, data, base_seed, kinds)?;
        // Model-level defences also inspect (or repair) the clean baseline: their false
        // positives.
        let cells = plan::plan_with(config, seeds, base_seed, &|name| {
            crate::model_defence::ModelDefenceSpec::names().contains(&name)
        });
        let checked = cells
            .iter()
            .map(|c| kinds.check(&c.spec, data))
            .collect::<Result<Vec<_>>>()?;
        Ok(Assessment { cells, checked })
    }

    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }

    /// The checked form of `cell` (a cell of this assessment).
    pub fn checked(&self, cell: &Cell) -> &CheckedCell {
        &self.checked[cell.index]
    }

    /// The cells of `shard` not yet in `store`.
    pub fn pending<'a>(&'a self, store: &Store, shard: Shard) -> Result<Vec<&'a Cell>> {
        Ok(runner::pending(&self.cells, store, shard)?)
    }

    /// Runs every pending cell of `shard` on `workers` threads, appending each record to
    /// `store` as it finishes; `on_event` sees cells start and finish.
    pub fn run(
        &self,
        exec: &Executor,
        store: &Store,
        shard: Shard,
        workers: usize,
        on_event: &(dyn Fn(Event) + Sync),
    ) -> Result<RunSummary> {
        Ok(runner::run(
            &self.cells,
            store,
            shard,
            workers,
            |cell| {
                exec.run(self.checked(cell))
                    .map_err(|e| crate::error::one_line(&e))
            },
            on_event,
        )?)
    }
}

/// Runs one cell spec directly (a library or Python user's single experiment).
pub fn run_cell(
    spec: &mithridate_assess::plan::CellSpec,
    data: DataCache,
    kinds: &CellKinds,
) -> Result<mithridate_assess::record::Outcome> {
    let checked = kinds.check(spec, &data)?;
    Executor::new(data).run(&checked)
}
