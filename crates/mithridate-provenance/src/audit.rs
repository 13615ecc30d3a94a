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

use crate::canonical;
use crate::diff::{CheckedDiffParams, ManifestDiff};
use crate::fsutil::{self, Existing};
use crate::keys::{key_id, parse_embedded, EmbeddedSignature};
use crate::manifest::Manifest;
use crate::merkle::Digest;
use crate::{io_err, ProvenanceError, Result};
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use mithridate_core::FileMode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const RECORD_CONTEXT: &str = "mithridate-provenance 2026-11-25 audit record v1";
const SIGNATURE_DOMAIN: &[u8] = b"mithridate-provenance audit record v1\0";

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    DatasetVersion,
    TrainingRun,
    Scan,
    GateDecision,
    Incident,
    Note,
}

impl RecordKind {
    pub const ALL: [RecordKind; 6] = [
        RecordKind::DatasetVersion,
        RecordKind::TrainingRun,
        RecordKind::Scan,
        RecordKind::GateDecision,
        RecordKind::Incident,
        RecordKind::Note,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RecordKind::DatasetVersion => "dataset_version",
            RecordKind::TrainingRun => "training_run",
            RecordKind::Scan => "scan",
            RecordKind::GateDecision => "gate_decision",
            RecordKind::Incident => "incident",
            RecordKind::Note => "note",
        }
    }

    /// Checks that `payload` carries this kind's fields.
    pub fn validate_payload(&self, payload: &Value) -> Result<(), String> {
        if !payload.is_object() {
            return Err(format!("a {} payload must be a JSON object", self.as_str()));
        }
        match self {
            RecordKind::DatasetVersion => check::<DatasetVersionPayload>(payload),
            RecordKind::TrainingRun => check::<TrainingRunPayload>(payload),
            RecordKind::Scan => check::<ScanPayload>(payload),
            RecordKind::GateDecision => check::<GateDecisionPayload>(payload),
            RecordKind::Incident => check::<IncidentPayload>(payload),
            RecordKind::Note => check::<NotePayload>(payload),
        }
    }
}

fn check<P: Payload>(payload: &Value) -> Result<(), String> {
    let typed = P::from_value(payload)?;
    typed.validate()
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RecordKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown record kind '{s}' (one of: {})", names.join(", "))
            })
    }
}

/// A typed payload of one record kind. Unknown extra fields in a stored payload are allowed
/// (and covered by the hash); the typed view reads the fields the kind requires.
pub trait Payload: Serialize + DeserializeOwned {
    const KIND: RecordKind;
    /// Field checks beyond what the types enforce.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
    /// Reads the typed view of a stored payload.
    fn from_value(payload: &Value) -> Result<Self, String> {
        Self::deserialize(payload)
            .map_err(|e| format!("invalid {} payload: {e}", Self::KIND.as_str()))
    }
}

/// Model hashes are opaque strings (e.g. the hex BLAKE3 or SHA-256 of a weights file),
/// compared case-insensitively.
fn check_model_hash(field: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 256
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field} must be 1-256 characters of letters, digits, ':', '_', '-', '.'"
        ))
    }
}

fn non_empty(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{field} must not be empty"))
    } else {
        Ok(())
    }
}

/// A dataset version: a manifest root and where the manifest is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetVersionPayload {
    /// The manifest's Merkle root.
    pub root: Digest,
    /// A human name, e.g. `mnist-train`.
    pub name: String,
    /// Path of the manifest file (relative paths are relative to the log's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_path: Option<String>,
    /// The version this one was derived from, so trace can diff the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_root: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_samples: Option<u64>,
}

impl Payload for DatasetVersionPayload {
    const KIND: RecordKind = RecordKind::DatasetVersion;
    fn validate(&self) -> Result<(), String> {
        non_empty("name", &self.name)?;
        if self.parent_root == Some(self.root) {
            return Err("parent_root equals root".into());
        }
        Ok(())
    }
}

