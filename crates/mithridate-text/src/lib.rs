//! # mithridate-text
//!
//! Backdoors in text classification on a pretrained encoder, measured end to end: a frozen
//! all-MiniLM-L6-v2 ([`mithridate_rag::encoder`]) with a trained head ([`head`]), on real text
//! sets fetched from registry packages ([`data`]: SpamAssassin, 20 Newsgroups), poisoned by
//! trigger attacks ([`attacks`]: BadNL rare words, AddSent sentence, template frame; dirty and
//! clean label) and defended ([`defences`]: ONION, STRIP, activation clustering, spectral
//! signatures, BKI), with clean accuracy (CA), attack success rate (ASR) and detection
//! precision / recall / AUROC ([`experiment`]).
//!
//! The encoder is frozen, so clean embeddings are computed once and cached on disk keyed by
//! the BLAKE3 of (encoder id, token limit, text) ([`embed`]); an experiment encodes only the
//! texts the attack changed.

pub mod attacks;
pub mod data;
pub mod defences;
pub mod embed;
pub mod experiment;
pub mod finetune;
pub mod finetune_settings;
pub mod head;
pub mod registry;
pub mod words;

/// Everything that can go wrong; messages are one line and name the input at fault.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// An impossible parameter or request.
    #[error("{0}")]
    Invalid(String),
    /// A malformed input file.
    #[error("{what}: {message}")]
    Format { what: String, message: String },
    /// Fetching or reading a package-shipped dataset.
    #[error("{0}")]
    Data(#[source] mithridate_data::DataError),
    /// The encoder (or its package).
    #[error("{0}")]
    Rag(#[source] mithridate_rag::RagError),
    /// A detector from mithridate-detect.
    #[error("{0}")]
    Detect(#[source] mithridate_detect::DetectError),
    /// Reading or writing a file.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

impl TextError {
    pub fn invalid(message: impl Into<String>) -> TextError {
        TextError::Invalid(message.into())
    }

    /// True for failures of the environment (registry, disk, model), false for bad input.
    pub fn is_environment(&self) -> bool {
        match self {
            TextError::Io { .. } => true,
            TextError::Rag(r) => r.is_environment(),
            TextError::Data(d) => matches!(
                d,
                mithridate_data::DataError::Fetch { .. } | mithridate_data::DataError::Io { .. }
            ),
            TextError::Invalid(_) | TextError::Format { .. } | TextError::Detect(_) => false,
        }
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TextError + '_ {
        move |e| TextError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

pub type Result<T, E = TextError> = std::result::Result<T, E>;
