//! PoisonedRAG, black-box: the question followed by a false statement carrying the target
//! answer.
//!
//! Paper: Zou, Geng, Wang & Jia (2025), "PoisonedRAG: Knowledge Corruption Attacks to
//! Retrieval-Augmented Generation of Large Language Models" (USENIX Security). A poisoned
//! passage is `P = S + I`: `S` (the question) makes the retriever rank it high, `I` makes
//! the generator answer with the target answer. The paper has an LLM write `I`; here `I` is a
//! templated false statement: the question with its correct answer replaced by the target
//! answer (or "The answer to this is A."), wrapped in template `j mod 10`, so the `P`
//! passages of one target differ. Assumes the attacker can add passages and knows the
//! questions, not the retriever (black-box).
//!
//! ```
//! use mithridate_rag::attacks::AttackInput;
//! use mithridate_rag::corpus::{Corpus, Passage};
//! use mithridate_rag::targets::Target;
//! let corpus = Corpus::new("c", vec![Passage { id: "a".into(), text: "text".into() }])?;
//! let targets = [Target { question: "Unemployment fell to 4 percent.".into(),
//!     target_answer: "9".into(), correct_answer: Some("4".into()), passage_id: None }];
//! let attack = mithridate_rag::registry::build_attack("poisoned-rag", &serde_json::Value::Null)?;
//! let out = attack.poison(&AttackInput { corpus: &corpus, targets: &targets, per_target: 3, seed: 0, encoder: None })?;
//! assert_eq!(out.added.len(), 3);
//! for p in &out.added {
//!     assert!(p.text.starts_with("Unemployment fell to 4 percent. "));
//!     assert!(p.text.contains("Unemployment fell to 9 percent."));
//! }
//! assert_ne!(out.added[0].text, out.added[1].text);
//! # Ok::<(), mithridate_rag::RagError>(())
//! ```

use super::STATEMENT_TEMPLATES;
use super::{add_passages, false_statement, fill, AttackInput, Poisoning, RetrievalAttack};
use crate::registry::{checked_attack, AttackEntry};
use crate::{RagError, Result};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;

pub const ENTRY: AttackEntry = Entry {
    name: "poisoned-rag",
    role: Role::RetrievalAttack,
    modalities: &["text"],
    summary: "question + templated false statement with the target answer, P passages per target (black-box)",
    paper: "Zou et al. 2025 (PoisonedRAG)",
    taxonomy: crate::registry::RAG_POISONING,
    requires: &[],
    provides: &[],
    build: |p| checked_attack::<PoisonedRagParams>("poisoned-rag", p),
};

/// Parameters of [`PoisonedRag`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct PoisonedRagParams {
    /// Start each passage with the question (`S`); false: the statement alone (`I` only).
    pub prefix_question: bool,
}

impl Default for PoisonedRagParams {
    fn default() -> Self {
        PoisonedRagParams {
            prefix_question: true,
        }
    }
}

impl ParamGuard for PoisonedRagParams {
    type Checked = PoisonedRag;
    type Error = RagError;
    fn check_ref(&self) -> Result<()> {
        Ok(())
    }
    fn build(self) -> PoisonedRag {
        PoisonedRag { params: self }
    }
}

/// The checked attack.
#[derive(Debug, Clone)]
pub struct PoisonedRag {
    params: PoisonedRagParams,
}

impl PoisonedRag {
    /// The `j`-th poisoned passage for `target`.
    pub fn passage(&self, target: &crate::targets::Target, j: usize) -> String {
        let statement = fill(
            STATEMENT_TEMPLATES[j % STATEMENT_TEMPLATES.len()],
            &false_statement(target),
        );
        if self.params.prefix_question {
            format!("{} {statement}", target.question)
        } else {
            statement
        }
    }
}

impl RetrievalAttack for PoisonedRag {
    fn name(&self) -> &'static str {
        "poisoned-rag"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn poison(&self, input: &AttackInput) -> Result<Poisoning> {
        Ok(add_passages("poisoned-rag", input, |t, j| {
            self.passage(t, j)
        }))
    }
}
