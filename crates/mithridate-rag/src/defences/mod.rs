//! Retrieval defences. A defence may refuse passages at index time ([`RetrievalDefence::prepare`],
//! where it also fits what it needs on the indexed corpus) and drop retrieved candidates at
//! query time ([`RetrievalDefence::filter`]); the retriever then returns the best `k` of
//! what is left (or `factor x k` of it, when a defence widens the generator's context).

pub mod manifest;
pub mod perplexity;
pub mod query_echo;
pub mod spectral;
pub mod two_means;
pub mod wider;

use crate::corpus::Passage;
use crate::Result;

/// The corpus as indexed, with what defences may consult.
#[derive(Debug, Clone, Copy)]
pub struct IndexView<'a> {
    /// Every passage offered for indexing (after the attack).
    pub passages: &'a [Passage],
    /// Their unit embeddings `[n, dim]`, when the encoder ran.
    pub embeddings: Option<&'a [f32]>,
    pub dim: usize,
    /// The signed manifest of the corpus as published, and its public key.
    pub manifest: &'a manifest::SignedCorpus,
    pub seed: u64,
}

impl IndexView<'_> {
    /// The embedding of passage `row`, when embeddings exist.
    pub fn embedding(&self, row: usize) -> Option<&[f32]> {
        self.embeddings
            .map(|e| &e[row * self.dim..(row + 1) * self.dim])
    }
}

/// A query as the defence sees it.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub text: &'a str,
    pub embedding: Option<&'a [f32]>,
}

/// A retrieval defence.
pub trait RetrievalDefence: std::fmt::Debug + Send + Sync {
    fn name(&self) -> &'static str;
    fn parameters(&self) -> serde_json::Value;
    /// Fits on the indexed corpus; returns which passages may be indexed (true = admit).
    fn prepare(&mut self, view: &IndexView) -> Result<Vec<bool>> {
        Ok(vec![true; view.passages.len()])
    }
    /// How many times more passages than `k` the generator reads under this defence (1: as
    /// asked). The run retrieves `factor x k` and scores it with
    /// [`RetrievalMetrics::compute_widened`](crate::metrics::RetrievalMetrics::compute_widened).
    fn context_factor(&self) -> usize {
        1
    }
    /// Keeps the candidates (passage rows, best first) it trusts for `query`.
    fn filter(&self, _query: &Query, candidates: &[usize], _view: &IndexView) -> Vec<usize> {
        candidates.to_vec()
    }
}

/// Word n-grams of a text's terms (unigrams when it has fewer than `n` terms).
pub(crate) fn ngrams(text: &str, n: usize) -> std::collections::HashSet<Vec<String>> {
    let words = crate::bm25::terms(text);
    if words.len() < n {
        return words.into_iter().map(|w| vec![w]).collect();
    }
    words.windows(n).map(|w| w.to_vec()).collect()
}
