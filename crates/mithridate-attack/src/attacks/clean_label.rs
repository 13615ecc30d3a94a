//! Clean-label (label-consistent) backdoor: target-class samples made hard to classify by an
//! adversarial perturbation, then stamped with the trigger; every label stays correct.
//!
//! Paper: Turner, Tsipras & Madry (2019), "Label-Consistent Backdoor Attacks"
//! (arXiv:1912.02771; ICLR 2019 submission "Clean-Label Backdoor Attacks").
//!
//! Recipe: pool = training samples of class `target`; draw `m = round(rate * |pool|)` of them
//! (the rate is *of the target class*). Each chosen `x` is replaced by a projected-gradient
//! ascent (PGD, Madry et al. 2018) on the surrogate's loss of its *true* label under an
//! `L_inf` budget `epsilon`:
//!
//! `x_{t+1} = clip_[0,1]( Proj_{||x' - x||_inf <= eps}( x_t + step * sign(grad_x CE(f(x_t), y)) ) )`
//!
//! for `steps` steps from `x_0 = x` (no random start, so the result is deterministic), then
//! the patch trigger (as in [`super::badnets`]) is stamped on. The perturbation destroys the
//! natural features the model would use, so it must lean on the trigger to fit these
//! samples — which is what makes the trigger work at test time. `epsilon = 0` gives the
//! plain "same trigger, no perturbation" baseline. Assumes image data, a surrogate trained
//! on similar data, and `0 <= epsilon <= 1`. Turner et al. report ASR rising from ~0% (no
//! perturbation) to > 50% with an `L_inf` budget of 16/255 on CIFAR-10.
//!
//! ```
//! use mithridate_attack::{registry, AttackInput, Budget, Surrogate, Result};
//! use mithridate_data::{Dataset, Features, Modality};
//! // A linear "model" whose loss gradient is +1 on every pixel: PGD moves every pixel up by eps.
//! struct Up;
//! impl Surrogate for Up {
//!     fn predict_proba(&self, d: &Dataset) -> Result<Vec<f32>> { Ok(vec![0.5; 2 * d.len()]) }
//!     fn loss_input_gradients(&self, d: &Dataset, _: &[u32]) -> Result<Vec<f32>> { Ok(vec![1.0; 16 * d.len()]) }
//!     fn embeddings(&self, d: &Dataset) -> Result<(Vec<f32>, usize)> { Ok((vec![0.0; d.len()], 1)) }
//!     fn embedding_input_gradients(&self, d: &Dataset, _: &[f32]) -> Result<Vec<f32>> { Ok(vec![0.0; 16 * d.len()]) }
//! }
//! let image = Modality::Image { channels: 1, height: 4, width: 4 };
//! let data = Dataset::new(image, Features::Dense(vec![0.5; 32]), vec![0, 1], vec![0, 1], 2, vec![])?;
//! let attack = registry::build("clean-label", &serde_json::json!({"target": 0, "epsilon": 0.1, "size": 1, "margin": 0}))?;
//! let out = attack.poison(&AttackInput::new(&data, Budget::Rate(1.0), 0).with_surrogate(&Up))?;
//! let row = out.data.dense_row(0).unwrap();
//! assert!((row[0] - 0.6).abs() < 1e-6 && row[15] == 1.0); // perturbed pixel, trigger pixel
//! assert_eq!(out.truth.changes[0].label_to, 0); // label unchanged
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::badnets::{PatchSpec, Pattern, Position};
use super::{choose, loss_gradients, rows_where, sign, stamp};
use crate::edit::{Edits, Record};
use crate::trigger::Mapping;
use crate::truth::{BudgetRecord, Goal};
use crate::{
    check_class, Attack, AttackError, AttackInput, Poisoned, Requirements, Result, Surrogate,
    Taxonomy,
};
use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Features};

/// Parameters of [`CleanLabel`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CleanLabelParams {
    pub target: u32,
    /// `L_inf` budget of the adversarial perturbation, in pixel units (`[0, 1]`).
    #[serde(default = "default_epsilon")]
    pub epsilon: f32,
    /// PGD steps.
    #[serde(default = "default_steps")]
    pub steps: usize,
    /// PGD step size (default `2.5 * epsilon / steps`, Madry et al.'s rule).
    #[serde(default)]
    pub step_size: Option<f32>,
    #[serde(default)]
    pub pattern: Pattern,
    #[serde(default = "default_size")]
    pub size: usize,
    #[serde(default)]
    pub position: Position,
    #[serde(default = "default_margin")]
    pub margin: usize,
}

fn default_epsilon() -> f32 {
    0.3
}
fn default_steps() -> usize {
    20
}
fn default_size() -> usize {
    3
}
fn default_margin() -> usize {
    1
}

