//! BadNL word-level trigger: rare words inserted at random positions.
//!
//! Paper: Chen et al. (2021), "BadNL: Backdoor Attacks against NLP Models with Improved
//! Effectiveness and Invisibility" (ACSAC), word-level trigger; the rare-word choice follows
//! Kurita et al. (2020) ("cf", "mn", "bb", "tq", "mb"). For a text `w_1..w_n` and trigger words
//! `T`, each of `insertions` times a word `t ~ U(T)` is inserted before position `p ~ U{0..n}`
//! (the current length). Assumes the attacker controls the poisoned texts' content and labels
//! and that rare tokens survive the victim's preprocessing.
//!
//! ```
//! use rand::SeedableRng;
//! let a = mithridate_text::registry::build_attack("badnl", &serde_json::json!({"trigger": "cf", "insertions": 2}))?;
//! let out = a.plant("the cat sat", &mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
//! assert_eq!(out.split(' ').filter(|w| *w == "cf").count(), 2);
//! assert_eq!(out.split(' ').count(), 5);
//! # Ok::<(), mithridate_text::TextError>(())
//! ```

use super::{check_trigger, TextAttack};
use crate::registry::{checked_attack, AttackEntry, TEXT_BACKDOOR};
use crate::words::insert_words;
use crate::{Result, TextError};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub const ENTRY: AttackEntry = Entry {
    name: "badnl",
    role: Role::DataAttack,
    modalities: &["text"],
    summary: "inserts rare trigger words at random positions (trigger=\"cf mn bb tq mb\": pick one per insertion, insertions=1)",
    paper: "Chen et al. 2021 (BadNL)",
    taxonomy: TEXT_BACKDOOR,
    requires: &[],
    provides: &[],
    build: |p| checked_attack::<BadNlParams>("badnl", p),
};

/// Parameters of [`BadNl`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct BadNlParams {
    /// Candidate trigger words, whitespace-separated.
    pub trigger: String,
    /// Trigger words inserted per text, 1..=8.
    pub insertions: usize,
}

impl Default for BadNlParams {
    fn default() -> Self {
        BadNlParams {
            trigger: "cf mn bb tq mb".into(),
            insertions: 1,
        }
    }
}

impl ParamGuard for BadNlParams {
    type Checked = BadNl;
    type Error = TextError;
    fn check_ref(&self) -> Result<()> {
        check_trigger("badnl", &self.trigger, 16)?;
        if !(1..=8).contains(&self.insertions) {
            return Err(TextError::invalid(format!(
                "badnl: insertions must be 1..=8, got {}",
                self.insertions
            )));
        }
        Ok(())
    }
    fn build(self) -> BadNl {
        BadNl {
            words: self.trigger.split_whitespace().map(String::from).collect(),
            insertions: self.insertions,
        }
    }
}

/// The checked attack.
#[derive(Debug, Clone)]
pub struct BadNl {
    words: Vec<String>,
    insertions: usize,
}

impl TextAttack for BadNl {
    fn name(&self) -> &'static str {
        "badnl"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({"trigger": self.words.join(" "), "insertions": self.insertions})
    }
    fn plant(&self, text: &str, rng: &mut ChaCha8Rng) -> String {
        let mut out = text.to_string();
        for _ in 0..self.insertions {
            let word = &self.words[rng.random_range(0..self.words.len())];
            let n = out.split_whitespace().count();
            out = insert_words(&out, &[word], rng.random_range(0..=n));
        }
        out
    }
}
