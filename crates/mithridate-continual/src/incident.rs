//! Incident response: from a blocked batch or a serving alert, back through the audit log to
//! the batches and sample ids responsible, the models deployed since they arrived and the
//! model to roll back to; and the clean-and-retrain that follows.
//!
//! Everything here reads the run's audit log (verified first), not the checkpoint: the trace
//! is what the tamper-evident record says.
//!
//! - A **blocked** batch names its own suspects (screen suspects, stored samples that no
//!   longer match their manifests, or the whole batch when its manifest is not trusted).
//!   Nothing trained on it was deployed; the rollback target is the model serving then.
//! - An **alert** on model `M` (a serving monitor fired): the responsible batches are those
//!   `M` was trained on that the last alert-free deployment `D` was not; `D` is the rollback
//!   target, and [`clean_and_retrain`] screens those batches again with `D` to name samples.

use crate::config::ContinualParams;
use crate::models;
use crate::screen::screen_batch;
use crate::step::batch_name;
use crate::stream::{concat, derive_seed};
use crate::{ContinualError, Result};
use mithridate_core::ParamGuard;
use mithridate_data::Dataset;
use mithridate_provenance::{
    AuditLog, IncidentPayload, NotePayload, Payload, RecordKind, VerifyOptions,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A deployment as the log records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedDeployment {
    pub seq: u64,
    /// `None`: the bootstrap model.
    pub step: Option<usize>,
    pub model_hash: String,
    pub batches: Vec<usize>,
}

/// One incident, traced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentTrace {
    pub seq: u64,
    pub step: usize,
    /// `blocked` or `alert`.
    pub kind: String,
    pub summary: String,
    /// Batches responsible (indices; names are `batch-NNNN`).
    pub batches: Vec<usize>,
    /// Sample ids the log names (empty for alerts until [`clean_and_retrain`] re-screens).
    pub sample_ids: Vec<u64>,
    /// Models deployed since the first responsible batch arrived (hashes, oldest first).
    pub deployed_since: Vec<String>,
    /// The last model deployed before the first responsible batch.
    pub rollback_target: String,
}

/// The run's incidents and deployments, from its audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunTrace {
    pub log_verified: bool,
    pub deployments: Vec<LoggedDeployment>,
    pub incidents: Vec<IncidentTrace>,
}

/// The audit log of run directory `dir`.
pub fn log_of(dir: &Path) -> Result<AuditLog> {
    let path = dir.join("audit.jsonl");
    if !path.exists() {
        return Err(ContinualError::invalid(format!(
            "{}: no audit log (is {} a continual run directory?)",
            path.display(),
            dir.display()
        )));
    }
    Ok(AuditLog::open(path)?)
}

fn continual_field(payload: &serde_json::Value) -> Option<&serde_json::Value> {
    payload.get("continual")
}

fn usize_list(v: Option<&serde_json::Value>) -> Vec<usize> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_u64())
                .map(|x| x as usize)
                .collect()
        })
        .unwrap_or_default()
}

/// Traces every incident of the run in `dir`.
pub fn trace(dir: &Path) -> Result<RunTrace> {
    let log = log_of(dir)?;
    let verified = log.verify(&VerifyOptions::default())?.is_ok();
    let records = log.records()?;
    let mut deployments = Vec::new();
    for r in records.iter().filter(|r| r.kind == RecordKind::Note) {
        let Some(c) = continual_field(&r.payload) else {
            continue;
        };
        if c.get("decision").and_then(|d| d.as_str()) != Some("deploy") {
            continue;
        }
        let hash = c
            .get("deployed_model_hash")
            .and_then(|h| h.as_str())
            .unwrap_or_default();
        if deployments
            .last()
            .is_some_and(|d: &LoggedDeployment| d.model_hash == hash)
        {
            continue;
        }
        deployments.push(LoggedDeployment {
            seq: r.seq,
            step: c.get("step").and_then(|s| s.as_u64()).map(|s| s as usize),
            model_hash: hash.to_string(),
            batches: usize_list(c.get("batches")),
        });
    }
    let bootstrap = deployments
        .first()
        .map(|d| d.model_hash.clone())
        .ok_or_else(|| ContinualError::invalid("the audit log records no deployment"))?;
    let deployed_at =
        |seq: u64| -> Option<&LoggedDeployment> { deployments.iter().rfind(|d| d.seq < seq) };
    let mut alerted: BTreeSet<String> = BTreeSet::new();
    let mut incidents = Vec::new();
    for r in records.iter().filter(|r| r.kind == RecordKind::Incident) {
        let Some(payload) = r.payload_as::<IncidentPayload>() else {
            continue;
        };
        let Some(c) = continual_field(&r.payload) else {
            continue;
        };
        let step = c.get("step").and_then(|s| s.as_u64()).unwrap_or(0) as usize;
        let kind = c
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("blocked")
            .to_string();
        let (batches, rollback) = if kind == "alert" {
            let current = deployed_at(r.seq);
            if let Some(m) = current {
                alerted.insert(m.model_hash.clone());
            }
            let clean = deployments
                .iter()
                .rfind(|d| d.seq < r.seq && !alerted.contains(&d.model_hash));
            let base: BTreeSet<usize> = clean
                .map(|d| d.batches.iter().copied().collect())
                .unwrap_or_default();
            let batches: Vec<usize> = current
                .map(|m| {
                    m.batches
                        .iter()
                        .copied()
                        .filter(|b| !base.contains(b))
                        .collect()
                })
                .unwrap_or_default();
            (
                batches,
                clean.map_or(bootstrap.clone(), |d| d.model_hash.clone()),
            )
        } else {
            let batches = usize_list(c.get("batches"));
            let first = batches.iter().copied().min().unwrap_or(step);
            let before = deployments
                .iter()
                .rfind(|d| d.step.is_none_or(|s| s < first))
                .map_or(bootstrap.clone(), |d| d.model_hash.clone());
            (batches, before)
        };
        let first = batches.iter().copied().min().unwrap_or(step);
        let deployed_since = deployments
            .iter()
            .filter(|d| d.step.is_some_and(|s| s >= first) && d.seq < r.seq)
            .map(|d| d.model_hash.clone())
            .collect();
        incidents.push(IncidentTrace {
            seq: r.seq,
            step,
            kind,
            summary: payload.summary,
            batches,
            sample_ids: payload.sample_ids,
            deployed_since,
            rollback_target: rollback,
        });
    }
    Ok(RunTrace {
        log_verified: verified,
        deployments,
        incidents,
    })
}

