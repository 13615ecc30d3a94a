//! Measuring an attack on a trained model: clean accuracy plus the goal-specific rate —
//! attack success rate (ASR) for backdoors, targeted misclassification rate for
//! source->target flips, and whether the one victim is hit for instance attacks.

use crate::trigger::apply_trigger;
use crate::truth::{Goal, GroundTruth};
use crate::{AttackError, Result};
use mithridate_data::{Dataset, Features};

/// What a model trained on a poisoned set does.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Assessment {
    /// Accuracy on the clean test set.
    pub clean_accuracy: f64,
    pub test_samples: usize,
    /// Backdoors: share of triggered test inputs whose true class is not the attacker's
    /// class for them that the model classifies as that class.
    pub attack_success_rate: Option<f64>,
    /// Test inputs the ASR is measured on.
    pub asr_samples: usize,
    /// Source->target flips: share of source-class test inputs classified as the target.
    pub targeted_misclassification: Option<f64>,
    /// Instance attacks: the victim's predicted class, and whether it is the target.
    pub victim_prediction: Option<u32>,
    pub victim_hit: Option<bool>,
}

impl Assessment {
    /// The goal-specific success rate: ASR, targeted misclassification rate or victim hit (0/1).
    pub fn success_rate(&self) -> Option<f64> {
        self.attack_success_rate
            .or(self.targeted_misclassification)
            .or(self.victim_hit.map(|h| f64::from(u8::from(h))))
    }
}

fn share(hits: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        hits as f64 / total as f64
    }
}

/// Measures `truth`'s goal for a model, given as its prediction function, on the clean
/// `test` set (same modality and classes as the poisoned set).
///
/// ```
/// use mithridate_attack::{assess, registry, AttackInput, Budget};
/// use mithridate_data::{Dataset, Features, Modality};
/// let data = Dataset::new(Modality::Tabular { features: 1 }, Features::Dense(vec![0.0, 1.0, 2.0]),
///                         vec![0, 1, 1], vec![0, 1, 2], 2, vec![])?;
/// let poisoned = registry::build("tabular-trigger", &serde_json::json!({"target": 0, "features": [0]}))?
///     .poison(&AttackInput::new(&data, Budget::Count(1), 0))?;
/// // A perfectly backdoored "model": class 0 iff the feature is the trigger value 4.
/// let model = |d: &Dataset| Ok((0..d.len()).map(|r| if d.dense_row(r).unwrap()[0] == 4.0 { 0 } else { r.min(1) as u32 }).collect());
/// let a = assess(&poisoned.truth, &data, model)?;
/// assert_eq!(a.attack_success_rate, Some(1.0));
/// assert_eq!(a.asr_samples, 2);
/// # Ok::<(), mithridate_attack::AttackError>(())
/// ```
pub fn assess(
    truth: &GroundTruth,
    test: &Dataset,
    predict: impl Fn(&Dataset) -> Result<Vec<u32>>,
) -> Result<Assessment> {
    if test.is_empty() {
        return Err(AttackError::incompatible("the test set is empty"));
    }
    if test.modality() != &truth.modality || test.num_classes() != truth.num_classes {
        return Err(AttackError::incompatible(format!(
            "the test set ({} data, {} classes) does not match the poisoned set ({} data, {} classes)",
            test.modality().name(),
            test.num_classes(),
            truth.modality.name(),
            truth.num_classes
        )));
    }
    let checked = |d: &Dataset| -> Result<Vec<u32>> {
        let p = predict(d)?;
        if p.len() != d.len() {
            return Err(AttackError::Model(format!(
                "{} predictions for {} samples",
                p.len(),
                d.len()
            )));
        }
        Ok(p)
    };
    let pred = checked(test)?;
    let correct = pred
        .iter()
        .zip(test.labels())
        .filter(|(p, y)| p == y)
        .count();
    let mut out = Assessment {
        clean_accuracy: share(correct, test.len()),
        test_samples: test.len(),
        attack_success_rate: None,
        asr_samples: 0,
        targeted_misclassification: None,
        victim_prediction: None,
        victim_hit: None,
    };
    let k = test.num_classes();
    match &truth.goal {
        Goal::Availability => {}
        Goal::Backdoor { trigger, mapping } => {
            let rows: Vec<usize> = (0..test.len())
                .filter(|&r| mapping.target_for(test.labels()[r], k).is_some())
                .collect();
            if rows.is_empty() {
                // Every test input already has the attacker's class: nothing to measure.
                return Ok(out);
            }
            let triggered = apply_trigger(trigger, &test.select(&rows)?)?;
            let pred = checked(&triggered)?;
            let hits = pred
                .iter()
                .zip(triggered.labels())
                .filter(|(&p, &y)| mapping.target_for(y, k) == Some(p))
                .count();
            out.attack_success_rate = Some(share(hits, rows.len()));
            out.asr_samples = rows.len();
        }
        Goal::TargetedMisclassification { source, target } => {
            let (mut hits, mut total) = (0, 0);
            for (p, y) in pred.iter().zip(test.labels()) {
                if y == source {
                    total += 1;
                    hits += usize::from(p == target);
                }
            }
            out.targeted_misclassification = Some(share(hits, total));
        }
        Goal::Instance {
            victim_id,
            victim_label,
            target,
            victim_features,
        } => {
            let victim = Dataset::new(
                truth.modality.clone(),
                Features::Dense(victim_features.clone()),
                vec![*victim_label],
                vec![*victim_id],
                truth.num_classes,
                Vec::new(),
            )?;
            let p = checked(&victim)?[0];
            out.victim_prediction = Some(p);
            out.victim_hit = Some(p == *target);
        }
    }
    Ok(out)
}
