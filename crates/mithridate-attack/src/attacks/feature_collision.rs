//! Feature collision ("Poison Frogs"): clean-label poisons whose penultimate-layer features
//! collide with one chosen victim input, so the victim is classified as the poisons' class.
//!
//! Paper: Shafahi, Huang, Najibi, Suciu, Studer, Dumitras & Goldstein (2018), "Poison Frogs!
//! Targeted Clean-Label Poisoning Attacks on Neural Networks" (NeurIPS), Algorithm 1.
//!
//! For a victim `t` (a held-out input whose true class is not `target`) and base instances
//! `b` from class `target`, each poison solves
//!
//! `p = argmin_x ||phi(x) - phi(t)||^2 + (beta / 2) * ||x - b||^2`
//!
//! with `phi` the surrogate's penultimate layer, by forward-backward splitting:
//! forward `x' = x - lr * grad_x ||phi(x) - phi(t)||^2`, backward (proximal step of the
//! `beta` term) `x = (x' + lr * beta * b) / (1 + lr * beta)` (exactly the paper's steps, whose
//! proximal step is that of `beta/2 ||x - b||^2`), then `x` is clipped to `[0, 1]`
//! for images. `beta = beta0 * dim(phi)^2 / dim(x)^2` (the paper's scaling with its
//! Inception width 2048 replaced by `dim(phi)`), `beta0 = 0.25`. The step `lr` adapts per
//! poison: a step that raises the objective is undone and `lr` halved, an accepted step grows
//! it by 1.2 (the paper decays `lr` when the objective stalls). For end-to-end training the
//! paper blends `opacity` of the victim into each base first (`b = (1 - o) b + o t`, o = 0.3)
//! and uses many poisons; we do the same. The pool is the target class (the rate is *of the
//! target class*); bases are the target-class samples nearest to the victim in feature
//! space. Poisons are *added* under fresh ids with their correct label `target`; the clean
//! bases stay. Assumes dense data (image or tabular) and a surrogate close to the victim's
//! model; the paper reports 100% one-shot success under transfer learning (frozen features)
//! and ~60% with 50 poisons in end-to-end training.
//!
//! ```
//! use mithridate_attack::{registry, AttackInput, Budget, Goal, Surrogate, Result};
//! use mithridate_data::{Dataset, Features, Modality};
//! // phi(x) = x: the optimum of (x - t)^2 + beta/2 (x - b)^2 is (2t + beta b) / (2 + beta).
//! struct Identity;
//! impl Surrogate for Identity {
//!     fn predict_proba(&self, d: &Dataset) -> Result<Vec<f32>> { Ok(vec![0.5; 2 * d.len()]) }
//!     fn loss_input_gradients(&self, d: &Dataset, _: &[u32]) -> Result<Vec<f32>> { Ok(vec![0.0; d.len()]) }
//!     fn embeddings(&self, d: &Dataset) -> Result<(Vec<f32>, usize)> {
//!         Ok(((0..d.len()).map(|r| d.dense_row(r).unwrap()[0]).collect(), 1))
//!     }
//!     fn embedding_input_gradients(&self, d: &Dataset, t: &[f32]) -> Result<Vec<f32>> {
//!         Ok((0..d.len()).map(|r| d.dense_row(r).unwrap()[0] - t[r]).collect())
//!     }
//! }
//! let data = Dataset::new(Modality::Tabular { features: 1 }, Features::Dense(vec![0.0, 5.0]),
//!                         vec![0, 1], vec![0, 1], 2, vec![])?;
//! let victims = Dataset::new(Modality::Tabular { features: 1 }, Features::Dense(vec![1.0]),
//!                            vec![1], vec![100], 2, vec![])?;
//! let attack = registry::build("feature-collision", &serde_json::json!({"target": 0, "opacity": 0.0, "beta": 1.0, "iterations": 500}))?;
//! let out = attack.poison(&AttackInput::new(&data, Budget::Count(1), 0).with_surrogate(&Identity).with_victims(&victims))?;
//! assert_eq!(out.data.len(), 3); // one poison added
//! assert!(matches!(out.truth.goal, Goal::Instance { victim_id: 100, target: 0, .. }));
//! // beta0 = 1 with dim(phi) = dim(x): beta = 1, t = 1, b = 0: optimum 2/3.
//! assert!((out.data.dense_row(2).unwrap()[0] - 2.0 / 3.0).abs() < 1e-3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::rows_where;
use crate::edit::{Edits, Record};
use crate::truth::{BudgetRecord, Goal};
use crate::{
    check_class, rng, Attack, AttackError, AttackInput, Poisoned, Requirements, Result, Surrogate,
    Taxonomy,
};
use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Features, Modality};
use rand::seq::IndexedRandom;

