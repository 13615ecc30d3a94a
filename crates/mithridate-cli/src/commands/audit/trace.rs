//! `mithridate audit trace`: a model back to the data and decisions that produced it.

use crate::output::{Context, Verdict};
use anyhow::{bail, Result};
use mithridate_core::ParamGuard;
use mithridate_provenance::{AuditLog, DiffParams, Digest};
use serde_json::json;
use std::path::Path;

pub(super) fn trace(
    log_path: &Path,
    model_hash: &str,
    share_threshold: f64,
    ctx: &Context,
) -> Result<()> {
    let params = DiffParams { share_threshold }.check()?;
    let log = AuditLog::open(log_path)?;
    let trace = log.trace(model_hash)?;
    let base = log_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let diffs = trace.version_diffs(base, &params);
    if ctx.json {
        ctx.print_json(&json!({ "trace": trace, "version_diffs": diffs }))?;
    } else {
        print_trace(&trace, &diffs);
    }
    if trace.training_runs.is_empty() {
        bail!(Verdict(format!(
            "no training_run record has model hash '{model_hash}'"
        )));
    }
    if let Some(first) = trace.integrity_problems.first() {
        bail!(Verdict(format!(
            "the log fails verification, so this trace cannot be trusted; first problem: {first}"
        )));
    }
    Ok(())
}

fn print_trace(
    trace: &mithridate_provenance::Trace,
    diffs: &[mithridate_provenance::audit::VersionDiff],
) {
    println!("model {}", trace.model_hash);
    for run in &trace.training_runs {
        println!(
            "  trained at seq {} ({}): seed {}, code {}, config {}",
            run.seq, run.timestamp, run.payload.seed, run.payload.code_version, run.payload.config
        );
    }
    for dataset in &trace.datasets {
        let indent = "  ".repeat(dataset.depth + 1);
        let relation = if dataset.depth == 0 {
            "trained on"
        } else {
            "derived from"
        };
        match dataset.versions.first() {
            Some(v) => println!(
                "{indent}{relation} {} root {} (seq {}{})",
                v.payload.name,
                dataset.root,
                v.seq,
                v.payload
                    .manifest_path
                    .as_ref()
                    .map(|p| format!(", manifest {p}"))
                    .unwrap_or_default()
            ),
            None => println!(
                "{indent}{relation} root {} (never registered as a dataset_version)",
                dataset.root
            ),
        }
    }
    for scan in &trace.scans {
        println!(
            "  scan seq {}: {} flagged {} sample(s){}",
            scan.seq,
            scan.payload.detector,
            scan.payload.flagged.len(),
            scan.payload
                .verdict
                .as_ref()
                .map(|v| format!(", verdict {v}"))
                .unwrap_or_default()
        );
    }
    for gate in &trace.gate_decisions {
        println!(
            "  gate seq {}: {}{}",
            gate.seq,
            if gate.payload.passed {
                "passed"
            } else {
                "FAILED"
            },
            if gate.payload.reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", gate.payload.reasons.join("; "))
            }
        );
    }
    for incident in &trace.incidents {
        println!(
            "  incident seq {}: {}",
            incident.seq, incident.payload.summary
        );
    }
    for d in diffs {
        let short = |x: &Digest| x.to_hex()[..12].to_string();
        match (&d.diff, &d.note) {
            (Some(diff), _) => {
                let shown: Vec<String> = diff.added.iter().take(20).map(u64::to_string).collect();
                println!(
                    "  {} vs parent {}: {}; added ids: {}{}",
                    short(&d.root),
                    short(&d.parent_root),
                    diff.summary(),
                    shown.join(", "),
                    if diff.added.len() > 20 { ", ..." } else { "" }
                );
            }
            (None, note) => println!(
                "  {} vs parent {}: no diff ({})",
                short(&d.root),
                short(&d.parent_root),
                note.as_deref().unwrap_or("unknown")
            ),
        }
    }
    for problem in &trace.integrity_problems {
        println!("  LOG PROBLEM {problem}");
    }
}
