//! Corpus-level spectral signatures: score every passage embedding along the corpus's top
//! singular direction and refuse the highest scores before indexing.
//!
//! Paper: Tran, Li & Madry (2018), "Spectral Signatures in Backdoor Attacks" (NeurIPS). The
//! detector of [`mithridate_detect::spectral`] runs on the `[n, 384]` unit MiniLM embeddings
//! of every passage offered for indexing, as one class: with `R̂` the centred matrix and `v`
//! its top right singular vector, passage `i` scores `τ_i = (R̂_i · v)^2`, and the
//! `ceil(removal-factor x expected-rate x n)` highest are refused (defaults 1.5 and 0.1, the
//! detector's: 15% of the corpus).
//!
//! Assumption: the poisoned passages are a minority whose embeddings differ from the clean
//! ones along one direction that carries much of the corpus's variance (the paper's signature:
//! one backdoor, one learned feature). Retrieval poisons written for many different questions
//! point in as many directions, each a handful of passages; the top direction then follows the
//! corpus's own topics, and what is refused is mostly clean. The defence is measured, not
//! assumed, to hold (see the crate README). It needs the embeddings, so it loads the encoder
//! whatever the retriever.
//!
//! ```
//! use mithridate_rag::defences::{IndexView, RetrievalDefence};
//! use mithridate_rag::defences::manifest::SignedCorpus;
//! use mithridate_rag::corpus::Passage;
//! // 95 clean vectors spread over 4 axes, 5 planted ones far along a fifth.
//! let dim = 5;
//! let mut e = Vec::new();
//! for i in 0..100 {
//!     let mut v = vec![0.0f32; dim];
//!     if i >= 95 { v[4] = 3.0 } else { v[i % 4] = 0.5 + 0.01 * (i % 7) as f32 }
//!     e.extend(v);
//! }
//! let passages: Vec<Passage> = (0..100).map(|i| Passage { id: format!("p{i}"), text: "t".into() }).collect();
//! let signed = SignedCorpus::sign(&passages, 0)?;
//! let view = IndexView { passages: &passages, embeddings: Some(&e), dim, manifest: &signed, seed: 0 };
//! let params = serde_json::json!({ "expected-rate": 0.05, "removal-factor": 1.0 });
//! let mut d = mithridate_rag::registry::build_defence("spectral", &params)?;
//! let admitted = d.prepare(&view)?;
//! let refused: Vec<usize> = (0..100).filter(|&i| !admitted[i]).collect();
//! assert_eq!(refused, vec![95, 96, 97, 98, 99]);
//! # Ok::<(), mithridate_rag::RagError>(())
//! ```

use super::{IndexView, RetrievalDefence};
use crate::registry::{checked_defence, DefenceEntry};
use crate::{RagError, Result};
use mithridate_core::registry::{Entry, Requirement, Role};
use mithridate_core::ParamGuard;
use mithridate_detect::spectral::{SpectralParams, SpectralSignatures};

pub const ENTRY: DefenceEntry = Entry {
    name: "spectral",
    role: Role::RetrievalDefence,
    modalities: &["text"],
    summary: "spectral signatures of the whole corpus's embeddings (mithridate-detect): refuses the top removal-factor=1.5 x expected-rate=0.1 of passages by squared projection on the top singular direction",
    paper: "Tran, Li & Madry 2018 (spectral signatures)",
    taxonomy: crate::registry::RETRIEVAL_FILTERING,
    requires: &[Requirement::Model],
    provides: &[],
    build: |p| checked_defence::<CorpusSpectralParams>("spectral", p),
};

/// Parameters of [`CorpusSpectral`]: the detector's, same names and defaults.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct CorpusSpectralParams {
    /// The expected poisoned share of the corpus, in `(0, 1]`.
    pub expected_rate: f64,
    /// Refuse `removal-factor x expected-rate` of the passages (`> 0`; capped at all).
    pub removal_factor: f64,
}

impl Default for CorpusSpectralParams {
    fn default() -> Self {
        let d = SpectralParams::default();
        CorpusSpectralParams {
            expected_rate: d.expected_rate,
            removal_factor: d.removal_factor,
        }
    }
}

impl CorpusSpectralParams {
    fn detector_params(&self) -> SpectralParams {
        SpectralParams {
            expected_rate: self.expected_rate,
            removal_factor: self.removal_factor,
        }
    }
}

impl ParamGuard for CorpusSpectralParams {
    type Checked = CorpusSpectral;
    type Error = RagError;
    fn check_ref(&self) -> Result<()> {
        self.detector_params()
            .check_ref()
            .map_err(|e| RagError::invalid(format!("spectral: {e}")))
    }
    fn build(self) -> CorpusSpectral {
        CorpusSpectral {
            params: self,
            detector: self.detector_params().build(),
        }
    }
}

/// The checked defence.
#[derive(Debug, Clone)]
pub struct CorpusSpectral {
    params: CorpusSpectralParams,
    detector: SpectralSignatures,
}

impl RetrievalDefence for CorpusSpectral {
    fn name(&self) -> &'static str {
        "spectral"
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({
            "expected-rate": self.params.expected_rate,
            "removal-factor": self.params.removal_factor,
        })
    }

    fn prepare(&mut self, view: &IndexView) -> Result<Vec<bool>> {
        let n = view.passages.len();
        let values = view.embeddings.ok_or_else(|| {
            RagError::invalid("spectral needs the passage embeddings (the minilm encoder)")
        })?;
        // One class (the whole corpus); ids are rows, so the flagged ids are the rows refused.
        let labels = vec![0u32; n];
        let ids: Vec<u64> = (0..n as u64).collect();
        let detect =
            |e: mithridate_detect::DetectError| RagError::invalid(format!("spectral: {e}"));
        let embeddings = mithridate_detect::Embeddings::new(values, view.dim, &labels, &ids, 1)
            .map_err(detect)?;
        let detection = self
            .detector
            .detect_embeddings(&embeddings)
            .map_err(detect)?;
        let mut admitted = vec![true; n];
        for id in detection.flagged {
            admitted[id as usize] = false;
        }
        Ok(admitted)
    }
}

#[cfg(test)]
mod tests {
    use crate::registry::build_defence;

    #[test]
    fn impossible_parameters_are_errors() {
        for params in [
            serde_json::json!({"expected-rate": 0.0}),
            serde_json::json!({"expected-rate": 1.5}),
            serde_json::json!({"removal-factor": -1.0}),
            serde_json::json!({"rate": 0.1}),
        ] {
            let err = build_defence("spectral", &params).unwrap_err().to_string();
            assert!(err.contains("spectral") || err.contains("rate"), "{err}");
        }
    }
}
