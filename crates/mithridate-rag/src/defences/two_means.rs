//! TrustRAG-style 2-means over the retrieved passages' embeddings.
//!
//! Paper: Zhou et al. (2025), "TrustRAG: Enhancing Robustness and Trustworthiness in
//! Retrieval-Augmented Generation": poisoned passages written for one question sit in a tight
//! cluster of the embedding space. The top `window` (default 10) candidates are split by
//! 2-means on their unit embeddings (seeded deterministically: the top candidate and the one
//! least similar to it; Lloyd steps until stable, at most 50); a cluster of at least 2
//! passages whose mean pairwise cosine is `>= threshold` (default 0.85) is dropped.
//! Candidates past the window are kept. Assumes the attacker plants several similar passages;
//! a single poison, or genuinely near-identical clean passages, defeat it.
//!
//! ```
//! use mithridate_rag::defences::{IndexView, Query};
//! use mithridate_rag::defences::manifest::SignedCorpus;
//! use mithridate_rag::corpus::Passage;
//! let passages: Vec<Passage> = (0..5).map(|i| Passage { id: format!("p{i}"), text: format!("t{i}") }).collect();
//! // Rows 0, 2, 4 nearly identical (poisons, pairwise cosine ~0.99); rows 1, 3 at cosine 0.6.
//! let e = vec![1.0, 0.0, 0.0,  0.0, 1.0, 0.0,  0.99, 0.141, 0.0,  0.0, 0.6, 0.8,  0.99, 0.0, 0.141];
//! let signed = SignedCorpus::sign(&passages, 0)?;
//! let view = IndexView { passages: &passages, embeddings: Some(&e), dim: 3, manifest: &signed, seed: 0 };
//! let d = mithridate_rag::registry::build_defence("two-means", &serde_json::Value::Null)?;
//! let q = Query { text: "q", embedding: None };
//! assert_eq!(d.filter(&q, &[0, 1, 2, 3, 4], &view), vec![1, 3]);
//! # Ok::<(), mithridate_rag::RagError>(())
//! ```

use super::{IndexView, Query, RetrievalDefence};
use crate::registry::{checked_defence, DefenceEntry};
use crate::{RagError, Result};
use mithridate_core::registry::{Entry, Requirement, Role};
use mithridate_core::ParamGuard;

pub const ENTRY: DefenceEntry = Entry {
    name: "two-means",
    role: Role::RetrievalDefence,
    modalities: &["text"],
    summary: "2-means on the top window=10 candidates' embeddings; drops a cluster (>= 2) with mean cosine >= threshold=0.85",
    paper: "Zhou et al. 2025 (TrustRAG)",
    taxonomy: crate::registry::RETRIEVAL_FILTERING,
    requires: &[Requirement::Model],
    provides: &[],
    build: |p| checked_defence::<TwoMeansParams>("two-means", p),
};

/// Parameters of [`TwoMeans`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct TwoMeansParams {
    pub window: usize,
    pub threshold: f64,
}

impl Default for TwoMeansParams {
    fn default() -> Self {
        TwoMeansParams {
            window: 10,
            threshold: 0.85,
        }
    }
}

impl ParamGuard for TwoMeansParams {
    type Checked = TwoMeans;
    type Error = RagError;
    fn check_ref(&self) -> Result<()> {
        if self.window < 2 {
            return Err(RagError::invalid("two-means: window must be at least 2"));
        }
        if !(self.threshold > -1.0 && self.threshold <= 1.0) {
            return Err(RagError::invalid(format!(
                "two-means: threshold must lie in (-1, 1], got {}",
                self.threshold
            )));
        }
        Ok(())
    }
    fn build(self) -> TwoMeans {
        TwoMeans { params: self }
    }
}

/// The checked defence.
#[derive(Debug, Clone)]
pub struct TwoMeans {
    params: TwoMeansParams,
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

/// Cluster labels (0 / 1) of unit vectors by 2-means on the dot product.
pub fn two_means(vectors: &[&[f32]]) -> Vec<u8> {
    let n = vectors.len();
    if n < 2 {
        return vec![0; n];
    }
    let far = (1..n)
        .min_by(|&a, &b| dot(vectors[0], vectors[a]).total_cmp(&dot(vectors[0], vectors[b])))
        .unwrap_or(1);
    let mut centres: [Vec<f64>; 2] = [
        vectors[0].iter().map(|&v| v as f64).collect(),
        vectors[far].iter().map(|&v| v as f64).collect(),
    ];
    let mut labels = vec![0u8; n];
    for _ in 0..50 {
        let score =
            |v: &[f32], c: &[f64]| -> f64 { v.iter().zip(c).map(|(a, b)| *a as f64 * b).sum() };
        let next: Vec<u8> = vectors
            .iter()
            .map(|v| u8::from(score(v, &centres[1]) > score(v, &centres[0])))
            .collect();
        let changed = next != labels;
        labels = next;
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<&&[f32]> = vectors
                .iter()
                .zip(&labels)
                .filter(|(_, &l)| l as usize == c)
                .map(|(v, _)| v)
                .collect();
            if members.is_empty() {
                continue;
            }
            for (d, value) in centre.iter_mut().enumerate() {
                *value = members.iter().map(|v| v[d] as f64).sum::<f64>() / members.len() as f64;
            }
        }
        if !changed {
            break;
        }
    }
    labels
}

impl RetrievalDefence for TwoMeans {
    fn name(&self) -> &'static str {
        "two-means"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn filter(&self, _query: &Query, candidates: &[usize], view: &IndexView) -> Vec<usize> {
        let window = candidates.len().min(self.params.window);
        let vectors: Option<Vec<&[f32]>> = candidates[..window]
            .iter()
            .map(|&r| view.embedding(r))
            .collect();
        let Some(vectors) = vectors else {
            return candidates.to_vec();
        };
        let labels = two_means(&vectors);
        let mut drop = [false; 2];
        for (c, flag) in drop.iter_mut().enumerate() {
            let members: Vec<usize> = (0..window).filter(|&i| labels[i] as usize == c).collect();
            if members.len() < 2 {
                continue;
            }
            let mut sum = 0.0;
            let mut pairs = 0.0;
            for (a, &i) in members.iter().enumerate() {
                for &j in &members[a + 1..] {
                    sum += dot(vectors[i], vectors[j]);
                    pairs += 1.0;
                }
            }
            *flag = sum / pairs >= self.params.threshold;
        }
        candidates
            .iter()
            .enumerate()
            .filter(|&(i, _)| i >= window || !drop[labels[i] as usize])
            .map(|(_, &r)| r)
            .collect()
    }
}