impl ParamGuard for CleanLabelParams {
    type Checked = CleanLabel;
    type Error = AttackError;

    fn check_ref(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.epsilon) {
            return Err(AttackError::param(format!(
                "epsilon {} is outside [0, 1]",
                self.epsilon
            )));
        }
        if self.epsilon > 0.0 && self.steps == 0 {
            return Err(AttackError::param(
                "steps must be at least 1 when epsilon > 0",
            ));
        }
        if let Some(s) = self.step_size {
            if !(s.is_finite() && s > 0.0) {
                return Err(AttackError::param(format!(
                    "step-size {s} must be positive"
                )));
            }
        }
        self.patch().check()?;
        Ok(())
    }

    fn build(self) -> CleanLabel {
        CleanLabel { params: self }
    }
}
impl CleanLabelParams {
    fn patch(&self) -> PatchSpec {
        PatchSpec {
            pattern: self.pattern,
            size: self.size,
            position: self.position,
            margin: self.margin,
        }
    }
}

/// Checked clean-label attack.
#[derive(Debug, Clone)]
pub struct CleanLabel {
    params: CleanLabelParams,
}

/// Rows in one surrogate call (bounds memory).
const CHUNK: usize = 512;

/// PGD ascent on the surrogate loss of `labels` for the dense rows `x` (`n * per` values),
/// in place.
fn pgd(
    surrogate: &dyn Surrogate,
    template: &Dataset,
    x: &mut [f32],
    labels: &[u32],
    epsilon: f32,
    steps: usize,
    step_size: f32,
) -> Result<()> {
    let origin = x.to_vec();
    for _ in 0..steps {
        let grad = loss_gradients(surrogate, template, x.to_vec(), labels)?;
        for ((v, &g), &o) in x.iter_mut().zip(&grad).zip(&origin) {
            let stepped = *v + step_size * sign(g);
            *v = stepped.clamp(o - epsilon, o + epsilon).clamp(0.0, 1.0);
        }
    }
    Ok(())
}

impl Attack for CleanLabel {
    fn name(&self) -> &'static str {
        "clean-label"
    }
    fn taxonomy(&self) -> Taxonomy {
        Taxonomy::backdoor()
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
        let p = &self.params;
        let trigger = p.patch().trigger(data.modality(), input.seed)?;
        check_class(data, p.target, "target")?;
        if data.num_classes() < 2 {
            return Err(AttackError::incompatible(
                "a backdoor needs at least two classes",
            ));
        }
        let pool = rows_where(data, |y| y == p.target);
        let pool_name = format!("target class {}", p.target);
        let count = input.budget.resolve(pool.len(), &pool_name)?;
        let rows = choose(&pool, count, input.seed);
        let mut edits = Edits::new(data);
        if !rows.is_empty() && p.epsilon > 0.0 {
            let surrogate = input.require_surrogate(self.name())?;
            let step_size = p.step_size.unwrap_or(2.5 * p.epsilon / p.steps as f32);
            for chunk in rows.chunks(CHUNK) {
                let subset = data.select(chunk)?;
                let mut x = match subset.features() {
                    Features::Dense(v) => v.clone(),
                    Features::Tokens(_) => {
                        return Err(AttackError::incompatible("clean-label needs image data"))
                    }
                };
                pgd(
                    surrogate,
                    &subset,
                    &mut x,
                    subset.labels(),
                    p.epsilon,
                    p.steps,
                    step_size,
                )?;
                let per = data.modality().sample_len();
                for (&row, values) in chunk.iter().zip(x.chunks(per)) {
                    edits.dense_row_mut(row)?.copy_from_slice(values);
                }
            }
        }
        for &row in &rows {
            stamp(&mut edits, &trigger, data, row, data.ids()[row])?;
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
            goal: Goal::Backdoor {
                trigger,
                mapping: Mapping::AllToOne { target: p.target },
            },
        })
    }
}

/// The registry entry (see [`crate::registry::ATTACKS`]).
pub const ENTRY: crate::registry::AttackEntry = crate::registry::AttackEntry {
    name: "clean-label",
    role: mithridate_core::Role::DataAttack,
    modalities: &["image"],
    summary: "PGD-hardened target-class samples + patch, labels kept; rate of the target class; target (required), epsilon (0.3), steps (20), step-size, pattern, size, position, margin",
    paper: "Turner, Tsipras & Madry 2019",
    taxonomy: crate::taxonomy::BACKDOOR,
    requires: &[mithridate_core::Requirement::Surrogate],
    provides: &[mithridate_core::Requirement::Trigger],
    build: |p| crate::registry::checked::<CleanLabelParams>("clean-label", p),
};
