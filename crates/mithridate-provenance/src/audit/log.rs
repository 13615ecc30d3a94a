//! The log file: appending under an exclusive lock with crash recovery (a torn last line is
//! cut before the next append), reading under a shared lock, and the head file.

use super::chain::{chain_problems, Parsed, Problem, ProblemKind};
use super::record::{Payload, Record, RecordKind, RecordSignature};
use crate::fsutil::{self, Existing};
use crate::keys::EmbeddedSignature;
use crate::merkle::Digest;
use crate::{io_err, ProvenanceError, Result};
use ed25519_dalek::SigningKey;
use mithridate_core::FileMode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The head file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    seq: u64,
    hash: Digest,
}

/// An append-only, hash-chained audit log file (see the module docs).
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// A log at `path`. The file is created by the first [`AuditLog::append`].
    pub fn open(path: impl AsRef<Path>) -> Result<AuditLog> {
        let path = path.as_ref().to_path_buf();
        if path.is_dir() {
            return Err(ProvenanceError::invalid(format!(
                "{} is a directory, not an audit log file",
                path.display()
            )));
        }
        Ok(AuditLog { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<log>.head`: seq and hash of the last record written.
    pub fn head_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".head");
        PathBuf::from(name)
    }

    /// Appends a record of `kind` with `payload` (checked against the kind's fields),
    /// signed with `key` if given. Safe against concurrent writers in other processes and
    /// against a writer killed at any point (see the module docs). Refuses to extend a
    /// log whose chain or head file does not verify.
    pub fn append(
        &self,
        kind: RecordKind,
        payload: Value,
        key: Option<&SigningKey>,
    ) -> Result<Record> {
        kind.validate_payload(&payload)
            .map_err(ProvenanceError::Invalid)?;
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        // A new log is shared like every other output (0644); appends never rewrite it whole.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, FileMode::Shared.bits());
        let file = options.open(&self.path).map_err(io_err(&self.path))?;
        let mut lock = fd_lock::RwLock::new(file);
        let mut guard = lock.write().map_err(io_err(&self.path))?;
        let file: &mut File = &mut guard;
        let bytes = read_all(file, &self.path)?;
        let created = bytes.is_empty();
        let parsed = Parsed::from_bytes(&bytes);
        let corrupt = |message: String| ProvenanceError::CorruptLog {
            path: self.path.clone(),
            message,
        };
        if let Some(problem) = chain_problems(&parsed, None).0.into_iter().next() {
            return Err(corrupt(problem.to_string()));
        }
        if let Some(problem) = self.head_problems(&parsed)?.into_iter().next() {
            return Err(corrupt(problem.to_string()));
        }
        let mut end = bytes.len() as u64;
        if let Some((offset, _)) = parsed.torn {
            // Never acknowledged (the writer died before its fsync returned): drop it.
            file.set_len(offset).map_err(io_err(&self.path))?;
            end = offset;
        }
        let (seq, prev_hash) = match parsed.last_record() {
            Some(last) => (last.seq + 1, last.hash),
            None => (0, Digest::ZERO),
        };
        let mut record = Record {
            seq,
            timestamp: crate::now_rfc3339(),
            kind,
            payload,
            prev_hash,
            hash: Digest::ZERO,
            signature: None,
        };
        record.hash = record.content_hash();
        if let Some(key) = key {
            let embedded = EmbeddedSignature::sign(key, &Record::signing_message(&record.hash));
            record.signature = Some(RecordSignature {
                key_id: embedded.key_id,
                public_key: embedded.public_key,
                value: embedded.value,
            });
        }
        let mut line = serde_json::to_vec(&record)
            .map_err(|e| ProvenanceError::invalid(format!("payload cannot be written: {e}")))?;
        line.push(b'\n');
        file.seek(SeekFrom::Start(end))
            .map_err(io_err(&self.path))?;
        // One write of the whole line, then fsync: the record is durable before we return.
        file.write_all(&line).map_err(io_err(&self.path))?;
        file.sync_data().map_err(io_err(&self.path))?;
        if created {
            fsutil::sync_dir(&fsutil::parent_dir(&self.path));
        }
        let head = Head {
            seq: record.seq,
            hash: record.hash,
        };
        let head_json = serde_json::to_vec(&head).unwrap_or_default();
        fsutil::write_atomic(
            &self.head_path(),
            &head_json,
            FileMode::Shared,
            Existing::Replace,
        )?;
        drop(guard);
        Ok(record)
    }

    /// Appends a typed payload (its kind is `P::KIND`).
    pub fn append_payload<P: Payload>(
        &self,
        payload: &P,
        key: Option<&SigningKey>,
    ) -> Result<Record> {
        let value = serde_json::to_value(payload)
            .map_err(|e| ProvenanceError::invalid(format!("payload cannot be written: {e}")))?;
        self.append(P::KIND, value, key)
    }

    /// Reads the log under a shared lock, so a concurrent append is seen whole or not at all.
    pub(super) fn read_parsed(&self) -> Result<Parsed> {
        let file = File::open(&self.path).map_err(io_err(&self.path))?;
        let lock = fd_lock::RwLock::new(file);
        let guard = lock.read().map_err(io_err(&self.path))?;
        let mut file: &File = &guard;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err(&self.path))?;
        drop(guard);
        Ok(Parsed::from_bytes(&bytes))
    }

    /// All records, in file order. A partial last line is skipped; any other line that is
    /// not a record is an error naming it. Does not check the chain: use [`AuditLog::verify`].
    pub fn records(&self) -> Result<Vec<Record>> {
        let parsed = self.read_parsed()?;
        parsed
            .lines
            .into_iter()
            .map(|line| {
                line.parsed.map_err(|message| {
                    ProvenanceError::malformed(
                        &self.path,
                        format!("line {}: {message}", line.number),
                    )
                })
            })
            .collect()
    }

    /// Checks the head file against the log; no head file, no problems.
    pub(super) fn head_problems(&self, parsed: &Parsed) -> Result<Vec<Problem>> {
        let head_path = self.head_path();
        let bytes = match std::fs::read(&head_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&head_path)(e)),
        };
        let end_line = parsed.lines.len() + 1;
        let head: Head = match serde_json::from_slice(&bytes) {
            Ok(h) => h,
            Err(e) => {
                return Ok(vec![Problem {
                    line: end_line,
                    seq: None,
                    kind: ProblemKind::HeadMismatch,
                    message: format!("head file {} is malformed: {e}", head_path.display()),
                }])
            }
        };
        let last_seq = parsed.records().map(|(_, r)| r.seq).max();
        if last_seq.is_none_or(|s| s < head.seq) {
            let ends = match last_seq {
                Some(s) => format!("ends at seq {s}"),
                None => "has no records".to_string(),
            };
            return Ok(vec![Problem {
                line: end_line,
                seq: None,
                kind: ProblemKind::Truncated,
                message: format!(
                    "the log {ends} but its head file records seq {}: records were cut off the end",
                    head.seq
                ),
            }]);
        }
        match parsed.records().find(|(_, r)| r.seq == head.seq) {
            Some((line, record)) if record.hash != head.hash => Ok(vec![Problem {
                line,
                seq: Some(record.seq),
                kind: ProblemKind::HeadMismatch,
                message: "hash differs from the one the head file recorded: history was rewritten"
                    .into(),
            }]),
            Some(_) => Ok(Vec::new()),
            // The seq is inside the range but its line is unparseable: already reported.
            None => Ok(Vec::new()),
        }
    }
}

fn read_all(file: &mut File, path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
    file.read_to_end(&mut bytes).map_err(io_err(path))?;
    Ok(bytes)
}
