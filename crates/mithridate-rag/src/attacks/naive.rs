//! Naive corpus poisoning: the target question itself, planted as a passage.
//!
//! Paper: the baseline of Zou et al. (2025), "PoisonedRAG: Knowledge Corruption Attacks to
//! Retrieval-Augmented Generation of Large Language Models" (USENIX Security), whose black-box
//! passage is `S + I` with `S` the question; here `I` is empty. Each of the `P` passages per
//! target is the question verbatim (`P` exact duplicates), so a query is its own best match
//! (cosine 1 for a deterministic encoder) but the passage carries no answer. Assumes the
//! attacker can add passages and knows the questions.
//!
//! ```
//! use mithridate_rag::attacks::AttackInput;
//! use mithridate_rag::corpus::{Corpus, Passage};
//! use mithridate_rag::targets::Target;
//! let corpus = Corpus::new("c", vec![Passage { id: "a".into(), text: "text".into() }])?;
//! let targets = [Target { question: "Who won?".into(), target_answer: "Bob".into(),
//!                         correct_answer: None, passage_id: None }];
//! let attack = mithridate_rag::registry::build_attack("naive", &serde_json::Value::Null)?;
//! let out = attack.poison(&AttackInput { corpus: &corpus, targets: &targets, per_target: 2, seed: 0, encoder: None })?;
//! assert_eq!(out.added.len(), 2);
//! assert!(out.added.iter().all(|p| p.text == "Who won?"));
//! assert_eq!(out.injected, vec![vec!["poison/naive/0/0".to_string(), "poison/naive/0/1".into()]]);
//! # Ok::<(), mithridate_rag::RagError>(())
//! ```

use super::{add_passages, AttackInput, Poisoning, RetrievalAttack};
use crate::registry::{checked_attack, AttackEntry};
use crate::{RagError, Result};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;

pub const ENTRY: AttackEntry = Entry {
    name: "naive",
    role: Role::RetrievalAttack,
    modalities: &["text"],
    summary: "plants the target question itself as P passages (no parameters)",
    paper: "Zou et al. 2025 (PoisonedRAG baseline)",
    taxonomy: crate::registry::RAG_POISONING,
    requires: &[],
    provides: &[],
    build: |p| checked_attack::<NaiveParams>("naive", p),
};

/// Parameters of [`Naive`] (none).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NaiveParams {}

impl ParamGuard for NaiveParams {
    type Checked = Naive;
    type Error = RagError;
    fn check_ref(&self) -> Result<()> {
        Ok(())
    }
    fn build(self) -> Naive {
        Naive
    }
}

/// The checked attack.
#[derive(Debug, Clone)]
pub struct Naive;

impl RetrievalAttack for Naive {
    fn name(&self) -> &'static str {
        "naive"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn poison(&self, input: &AttackInput) -> Result<Poisoning> {
        Ok(add_passages("naive", input, |t, _| t.question.clone()))
    }
}
