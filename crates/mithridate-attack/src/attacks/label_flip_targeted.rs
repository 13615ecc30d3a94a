//! Targeted label flipping: relabel samples of one source class as one target class.
//!
//! Paper: Tolpegin, Truex, Gursoy & Liu (2020), "Data Poisoning Attacks Against Federated
//! Learning Systems" (ESORICS) — the source->target label-flipping attack; earlier in the
//! centralized setting as class-targeted label noise (Biggio et al. 2011).
//!
//! Recipe: pool = training samples of class `source`; draw `m = round(rate * |pool|)` of them
//! uniformly without replacement and set their label to `target` (`source != target`).
//! Goal: test inputs of class `source` classified as `target` (targeted misclassification
//! rate), while other classes keep their accuracy. Note the rate is *of the source class*.
//!
//! ```
//! use mithridate_attack::{registry, AttackInput, Budget};
//! use mithridate_data::{Dataset, Features, Modality};
//! let data = Dataset::new(Modality::Tabular { features: 1 }, Features::Dense(vec![0.0; 6]),
//!                         vec![0, 1, 1, 1, 1, 2], (0..6).collect(), 3, vec![])?;
//! let out = registry::build("label-flip-targeted", &serde_json::json!({"source": 1, "target": 2}))?
//!     .poison(&AttackInput::new(&data, Budget::Rate(0.5), 3))?;
//! assert_eq!(out.truth.changes.len(), 2);
//! assert!(out.truth.changes.iter().all(|c| c.label_from == Some(1) && c.label_to == 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{choose, rows_where};
use crate::edit::{Edits, Record};
use crate::truth::{BudgetRecord, Goal};
use crate::{check_class, Attack, AttackError, AttackInput, Poisoned, Result, Taxonomy};
use mithridate_core::ParamGuard;

/// Parameters of [`TargetedFlip`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TargetedFlipParams {
    /// Class whose samples are relabelled.
    pub source: u32,
    /// Label they get.
    pub target: u32,
}

impl ParamGuard for TargetedFlipParams {
    type Checked = TargetedFlip;
    type Error = AttackError;

    fn check_ref(&self) -> Result<()> {
        if self.source == self.target {
            return Err(AttackError::param(format!(
                "source and target are the same class ({})",
                self.source
            )));
        }
        Ok(())
    }

    fn build(self) -> TargetedFlip {
        TargetedFlip { params: self }
    }
}

/// Checked targeted label flipping.
#[derive(Debug, Clone)]
pub struct TargetedFlip {
    params: TargetedFlipParams,
}

impl Attack for TargetedFlip {
    fn name(&self) -> &'static str {
        "label-flip-targeted"
    }
    fn taxonomy(&self) -> Taxonomy {
        Taxonomy::targeted()
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn poison(&self, input: &AttackInput) -> Result<Poisoned> {
        let data = input.train;
        let TargetedFlipParams { source, target } = self.params;
        check_class(data, source, "source")?;
        check_class(data, target, "target")?;
        let pool = rows_where(data, |y| y == source);
        let pool_name = format!("source class {source}");
        let count = input.budget.resolve(pool.len(), &pool_name)?;
        let rows = choose(&pool, count, input.seed);
        let mut edits = Edits::new(data);
        for &row in &rows {
            edits.set_label(row, target);
        }
        edits.finish(Record {
            attack: self.name(),
            parameters: self.parameters(),
            seed: input.seed,
            budget: BudgetRecord {
                requested: input.budget,
                pool: pool_name,
                pool_size: pool.len(),
                selected: rows.len(),
            },
            taxonomy: self.taxonomy(),
            goal: Goal::TargetedMisclassification { source, target },
        })
    }
}

/// The registry entry (see [`crate::registry::ATTACKS`]).
pub const ENTRY: crate::registry::AttackEntry = crate::registry::AttackEntry {
    name: "label-flip-targeted",
    role: mithridate_core::Role::DataAttack,
    modalities: &["image", "tabular", "text"],
    summary: "relabel source-class samples as target; rate of the source class; source, target (required)",
    paper: "Tolpegin, Truex, Gursoy & Liu 2020",
    taxonomy: crate::taxonomy::TARGETED,
    requires: &[],
    provides: &[],
    build: |p| crate::registry::checked::<TargetedFlipParams>("label-flip-targeted", p),
};
