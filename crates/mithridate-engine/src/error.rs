//! The engine's error type.

use std::path::PathBuf;

use mithridate_data::DataError;

/// Everything that can go wrong in the engine. Messages are one line and name the value,
/// file or tensor at fault.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A hyperparameter is out of range (raised by [`crate::TrainParams::check`]).
    #[error("invalid training parameter: {0}")]
    InvalidParams(String),
    /// An architecture or architecture name that cannot be used as asked.
    #[error("{0}")]
    Architecture(String),
    /// Data (or a model) that does not fit the model it is used with.
    #[error("incompatible data: {0}")]
    Incompatible(String),
    /// An argument other than a hyperparameter is invalid (wrong length, non-finite value...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A model file or its sidecar card is malformed or inconsistent.
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Building or validating a dataset failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The tensor backend failed; `context` says what the engine was doing.
    #[error("{context}: {message}")]
    Backend { context: String, message: String },
}

impl EngineError {
    pub(crate) fn incompatible(message: impl Into<String>) -> Self {
        EngineError::Incompatible(message.into())
    }

    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        EngineError::InvalidInput(message.into())
    }

    pub(crate) fn format(path: &std::path::Path, message: impl Into<String>) -> Self {
        EngineError::Format {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        EngineError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Attaches what the engine was doing to a candle error, keeping the message on one line
/// (candle appends a multi-line backtrace when `RUST_BACKTRACE` is set).
pub(crate) trait BackendContext<T> {
    fn context(self, context: &str) -> Result<T, EngineError>;
}

impl<T> BackendContext<T> for candle_core::Result<T> {
    fn context(self, context: &str) -> Result<T, EngineError> {
        self.map_err(|e| {
            let text = e.to_string();
            EngineError::Backend {
                context: context.to_string(),
                message: text.lines().next().unwrap_or("unknown error").to_string(),
            }
        })
    }
}
