//! Random label flipping: uniform label noise injected by an attacker.
//!
//! Paper: Biggio, Nelson & Laskov (2011), "Support Vector Machines Under Adversarial Label
//! Noise" (ACML) — the random-flip baseline against which adversarial flips are measured;
//! see also Xiao, Xiao & Eckert (2012), "Adversarial Label Flips Attack on Support Vector
//! Machines" (ECAI).
//!
//! Recipe: draw `m = round(rate * n)` training samples uniformly without replacement (pool:
//! the whole training set); give each a label drawn uniformly from the `K - 1` other classes,
//! `y' ~ U({0..K-1} \ {y})`. Assumes `K >= 2`. Goal: availability (lower clean accuracy).
//! The expected share of wrong labels is exactly `m / n` (no flip lands on the true class).
//!
//! ```
//! use mithridate_attack::{registry, AttackInput, Budget};
//! use mithridate_data::{Dataset, Features, Modality};
//! let data = Dataset::new(Modality::Tabular { features: 1 }, Features::Dense(vec![0.0; 10]),
//!                         vec![0, 1, 2, 0, 1, 2, 0, 1, 2, 0], (0..10).collect(), 3, vec![])?;
//! let out = registry::build("label-flip", &serde_json::json!({}))?
//!     .poison(&AttackInput::new(&data, Budget::Rate(0.5), 1))?;
//! assert_eq!(out.truth.changes.len(), 5);
//! assert!(out.truth.changes.iter().all(|c| Some(c.label_to) != c.label_from));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{choose, rows_where};
use crate::edit::{Edits, Record};
use crate::truth::{BudgetRecord, Goal};
use crate::{rng, Attack, AttackError, AttackInput, Poisoned, Result, Taxonomy};
use mithridate_core::ParamGuard;
use rand::Rng;

/// Parameters of [`RandomFlip`] (none besides the budget and seed).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct RandomFlipParams {}

impl ParamGuard for RandomFlipParams {
    type Checked = RandomFlip;
    type Error = AttackError;

    fn check_ref(&self) -> Result<()> {
        Ok(())
    }

    fn build(self) -> RandomFlip {
        RandomFlip { params: self }
    }
}

/// Checked random label flipping.
#[derive(Debug, Clone)]
pub struct RandomFlip {
    params: RandomFlipParams,
}

impl Attack for RandomFlip {
    fn name(&self) -> &'static str {
        "label-flip"
    }
    fn taxonomy(&self) -> Taxonomy {
        Taxonomy::availability()
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn poison(&self, input: &AttackInput) -> Result<Poisoned> {
        let data = input.train;
        let k = data.num_classes();
        if k < 2 {
            return Err(AttackError::incompatible(
                "label flipping needs at least two classes",
            ));
        }
        let count = input.budget.resolve(data.len(), "training set")?;
        let rows = choose(&rows_where(data, |_| true), count, input.seed);
        let mut labels = rng::stream(input.seed, rng::LABELS);
        let mut edits = Edits::new(data);
        for &row in &rows {
            let y = data.labels()[row];
            // Uniform over the K-1 other classes: draw from 0..K-1 and skip over y.
            let draw = labels.random_range(0..k as u32 - 1);
            edits.set_label(row, if draw >= y { draw + 1 } else { draw });
        }
        edits.finish(Record {
            attack: self.name(),
            parameters: self.parameters(),
            seed: input.seed,
            budget: BudgetRecord {
                requested: input.budget,
                pool: "training set".into(),
                pool_size: data.len(),
                selected: rows.len(),
            },
            taxonomy: self.taxonomy(),
            goal: Goal::Availability,
        })
    }
}

/// The registry entry (see [`crate::registry::ATTACKS`]).
pub const ENTRY: crate::registry::AttackEntry = crate::registry::AttackEntry {
    name: "label-flip",
    role: mithridate_core::Role::DataAttack,
    modalities: &["image", "tabular", "text"],
    summary: "random label flips; rate of the training set; no parameters",
    paper: "Biggio, Nelson & Laskov 2011",
    taxonomy: crate::taxonomy::AVAILABILITY,
    requires: &[],
    provides: &[],
    build: |p| crate::registry::checked::<RandomFlipParams>("label-flip", p),
};