/// A training run: which data and code produced which model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRunPayload {
    pub model_hash: String,
    /// Manifest roots of every dataset the run trained on.
    pub dataset_roots: Vec<Digest>,
    /// The run's configuration, as the trainer records it.
    pub config: Value,
    pub seed: u64,
    /// E.g. a git commit or the tool version.
    pub code_version: String,
}

impl Payload for TrainingRunPayload {
    const KIND: RecordKind = RecordKind::TrainingRun;
    fn validate(&self) -> Result<(), String> {
        check_model_hash("model_hash", &self.model_hash)?;
        non_empty("code_version", &self.code_version)
    }
}

/// A detector's scan of a dataset (or of a model) and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanPayload {
    pub detector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_root: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_hash: Option<String>,
    /// Ids of the samples the detector flagged.
    #[serde(default)]
    pub flagged: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
}

impl Payload for ScanPayload {
    const KIND: RecordKind = RecordKind::Scan;
    fn validate(&self) -> Result<(), String> {
        non_empty("detector", &self.detector)?;
        if let Some(m) = &self.model_hash {
            check_model_hash("model_hash", m)?;
        }
        if self.dataset_root.is_none() && self.model_hash.is_none() {
            return Err("a scan needs dataset_root or model_hash".into());
        }
        Ok(())
    }
}

/// A retraining gate's decision on a candidate model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateDecisionPayload {
    pub candidate_model_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_model_hash: Option<String>,
    pub passed: bool,
    #[serde(default)]
    pub reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
}

impl Payload for GateDecisionPayload {
    const KIND: RecordKind = RecordKind::GateDecision;
    fn validate(&self) -> Result<(), String> {
        check_model_hash("candidate_model_hash", &self.candidate_model_hash)?;
        if let Some(b) = &self.baseline_model_hash {
            check_model_hash("baseline_model_hash", b)?;
        }
        Ok(())
    }
}

/// An incident: what went wrong and which model, data and samples it concerns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentPayload {
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_hash: Option<String>,
    #[serde(default)]
    pub dataset_roots: Vec<Digest>,
    #[serde(default)]
    pub sample_ids: Vec<u64>,
}

impl Payload for IncidentPayload {
    const KIND: RecordKind = RecordKind::Incident;
    fn validate(&self) -> Result<(), String> {
        non_empty("summary", &self.summary)?;
        if let Some(m) = &self.model_hash {
            check_model_hash("model_hash", m)?;
        }
        Ok(())
    }
}

/// Free text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotePayload {
    pub text: String,
}

impl Payload for NotePayload {
    const KIND: RecordKind = RecordKind::Note;
}

/// An Ed25519 signature over a record's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordSignature {
    pub key_id: String,
    pub public_key: String,
    pub value: String,
}

impl RecordSignature {
    fn parse(&self) -> Result<(VerifyingKey, Signature), String> {
        parse_embedded(&self.key_id, &self.public_key, &self.value)
    }
}

/// One audit log record (one line of the log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub seq: u64,
    pub timestamp: String,
    pub kind: RecordKind,
    pub payload: Value,
    pub prev_hash: Digest,
    pub hash: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<RecordSignature>,
}

impl Record {
    /// The hash this record's content should have (see the module docs).
    pub fn content_hash(&self) -> Digest {
        let content = serde_json::json!({
            "seq": self.seq,
            "timestamp": self.timestamp,
            "kind": self.kind.as_str(),
            "payload": self.payload,
            "prev_hash": self.prev_hash.to_hex(),
        });
        let mut hasher = blake3::Hasher::new_derive_key(RECORD_CONTEXT);
        hasher.update(&canonical::to_vec(&content));
        hasher.finalize().into()
    }

    fn signing_message(hash: &Digest) -> Vec<u8> {
        let mut msg = SIGNATURE_DOMAIN.to_vec();
        msg.extend_from_slice(hash.as_bytes());
        msg
    }

