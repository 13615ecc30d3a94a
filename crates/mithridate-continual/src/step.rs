//! One step of the loop: ingest (manifest, signature, id overlap, storage verification),
//! screen and scan, retrain, gate, deploy or block, monitor serving traffic, and record
//! every decision in the audit log.

use crate::campaign::{Campaign, CampaignInput, Signer};
use crate::config::ContinualSpec;
use crate::ingest::{id_list, overlapping_ids};
use crate::ledger::Ledger;
use crate::models;
use crate::monitor::Monitors;
use crate::screen::{screen_batch, ScreenResult};
use crate::simulate::CODE_VERSION;
use crate::state::{Decision, Deployment, DetectorFlags, RunState, StepRecord};
use crate::stream::{concat, derive_seed, Stream};
use crate::{ContinualError, Result};
use mithridate_attack::GroundTruth;
use mithridate_core::ParamGuard;
use mithridate_data::Dataset;
use mithridate_engine::Classifier;
use mithridate_provenance::{
    DatasetVersionPayload, DiffParams, Digest, IncidentPayload, Manifest, NotePayload, Payload,
    ScanPayload, SigningKey, TrainingRunPayload,
};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;

/// What every step shares.
pub(crate) struct StepContext<'a> {
    pub dir: &'a Path,
    pub spec: &'a ContinualSpec,
    pub stream: &'a Stream,
    pub campaign: &'a dyn Campaign,
    pub seed: u64,
    pub data: &'a str,
    pub feed_key: SigningKey,
    pub attacker_key: SigningKey,
}

pub(crate) fn batch_name(t: usize) -> String {
    format!("batch-{t:04}")
}

fn root_of(hex: &str) -> Result<Digest> {
    Digest::from_hex(hex).map_err(|e| ContinualError::invalid(format!("bad root {hex}: {e}")))
}

fn value<P: serde::Serialize>(payload: &P) -> serde_json::Value {
    serde_json::to_value(payload).unwrap_or_default()
}

