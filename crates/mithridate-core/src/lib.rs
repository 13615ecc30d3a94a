//! # mithridate-core
//!
//! The vocabulary every stage of Mithridate shares, with no dependency on any of them:
//!
//! - [`ParamGuard`]: parameters are validated once into a checked type (in the spirit of
//!   linfa's `ParamGuard`); plans and builders carry the checked value, never the raw one.
//! - [`registry`]: one registry pattern for every role (data attacks, detectors, aggregation
//!   rules, pre-aggregators, federated update attacks, ...). An entry is one [`registry::Entry`]
//!   (name, modalities, summary, paper, taxonomy, requirements, parameter builder) declared in
//!   the algorithm's own file, plus one line in its role's [`registry::Registry`].
//! - [`Taxonomy`]: MITRE ATLAS / OWASP / NIST AI 100-2 references.
//! - [`fsutil`]: the one atomic file writer (temp file with an unpredictable name in the same
//!   directory, fsync file and directory, rename; 0644 by default, 0600 for secrets).

pub mod fsutil;
mod params;
pub mod registry;
pub mod taxonomy;

pub use fsutil::{write_atomic, write_atomic_with, FileMode};
pub use params::ParamGuard;
pub use registry::{Entry, Registry, Requirement, Role};
pub use taxonomy::Taxonomy;
