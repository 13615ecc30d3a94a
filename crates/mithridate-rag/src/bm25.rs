//! Sparse retrieval: Okapi BM25.
//!
//! Paper: Robertson & Zaragoza (2009), "The Probabilistic Relevance Framework: BM25 and
//! Beyond". For a query `q` and passage `d` of length `|d|` (terms) in a corpus of `N`
//! passages with mean length `avgdl`:
//!
//! `score(q, d) = sum_{t in q} idf(t) * tf(t,d) (k1 + 1) / (tf(t,d) + k1 (1 - b + b |d| / avgdl))`,
//! `idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))` (never negative), `k1 = 1.2`,
//! `b = 0.75`. Terms are the tokenizer's lowercased words without punctuation; a query term
//! repeated counts once per occurrence. Exact: every passage sharing a term is scored.
//!
//! ```
//! use mithridate_rag::bm25::Bm25;
//! let bm25 = Bm25::new(&["the cat sat", "the dog barked", "a cat and a cat"]);
//! let hits = bm25.search("cat", 3);
//! assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![2, 0]);
//! ```

use crate::index::{top_k, Hits};
use crate::tokenizer::WordPiece;
use std::collections::HashMap;

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// An inverted index of term frequencies.
#[derive(Debug, Clone)]
pub struct Bm25 {
    postings: HashMap<String, Vec<(u32, u32)>>,
    lengths: Vec<u32>,
    mean_length: f64,
}

/// The terms BM25 indexes: lowercased words, punctuation dropped.
pub fn terms(text: &str) -> Vec<String> {
    WordPiece::words(text)
        .into_iter()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .collect()
}

impl Bm25 {
    pub fn new<S: AsRef<str>>(passages: &[S]) -> Bm25 {
        let mut postings: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut lengths = Vec::with_capacity(passages.len());
        for (doc, text) in passages.iter().enumerate() {
            let words = terms(text.as_ref());
            lengths.push(words.len() as u32);
            let mut counts: HashMap<String, u32> = HashMap::new();
            for w in words {
                *counts.entry(w).or_default() += 1;
            }
            for (w, c) in counts {
                postings.entry(w).or_default().push((doc as u32, c));
            }
        }
        let total: u64 = lengths.iter().map(|&l| l as u64).sum();
        let mean_length = total as f64 / lengths.len().max(1) as f64;
        Bm25 {
            postings,
            lengths,
            mean_length: mean_length.max(1e-9),
        }
    }

    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// Scores of `query` against every passage (0 for passages sharing no term).
    pub fn scores(&self, query: &str) -> Vec<f32> {
        let n = self.lengths.len() as f64;
        let mut scores = vec![0f64; self.lengths.len()];
        for term in terms(query) {
            let Some(list) = self.postings.get(&term) else {
                continue;
            };
            let df = list.len() as f64;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for &(doc, tf) in list {
                let tf = tf as f64;
                let norm =
                    K1 * (1.0 - B + B * self.lengths[doc as usize] as f64 / self.mean_length);
                scores[doc as usize] += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        scores.into_iter().map(|s| s as f32).collect()
    }

    /// The `k` best passages with a positive score, best first.
    pub fn search(&self, query: &str, k: usize) -> Hits {
        let mut hits = top_k(&self.scores(query), k);
        hits.retain(|h| h.1 > 0.0);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_formula_by_hand() {
        // N = 2, lengths 2 and 4 (avgdl 3); "x" occurs once in d0 and twice in d1 (df 2).
        let bm25 = Bm25::new(&["x y", "x x z z"]);
        let idf = (1.0f64 + (2.0 - 2.0 + 0.5) / (2.0 + 0.5)).ln();
        let d0 = idf * 1.0 * 2.2 / (1.0 + 1.2 * (0.25 + 0.75 * 2.0 / 3.0));
        let d1 = idf * 2.0 * 2.2 / (2.0 + 1.2 * (0.25 + 0.75 * 4.0 / 3.0));
        let s = bm25.scores("X!");
        assert!((s[0] as f64 - d0).abs() < 1e-6 && (s[1] as f64 - d1).abs() < 1e-6);
        // "y" is rarer (df 1) than "x": it outweighs one occurrence of "x".
        assert_eq!(bm25.search("x y", 1)[0].0, 0);
        assert!(bm25.search("absent", 5).is_empty());
    }
}
