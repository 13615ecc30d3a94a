//! Narcissus: a clean-label backdoor whose trigger is optimised to look like the target class.
//!
//! Paper: Zeng, Pan, Just, Lyu & Jia (2023), "Narcissus: A Practical Clean-Label Backdoor
//! Attack with Limited Information", ACM CCS 2023 (arXiv:2204.05255).
//!
//! Why it implants where a fixed trigger does not: a clean-label poison keeps the target
//! label, so the model already fits it by its content and has no reason to learn an arbitrary
//! patch ([`super::clean_label`], [`super::sig`] in the clean form). Narcissus instead
//! synthesises the trigger as the most *target-like* perturbation the surrogate knows, so the
//! poisoned target samples teach "this direction means the target" on top of a direction the
//! model already leans on.
//!
//! Trigger synthesis: with `D_t` the training samples of class `t` and `f` the surrogate,
//!
//! `delta* = argmin_{||delta||_inf <= eps} sum_{x in D_t} CE(f(clip(x + delta)), t)`,
//!
//! solved by signed gradient descent over seeded mini-batches of `D_t` (`batch` samples per
//! step, `steps` steps, step `step-size`, default `eps / 10`):
//! `delta <- clip_[-eps, eps](delta - step * sign(mean_b g_b))`, where
//! `g_b = grad_x CE(f(clip(x_b + delta)), t) * 1[0 < x_b + delta < 1]` (the clip's own
//! derivative). Poisoning: `round(rate * |D_t|)` target samples become `clip(x + delta, 0, 1)`,
//! labels kept. Test time: `clip(x + test_scale * delta, 0, 1)` (the paper magnifies the
//! trigger 3x at test time, the default here; `eps * test_scale <= 1`).
//!
//! Differences from the paper, and assumptions: the paper trains its surrogate on
//! public out-of-distribution data and fine-tunes it on a few target samples; here the
//! surrogate is whatever the caller gives (the pipeline trains one on the clean training set,
//! a stronger attacker). The paper optimises over the attacker's target samples only; here
//! every training sample of class `t` may be drawn into a mini-batch. Assumes image data in
//! `[0, 1]`, at least two classes, a differentiable surrogate. The paper backdoors CIFAR-10
//! models from 0.05% of the training set (0.5% of the target class) at `eps = 16/255`. The magnified trigger is
//! also an adversarial perturbation: measure the ASR of a model trained on clean data with the
//! same trigger (`mithridate evaluate --trigger T --model CLEAN`) and report the difference.
//!
//! Cost: `steps * batch` input-gradient evaluations of the surrogate, independent of `n`.
//!
//! ```
//! use mithridate_attack::{registry, AttackInput, Budget, Surrogate, Result};
//! use mithridate_data::{Dataset, Features, Modality};
//! // A surrogate whose loss gradient is +1 on pixel 0 and -1 on the others: descent moves
//! // pixel 0 down by eps and the others up by eps.
//! struct Fixed;
//! impl Surrogate for Fixed {
//!     fn predict_proba(&self, d: &Dataset) -> Result<Vec<f32>> { Ok(vec![0.5; 2 * d.len()]) }
//!     fn loss_input_gradients(&self, d: &Dataset, _: &[u32]) -> Result<Vec<f32>> {
//!         Ok((0..4 * d.len()).map(|i| if i % 4 == 0 { 1.0 } else { -1.0 }).collect())
//!     }
//!     fn embeddings(&self, d: &Dataset) -> Result<(Vec<f32>, usize)> { Ok((vec![0.0; d.len()], 1)) }
//!     fn embedding_input_gradients(&self, d: &Dataset, _: &[f32]) -> Result<Vec<f32>> { Ok(vec![0.0; 4 * d.len()]) }
//! }
//! let image = Modality::Image { channels: 1, height: 2, width: 2 };
//! let data = Dataset::new(image, Features::Dense(vec![0.5; 8]), vec![0, 1], vec![0, 1], 2, vec![])?;
//! let attack = registry::build("narcissus", &serde_json::json!({"target": 0, "epsilon": 0.1, "steps": 5, "step-size": 0.05}))?;
//! let out = attack.poison(&AttackInput::new(&data, Budget::Rate(1.0), 0).with_surrogate(&Fixed))?;
//! let row = out.data.dense_row(0).unwrap();
//! assert!((row[0] - 0.4).abs() < 1e-6 && (row[3] - 0.6).abs() < 1e-6);
//! assert_eq!(out.truth.changes.len(), 1); // only the target-class sample
//! assert_eq!(out.truth.changes[0].label_to, 0); // label kept
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{choose, image_shape, loss_gradients, rows_where, sign, stamp};
use crate::edit::{Edits, Record};
use crate::trigger::{Mapping, Trigger};
use crate::truth::{BudgetRecord, Goal};
use crate::{
    check_class, rng, Attack, AttackError, AttackInput, Poisoned, Requirements, Result, Surrogate,
    Taxonomy,
};
use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Features};
use rand::seq::SliceRandom;