    /// Reads the typed payload, if this record is of `P`'s kind.
    pub fn payload_as<P: Payload>(&self) -> Option<P> {
        if self.kind != P::KIND {
            return None;
        }
        P::from_value(&self.payload).ok()
    }

    /// A one-line description of the payload for tables.
    pub fn summary(&self) -> String {
        let short = |d: &Digest| d.to_hex()[..12].to_string();
        let text = match self.kind {
            RecordKind::DatasetVersion => self.payload_as::<DatasetVersionPayload>().map(|p| {
                let parent = p.parent_root.map(|r| format!(" (from {})", short(&r)));
                format!(
                    "{} root {}{}",
                    p.name,
                    short(&p.root),
                    parent.unwrap_or_default()
                )
            }),
            RecordKind::TrainingRun => self.payload_as::<TrainingRunPayload>().map(|p| {
                format!(
                    "model {} from {} dataset(s), seed {}, code {}",
                    p.model_hash,
                    p.dataset_roots.len(),
                    p.seed,
                    p.code_version
                )
            }),
            RecordKind::Scan => self.payload_as::<ScanPayload>().map(|p| {
                let target = match (&p.dataset_root, &p.model_hash) {
                    (Some(r), _) => format!("data {}", short(r)),
                    (None, Some(m)) => format!("model {m}"),
                    (None, None) => String::new(),
                };
                format!(
                    "{} on {target}: {} flagged{}",
                    p.detector,
                    p.flagged.len(),
                    p.verdict.map(|v| format!(", {v}")).unwrap_or_default()
                )
            }),
            RecordKind::GateDecision => self.payload_as::<GateDecisionPayload>().map(|p| {
                format!(
                    "{} candidate {}",
                    if p.passed { "PASS" } else { "FAIL" },
                    p.candidate_model_hash
                )
            }),
            RecordKind::Incident => self.payload_as::<IncidentPayload>().map(|p| p.summary),
            RecordKind::Note => self.payload_as::<NotePayload>().map(|p| p.text),
        };
        let mut text = text.unwrap_or_else(|| self.payload.to_string());
        if text.chars().count() > 100 {
            text = text.chars().take(97).collect::<String>() + "...";
        }
        text
    }
}

/// What kind of problem [`AuditLog::verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A line is not a record (not JSON, wrong fields, empty).
    Unparseable,
    /// The last line has no newline: an interrupted write or a cut file.
    TornTail,
    /// The record's content does not match its stored hash: edited in place.
    HashMismatch,
    /// `prev_hash` is not the previous record's hash: a record before it was replaced,
    /// or records were moved.
    BrokenLink,
    /// `seq` does not follow the previous record's: records deleted, inserted or reordered.
    OutOfSequence,
    /// The payload lacks its kind's fields, or the timestamp is not RFC 3339.
    InvalidRecord,
    /// A signature is malformed or does not verify.
    BadSignature,
    /// A signature is by another key than the required one.
    WrongKey,
    /// A record has no signature though a public key was required.
    Unsigned,
    /// Records that the head file (or an anchor) vouches for are gone from the end.
    Truncated,
    /// The record the head file names has another hash: rewritten history.
    HeadMismatch,
}

/// One problem, located by line (1-based) and, where known, by `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: usize,
    pub seq: Option<u64>,
    pub kind: ProblemKind,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "line {} (seq {seq}): {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// What [`AuditLog::verify`] checks beyond the chain.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Require every record to carry a valid signature by this key.
    pub pubkey: Option<VerifyingKey>,
    /// Require a record with this hash (a head hash kept outside the log) to be present.
    pub expect_head: Option<Digest>,
}

/// The outcome of verifying a log.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Complete lines in the log.
    pub lines: usize,
    /// Lines that parsed as records.
    pub records: usize,
    /// Records carrying a signature that verified.
    pub signed: usize,
    /// `seq` and hash of the last record, the value to anchor elsewhere.
    pub last_seq: Option<u64>,
    pub head: Option<Digest>,
    /// Everything wrong, in file order.
    pub problems: Vec<Problem>,
    /// Limits of what could be checked (e.g. no head file).
    pub notes: Vec<String>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The head file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    seq: u64,
    hash: Digest,
}

