//! The retraining gate: a candidate model against the deployed one on a trusted holdout.
//!
//! The same library calls, in the same order, as `mithridate gate`: load both models
//! (safetensors + card), predict the holdout, run the trigger probes and (optionally) the
//! reverse-engineered triggers, judge everything under the policy, then, only once the
//! decision exists, write the JUnit file and append the audit record. The result is the
//! dict `mithridate gate --json` prints, so both agree to the bit.

use crate::errors::{detached, invalid, json_to_py, py_to_json};
use crate::failure::{Failure, OrFailure};
use crate::provenance::{load_named, PyDataset};
use mithridate_attack::GroundTruth;
use mithridate_data::{Dataset, Split};
use mithridate_engine::Classifier;
use mithridate_gate::{junit, CheckedPolicy, GatePolicy, GateReport, ParamGuard};
use mithridate_provenance::{keys, AuditLog, RecordKind, SigningKey};
use pyo3::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Where the gate's policy comes from.
enum PolicySource {
    Default,
    File(PathBuf),
    Toml(String),
    Table(Value),
}

impl PolicySource {
    fn checked(&self) -> Result<CheckedPolicy, Failure> {
        match self {
            PolicySource::Default => GatePolicy::default().check().failed(),
            PolicySource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .context(|| format!("reading policy {}", path.display()))?;
                GatePolicy::from_toml_str(&text).context(|| path.display().to_string())
            }
            PolicySource::Toml(text) => GatePolicy::from_toml_str(text).failed(),
            PolicySource::Table(value) => {
                let policy: GatePolicy = serde_json::from_value(value.clone())
                    .map_err(|e| Failure::invalid(format!("gate policy: {e}")))?;
                policy.check().failed()
            }
        }
    }
}

/// What the gate is asked to do, besides the models and the holdout.
struct Outputs {
    junit: Option<PathBuf>,
    audit: Option<PathBuf>,
    key: Option<PathBuf>,
}

fn load_model(role: &str, path: &Path) -> Result<Classifier, Failure> {
    Classifier::load(path)
        .map(|(model, _card)| model)
        .context(|| format!("loading {role} model {}", path.display()))
}

#[allow(clippy::too_many_arguments)]
fn run_gate(
    baseline_path: &Path,
    candidate_path: &Path,
    holdout: &Dataset,
    holdout_name: &str,
    policy: &PolicySource,
    probe_paths: &[PathBuf],
    reverse_trigger: bool,
    outputs: &Outputs,
) -> Result<Value, Failure> {
    let policy = policy.checked()?;
    // The signing key is read before any work, so a missing key writes nothing (the CLI
    // reads it just before appending, after the JUnit file).
    let key = outputs
        .key
        .as_deref()
        .map(keys::read_signing_key)
        .transpose()
        .failed()?;
    let baseline = load_model("baseline", baseline_path)?;
    let candidate = load_model("candidate", candidate_path)?;
    // A holdout whose labels cover fewer classes than the models know is read as theirs.
    let widened;
    let holdout = if holdout.num_classes() < baseline.num_classes() {
        widened = holdout.clone().widen_classes(baseline.num_classes());
        &widened
    } else {
        holdout
    };
    mithridate_gate::check_class_counts(baseline.num_classes(), candidate.num_classes())
        .failed()?;
    let comparison = mithridate_gate::compare_models(&baseline, &candidate, holdout).failed()?;
    let probes = probe_paths
        .iter()
        .map(|path| {
            let truth = GroundTruth::read(path).failed()?;
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            mithridate_gate::run_probe(&name, &truth, &baseline, &candidate, holdout).failed()
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let triggers = if reverse_trigger {
        let params = mithridate_gate::ReverseParams::default().check().failed()?;
        Some(mithridate_gate::reverse_triggers(&baseline, &candidate, holdout, &params).failed()?)
    } else {
        None
    };
    let report =
        mithridate_gate::evaluate_with_triggers(&policy, &comparison, &probes, triggers.as_ref());
    let baseline_hash = mithridate_gate::model_hash(baseline_path).failed()?;
    let candidate_hash = mithridate_gate::model_hash(candidate_path).failed()?;
    if let Some(path) = &outputs.junit {
        let properties = [
            ("baseline", baseline_path.display().to_string()),
            ("baseline_hash", baseline_hash.clone()),
            ("candidate", candidate_path.display().to_string()),
            ("candidate_hash", candidate_hash.clone()),
            ("holdout", holdout_name.to_string()),
            ("holdout_samples", comparison.samples.to_string()),
        ];
        junit::write_atomic(path, junit::to_junit_xml(&report, &properties).as_bytes()).failed()?;
    }
    let audit_record = match &outputs.audit {
        Some(log) => Some(append_decision(
            log,
            key.as_ref(),
            &report,
            (&baseline_hash, &candidate_hash),
            holdout_name,
        )?),
        None => None,
    };
    Ok(json!({
        "passed": report.passed(),
        "baseline": baseline_path,
        "baseline_hash": baseline_hash,
        "candidate": candidate_path,
        "candidate_hash": candidate_hash,
        "holdout": holdout_name,
        "report": report,
        "reasons": report.reasons(),
        "audit_record": audit_record,
    }))
}

/// Appends the decision as a `gate_decision` record, as `mithridate gate --audit` does.
fn append_decision(
    log_path: &Path,
    key: Option<&SigningKey>,
    report: &GateReport,
    (baseline_hash, candidate_hash): (&str, &str),
    holdout: &str,
) -> Result<Value, Failure> {
    let value =
        mithridate_gate::audit::decision_payload(report, baseline_hash, candidate_hash, holdout);
    let log = AuditLog::open(log_path).failed()?;
    let record = log.append(RecordKind::GateDecision, value, key).failed()?;
    Ok(json!({"log": log_path, "seq": record.seq, "hash": record.hash}))
}

/// Runs the gate. `holdout`: a dataset name or `.npz` path (its test split, as the CLI
/// loads it) or a `LoadedData`; `policy`: None (the default policy), a dict, a TOML string
/// (`policy_toml`) or a TOML file (`policy_file`). Returns the CLI's `--json` dict.
#[pyfunction]
#[pyo3(signature = (baseline, candidate, holdout, holdout_name=None, policy=None,
    policy_toml=None, policy_file=None, probes=Vec::new(), reverse_trigger=false, junit=None,
    audit=None, key=None))]
