//! Plain fine-tuning on trusted clean data: the baseline every post-training defence is
//! compared with (BackdoorBench's "FT").

use crate::{check_inputs, params, FineTune, Repair, RepairEntry, Repaired, Result};
use mithridate_core::registry::Role;
use mithridate_data::Dataset;
use mithridate_engine::Classifier;
use serde::{Deserialize, Serialize};

pub const ENTRY: RepairEntry = RepairEntry {
    name: "fine-tuning",
    role: Role::Repair,
    modalities: &[],
    summary: "fine-tunes on the trusted clean set (epochs=10, learning-rate=0.001, batch-size=64)",
    paper:
        "Liu, Dolan-Gavitt & Garg 2018 (fine-tuning baseline); Wu et al. 2022 (BackdoorBench FT)",
    taxonomy: crate::MODEL_REPAIR,
    requires: &[],
    provides: &[],
    build: |p| Ok(Box::new(FineTuning::new(params("fine-tuning", p)?)?)),
};

/// Parameters of [`FineTuning`] (kebab-case keys).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct FineTuningParams {
    pub epochs: usize,
    pub learning_rate: f64,
    pub batch_size: usize,
}

impl Default for FineTuningParams {
    fn default() -> Self {
        let d = FineTune::DEFAULT;
        FineTuningParams {
            epochs: d.epochs,
            learning_rate: d.learning_rate,
            batch_size: d.batch_size,
        }
    }
}

/// Fine-tuning: `θ ← θ - η ∇ L_CE(θ; D_trusted)` for a few epochs. A backdoor survives it
/// when the trusted set never activates the trigger's neurons (Liu et al. 2018 report
/// fine-tuning alone leaves most backdoors); it is the cheapest repair and the reference
/// the others must beat.
///
/// ```
/// use mithridate_repair::Repair;
/// let ft = mithridate_repair::fine_tuning::FineTuning::new(Default::default()).unwrap();
/// assert_eq!(ft.parameters()["epochs"], 10);
/// ```
pub struct FineTuning {
    tune: FineTune,
}

impl FineTuning {
    pub fn new(p: FineTuningParams) -> Result<Self> {
        let tune = FineTune {
            epochs: p.epochs,
            learning_rate: p.learning_rate,
            batch_size: p.batch_size,
        };
        tune.check("fine-tuning")?;
        Ok(FineTuning { tune })
    }
}

impl Repair for FineTuning {
    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.tune).unwrap_or_default()
    }

    fn repair(&self, model: &Classifier, trusted: &Dataset, seed: u64) -> Result<Repaired> {
        check_inputs(model, trusted)?;
        let mut repaired = model.try_clone()?;
        self.tune.run(&mut repaired, trusted, seed)?;
        Ok(Repaired {
            model: repaired,
            details: serde_json::json!({ "fine_tuned_on": trusted.len() }),
        })
    }
}