/// One complete line of the log.
struct Line {
    number: usize,
    parsed: Result<Record, String>,
}

/// A parsed log file.
struct Parsed {
    lines: Vec<Line>,
    /// Byte offset and length of a partial last line, if any.
    torn: Option<(u64, usize)>,
}

impl Parsed {
    fn from_bytes(bytes: &[u8]) -> Parsed {
        let mut lines = Vec::new();
        let mut start = 0usize;
        let mut torn = None;
        while start < bytes.len() {
            match bytes[start..].iter().position(|&b| b == b'\n') {
                Some(len) => {
                    let text = &bytes[start..start + len];
                    lines.push(Line {
                        number: lines.len() + 1,
                        parsed: parse_line(text),
                    });
                    start += len + 1;
                }
                None => {
                    torn = Some((start as u64, bytes.len() - start));
                    break;
                }
            }
        }
        Parsed { lines, torn }
    }

    fn records(&self) -> impl Iterator<Item = (usize, &Record)> {
        self.lines
            .iter()
            .filter_map(|l| l.parsed.as_ref().ok().map(|r| (l.number, r)))
    }

    fn last_record(&self) -> Option<&Record> {
        self.lines.last().and_then(|l| l.parsed.as_ref().ok())
    }
}

fn parse_line(text: &[u8]) -> Result<Record, String> {
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err("empty line".into());
    }
    serde_json::from_slice::<Record>(text).map_err(|e| format!("not a record: {e}"))
}

/// Checks seq order, hash links, hashes, payloads and (optionally) signatures.
fn chain_problems(parsed: &Parsed, signatures: Option<&VerifyOptions>) -> (Vec<Problem>, usize) {
    enum Prev<'a> {
        Start,
        Known(&'a Record, usize),
        Unknown,
    }
    let mut problems = Vec::new();
    let mut signed = 0;
    let mut prev = Prev::Start;
    for line in &parsed.lines {
        let record = match &line.parsed {
            Ok(r) => r,
            Err(message) => {
                problems.push(Problem {
                    line: line.number,
                    seq: None,
                    kind: ProblemKind::Unparseable,
                    message: message.clone(),
                });
                prev = Prev::Unknown;
                continue;
            }
        };
        let at = |kind, message: String| Problem {
            line: line.number,
            seq: Some(record.seq),
            kind,
            message,
        };
        if record.content_hash() != record.hash {
            problems.push(at(
                ProblemKind::HashMismatch,
                "content does not match the record's hash: the record was edited after it was written"
                    .into(),
            ));
        }
        match prev {
            Prev::Start | Prev::Known(..) => {
                let (expected_seq, expected_prev, prev_desc) = match prev {
                    Prev::Known(p, n) => (p.seq + 1, p.hash, format!("line {n} (seq {})", p.seq)),
                    _ => (0, Digest::ZERO, "the start of the log".to_string()),
                };
                if record.seq != expected_seq {
                    let detail = if record.seq > expected_seq {
                        format!(
                            "seq {expected_seq}..{} missing (deleted) or moved",
                            record.seq - 1
                        )
                    } else {
                        "this record is repeated or out of order".to_string()
                    };
                    problems.push(at(
                        ProblemKind::OutOfSequence,
                        format!("expected seq {expected_seq} after {prev_desc}: {detail}"),
                    ));
                } else if record.prev_hash != expected_prev {
                    problems.push(at(
                        ProblemKind::BrokenLink,
                        format!(
                            "prev_hash does not match the hash of {prev_desc}: that record was \
                             replaced or rewritten, or this one was inserted"
                        ),
                    ));
                }
            }
            Prev::Unknown => {}
        }
        if let Err(message) = record.kind.validate_payload(&record.payload) {
            problems.push(at(ProblemKind::InvalidRecord, message));
        }
        if humantime::parse_rfc3339_weak(&record.timestamp).is_err() {
            problems.push(at(
                ProblemKind::InvalidRecord,
                format!(
                    "timestamp '{}' is not RFC 3339",
                    record.timestamp.escape_debug()
                ),
            ));
        }
        if let Some(options) = signatures {
            match signature_problem(record, options) {
                Some(problem) => problems.push(at(problem.0, problem.1)),
                None if record.signature.is_some() => signed += 1,
                None => {}
            }
        }
        prev = Prev::Known(record, line.number);
    }
    (problems, signed)
}