impl StepContext<'_> {
    fn store_path(&self, t: usize) -> std::path::PathBuf {
        self.dir
            .join("store")
            .join(format!("{}.npz", batch_name(t)))
    }

    fn manifest_rel(t: usize) -> String {
        format!("manifests/{}.json", batch_name(t))
    }

    /// Re-hashes every accepted batch in storage against its signed manifest; returns the
    /// stored ids that changed and are not excluded yet, with the roots they belong to.
    fn verify_storage(&self, state: &RunState) -> Result<(Vec<u64>, Vec<Digest>)> {
        let params = DiffParams::default().check()?;
        let excluded: BTreeSet<u64> = state.excluded_ids.iter().copied().collect();
        let mut changed = BTreeSet::new();
        let mut roots = Vec::new();
        for &j in &state.accepted {
            let manifest = Manifest::load(&self.dir.join(Self::manifest_rel(j)))?;
            let stored = mithridate_data::npz::read(&self.store_path(j))?;
            let diff = manifest.verify_data(&stored, &params);
            let ids: Vec<u64> = diff
                .added
                .iter()
                .chain(&diff.removed)
                .chain(&diff.changed_features)
                .copied()
                .chain(diff.changed_labels.iter().map(|c| c.id))
                .filter(|id| !excluded.contains(id))
                .collect();
            if !ids.is_empty() {
                roots.push(manifest.root());
                changed.extend(ids);
            }
        }
        Ok((changed.into_iter().collect(), roots))
    }

    /// The training set of a scratch retrain: the bootstrap set, the accepted batches as
    /// stored (minus excluded ids), and the new batch.
    fn accumulated(&self, state: &RunState, batch: &Dataset) -> Result<Dataset> {
        let excluded: BTreeSet<u64> = state.excluded_ids.iter().copied().collect();
        let mut parts = vec![self.stream.bootstrap.clone()];
        for &j in &state.accepted {
            let stored = mithridate_data::npz::read(&self.store_path(j))?;
            let keep: Vec<usize> = (0..stored.len())
                .filter(|&r| !excluded.contains(&stored.ids()[r]))
                .collect();
            parts.push(stored.select(&keep)?);
        }
        parts.push(batch.clone());
        let refs: Vec<&Dataset> = parts.iter().collect();
        concat(&refs)
    }

    /// Runs step `t`; returns whether a new model was deployed.
    pub fn step(
        &self,
        t: usize,
        state: &mut RunState,
        deployed: &mut Classifier,
        monitors: &mut Monitors,
        ledger: &mut Ledger,
    ) -> Result<bool> {
        let p = self.spec.params();
        let feed = self.stream.batch(t)?;
        let injection = self.campaign.inject(&CampaignInput {
            step: t,
            batch: &feed.data,
            deployed,
            seed: derive_seed(self.seed, "campaign", t as u64),
        })?;
        let batch = injection.data;
        let mut poisoned_ids = injection
            .truth
            .as_ref()
            .map(GroundTruth::poisoned_ids)
            .unwrap_or_default();
        remember_goal(state, injection.truth.as_ref());

        // The attacker with write access to storage (split-view) acts before the retrain reads it.
        let mut tampered_ids = Vec::new();
        if let Some(&last) = state.accepted.last() {
            let stored = mithridate_data::npz::read(&self.store_path(last))?;
            let tamper_seed = derive_seed(self.seed, "tamper", t as u64);
            if let Some(altered) = self.campaign.tamper(t, &stored, tamper_seed)? {
                tampered_ids = altered.truth.poisoned_ids();
                remember_goal(state, Some(&altered.truth));
                mithridate_data::npz::write(&self.store_path(last), &altered.data)?;
            }
        }

        // Ingest: manifest signed by whoever delivered the batch, verified against the feed key.
        let mut manifest = Manifest::build(
            &batch,
            Some(format!("{} {}", self.data, batch_name(t))),
            None,
        );
        match self.campaign.signer(t) {
            Signer::Feed => manifest.sign(&self.feed_key),
            Signer::Attacker => manifest.sign(&self.attacker_key),
        }
        let manifest_rel = Self::manifest_rel(t);
        manifest.save(&self.dir.join(&manifest_rel))?;
        let delivered = Manifest::load(&self.dir.join(&manifest_rel))?;
        let batch_root = delivered.root();
        let mut block_reasons = Vec::new();
        let mut named: BTreeSet<u64> = BTreeSet::new();
        let signature = delivered.verify_signature(&self.feed_key.verifying_key());
        let signature_problem = signature.as_ref().err().map(|e| e.to_string());
        if let Some(problem) = &signature_problem {
            block_reasons.push(format!(
                "manifest signature of {}: {problem}",
                batch_name(t)
            ));
            named.extend(batch.ids().iter().copied());
        }
        let diff_params = DiffParams::default().check()?;
        let data_diff = delivered.verify_data(&batch, &diff_params);
        if !data_diff.is_clean() {
            block_reasons.push(format!("{} does not match its manifest", batch_name(t)));
        }
        let overlapping = overlapping_ids(&state.ingested_ids, batch.ids());
        if !overlapping.is_empty() {
            block_reasons.push(format!(
                "{} repeats {} already ingested ids: {}",
                batch_name(t),
                overlapping.len(),
                id_list(&overlapping)
            ));
            named.extend(overlapping.iter().copied());
        }
        let (changed_in_storage, changed_roots) = self.verify_storage(state)?;
        if !changed_in_storage.is_empty() {
            block_reasons.push(format!(
                "storage changed after signing: {} samples no longer match their manifests: {}",
                changed_in_storage.len(),
                id_list(&changed_in_storage)
            ));
            named.extend(changed_in_storage.iter().copied());
            state
                .excluded_ids
                .extend(changed_in_storage.iter().copied());
            state.excluded_ids.sort_unstable();
        }

        // Screen and scan the new batch with the deployed model.
        let probs = deployed.predict_proba(&batch)?;
        let screen_result = screen_batch(
            &probs,
            &batch,
            &self.spec.screen_params(),
            derive_seed(self.seed, "screen", t as u64),
        );
        if screen_result.alarm {
            block_reasons.push(screen_reason(&screen_result));
            named.extend(screen_result.named.iter().copied());
        }
        let detectors = self.run_detectors(&batch, deployed, t)?;

        // Retrain and gate only what got through ingestion.
        let prev_hash = state.deployed.model_hash.clone();
        let mut candidate = None;
        let mut gate = None;
        if block_reasons.is_empty() {
            let accumulated = match p.retrain {
                crate::config::Retrain::Scratch => self.accumulated(state, &batch)?,
                crate::config::Retrain::Finetune => batch.clone(),
            };
            let model = models::candidate(
                self.spec,
                deployed,
                &accumulated,
                &batch,
                self.seed,
                t as u64,
            )?;
            let comparison =
                mithridate_gate::compare_models(deployed, &model, &self.stream.holdout)?;
            let calibrated = state
                .gate_calibration
                .as_ref()
                .map(|c| c.policy.clone().check())
                .transpose()?;
            let policy = calibrated.as_ref().unwrap_or(self.spec.gate());
            let report = mithridate_gate::evaluate(policy, &comparison, &[]);
            if !report.passed() {
                block_reasons.push(format!("gate: {}", report.reasons().join("; ")));
            }
            let hash = models::save(self.dir, &model)?;
            candidate = Some((model, hash));
            gate = Some(report);
        }
        let decision = if block_reasons.is_empty() {
            Decision::Deploy
        } else {
            Decision::Block
        };

        // Store or quarantine the batch; update the state.
        let root_hex = batch_root.to_hex();
        let mut newly_ingested: Vec<u64> = batch.ids().to_vec();
        state.ingested_ids.append(&mut newly_ingested);
        state.ingested_ids.sort_unstable();
        state.ingested_ids.dedup();
        let redeployed = decision == Decision::Deploy;
        if redeployed {
            mithridate_data::npz::write(&self.store_path(t), &batch)?;
            state.accepted.push(t);
            if let Some((model, hash)) = candidate.take() {
                *deployed = model;
                let deployment = Deployment {
                    model_hash: hash,
                    step: Some(t),
                    batches: state.accepted.clone(),
                };
                state.deployed = deployment.clone();
                state.deployments.push(deployment);
            }
        } else {
            let path = self
                .dir
                .join("quarantine")
                .join(format!("{}.npz", batch_name(t)));
            mithridate_data::npz::write(&path, &batch)?;
        }

        // Audit: what arrived, what was found, what was trained, what was decided.
        ledger.append(
            DatasetVersionPayload::KIND,
            value(&DatasetVersionPayload {
                root: batch_root,
                name: batch_name(t),
                manifest_path: Some(manifest_rel),
                parent_root: Some(root_of(&state.last_root)?).filter(|r| *r != batch_root),
                num_samples: Some(batch.len() as u64),
            }),
        )?;
        ledger.append(
            ScanPayload::KIND,
            value(&ScanPayload {
                detector: "label-contradiction".into(),
                dataset_root: Some(batch_root),
                model_hash: None,
                flagged: screen_result.named.clone(),
                verdict: Some(if screen_result.alarm {
                    screen_reason(&screen_result)
                } else {
                    "clean".into()
                }),
            }),
        )?;
        for d in &detectors {
            ledger.append(
                ScanPayload::KIND,
                value(&ScanPayload {
                    detector: d.detector.clone(),
                    dataset_root: Some(batch_root),
                    model_hash: None,
                    flagged: d.flagged.clone(),
                    verdict: Some(format!("{} flagged", d.flagged.len())),
                }),
            )?;
        }
        for root in &changed_roots {
            ledger.append(
                ScanPayload::KIND,
                value(&ScanPayload {
                    detector: "manifest-verification".into(),
                    dataset_root: Some(*root),
                    model_hash: None,
                    flagged: changed_in_storage.clone(),
                    verdict: Some("stored samples differ from the signed manifest".into()),
                }),
            )?;
        }
        let candidate_hash = gate.as_ref().and_then(|_| {
            if redeployed {
                Some(state.deployed.model_hash.clone())
            } else {
                candidate.as_ref().map(|(_, h)| h.clone())
            }
        });
        if let (Some(report), Some(hash)) = (&gate, &candidate_hash) {
            let mut roots = vec![root_of(&state.bootstrap_root)?];
            for s in &state.steps {
                if state.accepted.contains(&s.step) {
                    roots.push(root_of(&s.batch_root)?);
                }
            }
            roots.push(batch_root);
            ledger.append(
                TrainingRunPayload::KIND,
                value(&TrainingRunPayload {
                    model_hash: hash.clone(),
                    dataset_roots: roots,
                    config: self.spec.to_json(),
                    seed: self.seed,
                    code_version: CODE_VERSION.into(),
                }),
            )?;
            ledger.append(
                mithridate_provenance::RecordKind::GateDecision,
                mithridate_gate::audit::decision_payload(
                    report,
                    &prev_hash,
                    hash,
                    "continual holdout",
                ),
            )?;
        }
        let named: Vec<u64> = named.into_iter().collect();
        let mut note = value(&NotePayload {
            text: match decision {
                Decision::Deploy => format!(
                    "{}: deploy {}",
                    batch_name(t),
                    &state.deployed.model_hash[..12]
                ),
                Decision::Block => {
                    format!("{}: blocked: {}", batch_name(t), block_reasons.join(" | "))
                }
            },
        });
        note["continual"] = json!({
            "step": t,
            "batch": batch_name(t),
            "batch_root": root_hex,
            "decision": decision,
            "deployed_model_hash": state.deployed.model_hash,
            "batches": state.deployed.batches,
            "reasons": block_reasons,
        });
        ledger.append(NotePayload::KIND, note)?;
        if decision == Decision::Block && !named.is_empty() {
            let mut incident = value(&IncidentPayload {
                summary: format!("{} blocked: {}", batch_name(t), block_reasons.join(" | ")),
                model_hash: candidate_hash.clone(),
                dataset_roots: std::iter::once(batch_root)
                    .chain(changed_roots.iter().copied())
                    .collect(),
                sample_ids: named.clone(),
            });
            incident["continual"] = json!({"step": t, "batches": [t], "kind": "blocked"});
            ledger.append(IncidentPayload::KIND, incident)?;
        }

        // Serve: the attacker sends triggered requests once its campaign has started.
        let traffic = self.traffic(t, state)?;
        let thresholds = if redeployed {
            crate::simulate::calibrate(
                self.spec,
                self.stream,
                deployed,
                &state.deployed,
                self.seed,
            )?
        } else {
            monitors.clone()
        };
        let reading = thresholds.read(deployed, &traffic, t)?;
        if !reading.alerts.is_empty() {
            let mut incident = value(&IncidentPayload {
                summary: format!(
                    "serving alert after {}: {} on model {}",
                    batch_name(t),
                    reading.alerts.join(", "),
                    &state.deployed.model_hash[..12]
                ),
                model_hash: Some(state.deployed.model_hash.clone()),
                dataset_roots: vec![batch_root],
                sample_ids: Vec::new(),
            });
            incident["continual"] =
                json!({"step": t, "batches": state.deployed.batches, "kind": "alert"});
            ledger.append(IncidentPayload::KIND, incident)?;
        }

        // Evaluation only: the deployed model's accuracy and the campaign's success.
        let accuracy = mithridate_pipeline::attack::accuracy(deployed, &self.stream.serving)?;
        let asr = match &state.campaign_truth {
            Some(truth) => {
                mithridate_pipeline::attack::assess_model(truth, deployed, &self.stream.serving)?
                    .success_rate()
            }
            None => None,
        };
        poisoned_ids.sort_unstable();
        state.steps.push(StepRecord {
            step: t,
            batch_root: root_hex.clone(),
            batch_samples: batch.len(),
            poisoned_ids,
            tampered_ids,
            signature_ok: signature_problem.is_none(),
            signature_problem,
            overlapping_ids: overlapping,
            changed_in_storage,
            screen: screen_result,
            detectors,
            candidate_hash,
            gate_passed: gate.as_ref().map(|g| g.passed()),
            gate_reasons: gate.as_ref().map(|g| g.reasons()).unwrap_or_default(),
            decision,
            block_reasons,
            named_ids: named,
            deployed_hash: state.deployed.model_hash.clone(),
            deployed_accuracy: crate::stats::round9(accuracy),
            deployed_asr: asr.map(crate::stats::round9),
            thresholds: thresholds.thresholds.clone(),
            monitors: reading,
        });
        state.last_root = root_hex;
        *monitors = thresholds;
        Ok(redeployed)
    }

    fn run_detectors(
        &self,
        batch: &Dataset,
        deployed: &Classifier,
        t: usize,
    ) -> Result<Vec<DetectorFlags>> {
        let names = &self.spec.params().detectors;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let specs = names
            .iter()
            .map(|n| mithridate_pipeline::defence::DetectorSpec::new(n, &json!({}), None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let recipe = mithridate_pipeline::train::ModelSpec::default()
            .scan_recipe(self.spec.architecture(), batch.len())?;
        let runs = mithridate_pipeline::defend::scan(
            &specs,
            batch,
            Some(deployed),
            None,
            recipe,
            derive_seed(self.seed, "detectors", t as u64),
            None,
        )?;
        Ok(specs
            .iter()
            .zip(runs)
            .map(|(s, r)| DetectorFlags {
                detector: s.name().to_string(),
                flagged: r.detection.flagged,
            })
            .collect())
    }

    /// Serving requests of step `t`: clean traffic, with the campaign's trigger stamped on a
    /// share of it once the campaign has started (the attacker using its backdoor).
    fn traffic(&self, t: usize, state: &RunState) -> Result<Dataset> {
        let p = self.spec.params();
        let clean = self.stream.traffic(t, p.traffic)?;
        let started = self
            .campaign
            .first_poisoned_batch(self.stream.len())
            .is_some_and(|s| t >= s);
        let Some((trigger, mapping)) = state
            .campaign_truth
            .as_ref()
            .and_then(|truth| truth.trigger())
            .filter(|_| started)
        else {
            return Ok(clean);
        };
        let k = clean.num_classes();
        let eligible: Vec<usize> = (0..clean.len())
            .filter(|&r| mapping.target_for(clean.labels()[r], k).is_some())
            .collect();
        let count =
            ((p.triggered_traffic * clean.len() as f64).round() as usize).min(eligible.len());
        if count == 0 {
            return Ok(clean);
        }
        let chosen: BTreeSet<usize> = eligible[..count].iter().copied().collect();
        let rest: Vec<usize> = (0..clean.len()).filter(|r| !chosen.contains(r)).collect();
        let picked: Vec<usize> = chosen.into_iter().collect();
        let triggered = mithridate_attack::apply_trigger(trigger, &clean.select(&picked)?)?;
        concat(&[&clean.select(&rest)?, &triggered])
    }
}

fn screen_reason(result: &ScreenResult) -> String {
    let mut found: Vec<String> = result
        .classes
        .iter()
        .filter(|c| c.alarm)
        .map(|c| {
            format!(
                "labels the deployed model contradicts pile onto class {} ({} of {}, p={:.2e})",
                c.class, c.contradicted, c.samples, c.p_value
            )
        })
        .collect();
    found.extend(result.cohesion.iter().filter(|c| c.alarm).map(|c| {
        format!(
            "class {}'s {} samples placed elsewhere share a perturbation \
             (group strength {:.2} vs {:.2} by chance, p={:.2e})",
            c.class, c.suspects, c.cohesion, c.null_mean, c.p_value
        )
    }));
    format!(
        "screen: {}; {} suspects",
        found.join("; "),
        result.named.len()
    )
}

/// Keeps the campaign's first goal (without its sample list) for evaluation.
fn remember_goal(state: &mut RunState, truth: Option<&GroundTruth>) {
    if state.campaign_truth.is_none() {
        if let Some(truth) = truth {
            let mut goal = truth.clone();
            goal.changes.clear();
            state.campaign_truth = Some(goal);
        }
    }
}
