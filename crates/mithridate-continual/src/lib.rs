//! # mithridate-continual
//!
//! Continual retraining under poisoning: the governance loop from ingestion to deployment,
//! monitoring and incident trace, run over a real dataset split into time-ordered batches.
//!
//! Each step of [`run`]:
//! 1. **ingest** batch `t` of the [`stream::Stream`] (natural drift: a rotating class mix and
//!    label noise) after the [`campaign`] had its way with it: build and sign its manifest
//!    (`mithridate-provenance`), verify the signature against the feed's key, refuse ids
//!    already ingested, and re-verify every stored accepted batch against its signed manifest
//!    (split-view changes are named by id);
//! 2. **screen** the batch with the deployed model ([`screen`]: contradicted labels piling onto
//!    one class, a binomial test) and run the configured `mithridate-detect` detectors;
//! 3. **retrain** a candidate (from scratch on every accepted sample, or by fine-tuning the
//!    deployed model), and **gate** it against the deployed model on a trusted holdout
//!    (`mithridate-gate`);
//! 4. **deploy or block** (a blocked batch is quarantined, its suspects named);
//! 5. **monitor** serving traffic with the deployed model ([`monitor`]: predicted-class shares,
//!    confidence, STRIP), thresholds calibrated on clean traffic to a false-alarm rate;
//! 6. **record** every decision in the hash-chained audit log and **checkpoint** atomically, so
//!    a killed run resumes with identical results ([`ledger`] keeps the log free of repeats).
//!
//! [`incident`] walks the log back from a block or an alert to the batches and sample ids
//! responsible, the models deployed since, and a rollback target, and cleans and retrains.

pub mod assessment;
pub mod campaign;
pub mod cohesion;
pub mod config;
mod error;
pub mod gate_calibration;
pub mod incident;
pub mod ingest;
pub mod ledger;
pub mod models;
pub mod monitor;
pub mod named;
pub mod screen;
pub mod simulate;
pub mod state;
pub mod stats;
mod step;
pub mod stream;
pub mod summary;

pub use campaign::{Campaign, CAMPAIGNS};
pub use config::{ContinualParams, ContinualSpec, Retrain};
pub use error::{ContinualError, Result};
pub use simulate::{run, RunRequest};
pub use summary::Outcome;