fn signature_problem(record: &Record, options: &VerifyOptions) -> Option<(ProblemKind, String)> {
    let Some(sig) = &record.signature else {
        return options.pubkey.map(|key| {
            (
                ProblemKind::Unsigned,
                format!(
                    "not signed, but a signature by key {} is required",
                    key_id(&key)
                ),
            )
        });
    };
    let (public, signature) = match sig.parse() {
        Ok(parsed) => parsed,
        Err(e) => {
            return Some((
                ProblemKind::BadSignature,
                format!("malformed signature: {e}"),
            ))
        }
    };
    if let Some(required) = &options.pubkey {
        if public != *required {
            return Some((
                ProblemKind::WrongKey,
                format!(
                    "signed by key {}, not by the required key {}",
                    sig.key_id,
                    key_id(required)
                ),
            ));
        }
    }
    // The signature covers the stored hash; a content edit is reported as HashMismatch.
    if public
        .verify(&Record::signing_message(&record.hash), &signature)
        .is_err()
    {
        return Some((
            ProblemKind::BadSignature,
            format!("signature by key {} does not verify", sig.key_id),
        ));
    }
    None
}

/// A record found by [`AuditLog::trace`], with where it is in the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Traced<P> {
    pub seq: u64,
    pub line: usize,
    pub timestamp: String,
    pub payload: P,
}

/// A dataset version reached from a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TracedDataset {
    pub root: Digest,
    /// 0: a training run used it directly; 1: its parent; and so on.
    pub depth: usize,
    /// `dataset_version` records registering this root (empty if never registered).
    pub versions: Vec<Traced<DatasetVersionPayload>>,
}

/// Everything the log says about where a model came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// The model hash as recorded (resolved from a prefix if one was given).
    pub model_hash: String,
    pub training_runs: Vec<Traced<TrainingRunPayload>>,
    /// Dataset versions the runs trained on, then their ancestors (breadth first).
    pub datasets: Vec<TracedDataset>,
    /// Scans of those datasets or of the model.
    pub scans: Vec<Traced<ScanPayload>>,
    /// Gate decisions with the model as candidate or baseline.
    pub gate_decisions: Vec<Traced<GateDecisionPayload>>,
    /// Incidents naming the model or one of the datasets.
    pub incidents: Vec<Traced<IncidentPayload>>,
    /// Chain problems: when not empty, the trace rests on a log that fails verification.
    pub integrity_problems: Vec<Problem>,
}

/// The samples that changed between a dataset version and its parent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionDiff {
    pub root: Digest,
    pub parent_root: Digest,
    /// The diff, when both manifests were found and match their logged roots.
    pub diff: Option<ManifestDiff>,
    /// Why there is no diff.
    pub note: Option<String>,
}

