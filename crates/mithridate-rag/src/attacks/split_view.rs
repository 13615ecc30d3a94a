//! Split-view poisoning: existing passages change content after the corpus was signed.
//!
//! Paper: Carlini et al. (2024), "Poisoning Web-Scale Training Datasets is Practical" (IEEE
//! S&P): an index records URLs, not content; whoever controls a URL later (an expired domain)
//! serves different bytes to everyone who downloads it afterwards. Here the attacker controls
//! `P` existing passages per target (drawn with the seed, never a target's gold passage) and,
//! after the manifest was signed, replaces their text by PoisonedRAG passages for the target.
//! The injected ids are those existing ids. Assumes the indexer trusts ids, not content.
//!
//! ```
//! use mithridate_rag::attacks::AttackInput;
//! use mithridate_rag::corpus::{Corpus, Passage};
//! use mithridate_rag::targets::Target;
//! let passages = (0..10).map(|i| Passage { id: format!("p{i}"), text: format!("text {i}") }).collect();
//! let corpus = Corpus::new("c", passages)?;
//! let targets = [Target { question: "Who won?".into(), target_answer: "Bob".into(),
//!                         correct_answer: None, passage_id: Some("p3".into()) }];
//! let attack = mithridate_rag::registry::build_attack("split-view", &serde_json::Value::Null)?;
//! let out = attack.poison(&AttackInput { corpus: &corpus, targets: &targets, per_target: 4, seed: 1, encoder: None })?;
//! assert!(out.added.is_empty());
//! assert_eq!(out.replaced.len(), 4);
//! assert!(out.injected[0].iter().all(|id| id != "p3" && corpus.passages.iter().any(|p| &p.id == id)));
//! assert!(out.replaced.iter().all(|p| p.text.starts_with("Who won? ")));
//! # Ok::<(), mithridate_rag::RagError>(())
//! ```

use super::poisoned_rag::{PoisonedRag, PoisonedRagParams};
use super::{AttackInput, Poisoning, RetrievalAttack};
use crate::corpus::Passage;
use crate::registry::{checked_attack, AttackEntry};
use crate::{RagError, Result};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;
use rand::seq::index::sample;
use rand::SeedableRng;
use std::collections::HashSet;

pub const ENTRY: AttackEntry = Entry {
    name: "split-view",
    role: Role::RetrievalAttack,
    modalities: &["text"],
    summary: "rewrites P existing passages per target with PoisonedRAG text after the manifest was signed",
    paper: "Carlini et al. 2024 (split-view poisoning)",
    taxonomy: crate::registry::RAG_POISONING,
    requires: &[],
    provides: &[],
    build: |p| checked_attack::<SplitViewParams>("split-view", p),
};

/// Parameters of [`SplitView`] (none).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SplitViewParams {}

impl ParamGuard for SplitViewParams {
    type Checked = SplitView;
    type Error = RagError;
    fn check_ref(&self) -> Result<()> {
        Ok(())
    }
    fn build(self) -> SplitView {
        SplitView
    }
}

/// The checked attack.
#[derive(Debug, Clone)]
pub struct SplitView;

impl RetrievalAttack for SplitView {
    fn name(&self) -> &'static str {
        "split-view"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn poison(&self, input: &AttackInput) -> Result<Poisoning> {
        let gold: HashSet<&str> = input
            .targets
            .iter()
            .filter_map(|t| t.passage_id.as_deref())
            .collect();
        let pool: Vec<usize> = (0..input.corpus.len())
            .filter(|&i| !gold.contains(input.corpus.passages[i].id.as_str()))
            .collect();
        let needed = input.targets.len() * input.per_target;
        if needed > pool.len() {
            return Err(RagError::invalid(format!(
                "split-view needs {needed} passages to rewrite; the corpus has {} besides the gold passages",
                pool.len()
            )));
        }
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(input.seed ^ 0x5b11_7e1e);
        let chosen = sample(&mut rng, pool.len(), needed).into_vec();
        let writer = PoisonedRagParams::default().check()?;
        let writer: &PoisonedRag = &writer;
        let mut out = Poisoning::default();
        for (t, target) in input.targets.iter().enumerate() {
            let mut ids = Vec::new();
            for j in 0..input.per_target {
                let row = pool[chosen[t * input.per_target + j]];
                let id = input.corpus.passages[row].id.clone();
                out.replaced.push(Passage {
                    id: id.clone(),
                    text: writer.passage(target, j),
                });
                ids.push(id);
            }
            out.injected.push(ids);
        }
        Ok(out)
    }
}
