//! Reading a log's lines and checking its chain: seq order, hash links, hashes, payloads and
//! (optionally) signatures, every problem located by line. Both appending and verifying
//! start here.

use super::record::Record;
use crate::keys::key_id;
use crate::merkle::Digest;
use crate::Result;
use ed25519_dalek::{Verifier, VerifyingKey};
use serde::Serialize;

/// What kind of problem [`AuditLog::verify`](super::AuditLog::verify) found.
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

/// What [`AuditLog::verify`](super::AuditLog::verify) checks beyond the chain.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Require every record to carry a valid signature by this key.
    pub pubkey: Option<VerifyingKey>,
    /// Require a record with this hash (a head hash kept outside the log) to be present.
    pub expect_head: Option<Digest>,
}

/// One complete line of the log.
pub(super) struct Line {
    pub(super) number: usize,
    pub(super) parsed: Result<Record, String>,
}

/// A parsed log file.
pub(super) struct Parsed {
    pub(super) lines: Vec<Line>,
    /// Byte offset and length of a partial last line, if any.
    pub(super) torn: Option<(u64, usize)>,
}

impl Parsed {
    pub(super) fn from_bytes(bytes: &[u8]) -> Parsed {
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

    pub(super) fn records(&self) -> impl Iterator<Item = (usize, &Record)> {
        self.lines
            .iter()
            .filter_map(|l| l.parsed.as_ref().ok().map(|r| (l.number, r)))
    }

    pub(super) fn last_record(&self) -> Option<&Record> {
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
pub(super) fn chain_problems(
    parsed: &Parsed,
    signatures: Option<&VerifyOptions>,
) -> (Vec<Problem>, usize) {
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
