//! Greedy (surrogate-guided) label flipping: flip the labels whose flip hurts most.
//!
//! Papers: Xiao, Xiao & Eckert (2012), "Adversarial Label Flips Attack on Support Vector
//! Machines" (ECAI) and Biggio, Nelson & Laskov (2011) — adversarial flips chosen with a
//! surrogate beat random flips at the same budget; Paudice, Muñoz-González & Lupu (2018),
//! "Label Sanitization against Label Flipping Poisoning Attacks" use the same greedy idea.
//!
//! With surrogate probabilities `p_i` (a model trained on the clean set), every sample gets
//! a score and a new label; the `m = round(rate * n)` highest scores are flipped (pool: the
//! whole training set; ties by row order, so the choice is deterministic):
//! - `objective = margin` (default): score `p_i[y_i] - max_{c != y_i} p_i[c]` (the
//!   surrogate's margin), new label `argmax_{c != y_i} p_i[c]`. Flipping the most
//!   confidently-correct samples to their runner-up class concentrates the noise on
//!   confusable class pairs, which moves decision boundaries more than uniform noise.
//! - `objective = loss`: score `-ln p_i[c*]` with `c* = argmin_c p_i[c]` (the surrogate
//!   cross-entropy of the flipped label), new label `c*`: the largest per-sample loss.
//!
//! Assumes the surrogate's class order is the dataset's and `K >= 2`. Goal: availability.
//!
//! ```
//! use mithridate_attack::{registry, AttackInput, Budget, Surrogate};
//! use mithridate_data::{Dataset, Features, Modality};
//! // A fixed "model" that is most confident on the last sample.
//! struct Fixed;
//! impl Surrogate for Fixed {
//!     fn predict_proba(&self, _: &Dataset) -> mithridate_attack::Result<Vec<f32>> {
//!         Ok(vec![0.6, 0.3, 0.1,  0.2, 0.7, 0.1,  0.05, 0.05, 0.9])
//!     }
//!     fn loss_input_gradients(&self, _: &Dataset, _: &[u32]) -> mithridate_attack::Result<Vec<f32>> { Err(mithridate_attack::AttackError::Surrogate("unused".into())) }
//!     fn embeddings(&self, _: &Dataset) -> mithridate_attack::Result<(Vec<f32>, usize)> { Err(mithridate_attack::AttackError::Surrogate("unused".into())) }
//!     fn embedding_input_gradients(&self, _: &Dataset, _: &[f32]) -> mithridate_attack::Result<Vec<f32>> { Err(mithridate_attack::AttackError::Surrogate("unused".into())) }
//! }
//! let data = Dataset::new(Modality::Tabular { features: 1 }, Features::Dense(vec![0.0; 3]),
//!                         vec![0, 1, 2], vec![5, 6, 7], 3, vec![])?;
//! let out = registry::build("label-flip-greedy", &serde_json::json!({}))?
//!     .poison(&AttackInput::new(&data, Budget::Count(1), 0).with_surrogate(&Fixed))?;
//! assert_eq!(out.truth.changes[0].id, 7);
//! assert_eq!(out.truth.changes[0].label_to, 0); // runner-up of [0.05, 0.05, 0.9]: first of the tie
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::edit::{Edits, Record};
use crate::truth::{BudgetRecord, Goal};
use crate::{Attack, AttackError, AttackInput, Poisoned, Requirements, Result, Taxonomy};
use mithridate_core::ParamGuard;

/// How flips are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Largest surrogate margin first, flipped to the runner-up class.
    #[default]
    Margin,
    /// Largest surrogate loss of the new label first, flipped to the least likely class.
    Loss,
}

/// Parameters of [`GreedyFlip`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct GreedyFlipParams {
    pub objective: Objective,
}

impl ParamGuard for GreedyFlipParams {
    type Checked = GreedyFlip;
    type Error = AttackError;

    fn check_ref(&self) -> Result<()> {
        Ok(())
    }

