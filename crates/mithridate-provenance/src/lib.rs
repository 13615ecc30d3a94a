//! # mithridate-provenance
//!
//! Knowing exactly what went into a model is the first control against data poisoning.
//! This crate makes that knowledge tamper-evident:
//!
//! - [`Manifest`]: a per-sample BLAKE3 content hash of a [`mithridate_data::Dataset`], keyed
//!   by stable sample id, under a Merkle root ([`merkle`] defines the tree), with class
//!   counts, source, licence, tool version and creation time; signed with Ed25519 ([`keys`]).
//! - [`ManifestDiff`]: added, removed, feature-changed and label-changed samples by id, and
//!   per-class share shifts (a cheap label-flip alarm). Verifying a manifest against data is
//!   a diff against a freshly built manifest.
//! - [`AuditLog`]: an append-only, hash-chained JSON-lines log of dataset versions, training
//!   runs, scans, gate decisions and incidents, crash-safe under concurrent writers, whose
//!   [`AuditLog::trace`] walks from a model hash back to the data and scans behind it.
//!
//! The crate's README describes the file formats, the threat model and measured speed.

pub mod audit;
mod canonical;
pub mod diff;
mod fsutil;
pub mod keys;
pub mod manifest;
pub mod merkle;

pub use audit::{
    AuditLog, DatasetVersionPayload, GateDecisionPayload, IncidentPayload, NotePayload, Payload,
    Problem, ProblemKind, Record, RecordKind, ScanPayload, Trace, TrainingRunPayload,
    VerifyOptions, VerifyReport,
};
pub use diff::{CheckedDiffParams, ClassShift, DiffParams, LabelChange, ManifestDiff};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use manifest::{Manifest, ManifestSignature, SampleEntry, SignatureFailure};
pub use merkle::Digest;

use std::path::{Path, PathBuf};

/// The producing tool, recorded in every manifest.
pub const TOOL_VERSION: &str = concat!("mithridate-provenance ", env!("CARGO_PKG_VERSION"));

/// Everything that can go wrong while building, reading or writing provenance files.
/// Messages are one line and name the file or value at fault. A *failed check* (tampering
/// found, bad signature) is not an error: checks return reports the caller judges.
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    /// Reading, writing or locking a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A manifest, log, key or signature file is malformed or internally inconsistent.
    #[error("{path}: {message}")]
    Malformed { path: PathBuf, message: String },
    /// An argument or value is impossible (bad threshold, payload missing a field, ...).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The audit log's chain is broken, so appending would extend a corrupt history.
    #[error("{path}: refusing to append: {message} (run `mithridate audit verify`)")]
    CorruptLog { path: PathBuf, message: String },
    /// Loading or validating a dataset failed.
    #[error(transparent)]
    Data(#[from] mithridate_data::DataError),
}

impl ProvenanceError {
    pub(crate) fn malformed(path: &Path, message: impl Into<String>) -> Self {
        ProvenanceError::Malformed {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ProvenanceError::Invalid(message.into())
    }
}

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ProvenanceError + '_ {
    move |source| ProvenanceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub type Result<T, E = ProvenanceError> = std::result::Result<T, E>;

/// The current time as RFC 3339 UTC with microseconds, e.g. `2026-11-25T00:10:00.123456Z`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}
