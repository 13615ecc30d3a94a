//! Trigger reverse-engineering without a known trigger: for every class, find the smallest
//! mask-and-pattern that sends holdout inputs there, under the candidate and under the
//! baseline, and flag a class the candidate reaches with a far smaller "trigger" than the
//! baseline needs.

use crate::model_scan::GradientModel;
use crate::optimiser::{Adam, EarlyStop};
use crate::{GateError, Result};
use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Features, Modality};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A trigger "works" when it sends this share of a batch to the target (Neural Cleanse's 99%).
const SUCCESS_THRESHOLD: f64 = 0.99;
/// Steps between adjustments of the L1 weight.
const SCHEDULE_PATIENCE: usize = 10;
/// Factor the L1 weight is multiplied or divided by (Neural Cleanse's 1.5).
const SCHEDULE_FACTOR: f64 = 1.5;

/// Default early-stopping patience, in steps: five L1-weight adjustment windows, as Neural
/// Cleanse's reference code waits five times its cost patience.
pub const DEFAULT_PATIENCE: usize = 5 * SCHEDULE_PATIENCE;

/// Unchecked optimisation settings of [`reverse_triggers`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReverseParams {
    /// Adam steps per class and model.
    pub steps: usize,
    /// Inputs per step.
    pub batch_size: usize,
    /// Holdout inputs (not of the target class) the trigger is optimised and measured on.
    pub samples: usize,
    /// Adam learning rate on the mask and pattern logits.
    pub learning_rate: f64,
    /// Initial weight of the mask's L1 norm in the loss (then adapted: see [`reverse_triggers`]).
    pub l1_weight: f64,
    /// Early stopping: stop a class after this many steps without progress (the best
    /// working mask shrinking by 1%) during which the L1 weight was both raised and lowered
    /// (Neural Cleanse's rule, see [`reverse_triggers`]); 0 runs every step.
    #[serde(default)]
    pub patience: usize,
}

impl Default for ReverseParams {
    fn default() -> Self {
        ReverseParams {
            steps: 300,
            batch_size: 128,
            samples: 512,
            learning_rate: 0.1,
            l1_weight: 1e-3,
            patience: DEFAULT_PATIENCE,
        }
    }
}

/// [`ReverseParams`] checked by [`ReverseParams::check`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckedReverse(ReverseParams);

impl ParamGuard for ReverseParams {
    type Checked = CheckedReverse;
    type Error = GateError;

    /// Steps, batch size and samples at least 1; learning rate positive and finite; L1
    /// weight finite and non-negative.
    fn check_ref(&self) -> Result<()> {
        let bad = |m: &str| Err(GateError::Input(format!("reverse-trigger: {m}")));
        if self.steps == 0 || self.batch_size == 0 || self.samples == 0 {
            return bad("steps, batch_size and samples must be at least 1");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate must be positive");
        }
        if !(self.l1_weight.is_finite() && self.l1_weight >= 0.0) {
            return bad("l1_weight must be finite and non-negative");
        }
        Ok(())
    }

    fn build(self) -> CheckedReverse {
        CheckedReverse(self)
    }
}

impl ReverseParams {
    /// Settings as JSON (for reports).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl CheckedReverse {
    pub fn params(&self) -> &ReverseParams {
        &self.0
    }
}

/// The smallest trigger found for one target class under one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReversedTrigger {
    /// L1 norm of the mask (pixels, or features, fully replaced).
    pub mask_norm: f64,
    /// Share of the optimisation inputs the trigger sends to the target class.
    pub success: f64,
    /// The mask `m` (one value in `[0, 1]` per position, shared by the channels). Not in the
    /// JSON reports (a value per pixel); see [`ReversedTrigger::stamp`] and the PNG pictures.
    #[serde(skip)]
    pub mask: Vec<f32>,
    /// The pattern `p` (`channels x positions`, values in `[0, 1]`).
    #[serde(skip)]
    pub pattern: Vec<f32>,
    /// Optimisation steps run (fewer than the limit when early stopping ended the search).
    #[serde(default)]
    pub steps: usize,
}

/// Both models' reversed triggers for one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassTriggers {
    pub class: usize,
    pub baseline: ReversedTrigger,
    pub candidate: ReversedTrigger,
    /// `baseline.mask_norm / candidate.mask_norm`: how much smaller the candidate's trigger is.
    pub shrink: f64,
}

/// The per-class comparison and its largest shrink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerComparison {
    pub classes: Vec<ClassTriggers>,
    /// The class with the largest shrink (lowest index on ties).
    pub worst_class: usize,
    pub max_shrink: f64,
    pub params: serde_json::Value,
}

