//! The loop's driver: bootstrap, resume from the checkpoint, run steps, summarise.
//!
//! Run directory layout: `state.json` (checkpoint), `audit.jsonl` (+ `.head`, the
//! hash-chained log), `manifests/` (signed manifest of the bootstrap set and every batch),
//! `store/` (accepted batches, `.npz`), `quarantine/` (blocked batches), `models/` (weights
//! by hash).

use crate::campaign::Campaign;
use crate::config::ContinualSpec;
use crate::ledger::Ledger;
use crate::models;
use crate::monitor::Monitors;
use crate::state::{Deployment, RunIdentity, RunState, FORMAT};
use crate::step::StepContext;
use crate::stream::{derive_seed, Stream};
use crate::summary::Outcome;
use crate::{ContinualError, Result};
use mithridate_data::Dataset;
use mithridate_provenance::{
    AuditLog, DatasetVersionPayload, Manifest, NotePayload, Payload, SigningKey, TrainingRunPayload,
};
use std::path::{Path, PathBuf};

/// The code version recorded in training runs.
pub const CODE_VERSION: &str = concat!("mithridate-continual ", env!("CARGO_PKG_VERSION"));

/// One run to make (or resume).
pub struct RunRequest {
    /// Dataset name as given (recorded; the sets are passed separately).
    pub data: String,
    pub seed: u64,
    pub spec: ContinualSpec,
    pub campaign: std::sync::Arc<dyn Campaign>,
    /// The run directory (created if missing; a checkpoint there is resumed).
    pub dir: PathBuf,
    /// Stop after this many steps of this call (simulates a kill; `None`: run to the end).
    pub max_steps: Option<usize>,
}

/// A deterministic Ed25519 key for `purpose`: the simulated feed's and attacker's keys.
pub(crate) fn simulated_key(seed: u64, purpose: &str) -> SigningKey {
    let mut h = blake3::Hasher::new();
    h.update(b"mithridate-continual simulated key\0");
    h.update(&seed.to_le_bytes());
    h.update(purpose.as_bytes());
    SigningKey::from_bytes(h.finalize().as_bytes())
}

pub(crate) fn ensure_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(crate::error::io_err(path))
}

/// Runs (or resumes) the loop on the `train` / `test` splits of the request's dataset and
/// returns the outcome of every step so far.
pub fn run(request: RunRequest, train: &Dataset, test: &Dataset) -> Result<Outcome> {
    let RunRequest {
        data,
        seed,
        spec,
        campaign,
        dir,
        max_steps,
    } = request;
    let stream = Stream::new(train, test, &spec, seed)?;
    for sub in ["manifests", "store", "quarantine", "models"] {
        ensure_dir(&dir.join(sub))?;
    }
    let identity = RunIdentity {
        data: data.clone(),
        seed,
        config: spec.to_json(),
        campaign: campaign.name().to_string(),
        campaign_params: campaign.parameters(),
    };
    let log = AuditLog::open(dir.join("audit.jsonl"))?;
    let mut state = match RunState::load(&dir)? {
        Some(state) => {
            if state.identity != identity {
                return Err(ContinualError::invalid(format!(
                    "{} holds a different run (data, seed, configuration or campaign differ): \
                     choose another --out directory",
                    dir.display()
                )));
            }
            state
        }
        None => bootstrap(&dir, &spec, &stream, identity, seed, &log)?,
    };
    let mut ledger = Ledger::open(log, state.audit_records)?;
    let mut deployed = models::load(&dir, &state.deployed.model_hash, &spec, &stream.bootstrap)?;
    let mut monitors = calibrate(&spec, &stream, &deployed, &state.deployed, seed)?;
    let ctx = StepContext {
        dir: &dir,
        spec: &spec,
        stream: &stream,
        campaign: campaign.as_ref(),
        seed,
        data: &data,
        feed_key: simulated_key(seed, "feed"),
        attacker_key: simulated_key(seed, "attacker"),
    };
    let mut done = 0usize;
    while state.next_step < stream.len() && max_steps.is_none_or(|m| done < m) {
        let t = state.next_step;
        // A deployment recalibrates `monitors` inside the step.
        ctx.step(t, &mut state, &mut deployed, &mut monitors, &mut ledger)?;
        state.next_step = t + 1;
        state.audit_records = ledger.position();
        state.save(&dir)?;
        done += 1;
    }
    Ok(Outcome::of(
        &state,
        stream.len(),
        campaign.first_poisoned_batch(stream.len()),
    ))
}

