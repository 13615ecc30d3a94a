//! `mithridate audit`: the hash-chained audit log of dataset versions, training runs,
//! scans, gate decisions and incidents.

mod trace;

use trace::trace;

use crate::output::{self, Context, Verdict};
use anyhow::{Context as _, Result};
use clap::Subcommand;
use mithridate_provenance::{
    keys, AuditLog, DiffParams, Digest, ProvenanceError, RecordKind, VerifyOptions,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Append one record (exclusive file lock, one write + fsync; a partial last line left by
    /// a killed writer is truncated first). Refuses to extend a log that fails verification.
    Append {
        /// The log file (JSON lines; created if missing).
        #[arg(long)]
        log: PathBuf,
        /// dataset_version, training_run, scan, gate_decision, incident or note.
        #[arg(long, value_parser = parse_kind)]
        kind: RecordKind,
        /// The payload: JSON text, or @FILE to read it from a file.
        #[arg(long)]
        payload: String,
        /// Sign the record with this secret key.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// List the records.
    Show {
        #[arg(long)]
        log: PathBuf,
    },
    /// Check the chain: every hash, link, seq, payload and signature, no partial last line,
    /// nothing cut off the end. Names the line of every problem; exit 1 if any.
    Verify {
        #[arg(long)]
        log: PathBuf,
        /// Require every record to be signed by this public key.
        #[arg(long)]
        pubkey: Option<PathBuf>,
        /// Require a record with this hash (a head hash kept outside the log).
        #[arg(long)]
        expect_head: Option<String>,
    },
    /// Walk back from a model hash (or a unique prefix of 8+ characters) to the training
    /// runs, dataset versions (and their ancestors), scans, gate decisions and incidents
    /// behind it, and diff each dataset version against its parent.
    Trace {
        #[arg(long)]
        log: PathBuf,
        model_hash: String,
        /// Flag classes whose share moved by more than this fraction between versions.
        #[arg(long, default_value_t = DiffParams::default().share_threshold)]
        share_threshold: f64,
    },
}

fn parse_kind(text: &str) -> Result<RecordKind, String> {
    text.parse()
}

pub fn run(cmd: AuditCommand, ctx: &Context) -> Result<()> {
    match cmd {
        AuditCommand::Append {
            log,
            kind,
            payload,
            key,
        } => append(&log, kind, &payload, key.as_deref(), ctx),
        AuditCommand::Show { log } => show(&log, ctx),
        AuditCommand::Verify {
            log,
            pubkey,
            expect_head,
        } => verify(&log, pubkey.as_deref(), expect_head.as_deref(), ctx),
        AuditCommand::Trace {
            log,
            model_hash,
            share_threshold,
        } => trace(&log, &model_hash, share_threshold, ctx),
    }
}

fn read_payload(text: &str) -> Result<Value> {
    let (json_text, origin) = match text.strip_prefix('@') {
        Some(file) => (
            std::fs::read_to_string(file)
                .with_context(|| format!("reading payload file {file}"))?,
            file.to_string(),
        ),
        None => (text.to_string(), "--payload".to_string()),
    };
    serde_json::from_str(&json_text).map_err(|e| anyhow::anyhow!("{origin} is not valid JSON: {e}"))
}

fn append(
    log_path: &Path,
    kind: RecordKind,
    payload: &str,
    key: Option<&Path>,
    ctx: &Context,
) -> Result<()> {
    let payload = read_payload(payload)?;
    let key = key.map(keys::read_signing_key).transpose()?;
    let log = AuditLog::open(log_path)?;
    let record = match log.append(kind, payload, key.as_ref()) {
        Ok(r) => r,
        // A log that fails verification is a failed check, not a usage error.
        Err(e @ ProvenanceError::CorruptLog { .. }) => return Err(Verdict(e.to_string()).into()),
        Err(e) => return Err(e.into()),
    };
    if ctx.json {
        ctx.print_json(&serde_json::to_value(&record)?)
    } else {
        println!(
            "appended {} record seq {} to {} (hash {}{})",
            record.kind,
            record.seq,
            log_path.display(),
            record.hash,
            record
                .signature
                .as_ref()
                .map(|s| format!(", signed by key {}", s.key_id))
                .unwrap_or_default()
        );
        Ok(())
    }
}

fn show(log_path: &Path, ctx: &Context) -> Result<()> {
    let records = AuditLog::open(log_path)?.records()?;
    if ctx.json {
        return ctx.print_json(&json!({ "records": records }));
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.seq.to_string(),
                r.timestamp.clone(),
                r.kind.to_string(),
                r.hash.to_hex()[..12].to_string(),
                r.signature
                    .as_ref()
                    .map(|s| s.key_id.clone())
                    .unwrap_or_default(),
                r.summary(),
            ]
        })
        .collect();
    println!(
        "{}",
        output::table(
            &["seq", "time", "kind", "hash", "signed by", "summary"],
            &rows
        )
    );
    Ok(())
}

fn verify(
    log_path: &Path,
    pubkey: Option<&Path>,
    expect_head: Option<&str>,
    ctx: &Context,
) -> Result<()> {
    let options = VerifyOptions {
        pubkey: pubkey.map(keys::read_verifying_key).transpose()?,
        expect_head: expect_head
            .map(|h| Digest::from_hex(h).map_err(|e| anyhow::anyhow!("--expect-head: {e}")))
            .transpose()?,
    };
    let report = AuditLog::open(log_path)?.verify(&options)?;
    if ctx.json {
        ctx.print_json(&serde_json::to_value(&report)?)?;
    } else {
        for problem in &report.problems {
            println!("{problem}");
        }
        for note in &report.notes {
            println!("note: {note}");
        }
        println!(
            "{}: {} records, {} signed{}{}",
            log_path.display(),
            report.records,
            report.signed,
            report
                .head
                .map(|h| format!(", head {h} (seq {})", report.last_seq.unwrap_or(0)))
                .unwrap_or_default(),
            if report.is_ok() { ", chain valid" } else { "" }
        );
    }
    if let Some(first) = report.problems.first() {
        return Err(Verdict(format!(
            "audit log fails verification ({} problem(s)); first: {first}",
            report.problems.len()
        ))
        .into());
    }
    Ok(())
}