impl Trace {
    /// For every traced version with a parent, loads both manifests (relative paths against
    /// `base_dir`, normally the log's directory), checks that each still has the logged root,
    /// and diffs them: the added and changed samples are where to look first.
    pub fn version_diffs(&self, base_dir: &Path, params: &CheckedDiffParams) -> Vec<VersionDiff> {
        let manifest_path = |root: &Digest| {
            self.datasets
                .iter()
                .filter(|d| d.root == *root)
                .flat_map(|d| &d.versions)
                .find_map(|v| v.payload.manifest_path.clone())
        };
        let load = |root: &Digest| -> Result<Manifest, String> {
            let rel = manifest_path(root).ok_or_else(|| {
                format!("no manifest_path logged for root {}", &root.to_hex()[..12])
            })?;
            let path = base_dir.join(&rel);
            let manifest = Manifest::load(&path).map_err(|e| e.to_string())?;
            if manifest.root() != *root {
                return Err(format!(
                    "{} now has root {}, not the logged {}: the manifest was replaced after logging",
                    path.display(),
                    manifest.root(),
                    root
                ));
            }
            Ok(manifest)
        };
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for dataset in &self.datasets {
            for version in &dataset.versions {
                let Some(parent) = version.payload.parent_root else {
                    continue;
                };
                if !seen.insert((dataset.root, parent)) {
                    continue;
                }
                let result = load(&parent).and_then(|old| {
                    load(&dataset.root).map(|new| ManifestDiff::between(&old, &new, params))
                });
                let (diff, note) = match result {
                    Ok(d) => (Some(d), None),
                    Err(e) => (None, Some(e)),
                };
                out.push(VersionDiff {
                    root: dataset.root,
                    parent_root: parent,
                    diff,
                    note,
                });
            }
        }
        out
    }
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
    fn read_parsed(&self) -> Result<Parsed> {
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

    /// Checks the whole log: every line parses, every hash matches its content, every link
    /// and seq follows, payloads are well-formed, signatures verify (all must be by
    /// `options.pubkey` when given), no partial last line, and nothing the head file or
    /// `options.expect_head` vouches for is missing. Every problem names its line.
    pub fn verify(&self, options: &VerifyOptions) -> Result<VerifyReport> {
        let parsed = self.read_parsed()?;
        let (mut problems, signed) = chain_problems(&parsed, Some(options));
        if let Some((_, len)) = parsed.torn {
            problems.push(Problem {
                line: parsed.lines.len() + 1,
                seq: None,
                kind: ProblemKind::TornTail,
                message: format!(
                    "incomplete last line ({len} bytes, no newline): an interrupted write or a \
                     cut file; the next append removes it"
                ),
            });
        }
        let mut notes = Vec::new();
        if self.head_path().exists() {
            problems.extend(self.head_problems(&parsed)?);
        } else {
            notes.push(format!(
                "no head file {}: whole records cut off the end cannot be detected; keep the \
                 head hash elsewhere and check it with --expect-head",
                self.head_path().display()
            ));
        }
        if let Some(anchor) = options.expect_head {
            if !parsed.records().any(|(_, r)| r.hash == anchor) {
                problems.push(Problem {
                    line: parsed.lines.len() + 1,
                    seq: None,
                    kind: ProblemKind::Truncated,
                    message: format!(
                        "no record has the expected hash {anchor}: the log was cut before it or rewritten"
                    ),
                });
            }
        }
        problems.sort_by_key(|p| p.line);
        let last = parsed.last_record();
        Ok(VerifyReport {
            lines: parsed.lines.len(),
            records: parsed.records().count(),
            signed,
            last_seq: last.map(|r| r.seq),
            head: last.map(|r| r.hash),
            problems,
            notes,
        })
    }

    /// Checks the head file against the log; no head file, no problems.
    fn head_problems(&self, parsed: &Parsed) -> Result<Vec<Problem>> {
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

    /// Walks back from a model: the training runs that produced `model_hash` (exact, case
    /// insensitive, or a unique prefix of at least 8 characters), the dataset versions they
    /// used and those versions' ancestors via `parent_root`, scans of any of them or of the
    /// model, gate decisions on the model and incidents naming it or its data.
    pub fn trace(&self, model_hash: &str) -> Result<Trace> {
        let parsed = self.read_parsed()?;
        let integrity_problems = chain_problems(&parsed, None).0;
        let typed = |kind: RecordKind| {
            let parsed = &parsed;
            parsed.records().filter(move |(_, r)| r.kind == kind)
        };
        let query = model_hash.to_ascii_lowercase();
        let known: BTreeSet<String> = typed(RecordKind::TrainingRun)
            .filter_map(|(_, r)| r.payload_as::<TrainingRunPayload>())
            .map(|p| p.model_hash.to_ascii_lowercase())
            .collect();
        let resolved = if known.contains(&query) {
            query.clone()
        } else {
            let matches: Vec<&String> = known.iter().filter(|m| m.starts_with(&query)).collect();
            match matches.as_slice() {
                [one] if query.len() >= 8 => (*one).clone(),
                [_, _, ..] if query.len() >= 8 => {
                    return Err(ProvenanceError::invalid(format!(
                        "model hash prefix '{model_hash}' is ambiguous: {}",
                        matches
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
                _ => query.clone(),
            }
        };
        let is_model = |m: &str| m.eq_ignore_ascii_case(&resolved);

        let training_runs: Vec<Traced<TrainingRunPayload>> = typed(RecordKind::TrainingRun)
            .filter_map(|(line, r)| {
                let p = r.payload_as::<TrainingRunPayload>()?;
                is_model(&p.model_hash).then(|| traced(line, r, p))
            })
            .collect();

        // Breadth-first over dataset versions, from the runs' roots through parent_root.
        let mut datasets: Vec<TracedDataset> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<(Digest, usize)> = training_runs
            .iter()
            .flat_map(|run| run.payload.dataset_roots.iter().map(|r| (*r, 0)))
            .collect();
        while let Some((root, depth)) = queue.pop_front() {
            if !seen.insert(root) {
                continue;
            }
            let versions: Vec<Traced<DatasetVersionPayload>> = typed(RecordKind::DatasetVersion)
                .filter_map(|(line, r)| {
                    let p = r.payload_as::<DatasetVersionPayload>()?;
                    (p.root == root).then(|| traced(line, r, p))
                })
                .collect();
            for v in &versions {
                if let Some(parent) = v.payload.parent_root {
                    queue.push_back((parent, depth + 1));
                }
            }
            datasets.push(TracedDataset {
                root,
                depth,
                versions,
            });
        }

        let scans = typed(RecordKind::Scan)
            .filter_map(|(line, r)| {
                let p = r.payload_as::<ScanPayload>()?;
                let relevant = p.dataset_root.is_some_and(|d| seen.contains(&d))
                    || p.model_hash.as_deref().is_some_and(is_model);
                relevant.then(|| traced(line, r, p))
            })
            .collect();
        let gate_decisions = typed(RecordKind::GateDecision)
            .filter_map(|(line, r)| {
                let p = r.payload_as::<GateDecisionPayload>()?;
                let relevant = is_model(&p.candidate_model_hash)
                    || p.baseline_model_hash.as_deref().is_some_and(is_model);
                relevant.then(|| traced(line, r, p))
            })
            .collect();
        let incidents = typed(RecordKind::Incident)
            .filter_map(|(line, r)| {
                let p = r.payload_as::<IncidentPayload>()?;
                let relevant = p.model_hash.as_deref().is_some_and(is_model)
                    || p.dataset_roots.iter().any(|d| seen.contains(d));
                relevant.then(|| traced(line, r, p))
            })
            .collect();
        let model_hash = training_runs
            .first()
            .map(|r| r.payload.model_hash.clone())
            .unwrap_or_else(|| model_hash.to_string());
        Ok(Trace {
            model_hash,
            training_runs,
            datasets,
            scans,
            gate_decisions,
            incidents,
            integrity_problems,
        })
    }
}

fn traced<P>(line: usize, record: &Record, payload: P) -> Traced<P> {
    Traced {
        seq: record.seq,
        line,
        timestamp: record.timestamp.clone(),
        payload,
    }
}

fn read_all(file: &mut File, path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
    file.read_to_end(&mut bytes).map_err(io_err(path))?;
    Ok(bytes)
}
