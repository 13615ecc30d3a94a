//! `mithridate gate`: the retraining gate. Compares a candidate model with the deployed one on a
//! trusted holdout under a TOML policy; exit 0 pass, 1 fail, 2 usage error, 3 I/O. Either model
//! may be a Mithridate model or an ONNX classifier (a PyTorch export, say).

use super::model_arg::{load_model, OnnxInputArgs, RunModel};
use crate::output::{self, Context, Verdict};
use anyhow::{Context as _, Result};
use clap::Args;
use mithridate_attack::GroundTruth;
use mithridate_data::{DataHome, Dataset, Split};
use mithridate_gate::{junit, CheckStatus, GateError, GatePolicy, GateReport, ParamGuard};
use mithridate_provenance::{keys, AuditLog, ProvenanceError, RecordKind};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct GateArgs {
    /// The deployed model: a Mithridate model (safetensors with its `.json` sidecar) or an ONNX
    /// classifier (`.onnx`, read with the --input-* flags below).
    #[arg(long)]
    pub baseline: PathBuf,
    /// The retrained model asking to replace it (Mithridate or `.onnx`, like --baseline; the
    /// two may differ in format and architecture, not in classes or input).
    #[arg(long)]
    pub candidate: PathBuf,
    /// Trusted holdout: a built-in dataset name (its test split) or an .npz file. It must not
    /// come from the pipeline that produced the candidate's training data.
    #[arg(long)]
    pub holdout: String,
    /// Policy file (TOML; see crates/mithridate-gate/examples/gate.toml). Default: the
    /// built-in default policy.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Trigger probe: a backdoor ground truth (`*.truth.json` from `mithridate poison`, or a
    /// red team's) whose trigger is stamped on the holdout. Repeatable.
    #[arg(long)]
    pub probe: Vec<PathBuf>,
    /// Also reverse-engineer a trigger per class under both models (Neural Cleanse against
    /// the baseline) and check how much smaller the candidate's is: finds backdoors without
    /// knowing the trigger. Images and tabular data; costs 2 x classes x 300 gradient steps.
    #[arg(long)]
    pub reverse_trigger: bool,
    /// Write the checks as JUnit XML here (atomically), for CI test reports.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Append the decision to this audit log (created if missing).
    #[arg(long)]
    pub audit: Option<PathBuf>,
    /// Sign the audit record with this secret key.
    #[arg(long, requires = "audit")]
    pub key: Option<PathBuf>,
    /// How the holdout becomes the input of the `.onnx` model(s); the same flags apply to
    /// both when both are ONNX, and are an error when neither is.
    #[command(flatten)]
    pub onnx: OnnxInputArgs,
}

pub fn run(args: GateArgs, ctx: &Context) -> Result<()> {
    let policy = match &args.policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading policy {}", path.display()))?;
            GatePolicy::from_toml_str(&text).with_context(|| path.display().to_string())?
        }
        None => GatePolicy::default().check()?,
    };
    let (baseline, candidate) = load_models(&args)?;
    let home = DataHome::from_env()?;
    let holdout = mithridate_data::load(&home, &args.holdout, Split::Test)
        .with_context(|| format!("loading holdout '{}'", args.holdout))?;
    let holdout = check_models(&baseline, &candidate, holdout)?;
    let (baseline, candidate) = (baseline.gradient_model(), candidate.gradient_model());
    let comparison = mithridate_gate::compare_models(baseline, candidate, &holdout)?;
    let probes = args
        .probe
        .iter()
        .map(|path| {
            let truth = GroundTruth::read(path)?;
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            Ok(mithridate_gate::run_probe(
                &name, &truth, baseline, candidate, &holdout,
            )?)
        })
        .collect::<Result<Vec<_>>>()?;
    let triggers = if args.reverse_trigger {
        let params = mithridate_gate::ReverseParams::default().check()?;
        Some(mithridate_gate::reverse_triggers(
            baseline, candidate, &holdout, &params,
        )?)
    } else {
        None
    };
    let report =
        mithridate_gate::evaluate_with_triggers(&policy, &comparison, &probes, triggers.as_ref());

    let baseline_hash = mithridate_gate::model_hash(&args.baseline)?;
    let candidate_hash = mithridate_gate::model_hash(&args.candidate)?;
    if let Some(path) = &args.junit {
        let properties = [
            ("baseline", args.baseline.display().to_string()),
            ("baseline_hash", baseline_hash.clone()),
            ("candidate", args.candidate.display().to_string()),
            ("candidate_hash", candidate_hash.clone()),
            ("holdout", args.holdout.clone()),
            ("holdout_samples", comparison.samples.to_string()),
        ];
        junit::write_atomic(path, junit::to_junit_xml(&report, &properties).as_bytes())?;
    }
    let audit_record = match &args.audit {
        Some(log) => Some(append_decision(
            log,
            &args,
            &report,
            &baseline_hash,
            &candidate_hash,
        )?),
        None => None,
    };

    if ctx.json {
        ctx.print_json(&json!({
            "passed": report.passed(),
            "baseline": args.baseline,
            "baseline_hash": baseline_hash,
            "candidate": args.candidate,
            "candidate_hash": candidate_hash,
            "holdout": args.holdout,
            "report": report,
            "audit_record": audit_record,
        }))?;
    } else {
        print_report(&report, &args, audit_record.as_ref());
    }
    if report.passed() {
        Ok(())
    } else {
        Err(Verdict(format!("gate failed: {}", report.reasons().join("; "))).into())
    }
}

