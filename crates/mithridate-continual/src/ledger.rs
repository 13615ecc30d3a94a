//! Audit-log writes that survive a kill between appending and checkpointing.
//!
//! The loop appends a step's records to the hash-chained log (`mithridate-provenance`)
//! before it checkpoints the step. A run killed in between re-runs the step on resume and
//! would append the same records twice; the ledger instead knows how many records the last
//! checkpoint covered and, for each record the step writes, skips it when the log already
//! holds an identical one (same kind and payload) at that position. A differing record there
//! is an error: the log was written by something else.

use crate::{ContinualError, Result};
use mithridate_provenance::{AuditLog, Record, RecordKind};
use serde_json::Value;

/// The log and the position the next record goes to.
pub struct Ledger {
    log: AuditLog,
    existing: Vec<Record>,
    next: usize,
}

impl Ledger {
    /// Opens `log`, positioned after the `checkpointed` records the last checkpoint covered.
    pub fn open(log: AuditLog, checkpointed: u64) -> Result<Ledger> {
        let existing = if log.path().exists() {
            log.records()?
        } else {
            Vec::new()
        };
        let next = checkpointed as usize;
        if existing.len() < next {
            return Err(ContinualError::invalid(format!(
                "{}: holds {} records but the checkpoint covers {next}: the log was truncated",
                log.path().display(),
                existing.len()
            )));
        }
        Ok(Ledger {
            log,
            existing,
            next,
        })
    }

    /// Records written or confirmed so far (what the next checkpoint covers).
    pub fn position(&self) -> u64 {
        self.next as u64
    }

    pub fn log(&self) -> &AuditLog {
        &self.log
    }

    /// Appends `payload` of `kind`, or confirms the identical record already there.
    pub fn append(&mut self, kind: RecordKind, payload: Value) -> Result<()> {
        if let Some(existing) = self.existing.get(self.next) {
            if existing.kind != kind || existing.payload != payload {
                return Err(ContinualError::invalid(format!(
                    "{}: record {} differs from what the resumed run writes there \
                     (the log was changed outside this run)",
                    self.log.path().display(),
                    existing.seq
                )));
            }
        } else {
            self.log.append(kind, payload, None)?;
        }
        self.next += 1;
        Ok(())
    }
}