/// Parameters of [`Narcissus`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NarcissusParams {
    /// The class the trigger should point into (required).
    pub target: u32,
    /// `L_inf` bound of the poisoning trigger, in pixel units (default 16/255, the paper's).
    #[serde(default = "default_epsilon")]
    pub epsilon: f32,
    /// Signed-gradient steps of the trigger synthesis.
    #[serde(default = "default_steps")]
    pub steps: usize,
    /// Step size (default `epsilon / 10`).
    #[serde(default)]
    pub step_size: Option<f32>,
    /// Target-class samples per step.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Test-time magnification of the trigger (the paper's 3).
    #[serde(default = "default_test_scale")]
    pub test_scale: f32,
}

fn default_epsilon() -> f32 {
    16.0 / 255.0
}
fn default_steps() -> usize {
    200
}
fn default_batch() -> usize {
    128
}
fn default_test_scale() -> f32 {
    3.0
}

/// Largest `steps * batch` accepted: bounds the surrogate work before it starts.
const MAX_GRADIENT_SAMPLES: usize = 10_000_000;

impl ParamGuard for NarcissusParams {
    type Checked = Narcissus;
    type Error = AttackError;

    fn check_ref(&self) -> Result<()> {
        if !(self.epsilon.is_finite() && self.epsilon > 0.0 && self.epsilon <= 1.0) {
            return Err(AttackError::param(format!(
                "epsilon {} is outside (0, 1] (pixels are in [0, 1]; 16/255 = {:.4})",
                self.epsilon,
                16.0 / 255.0
            )));
        }
        if !(self.test_scale.is_finite() && self.test_scale > 0.0) {
            return Err(AttackError::param(format!(
                "test-scale {} must be positive and finite",
                self.test_scale
            )));
        }
        if self.epsilon * self.test_scale > 1.0 {
            return Err(AttackError::param(format!(
                "epsilon * test-scale = {} exceeds 1, the whole pixel range",
                self.epsilon * self.test_scale
            )));
        }
        if self.steps == 0 || self.batch == 0 {
            return Err(AttackError::param("steps and batch must be at least 1"));
        }
        if self.steps.saturating_mul(self.batch) > MAX_GRADIENT_SAMPLES {
            return Err(AttackError::param(format!(
                "steps * batch = {} exceeds {MAX_GRADIENT_SAMPLES} surrogate gradients",
                self.steps.saturating_mul(self.batch)
            )));
        }
        if let Some(s) = self.step_size {
            if !(s.is_finite() && s > 0.0) {
                return Err(AttackError::param(format!(
                    "step-size {s} must be positive and finite"
                )));
            }
        }
        Ok(())
    }

    fn build(self) -> Narcissus {
        Narcissus { params: self }
    }
}

/// Checked Narcissus attack.
#[derive(Debug, Clone)]
pub struct Narcissus {
    params: NarcissusParams,
}

