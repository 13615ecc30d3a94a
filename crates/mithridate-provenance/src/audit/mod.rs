//! The audit log: an append-only, hash-chained JSON-lines record of what happened to data
//! and models, so an incident responder can tell which data produced a model.
//!
//! # Format
//! One JSON object per line (UTF-8, `\n`-terminated):
//!
//! ```text
//! {"seq":0,"timestamp":"2026-11-25T00:10:00.123456Z","kind":"dataset_version",
//!  "payload":{...},"prev_hash":"<64 hex>","hash":"<64 hex>",
//!  "signature":{"key_id":"<16 hex>","public_key":"<64 hex>","value":"<128 hex>"}}
//! ```
//!
//! - `seq` counts from 0; `prev_hash` is the previous record's `hash` (all zeros for seq 0).
//! - `hash = BLAKE3-derive-key("mithridate-provenance 2026-11-25 audit record v1", C)` where
//!   `C` is the canonical JSON (keys sorted, no whitespace) of the object
//!   `{kind, payload, prev_hash, seq, timestamp}`. Each hash covers the previous one, so
//!   changing, removing, inserting or reordering any record breaks every later link
//!   (a hash chain, Haber and Stornetta, 1991, "How to time-stamp a digital document").
//! - `signature` (optional) is Ed25519 over `"mithridate-provenance audit record v1\0" || hash`.
//! - `kind` is one of `dataset_version`, `training_run`, `scan`, `gate_decision`,
//!   `incident`, `note`; the payload must carry that kind's fields (see the payload types;
//!   extra fields are kept and hashed).
//!
//! Next to the log, `<log>.head` holds `{"seq": N, "hash": "..."}` of the last record
//! written. The chain alone cannot show that whole records were cut off the end; the head
//! file can (for accidental truncation; against a deliberate attacker keep the head hash
//! somewhere else and pass it as `expect_head`).
//!
//! # Writing
//! [`AuditLog::append`] takes an exclusive `flock` on the log, reads and checks the chain
//! (it refuses to extend a broken one), builds the record, appends the whole line with one
//! write, `fsync`s, then replaces the head file atomically. A writer killed mid-write can
//! leave at most a partial last line with no newline: that line was never acknowledged,
//! so the next append **repairs it by truncating exactly that partial line** (nothing
//! before it) and continues; [`AuditLog::verify`] reports it until then.

mod chain;
mod log;
mod record;
mod trace;
mod verify;

pub use chain::{Problem, ProblemKind, VerifyOptions};
pub use log::AuditLog;
pub use record::{
    DatasetVersionPayload, GateDecisionPayload, IncidentPayload, NotePayload, Payload, Record,
    RecordKind, RecordSignature, ScanPayload, TrainingRunPayload,
};
pub use trace::{Trace, Traced, TracedDataset, VersionDiff};
pub use verify::VerifyReport;