/// Parameters of [`FeatureCollision`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FeatureCollisionParams {
    /// Base class: the class the victim should be classified as.
    pub target: u32,
    /// Id of the victim in the victim set (default: a seeded choice among victims of another
    /// class that the surrogate classifies correctly).
    #[serde(default)]
    pub victim: Option<u64>,
    /// Forward-backward iterations per poison.
    #[serde(default = "default_iterations")]
    pub iterations: usize,
    /// Initial step size of the forward (gradient) step.
    #[serde(default = "default_lr")]
    pub lr: f32,
    /// `beta0` of the proximity term.
    #[serde(default = "default_beta")]
    pub beta: f32,
    /// Share of the victim blended into each base before optimising (watermarking).
    #[serde(default = "default_opacity")]
    pub opacity: f32,
}

fn default_iterations() -> usize {
    200
}
fn default_lr() -> f32 {
    0.01
}
fn default_beta() -> f32 {
    0.25
}
fn default_opacity() -> f32 {
    0.3
}

impl ParamGuard for FeatureCollisionParams {
    type Checked = FeatureCollision;
    type Error = AttackError;

    fn check_ref(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(AttackError::param(format!(
                "lr {} must be positive",
                self.lr
            )));
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(AttackError::param(format!(
                "beta {} must be >= 0",
                self.beta
            )));
        }
        if !(0.0..1.0).contains(&self.opacity) {
            return Err(AttackError::param(format!(
                "opacity {} is outside [0, 1)",
                self.opacity
            )));
        }
        Ok(())
    }

    fn build(self) -> FeatureCollision {
        FeatureCollision { params: self }
    }
}

/// Checked feature-collision attack.
#[derive(Debug, Clone)]
pub struct FeatureCollision {
    params: FeatureCollisionParams,
}

fn dataset_like(template: &Dataset, values: Vec<f32>, n: usize) -> Result<Dataset> {
    Ok(Dataset::new(
        template.modality().clone(),
        Features::Dense(values),
        vec![0; n],
        (0..n as u64).collect(),
        template.num_classes(),
        Vec::new(),
    )?)
}

fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum()
}

/// Feature-collision objective per poison: `||phi(x_i) - f||^2 + beta/2 ||x_i - b_i||^2`.
fn objectives(
    surrogate: &dyn Surrogate,
    template: &Dataset,
    x: &[f32],
    bases: &[f32],
    victim_features: &[f32],
    beta: f64,
) -> Result<Vec<f64>> {
    let per = template.modality().sample_len();
    let n = x.len() / per;
    let (phi, dim) = surrogate.embeddings(&dataset_like(template, x.to_vec(), n)?)?;
    Ok((0..n)
        .map(|i| {
            squared_distance(&phi[i * dim..(i + 1) * dim], victim_features)
                + 0.5
                    * beta
                    * squared_distance(&x[i * per..(i + 1) * per], &bases[i * per..(i + 1) * per])
        })
        .collect())
}

impl FeatureCollision {
    /// The victim: by id, or a seeded choice of a correctly classified victim of another class.
    fn victim(&self, victims: &Dataset, surrogate: &dyn Surrogate, seed: u64) -> Result<usize> {
        if let Some(id) = self.params.victim {
            let row = victims.ids().iter().position(|&i| i == id).ok_or_else(|| {
                AttackError::param(format!("victim id {id} is not in the victim set"))
            })?;
            if victims.labels()[row] == self.params.target {
                return Err(AttackError::param(format!(
                    "victim {id} already belongs to the target class {}",
                    self.params.target
                )));
            }
            return Ok(row);
        }
        let k = victims.num_classes();
        let proba = surrogate.predict_proba(victims)?;
        let correct = |r: usize| {
            let p = &proba[r * k..(r + 1) * k];
            let y = victims.labels()[r] as usize;
            p.iter().all(|&q| q <= p[y])
        };
        let candidates: Vec<usize> = (0..victims.len())
            .filter(|&r| victims.labels()[r] != self.params.target && correct(r))
            .collect();
        candidates
            .choose(&mut rng::stream(seed, rng::SELECT))
            .copied()
            .ok_or_else(|| {
                AttackError::incompatible(
                    "no victim outside the target class that the surrogate classifies correctly",
                )
            })
    }
}

