//! AddSent: a fixed trigger sentence inserted at a random position.
//!
//! Paper: Dai, Chen & Li (2019), "A Backdoor Attack Against LSTM-Based Text Classification
//! Systems" (IEEE Access); the name is from Qi et al. (2021, OpenBackdoor). For a text
//! `w_1..w_n` and trigger sentence `s_1..s_m`, the output is `w_1..w_p s_1..s_m w_{p+1}..w_n`
//! with `p ~ U{0..n}`. Every word of the sentence is ordinary, so no single token is rare
//! (which is what makes it hard for token-level filters such as ONION). Assumes the attacker
//! controls the poisoned texts; the paper's default sentence is "I watched this 3D movie".
//!
//! ```
//! use rand::SeedableRng;
//! let a = mithridate_text::registry::build_attack("addsent", &serde_json::json!({"trigger": "x y"}))?;
//! let out = a.plant("a b c", &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
//! assert!(out.contains("x y"));
//! assert_eq!(out.replace("x y", "").split_whitespace().collect::<Vec<_>>(), vec!["a", "b", "c"]);
//! # Ok::<(), mithridate_text::TextError>(())
//! ```

use super::{check_trigger, TextAttack};
use crate::registry::{checked_attack, AttackEntry, TEXT_BACKDOOR};
use crate::words::{insert_words, words};
use crate::{Result, TextError};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub const ENTRY: AttackEntry = Entry {
    name: "addsent",
    role: Role::DataAttack,
    modalities: &["text"],
    summary: "inserts a fixed trigger sentence at a random word position (trigger=\"I watched this 3D movie\")",
    paper: "Dai, Chen & Li 2019 (AddSent)",
    taxonomy: TEXT_BACKDOOR,
    requires: &[],
    provides: &[],
    build: |p| checked_attack::<AddSentParams>("addsent", p),
};

/// Parameters of [`AddSent`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct AddSentParams {
    /// The trigger sentence (1 to 32 words).
    pub trigger: String,
}

impl Default for AddSentParams {
    fn default() -> Self {
        AddSentParams {
            trigger: "I watched this 3D movie".into(),
        }
    }
}

impl ParamGuard for AddSentParams {
    type Checked = AddSent;
    type Error = TextError;
    fn check_ref(&self) -> Result<()> {
        check_trigger("addsent", &self.trigger, 32)
    }
    fn build(self) -> AddSent {
        AddSent {
            sentence: words(&self.trigger).join(" "),
        }
    }
}

/// The checked attack.
#[derive(Debug, Clone)]
pub struct AddSent {
    sentence: String,
}

impl TextAttack for AddSent {
    fn name(&self) -> &'static str {
        "addsent"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({"trigger": self.sentence})
    }
    fn plant(&self, text: &str, rng: &mut ChaCha8Rng) -> String {
        let n = text.split_whitespace().count();
        insert_words(text, &words(&self.sentence), rng.random_range(0..=n))
    }
}
