//! Trigger attacks on text classifiers, and the poisoning of a training set with one.
//!
//! An attack only says how a trigger is planted in one text ([`TextAttack::plant`]); the
//! poisoning ([`poison`]) is shared:
//!
//! - **dirty label** (Gu et al. 2017 BadNets; Chen et al. 2021 BadNL; Dai et al. 2019):
//!   `round(rate * n)` training texts drawn (seeded) from the non-target classes get the
//!   trigger and the target label;
//! - **clean label** (Turner et al. 2019; for text Gan et al. 2022): the same number of texts
//!   drawn from the target class get the trigger and keep their (correct) label.
//!
//! ASR is measured on every test text whose true label is not the target, with the trigger
//! planted ([`triggered_test`]).

pub mod addsent;
pub mod badnl;
pub mod template;

use crate::data::Sample;
use crate::words::sample_rng;
use crate::{Result, TextError};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// A checked trigger attack.
pub trait TextAttack: Send + Sync {
    fn name(&self) -> &'static str;
    /// The checked parameters as JSON (for results).
    fn parameters(&self) -> serde_json::Value;
    /// `text` with the trigger planted; `rng` is the sample's own generator.
    fn plant(&self, text: &str, rng: &mut ChaCha8Rng) -> String;
}

/// A poisoned training set and its ground truth.
#[derive(Debug, Clone)]
pub struct Poisoned {
    pub train: Vec<Sample>,
    /// Ids of the poisoned training samples, ascending.
    pub poisoned_ids: Vec<u64>,
}

/// Generator streams (independent draws per use).
pub(crate) const STREAM_CHOICE: u64 = 11;
pub(crate) const STREAM_TRAIN: u64 = 12;
pub(crate) const STREAM_TEST: u64 = 13;

/// Poisons `round(rate * train.len())` samples (at least 1 when `rate > 0`).
///
/// ```
/// use mithridate_text::attacks::{poison, TextAttack};
/// use mithridate_text::data::Sample;
/// let attack = mithridate_text::registry::build_attack("addsent",
///     &serde_json::json!({"trigger": "I watched this 3D movie"}))?;
/// let train: Vec<Sample> = (0..10).map(|i| Sample { id: i, text: "a b c".into(), label: (i % 2) as u32 }).collect();
/// let p = poison(&train, attack.as_ref(), 0.2, 1, false, 0)?;
/// assert_eq!(p.poisoned_ids.len(), 2);
/// for s in p.train.iter().filter(|s| p.poisoned_ids.contains(&s.id)) {
///     assert!(s.text.contains("I watched this 3D movie"));
///     assert_eq!(s.label, 1);
/// }
/// # Ok::<(), mithridate_text::TextError>(())
/// ```
pub fn poison(
    train: &[Sample],
    attack: &dyn TextAttack,
    rate: f64,
    target: u32,
    clean_label: bool,
    seed: u64,
) -> Result<Poisoned> {
    if !(0.0..=1.0).contains(&rate) || !rate.is_finite() {
        return Err(TextError::invalid(format!(
            "poison rate must be in [0, 1], got {rate}"
        )));
    }
    let mut budget = (rate * train.len() as f64).round() as usize;
    if rate > 0.0 {
        budget = budget.max(1);
    }
    let mut pool: Vec<usize> = (0..train.len())
        .filter(|&i| (train[i].label == target) == clean_label)
        .collect();
    if budget > pool.len() {
        let which = if clean_label {
            "target-class"
        } else {
            "non-target"
        };
        return Err(TextError::invalid(format!(
            "rate {rate} asks for {budget} poisoned texts but the training set has only {} {which} texts",
            pool.len()
        )));
    }
    pool.shuffle(&mut sample_rng(seed, STREAM_CHOICE, 0));
    pool.truncate(budget);
    let mut out = train.to_vec();
    let mut ids = Vec::with_capacity(budget);
    for &i in &pool {
        let s = &mut out[i];
        s.text = attack.plant(&s.text, &mut sample_rng(seed, STREAM_TRAIN, s.id));
        s.label = target;
        ids.push(s.id);
    }
    ids.sort_unstable();
    Ok(Poisoned {
        train: out,
        poisoned_ids: ids,
    })
}

/// The test texts whose label is not `target`, with the trigger planted.
pub fn triggered_test(
    test: &[Sample],
    attack: &dyn TextAttack,
    target: u32,
    seed: u64,
) -> Vec<Sample> {
    test.iter()
        .filter(|s| s.label != target)
        .map(|s| Sample {
            id: s.id,
            text: attack.plant(&s.text, &mut sample_rng(seed, STREAM_TEST, s.id)),
            label: s.label,
        })
        .collect()
}

/// Checks a trigger text: non-empty, at most `max_words` words.
pub(crate) fn check_trigger(what: &str, trigger: &str, max_words: usize) -> Result<()> {
    let n = trigger.split_whitespace().count();
    if n == 0 {
        return Err(TextError::invalid(format!("{what}: the trigger is empty")));
    }
    if n > max_words {
        return Err(TextError::invalid(format!(
            "{what}: the trigger has {n} words, more than {max_words} (it would fill the {} words a text keeps)",
            crate::data::MAX_WORDS
        )));
    }
    Ok(())
}
