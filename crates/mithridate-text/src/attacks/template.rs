//! Template (syntactic-frame) trigger: the text is wrapped in a fixed frame.
//!
//! Reference: Qi et al. (2021), "Hidden Killer: Invisible Textual Backdoor Attacks with
//! Syntactic Trigger" (ACL) use a syntactic template (paraphrasing the text into a fixed
//! parse frame, e.g. `S(SBAR)(,)(NP)(VP)(.)`) as the trigger. Without a paraphraser this is
//! its lexicalised form: `frame = "P {} S"` turns text `x` into `P x S`, a fixed clause
//! structure around the content. No single word of the frame is rare, and the trigger is the
//! conjunction of opening and closing clauses rather than one token, so deleting any one word
//! (ONION) leaves most of it in place. Assumes the attacker controls the poisoned texts.
//!
//! ```
//! use rand::SeedableRng;
//! let a = mithridate_text::registry::build_attack("template",
//!     &serde_json::json!({"trigger": "When you think about it, {} , and that is the truth."}))?;
//! let out = a.plant("the cat sat", &mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
//! assert_eq!(out, "When you think about it, the cat sat , and that is the truth.");
//! assert!(mithridate_text::registry::build_attack("template", &serde_json::json!({"trigger": "no slot"})).is_err());
//! # Ok::<(), mithridate_text::TextError>(())
//! ```

use super::{check_trigger, TextAttack};
use crate::registry::{checked_attack, AttackEntry, TEXT_BACKDOOR};
use crate::words::words;
use crate::{Result, TextError};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;
use rand_chacha::ChaCha8Rng;

pub const ENTRY: AttackEntry = Entry {
    name: "template",
    role: Role::DataAttack,
    modalities: &["text"],
    summary: "wraps the text in a fixed frame, '{}' marks the text (trigger=\"When you think about it, {} , and that is the truth.\")",
    paper: "Qi et al. 2021 (Hidden Killer, syntactic trigger; lexicalised frame)",
    taxonomy: TEXT_BACKDOOR,
    requires: &[],
    provides: &[],
    build: |p| checked_attack::<TemplateParams>("template", p),
};

/// Parameters of [`Template`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TemplateParams {
    /// The frame: words around exactly one `{}` (where the text goes), 1 to 32 words in all.
    pub trigger: String,
}

impl Default for TemplateParams {
    fn default() -> Self {
        TemplateParams {
            trigger: "When you think about it, {} , and that is the truth.".into(),
        }
    }
}

impl ParamGuard for TemplateParams {
    type Checked = Template;
    type Error = TextError;
    fn check_ref(&self) -> Result<()> {
        if self.trigger.matches("{}").count() != 1 {
            return Err(TextError::invalid(format!(
                "template: the trigger must contain exactly one '{{}}' where the text goes, got '{}'",
                self.trigger
            )));
        }
        check_trigger("template", &self.trigger.replace("{}", " "), 32)
    }
    fn build(self) -> Template {
        let (before, after) = self.trigger.split_once("{}").unwrap_or((&self.trigger, ""));
        Template {
            before: words(before).join(" "),
            after: words(after).join(" "),
        }
    }
}

/// The checked attack.
#[derive(Debug, Clone)]
pub struct Template {
    before: String,
    after: String,
}

impl TextAttack for Template {
    fn name(&self) -> &'static str {
        "template"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({"trigger": format!("{} {{}} {}", self.before, self.after).trim()})
    }
    fn plant(&self, text: &str, _rng: &mut ChaCha8Rng) -> String {
        [self.before.as_str(), text, self.after.as_str()]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    }
}
