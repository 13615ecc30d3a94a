//! [`AuditLog::verify`]: the chain, a torn tail and the head file, as one report.

use super::chain::{chain_problems, Parsed, Problem, ProblemKind, VerifyOptions};
use super::log::AuditLog;
use crate::merkle::Digest;
use crate::Result;
use serde::Serialize;

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

impl AuditLog {
    /// Checks the whole log: every line parses, every hash matches its content, every link
    /// and seq follows, payloads are well-formed, signatures verify (all must be by
    /// `options.pubkey` when given), no partial last line, and nothing the head file or
    /// `options.expect_head` vouches for is missing. Every problem names its line.
    pub fn verify(&self, options: &VerifyOptions) -> Result<VerifyReport> {
        let parsed = self.read_parsed()?;
        let mut head_problems = Vec::new();
        let mut notes = Vec::new();
        if self.head_path().exists() {
            head_problems = self.head_problems(&parsed)?;
        } else {
            notes.push(format!(
                "no head file {}: whole records cut off the end cannot be detected; keep the \
                 head hash elsewhere and check it with --expect-head",
                self.head_path().display()
            ));
        }
        Ok(report(&parsed, options, head_problems, notes))
    }

    /// [`AuditLog::verify`] on log content held in memory (fuzzing, logs read elsewhere):
    /// the same checks less the head file's, which the caller does not have.
    pub fn verify_bytes(bytes: &[u8], options: &VerifyOptions) -> VerifyReport {
        report(&Parsed::from_bytes(bytes), options, Vec::new(), Vec::new())
    }
}

/// The report on `parsed`: its chain, a torn tail, `head_problems` (from the head file) and
/// `options.expect_head`, every problem in file order.
fn report(
    parsed: &Parsed,
    options: &VerifyOptions,
    head_problems: Vec<Problem>,
    notes: Vec<String>,
) -> VerifyReport {
    let (mut problems, signed) = chain_problems(parsed, Some(options));
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
    problems.extend(head_problems);
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
    VerifyReport {
        lines: parsed.lines.len(),
        records: parsed.records().count(),
        signed,
        last_seq: last.map(|r| r.seq),
        head: last.map(|r| r.hash),
        problems,
        notes,
    }
}