#[allow(clippy::too_many_arguments)]
fn gate(
    py: Python<'_>,
    baseline: PathBuf,
    candidate: PathBuf,
    holdout: &Bound<'_, PyAny>,
    holdout_name: Option<String>,
    policy: Option<&Bound<'_, PyAny>>,
    policy_toml: Option<String>,
    policy_file: Option<PathBuf>,
    probes: Vec<PathBuf>,
    reverse_trigger: bool,
    junit: Option<PathBuf>,
    audit: Option<PathBuf>,
    key: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    let given = [
        policy.is_some(),
        policy_toml.is_some(),
        policy_file.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(invalid(
            "give at most one of policy (a dict), policy_toml and policy_file",
        ));
    }
    let policy = match (policy, policy_toml, policy_file) {
        (Some(table), _, _) => PolicySource::Table(py_to_json(table, "policy")?),
        (_, Some(text), _) => PolicySource::Toml(text),
        (_, _, Some(path)) => PolicySource::File(path),
        _ => PolicySource::Default,
    };
    if key.is_some() && audit.is_none() {
        return Err(invalid("key signs the audit record: give audit too"));
    }
    let outputs = Outputs { junit, audit, key };
    let value = if let Ok(name) = holdout.extract::<String>() {
        let shown = holdout_name.unwrap_or_else(|| name.clone());
        detached(py, || {
            let data =
                load_named(&name, Split::Test).context(|| format!("loading holdout '{name}'"))?;
            run_gate(
                &baseline,
                &candidate,
                &data,
                &shown,
                &policy,
                &probes,
                reverse_trigger,
                &outputs,
            )
        })?
    } else {
        let data = holdout.cast::<PyDataset>().map_err(|_| {
            invalid("holdout: expected a dataset name, an .npz path or arrays (x, y[, ids])")
        })?;
        let data = data.borrow();
        let dataset: &Dataset = &data.inner;
        let shown = holdout_name.unwrap_or_else(|| "arrays".to_string());
        detached(py, || {
            run_gate(
                &baseline,
                &candidate,
                dataset,
                &shown,
                &policy,
                &probes,
                reverse_trigger,
                &outputs,
            )
        })?
    };
    json_to_py(py, &value)
}

/// The built-in default policy as a dict.
#[pyfunction]
fn gate_default_policy(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let value = serde_json::to_value(GatePolicy::default()).map_err(|e| invalid(e.to_string()))?;
    json_to_py(py, &value)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gate, m)?)?;
    m.add_function(wrap_pyfunction!(gate_default_policy, m)?)?;
    Ok(())
}