    fn build(self) -> GreedyFlip {
        GreedyFlip { params: self }
    }
}

/// Checked greedy label flipping.
#[derive(Debug, Clone)]
pub struct GreedyFlip {
    params: GreedyFlipParams,
}

/// `(score, new label)` for one sample's probabilities `p` and label `y`.
fn score(objective: Objective, p: &[f32], y: usize) -> (f32, u32) {
    let others = (0..p.len()).filter(|&c| c != y);
    match objective {
        Objective::Margin => {
            // max_by keeps the last maximum; fold keeps the first, for a stable tie rule.
            let best = others.fold(None, |acc: Option<usize>, c| match acc {
                Some(b) if p[b] >= p[c] => Some(b),
                _ => Some(c),
            });
            let c = best.unwrap_or(0);
            (p[y] - p[c], c as u32)
        }
        Objective::Loss => {
            let worst = others.fold(None, |acc: Option<usize>, c| match acc {
                Some(b) if p[b] <= p[c] => Some(b),
                _ => Some(c),
            });
            let c = worst.unwrap_or(0);
            (-(p[c].max(f32::MIN_POSITIVE)).ln(), c as u32)
        }
    }
}

impl Attack for GreedyFlip {
    fn name(&self) -> &'static str {
        "label-flip-greedy"
    }
    fn taxonomy(&self) -> Taxonomy {
        Taxonomy::availability()
    }
    fn requirements(&self) -> Requirements {
        Requirements {
            surrogate: true,
            victims: false,
        }
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
        let mut rows = Vec::new();
        let mut new_labels = Vec::new();
        if count > 0 {
            let surrogate = input.require_surrogate(self.name())?;
            let proba = surrogate.predict_proba(data)?;
            if proba.len() != data.len() * k {
                return Err(AttackError::Surrogate(format!(
                    "returned {} probabilities for {} samples of {k} classes",
                    proba.len(),
                    data.len()
                )));
            }
            let scored: Vec<(f32, u32)> = proba
                .chunks(k)
                .zip(data.labels())
                .map(|(p, &y)| score(self.params.objective, p, y as usize))
                .collect();
            let mut order: Vec<usize> = (0..data.len()).collect();
            // Highest score first; NaN scores (a broken surrogate) sort last; ties by row.
            order.sort_by(|&a, &b| {
                let (sa, sb) = (scored[a].0, scored[b].0);
                sb.partial_cmp(&sa)
                    .unwrap_or_else(|| sa.is_nan().cmp(&sb.is_nan()))
                    .then(a.cmp(&b))
            });
            rows = order[..count].to_vec();
            rows.sort_unstable();
            new_labels = rows.iter().map(|&r| scored[r].1).collect();
        }
        let mut edits = Edits::new(data);
        for (&row, &label) in rows.iter().zip(&new_labels) {
            edits.set_label(row, label);
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
    name: "label-flip-greedy",
    role: mithridate_core::Role::DataAttack,
    modalities: &["image", "tabular", "text"],
    summary: "flip the labels a surrogate is surest of; rate of the training set; objective=margin|loss (margin)",
    paper: "Xiao, Xiao & Eckert 2012",
    taxonomy: crate::taxonomy::AVAILABILITY,
    requires: &[mithridate_core::Requirement::Surrogate],
    provides: &[],
    build: |p| crate::registry::checked::<GreedyFlipParams>("label-flip-greedy", p),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_the_documented_formulas() {
        let p = [0.1, 0.7, 0.2];
        let (s, c) = score(Objective::Margin, &p, 1);
        assert!((s - 0.5).abs() < 1e-6);
        assert_eq!(c, 2);
        let (s, c) = score(Objective::Loss, &p, 1);
        assert!((s - (-(0.1f32).ln())).abs() < 1e-6);
        assert_eq!(c, 0);
        // A misclassified sample has a negative margin.
        assert!(score(Objective::Margin, &p, 0).0 < 0.0);
    }
}