/// What [`clean_and_retrain`] produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cleaned {
    /// Ids removed: every id the incidents name, plus suspects found by re-screening the
    /// batches behind alerts with their rollback model.
    pub removed: Vec<u64>,
    pub samples: usize,
    pub dataset: PathBuf,
    pub model_hash: String,
    pub model: PathBuf,
}

/// Removes every sample the run's incidents name (re-screening the batches behind alerts with
/// the rollback model) from the accepted training data, writes it as `out` (`.npz`), retrains
/// from scratch under the run's configuration, stores the model under `models/` and records
/// the clean-up in the audit log.
pub fn clean_and_retrain(dir: &Path, out: &Path) -> Result<Cleaned> {
    let state = crate::state::RunState::load(dir)?.ok_or_else(|| {
        ContinualError::invalid(format!("{}: no checkpoint (state.json)", dir.display()))
    })?;
    let params: ContinualParams = serde_json::from_value(state.identity.config.clone())
        .map_err(|e| ContinualError::invalid(format!("state.json: configuration: {e}")))?;
    let spec = params.check()?;
    let run_trace = trace(dir)?;
    if !run_trace.log_verified {
        return Err(ContinualError::invalid(format!(
            "{}: the audit log fails verification; run `mithridate audit verify` before cleaning",
            dir.display()
        )));
    }
    let bootstrap = mithridate_data::npz::read(&dir.join("store").join("bootstrap.npz"))?;
    let mut removed: BTreeSet<u64> = state.excluded_ids.iter().copied().collect();
    for incident in &run_trace.incidents {
        removed.extend(incident.sample_ids.iter().copied());
        if incident.kind == "alert" {
            let rollback = models::load(dir, &incident.rollback_target, &spec, &bootstrap)?;
            for &b in &incident.batches {
                let stored = mithridate_data::npz::read(
                    &dir.join("store").join(format!("{}.npz", batch_name(b))),
                )?;
                let probs = rollback.predict_proba(&stored)?;
                let result = screen_batch(
                    &probs,
                    &stored,
                    &spec.screen_params(),
                    derive_seed(state.identity.seed, "rescreen", b as u64),
                );
                removed.extend(result.named);
            }
        }
    }
    let mut parts: Vec<Dataset> = vec![bootstrap];
    for &b in &state.accepted {
        parts.push(mithridate_data::npz::read(
            &dir.join("store").join(format!("{}.npz", batch_name(b))),
        )?);
    }
    let refs: Vec<&Dataset> = parts.iter().collect();
    let all = concat(&refs)?;
    let keep: Vec<usize> = (0..all.len())
        .filter(|&r| !removed.contains(&all.ids()[r]))
        .collect();
    let cleaned = all.select(&keep)?;
    mithridate_data::npz::write(out, &cleaned)?;
    let model = models::train_scratch(&spec, &cleaned, state.identity.seed, u64::MAX - 1)?;
    let hash = models::save(dir, &model)?;
    let removed: Vec<u64> = removed
        .into_iter()
        .filter(|id| all.ids().contains(id))
        .collect();
    let log = log_of(dir)?;
    let mut note = serde_json::to_value(NotePayload {
        text: format!(
            "clean-and-retrain: removed {} samples, retrained {} on {}",
            removed.len(),
            &hash[..12],
            cleaned.len()
        ),
    })
    .unwrap_or_default();
    note["continual"] =
        serde_json::json!({"clean_and_retrain": {"removed": removed.len(), "model_hash": hash}});
    log.append(NotePayload::KIND, note, None)?;
    Ok(Cleaned {
        removed,
        samples: cleaned.len(),
        dataset: out.to_path_buf(),
        model_hash: hash.clone(),
        model: models::model_path(dir, &hash),
    })
}