/// Loads both models. The ONNX input flags go to the `.onnx` model(s) only, so a Mithridate
/// baseline can be gated against an ONNX candidate (and the reverse); with no ONNX model they
/// are refused as by every other command.
fn load_models(args: &GateArgs) -> Result<(RunModel, RunModel)> {
    let any_onnx = [&args.baseline, &args.candidate]
        .iter()
        .any(|p| mithridate_onnx::is_onnx_path(p));
    let none = OnnxInputArgs {
        input_scale: 1.0,
        ..OnnxInputArgs::default()
    };
    let load = |role: &str, path: &Path| {
        let onnx = if any_onnx && !mithridate_onnx::is_onnx_path(path) {
            &none
        } else {
            &args.onnx
        };
        load_model(path, onnx).with_context(|| role.to_string())
    };
    Ok((
        load("baseline", &args.baseline)?,
        load("candidate", &args.candidate)?,
    ))
}

/// Checks that both models take the holdout and output the same classes, and returns the
/// holdout declaring the models' class count (labels covering fewer classes, such as a
/// holdout of digits 0-6 for a 10-class model, are read as the models'). The messages for
/// Mithridate models are those `compare_models` gave when it took only them.
fn check_models(baseline: &RunModel, candidate: &RunModel, holdout: Dataset) -> Result<Dataset> {
    let classes = |role: &str, model: &RunModel| -> Result<usize> {
        Ok(model
            .num_classes(&holdout)
            .map_err(|e| GateError::Incompatible(format!("{role} model vs holdout: {e}")))?)
    };
    let k = classes("baseline", baseline)?;
    mithridate_gate::check_class_counts(k, classes("candidate", candidate)?)?;
    let holdout = holdout.widen_classes(k);
    for (role, model) in [("baseline", baseline), ("candidate", candidate)] {
        model
            .check_compatible(&holdout)
            .map_err(|e| GateError::Incompatible(format!("{role} model vs holdout: {e}")))?;
    }
    Ok(holdout)
}

/// Appends the decision as a `gate_decision` record (see
/// [`mithridate_gate::audit::decision_payload`] for its fields).
fn append_decision(
    log_path: &Path,
    args: &GateArgs,
    report: &GateReport,
    baseline_hash: &str,
    candidate_hash: &str,
) -> Result<serde_json::Value> {
    let value = mithridate_gate::audit::decision_payload(
        report,
        baseline_hash,
        candidate_hash,
        &args.holdout,
    );
    let key = args
        .key
        .as_deref()
        .map(keys::read_signing_key)
        .transpose()?;
    let log = AuditLog::open(log_path)?;
    let record = match log.append(RecordKind::GateDecision, value, key.as_ref()) {
        Ok(r) => r,
        // As in `audit append`: a log that fails verification is a failed check.
        Err(e @ ProvenanceError::CorruptLog { .. }) => return Err(Verdict(e.to_string()).into()),
        Err(e) => return Err(e.into()),
    };
    Ok(json!({"log": log_path, "seq": record.seq, "hash": record.hash}))
}

fn print_report(report: &GateReport, args: &GateArgs, audit: Option<&serde_json::Value>) {
    let rows: Vec<Vec<String>> = report
        .checks
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                match c.status {
                    CheckStatus::Passed => "pass",
                    CheckStatus::Failed => "FAIL",
                    CheckStatus::Skipped => "skip",
                }
                .to_string(),
                format!("{:.4}", c.value),
                format!("{:.4}", c.threshold),
                c.detail.clone(),
            ]
        })
        .collect();
    println!(
        "{}",
        output::table(&["check", "status", "value", "threshold", "detail"], &rows)
    );
    println!(
        "gate {}: candidate {} vs baseline {} on {} samples of '{}'",
        if report.passed() { "PASSED" } else { "FAILED" },
        args.candidate.display(),
        args.baseline.display(),
        report.comparison.samples,
        args.holdout
    );
    if let Some(path) = &args.junit {
        println!("JUnit report written to {}", path.display());
    }
    if let Some(a) = audit {
        println!(
            "decision appended to {} as record seq {}",
            a["log"].as_str().unwrap_or_default(),
            a["seq"]
        );
    }
}
