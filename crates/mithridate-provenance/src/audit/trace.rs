//! Incident trace: from a model hash back to the training runs, dataset versions, scans, gate
//! decisions and incidents behind it.

use super::chain::{chain_problems, Problem};
use super::log::AuditLog;
use super::record::{
    DatasetVersionPayload, GateDecisionPayload, IncidentPayload, Record, RecordKind, ScanPayload,
    TrainingRunPayload,
};
use crate::diff::{CheckedDiffParams, ManifestDiff};
use crate::manifest::Manifest;
use crate::merkle::Digest;
use crate::{ProvenanceError, Result};
use serde::Serialize;
use std::collections::{BTreeSet, VecDeque};
use std::path::Path;

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

impl AuditLog {
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