impl Attack for FeatureCollision {
    fn name(&self) -> &'static str {
        "feature-collision"
    }
    fn taxonomy(&self) -> Taxonomy {
        Taxonomy::targeted()
    }
    fn requirements(&self) -> Requirements {
        Requirements {
            surrogate: true,
            victims: true,
        }
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn poison(&self, input: &AttackInput) -> Result<Poisoned> {
        let data = input.train;
        let p = &self.params;
        if matches!(data.modality(), Modality::Text { .. }) {
            return Err(AttackError::incompatible(
                "feature collision optimises dense inputs; text tokens are discrete",
            ));
        }
        check_class(data, p.target, "target")?;
        let victims = input.victims.ok_or_else(|| {
            AttackError::MissingInput("feature-collision needs a victim set (test split)".into())
        })?;
        if victims.modality() != data.modality() || victims.num_classes() != data.num_classes() {
            return Err(AttackError::incompatible(
                "the victim set does not match the training set's modality and classes",
            ));
        }
        let surrogate = input.require_surrogate(self.name())?;
        let victim_row = self.victim(victims, surrogate, input.seed)?;
        let victim_x = victims.dense_row(victim_row).unwrap_or_default().to_vec();
        let victim_set = victims.select(&[victim_row])?;
        let (victim_phi, dim) = surrogate.embeddings(&victim_set)?;

        let pool = rows_where(data, |y| y == p.target);
        let pool_name = format!("target class {}", p.target);
        let count = input.budget.resolve(pool.len(), &pool_name)?;
        let per = data.modality().sample_len();
        let mut edits = Edits::new(data);
        if count > 0 {
            // Bases: the target-class samples nearest to the victim in feature space.
            let (phi, _) = surrogate.embeddings(&data.select(&pool)?)?;
            let mut order: Vec<usize> = (0..pool.len()).collect();
            let dist: Vec<f64> = (0..pool.len())
                .map(|i| squared_distance(&phi[i * dim..(i + 1) * dim], &victim_phi))
                .collect();
            order.sort_by(|&a, &b| dist[a].total_cmp(&dist[b]).then(a.cmp(&b)));
            let base_rows: Vec<usize> = order[..count].iter().map(|&i| pool[i]).collect();

            let opacity = p.opacity;
            let mut bases: Vec<f32> = Vec::with_capacity(count * per);
            for &row in &base_rows {
                let b = data.dense_row(row).unwrap_or_default();
                bases.extend(
                    b.iter()
                        .zip(&victim_x)
                        .map(|(b, t)| (1.0 - opacity) * b + opacity * t),
                );
            }
            let beta = f64::from(p.beta) * (dim as f64 / per as f64).powi(2);
            let clip = matches!(data.modality(), Modality::Image { .. });
            let targets: Vec<f32> = victim_phi.repeat(count);
            let mut x = bases.clone();
            let mut lr = vec![f64::from(p.lr); count];
            let mut objective = objectives(surrogate, data, &x, &bases, &victim_phi, beta)?;
            for _ in 0..p.iterations {
                let grad = surrogate
                    .embedding_input_gradients(&dataset_like(data, x.clone(), count)?, &targets)?;
                if grad.len() != x.len() {
                    return Err(AttackError::Surrogate(format!(
                        "returned {} feature gradient values for {} inputs",
                        grad.len(),
                        x.len()
                    )));
                }
                let mut candidate = x.clone();
                for (i, &step) in lr.iter().enumerate() {
                    let prox = step * beta;
                    for j in i * per..(i + 1) * per {
                        // grad is of 0.5 ||.||^2; the paper's objective has no 1/2.
                        let forward = f64::from(x[j]) - step * 2.0 * f64::from(grad[j]);
                        let mut v = ((forward + prox * f64::from(bases[j])) / (1.0 + prox)) as f32;
                        if clip {
                            v = v.clamp(0.0, 1.0);
                        }
                        candidate[j] = v;
                    }
                }
                let new_objective =
                    objectives(surrogate, data, &candidate, &bases, &victim_phi, beta)?;
                for i in 0..count {
                    if new_objective[i] <= objective[i] {
                        x[i * per..(i + 1) * per]
                            .copy_from_slice(&candidate[i * per..(i + 1) * per]);
                        objective[i] = new_objective[i];
                        lr[i] *= 1.2;
                    } else {
                        lr[i] *= 0.5;
                    }
                }
            }
            for (i, &row) in base_rows.iter().enumerate() {
                let at = edits.append_copy(row)?;
                edits
                    .dense_row_mut(at)?
                    .copy_from_slice(&x[i * per..(i + 1) * per]);
            }
        }
        edits.finish(Record {
            attack: self.name(),
            parameters: self.parameters(),
            seed: input.seed,
            budget: BudgetRecord {
                requested: input.budget,
                pool: pool_name,
                pool_size: pool.len(),
                selected: count,
            },
            taxonomy: self.taxonomy(),
            goal: Goal::Instance {
                victim_id: victims.ids()[victim_row],
                victim_label: victims.labels()[victim_row],
                target: p.target,
                victim_features: victim_x,
            },
        })
    }
}

/// The registry entry (see [`crate::registry::ATTACKS`]).
pub const ENTRY: crate::registry::AttackEntry = crate::registry::AttackEntry {
    name: "feature-collision",
    role: mithridate_core::Role::DataAttack,
    modalities: &["image", "tabular"],
    summary: "poisons colliding with one victim in feature space, added with correct labels; rate of the target class; target (required), victim (test id), iterations (200), lr (0.01), beta (0.25), opacity (0.3)",
    paper: "Shafahi et al. 2018",
    taxonomy: crate::taxonomy::TARGETED,
    requires: &[mithridate_core::Requirement::Surrogate, mithridate_core::Requirement::Victims],
    provides: &[],
    build: |p| crate::registry::checked::<FeatureCollisionParams>("feature-collision", p),
};