impl Narcissus {
    /// The synthesised trigger `delta` (one sample's values) for the target rows `pool`.
    fn synthesise(
        &self,
        surrogate: &dyn Surrogate,
        data: &Dataset,
        pool: &[usize],
        seed: u64,
    ) -> Result<Vec<f32>> {
        let p = &self.params;
        let per = data.modality().sample_len();
        let step = p.step_size.unwrap_or(p.epsilon / 10.0);
        let mut delta = vec![0.0f32; per];
        let mut order = pool.to_vec();
        let mut r = rng::stream(seed, rng::PATTERN);
        let batch = p.batch.min(pool.len());
        let mut cursor = order.len();
        let mut mean = vec![0.0f64; per];
        for _ in 0..p.steps {
            if cursor + batch > order.len() {
                order.shuffle(&mut r);
                cursor = 0;
            }
            let rows = &order[cursor..cursor + batch];
            cursor += batch;
            let subset = data.select(rows)?;
            let Features::Dense(clean) = subset.features() else {
                return Err(AttackError::incompatible("narcissus needs image data"));
            };
            let shifted: Vec<f32> = clean
                .iter()
                .zip(delta.iter().cycle())
                .map(|(x, d)| (x + d).clamp(0.0, 1.0))
                .collect();
            let grad = loss_gradients(surrogate, data, shifted, &vec![p.target; rows.len()])?;
            mean.iter_mut().for_each(|m| *m = 0.0);
            for (sample, g_row) in clean.chunks(per).zip(grad.chunks(per)) {
                for (((m, &g), &x), &d) in mean.iter_mut().zip(g_row).zip(sample).zip(&delta) {
                    let inside = x + d > 0.0 && x + d < 1.0;
                    if inside && g.is_finite() {
                        *m += f64::from(g);
                    }
                }
            }
            for (d, &m) in delta.iter_mut().zip(&mean) {
                *d = (*d - step * sign(m as f32)).clamp(-p.epsilon, p.epsilon);
            }
        }
        Ok(delta)
    }
}

impl Attack for Narcissus {
    fn name(&self) -> &'static str {
        "narcissus"
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
        let (channels, height, width) = image_shape(data.modality(), "a Narcissus trigger")?;
        check_class(data, p.target, "target")?;
        if data.num_classes() < 2 {
            return Err(AttackError::incompatible(
                "a backdoor needs at least two classes",
            ));
        }
        let pool = rows_where(data, |y| y == p.target);
        let pool_name = format!("target class {}", p.target);
        let count = input.budget.resolve(pool.len(), &pool_name)?;
        if pool.is_empty() {
            return Err(AttackError::incompatible(format!(
                "the training set has no sample of {pool_name} to synthesise the trigger from"
            )));
        }
        let surrogate = input.require_surrogate(self.name())?;
        let delta = self.synthesise(surrogate, data, &pool, input.seed)?;
        let additive = |scale: f32| Trigger::Additive {
            channels,
            height,
            width,
            signal: delta.iter().map(|d| d * scale).collect(),
        };
        let train_trigger = additive(1.0);
        let rows = choose(&pool, count, input.seed);
        let mut edits = Edits::new(data);
        for &row in &rows {
            stamp(&mut edits, &train_trigger, data, row, data.ids()[row])?;
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
                trigger: additive(p.test_scale),
                mapping: Mapping::AllToOne { target: p.target },
            },
        })
    }
}

/// The registry entry (see [`crate::registry::ATTACKS`]).
pub const ENTRY: crate::registry::AttackEntry = crate::registry::AttackEntry {
    name: "narcissus",
    role: mithridate_core::Role::DataAttack,
    modalities: &["image"],
    summary: "clean-label: a trigger synthesised on the surrogate to point into the target class, added to target samples (labels kept), magnified at test time; rate of the target class; target (required), epsilon (16/255), steps (200), step-size (epsilon/10), batch (128), test-scale (3)",
    paper: "Zeng, Pan, Just, Lyu & Jia 2023",
    taxonomy: crate::taxonomy::BACKDOOR,
    requires: &[mithridate_core::Requirement::Surrogate],
    provides: &[mithridate_core::Requirement::Trigger],
    build: |p| crate::registry::checked::<NarcissusParams>("narcissus", p),
};
