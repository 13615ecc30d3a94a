//! Perplexity filtering of the corpus with a bigram model of the corpus itself.
//!
//! Papers: Jain et al. (2023), "Baseline Defenses for Adversarial Attacks Against Aligned
//! Language Models" and Alon & Kamfonas (2023), "Detecting Language Model Attacks with
//! Perplexity"; evaluated against PoisonedRAG by Zou et al. (2025). A bigram model
//! ([`crate::lm::BigramLm`]) is trained on every passage offered for indexing; each passage
//! is scored leave-one-out, and passages above the `quantile` (default 0.95) of those scores
//! are refused at index time. With `window = w > 0` a passage's score is its worst span of `w`
//! consecutive terms (Jain et al.'s windowed perplexity), which finds a short optimised span
//! inside otherwise fluent text (a HotFlip prefix before a natural false statement).
//! Assumes poisoned text is less fluent than the corpus: true of
//! optimised (HotFlip-style) passages, not of templated natural sentences; by construction
//! `1 - quantile` of clean passages are refused too.
//!
//! ```
//! use mithridate_rag::defences::IndexView;
//! use mithridate_rag::defences::manifest::SignedCorpus;
//! use mithridate_rag::corpus::Passage;
//! let mut passages: Vec<Passage> = (0..19).map(|i| Passage { id: format!("p{i}"),
//!     text: "the people of this nation will rebuild and recover together".into() }).collect();
//! passages.push(Passage { id: "x".into(), text: "zq xv kjw qpl vvr zzt".into() });
//! let signed = SignedCorpus::sign(&passages, 0)?;
//! let view = IndexView { passages: &passages, embeddings: None, dim: 0, manifest: &signed, seed: 0 };
//! let mut d = mithridate_rag::registry::build_defence("perplexity", &serde_json::json!({"quantile": 0.9}))?;
//! let admitted = d.prepare(&view)?;
//! assert!(!admitted[19] && admitted[..19].iter().all(|&a| a));
//! # Ok::<(), mithridate_rag::RagError>(())
//! ```

use super::{IndexView, RetrievalDefence};
use crate::lm::BigramLm;
use crate::registry::{checked_defence, DefenceEntry};
use crate::{RagError, Result};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;

pub const ENTRY: DefenceEntry = Entry {
    name: "perplexity",
    role: Role::RetrievalDefence,
    modalities: &["text"],
    summary: "refuses passages whose leave-one-out bigram perplexity (whole, or the worst window of w terms) exceeds the quantile=0.95 of the corpus",
    paper: "Jain et al. 2023; Alon & Kamfonas 2023",
    taxonomy: crate::registry::RETRIEVAL_FILTERING,
    requires: &[],
    provides: &[],
    build: |p| checked_defence::<PerplexityParams>("perplexity", p),
};

/// Parameters of [`Perplexity`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct PerplexityParams {
    pub quantile: f64,
    /// Terms per scoring window; 0 scores the whole passage.
    pub window: usize,
}

impl Default for PerplexityParams {
    fn default() -> Self {
        PerplexityParams {
            quantile: 0.95,
            window: 0,
        }
    }
}

impl ParamGuard for PerplexityParams {
    type Checked = Perplexity;
    type Error = RagError;
    fn check_ref(&self) -> Result<()> {
        if !(self.quantile > 0.0 && self.quantile <= 1.0) {
            return Err(RagError::invalid(format!(
                "perplexity: quantile must lie in (0, 1], got {}",
                self.quantile
            )));
        }
        Ok(())
    }
    fn build(self) -> Perplexity {
        Perplexity {
            params: self,
            threshold: f64::INFINITY,
        }
    }
}

/// The checked defence (its threshold is set by `prepare`).
#[derive(Debug, Clone)]
pub struct Perplexity {
    params: PerplexityParams,
    threshold: f64,
}

impl RetrievalDefence for Perplexity {
    fn name(&self) -> &'static str {
        "perplexity"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn prepare(&mut self, view: &IndexView) -> Result<Vec<bool>> {
        let texts: Vec<&str> = view.passages.iter().map(|p| p.text.as_str()).collect();
        let lm = BigramLm::train(&texts);
        let scores: Vec<f64> = texts
            .iter()
            .map(|t| lm.windowed_perplexity(t, true, self.params.window))
            .collect();
        let mut sorted = scores.clone();
        sorted.sort_by(f64::total_cmp);
        let rank =
            ((self.params.quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        self.threshold = sorted[rank - 1];
        Ok(scores.iter().map(|&s| s <= self.threshold).collect())
    }
}