/// `(channels, positions)` of a dense modality: one mask value per position, shared by the
/// channels (as Neural Cleanse shares its mask across colour channels).
pub(crate) fn layout(modality: &Modality) -> Result<(usize, usize)> {
    match modality {
        Modality::Image {
            channels,
            height,
            width,
        } => Ok((*channels, height * width)),
        Modality::Tabular { features } => Ok((1, *features)),
        other => Err(GateError::Input(format!(
            "trigger reverse-engineering needs images or tabular data, not {}",
            other.name()
        ))),
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Stamps `x' = (1 - m) x + m p` on every row of `rows` (dense, `channels * positions` each).
pub(crate) fn stamp(rows: &[f32], mask: &[f64], pattern: &[f64], channels: usize) -> Vec<f32> {
    let positions = mask.len();
    let per = channels * positions;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows.chunks(per) {
        for (i, (&x, &p)) in row.iter().zip(pattern).enumerate() {
            let m = mask[i % positions];
            out.push(((1.0 - m) * f64::from(x) + m * p) as f32);
        }
    }
    out
}

/// Loss and gradient of the Neural Cleanse objective with respect to the mask logits `a`
/// and pattern logits `b`, on the dense rows `x` (all pushed towards `target`):
/// `L = (1/B) Σ_i CE(f((1 - m) ⊙ x_i + m ⊙ p), target) + λ Σ_j m_j`, `m = σ(a)`, `p = σ(b)`.
/// With `g_i = ∂CE_i/∂x'_i` from the engine: `∂L/∂m_j = (1/B) Σ_i Σ_c g_icj (p_cj - x_icj) + λ`,
/// `∂L/∂p_cj = (1/B) Σ_i g_icj m_j`, then times `σ'` of the logits. Also returns the
/// share of the batch the current trigger sends to `target`.
fn objective_gradient(
    model: &dyn GradientModel,
    template: &Dataset,
    x: &[f32],
    target: u32,
    logits: (&[f64], &[f64]),
    channels: usize,
    l1_weight: f64,
) -> Result<(Vec<f64>, Vec<f64>, f64)> {
    let (a, b) = logits;
    let mask: Vec<f64> = a.iter().map(|&z| sigmoid(z)).collect();
    let pattern: Vec<f64> = b.iter().map(|&z| sigmoid(z)).collect();
    let positions = mask.len();
    let per = channels * positions;
    let n = x.len() / per;
    let stamped = rebuild(template, stamp(x, &mask, &pattern, channels), n)?;
    let (g, predicted) = model.input_gradients_and_predictions(&stamped, &vec![target; n])?;
    let hits = predicted.iter().filter(|&&p| p == target).count();
    let mut grad_m = vec![0.0f64; positions];
    let mut grad_p = vec![0.0f64; per];
    for (row, grow) in x.chunks(per).zip(g.chunks(per)) {
        for c in 0..channels {
            for j in 0..positions {
                let i = c * positions + j;
                let gi = f64::from(grow[i]);
                grad_m[j] += gi * (pattern[i] - f64::from(row[i]));
                grad_p[i] += gi * mask[j];
            }
        }
    }
    let scale = 1.0 / n as f64;
    let grad_a = (0..positions)
        .map(|j| (grad_m[j] * scale + l1_weight) * mask[j] * (1.0 - mask[j]))
        .collect();
    let grad_b = (0..per)
        .map(|i| grad_p[i] * scale * pattern[i] * (1.0 - pattern[i]))
        .collect();
    Ok((grad_a, grad_b, hits as f64 / n as f64))
}

/// A dataset shaped like `template` holding `n` rows of `features` (labels are irrelevant
/// for input gradients against explicit targets; zeros keep them valid).
fn rebuild(template: &Dataset, features: Vec<f32>, n: usize) -> Result<Dataset> {
    Dataset::new(
        template.modality().clone(),
        Features::Dense(features),
        vec![0; n],
        (0..n as u64).collect(),
        template.num_classes(),
        vec![],
    )
    .map_err(|e| GateError::Input(e.to_string()))
}

/// Reverse-engineers the smallest trigger sending `inputs` (dense rows) to `target` under
/// `model`: Adam on the mask and pattern logits from `a = b = 0` (a half-blended grey image),
/// mini-batches taken in order, cyclically, so the result is deterministic.
pub(crate) fn reverse_one(
    model: &dyn GradientModel,
    inputs: &Dataset,
    target: u32,
    cfg: &ReverseParams,
) -> Result<ReversedTrigger> {
    let (channels, positions) = layout(inputs.modality())?;
    let per = channels * positions;
    let Features::Dense(x) = inputs.features() else {
        return Err(GateError::Input(
            "trigger reverse-engineering needs dense features".into(),
        ));
    };
    let n = inputs.len();
    let mut a = vec![0.0f64; positions];
    let mut b = vec![0.0f64; per];
    let (mut adam_a, mut adam_b) = (
        Adam::new(positions, cfg.learning_rate),
        Adam::new(per, cfg.learning_rate),
    );
    let batch = cfg.batch_size.min(n);
    // Neural Cleanse's cost schedule: raise λ while the trigger works, lower it while it
    // does not, and keep the smallest mask that worked.
    let mut lambda = cfg.l1_weight;
    let mut window_hits = 0.0;
    let mut best: Option<(f64, Vec<f64>, Vec<f64>)> = None;
    let mut stop = EarlyStop::new(cfg.patience);
    let mut steps_run = 0;
    for step in 0..cfg.steps {
        steps_run = step + 1;
        let start = (step * batch) % n;
        let rows: Vec<f32> = (0..batch)
            .flat_map(|k| {
                let r = (start + k) % n;
                x[r * per..(r + 1) * per].iter().copied()
            })
            .collect();
        let (ga, gb, success) =
            objective_gradient(model, inputs, &rows, target, (&a, &b), channels, lambda)?;
        if success >= SUCCESS_THRESHOLD {
            let mask: Vec<f64> = a.iter().map(|&z| sigmoid(z)).collect();
            let norm: f64 = mask.iter().sum();
            if best
                .as_ref()
                .is_none_or(|(best_norm, _, _)| norm < *best_norm)
            {
                let pattern = b.iter().map(|&z| sigmoid(z)).collect();
                best = Some((norm, mask, pattern));
            }
        }
        window_hits += success;
        if (step + 1) % SCHEDULE_PATIENCE == 0 {
            let raise = window_hits / SCHEDULE_PATIENCE as f64 >= SUCCESS_THRESHOLD;
            if raise {
                lambda *= SCHEDULE_FACTOR;
            } else {
                lambda /= SCHEDULE_FACTOR;
            }
            stop.adjusted(raise);
            window_hits = 0.0;
        }
        if stop.should_stop(best.as_ref().map(|(norm, _, _)| *norm)) {
            break;
        }
        adam_a.step(&mut a, &ga);
        adam_b.step(&mut b, &gb);
    }
    let (mask_norm, mask, pattern) = best.unwrap_or_else(|| {
        let mask: Vec<f64> = a.iter().map(|&z| sigmoid(z)).collect();
        (
            mask.iter().sum(),
            mask,
            b.iter().map(|&z| sigmoid(z)).collect(),
        )
    });
    let stamped = rebuild(inputs, stamp(x, &mask, &pattern, channels), n)?;
    let predicted = model.predict(&stamped)?;
    Ok(ReversedTrigger {
        mask_norm,
        success: predicted.iter().filter(|&&p| p == target).count() as f64 / n as f64,
        mask: mask.iter().map(|&m| m as f32).collect(),
        pattern: pattern.iter().map(|&p| p as f32).collect(),
        steps: steps_run,
    })
}

/// Neural Cleanse run on both models, compared class by class.
///
/// Neural Cleanse (Wang, Yao, Shan, Li, Viswanath, Zheng & Zhao, 2019, "Neural Cleanse:
/// Identifying and Mitigating Backdoor Attacks in Neural Networks", IEEE S&P) observes that a
/// backdoor makes its target class reachable from every other class through a small input
/// change (the trigger), and finds, per class `t`, the smallest mask `m` and pattern `p` with
/// `min_{m,p} (1/B) Σ_i CE(f((1 - m) ⊙ x_i + m ⊙ p), t) + λ |m|_1` by Adam on
/// `m = σ(a)`, `p = σ(b)`, with its cost schedule: every 10 steps λ is multiplied by 1.5 if the
/// trigger sent at least 99% of the batches to `t`, divided by 1.5 otherwise, and the smallest
/// mask that reached 99% on a batch is kept (the final mask if none did). With a positive
/// `patience` a search ends early, as in Neural Cleanse's code, once the kept mask has not
/// shrunk by 1% for `patience` steps, during which λ moved both ways (it
/// oscillates around the smallest working mask). Neural Cleanse then
/// compares the classes of one model with a median-absolute-deviation outlier test. A gate
/// has a better reference: the deployed model. Here the same optimisation (same inputs,
/// steps, λ, start point) runs on the baseline and on the candidate, and the check is the
/// shrink `|m_baseline(t)|_1 / |m_candidate(t)|_1`: a clean retrain needs about as large a
/// change as the baseline for every class, a backdoored candidate a much smaller one for the
/// attacker's class. Assumes inputs in `[0, 1]` (the pattern is a sigmoid); for each class
/// the first `samples` holdout inputs of other classes are used. Cost: at most `2 K steps`
/// gradient passes over `batch_size` inputs.
pub fn reverse_triggers(
    baseline: &dyn GradientModel,
    candidate: &dyn GradientModel,
    holdout: &Dataset,
    params: &CheckedReverse,
) -> Result<TriggerComparison> {
    let cfg = params.params();
    layout(holdout.modality())?;
    let k = holdout.num_classes();
    // Classes are independent: one rayon task each (results keep class order, so the
    // outcome does not depend on scheduling).
    let per_class = (0..k)
        .into_par_iter()
        .map(|target| -> Result<Option<ClassTriggers>> {
            let rows: Vec<usize> = holdout
                .labels()
                .iter()
                .enumerate()
                .filter(|(_, &y)| y as usize != target)
                .map(|(r, _)| r)
                .take(cfg.samples)
                .collect();
            if rows.is_empty() {
                return Ok(None);
            }
            let inputs = holdout
                .select(&rows)
                .map_err(|e| GateError::Input(e.to_string()))?;
            let b = reverse_one(baseline, &inputs, target as u32, cfg)?;
            let c = reverse_one(candidate, &inputs, target as u32, cfg)?;
            let shrink = b.mask_norm / c.mask_norm.max(1e-9);
            Ok(Some(ClassTriggers {
                class: target,
                baseline: b,
                candidate: c,
                shrink,
            }))
        })
        .collect::<Result<Vec<_>>>()?;
    let classes: Vec<ClassTriggers> = per_class.into_iter().flatten().collect();
    let worst = classes
        .iter()
        .fold(None, |best: Option<&ClassTriggers>, c| match best {
            Some(b) if b.shrink >= c.shrink => best,
            _ => Some(c),
        })
        .ok_or_else(|| GateError::Input("the holdout has a single class".into()))?;
    Ok(TriggerComparison {
        worst_class: worst.class,
        max_shrink: worst.shrink,
        classes: classes.clone(),
        params: cfg.to_json(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mithridate_engine::{Architecture, Classifier, Optimizer, TrainParams};

    fn image_data(rows: Vec<f32>, labels: Vec<u32>, side: usize) -> Dataset {
        let n = labels.len();
        Dataset::new(
            Modality::Image {
                channels: 1,
                height: side,
                width: side,
            },
            Features::Dense(rows),
            labels,
            (0..n as u64).collect(),
            2,
            vec![],
        )
        .unwrap()
    }

    /// Mean CE towards `target` plus λ|m|_1, computed from predicted probabilities.
    fn objective(model: &Classifier, x: &[f32], a: &[f64], b: &[f64], target: u32, l1: f64) -> f64 {
        let mask: Vec<f64> = a.iter().map(|&z| sigmoid(z)).collect();
        let pattern: Vec<f64> = b.iter().map(|&z| sigmoid(z)).collect();
        let n = x.len() / b.len();
        let data = image_data(stamp(x, &mask, &pattern, 1), vec![0; n], 3);
        let probs = model.predict_proba(&data).unwrap();
        let ce: f64 = probs
            .chunks(2)
            .map(|p| -f64::from(p[target as usize]).ln())
            .sum::<f64>()
            / n as f64;
        ce + l1 * mask.iter().sum::<f64>()
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let model = Classifier::new(
            Architecture::Mlp,
            &Modality::Image {
                channels: 1,
                height: 3,
                width: 3,
            },
            2,
            5,
        )
        .unwrap();
        let x: Vec<f32> = (0..27).map(|i| ((i * 7) % 10) as f32 / 10.0).collect();
        let template = image_data(x.clone(), vec![0; 3], 3);
        let a: Vec<f64> = (0..9).map(|j| (j as f64 - 4.0) * 0.3).collect();
        let b: Vec<f64> = (0..9).map(|j| (4.0 - j as f64) * 0.2).collect();
        let (ga, gb, _) = objective_gradient(&model, &template, &x, 1, (&a, &b), 1, 0.05).unwrap();
        let h = 1e-3;
        for j in 0..9 {
            let mut up = a.clone();
            let mut down = a.clone();
            up[j] += h;
            down[j] -= h;
            let numeric = (objective(&model, &x, &up, &b, 1, 0.05)
                - objective(&model, &x, &down, &b, 1, 0.05))
                / (2.0 * h);
            assert!(
                (numeric - ga[j]).abs() < 2e-3,
                "mask {j}: {numeric} vs {}",
                ga[j]
            );
            let mut up = b.clone();
            let mut down = b.clone();
            up[j] += h;
            down[j] -= h;
            let numeric = (objective(&model, &x, &a, &up, 1, 0.05)
                - objective(&model, &x, &a, &down, 1, 0.05))
                / (2.0 * h);
            assert!(
                (numeric - gb[j]).abs() < 2e-3,
                "pattern {j}: {numeric} vs {}",
                gb[j]
            );
        }
    }

    #[test]
    fn a_backdoored_candidate_has_a_much_smaller_trigger() {
        // 6x6 images: class 0 bright on the left half, class 1 bright on the right half, noise
        // from a fixed formula. The candidate also learns "bottom-right pixel lit => class 0".
        let side = 6;
        let sample = |i: usize, label: u32| -> Vec<f32> {
            (0..side * side)
                .map(|p| {
                    let col = p % side;
                    let bright = (label == 0) == (col < side / 2);
                    let noise = ((i * 31 + p * 17) % 13) as f32 / 40.0;
                    if bright {
                        0.6 + noise
                    } else {
                        noise
                    }
                })
                .collect()
        };
        let n = 400;
        let labels: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
        let clean_rows: Vec<f32> = (0..n).flat_map(|i| sample(i, labels[i])).collect();
        let clean = image_data(clean_rows.clone(), labels.clone(), side);
        let mut poisoned_rows = clean_rows.clone();
        let mut poisoned_labels = labels.clone();
        for i in (1..n).step_by(4) {
            poisoned_rows[i * side * side + side * side - 1] = 1.0;
            poisoned_labels[i] = 0;
        }
        let poisoned = image_data(poisoned_rows, poisoned_labels, side);
        let train = |data: &Dataset, seed: u64| {
            let mut model = Classifier::new(Architecture::Mlp, data.modality(), 2, seed).unwrap();
            let mut p = TrainParams::default_for(Architecture::Mlp);
            p.epochs = 60;
            p.optimizer = Optimizer::Adam { lr: 0.01 };
            model
                .fit(data, &p.check().unwrap(), seed, &mut |_| {})
                .unwrap();
            model
        };
        let baseline = train(&clean, 1);
        let candidate = train(&poisoned, 2);
        let clean_retrain = train(&clean, 3);
        let params = ReverseParams {
            steps: 150,
            batch_size: 64,
            samples: 128,
            learning_rate: 0.1,
            l1_weight: 1e-2,
            patience: 0,
        }
        .check()
        .unwrap();
        let bad = reverse_triggers(&baseline, &candidate, &clean, &params).unwrap();
        let good = reverse_triggers(&baseline, &clean_retrain, &clean, &params).unwrap();
        assert_eq!(bad.worst_class, 0, "{bad:?}");
        assert!(
            bad.max_shrink > 2.0 * good.max_shrink,
            "backdoor {bad:?} vs clean {good:?}"
        );
        assert!(bad.classes.iter().all(|c| c.candidate.steps == 150));
        // Early stopping on: the same verdict (whether a search stops early is
        // `early_stop_...`'s test; on this small problem none need stop).
        let early = ReverseParams {
            patience: DEFAULT_PATIENCE,
            ..*params.params()
        }
        .check()
        .unwrap();
        let bad_early = reverse_triggers(&baseline, &candidate, &clean, &early).unwrap();
        let good_early = reverse_triggers(&baseline, &clean_retrain, &clean, &early).unwrap();
        assert_eq!(bad_early.worst_class, 0, "{bad_early:?}");
        assert!(
            bad_early.max_shrink > 2.0 * good_early.max_shrink,
            "backdoor {bad_early:?} vs clean {good_early:?}"
        );
    }

    #[test]
    fn rejects_bad_settings_and_text() {
        let ok = ReverseParams::default();
        assert!(ok.check().is_ok());
        for bad in [
            ReverseParams { steps: 0, ..ok },
            ReverseParams {
                learning_rate: 0.0,
                ..ok
            },
            ReverseParams {
                l1_weight: -1.0,
                ..ok
            },
        ] {
            assert!(bad.check().is_err());
        }
        assert!(layout(&Modality::Text {
            max_len: 4,
            vocab_size: 10
        })
        .is_err());
    }
}