/// Monitors of the deployed model (calibration seeded by the step that deployed it, so a
/// resumed run recalibrates identically).
pub(crate) fn calibrate(
    spec: &ContinualSpec,
    stream: &Stream,
    model: &mithridate_engine::Classifier,
    deployment: &Deployment,
    seed: u64,
) -> Result<Monitors> {
    let p = spec.params();
    let step = deployment.step.map_or(0, |s| s as u64 + 1);
    Monitors::calibrate(
        model,
        &stream.serving,
        p.traffic,
        p.calibration_windows,
        p.false_alarm_rate,
        p.strip_overlays,
        derive_seed(seed, "monitors", step),
    )
}

/// Trains and deploys the bootstrap model on the trusted bootstrap set, writes its manifest
/// and first audit records, and checkpoints.
fn bootstrap(
    dir: &Path,
    spec: &ContinualSpec,
    stream: &Stream,
    identity: RunIdentity,
    seed: u64,
    log: &AuditLog,
) -> Result<RunState> {
    if log.path().exists() {
        return Err(ContinualError::invalid(format!(
            "{} exists without a checkpoint: refusing to extend a log this run did not start",
            log.path().display()
        )));
    }
    let feed_key = simulated_key(seed, "feed");
    let mut manifest = Manifest::build(
        &stream.bootstrap,
        Some(format!("{} bootstrap", identity.data)),
        None,
    );
    manifest.sign(&feed_key);
    let manifest_rel = "manifests/bootstrap.json";
    manifest.save(&dir.join(manifest_rel))?;
    mithridate_data::npz::write(&dir.join("store").join("bootstrap.npz"), &stream.bootstrap)?;
    let model = models::train_scratch(spec, &stream.bootstrap, seed, u64::MAX)?;
    let hash = models::save(dir, &model)?;
    let gate_calibration =
        crate::gate_calibration::calibrate(spec, &model, &stream.bootstrap, &stream.holdout, seed)?;
    let mut ledger = Ledger::open(log.clone(), 0)?;
    let root = manifest.root();
    ledger.append(
        DatasetVersionPayload::KIND,
        serde_json::to_value(DatasetVersionPayload {
            root,
            name: "bootstrap".into(),
            manifest_path: Some(manifest_rel.into()),
            parent_root: None,
            num_samples: Some(stream.bootstrap.len() as u64),
        })
        .unwrap_or_default(),
    )?;
    ledger.append(
        TrainingRunPayload::KIND,
        serde_json::to_value(TrainingRunPayload {
            model_hash: hash.clone(),
            dataset_roots: vec![root],
            config: identity.config.clone(),
            seed,
            code_version: CODE_VERSION.into(),
        })
        .unwrap_or_default(),
    )?;
    let calibrated = gate_calibration.as_ref().map_or(String::new(), |c| {
        format!(
            "; gate calibrated on {} twins: accuracy drop <= {:.3}, class recall drop <= {:.3}, \
             flip rate <= {:.3}, negative flip rate <= {:.3}",
            c.twins.len(),
            c.policy.max_accuracy_drop,
            c.policy.max_class_recall_drop,
            c.policy.max_flip_rate,
            c.policy.max_negative_flip_rate
        )
    });
    let mut note = serde_json::to_value(NotePayload {
        text: format!("bootstrap: deploy {}{calibrated}", &hash[..12]),
    })
    .unwrap_or_default();
    note["continual"] = serde_json::json!({
        "step": null, "decision": "deploy", "deployed_model_hash": hash, "batches": [],
    });
    ledger.append(NotePayload::KIND, note)?;
    let deployment = Deployment {
        model_hash: hash,
        step: None,
        batches: Vec::new(),
    };
    let mut ingested: Vec<u64> = stream.bootstrap.ids().to_vec();
    ingested.sort_unstable();
    let state = RunState {
        format: FORMAT.into(),
        identity,
        next_step: 0,
        deployed: deployment.clone(),
        deployments: vec![deployment],
        accepted: Vec::new(),
        ingested_ids: ingested,
        excluded_ids: Vec::new(),
        last_root: root.to_hex(),
        bootstrap_root: root.to_hex(),
        steps: Vec::new(),
        campaign_truth: None,
        audit_records: ledger.position(),
        gate_calibration,
    };
    state.save(dir)?;
    Ok(state)
}
