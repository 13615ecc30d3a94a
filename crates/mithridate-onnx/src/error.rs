//! The crate's error type: one line each, naming the file, operator, node or shape at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The bytes are not a well-formed ONNX model (truncated, not protobuf, no graph...).
    #[error("not a valid ONNX model: {0}")]
    Format(String),
    /// A well-formed model uses something this importer does not implement (an operator, an
    /// opset, an attribute value, a data type).
    #[error("unsupported ONNX model: {0}")]
    Unsupported(String),
    /// The model and the data (or the flags) do not fit each other.
    #[error("incompatible input: {0}")]
    Incompatible(String),
    /// A flag or argument is invalid on its own.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Evaluating an operator failed (shape mismatch between nodes, backend error).
    #[error("evaluating node '{node}' ({op}): {message}")]
    Eval {
        node: String,
        op: String,
        message: String,
    },
    /// Reading the file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = OnnxError> = std::result::Result<T, E>;
