//! The defend pipeline: scan -> sanitize -> retrain, and inference-time filter evaluation.

use crate::attack::assess_model;
use crate::defence::{DetectorSpec, FilterSpec};
use crate::error::{PipelineError, Result, WithContext};
use crate::train::ModelSpec;
use mithridate_assess::record::{DefenceOutcome, ModelScore};
use mithridate_attack::SampleChange;
use mithridate_attack::{apply_trigger, Assessment, GroundTruth, Poisoned};
use mithridate_data::Dataset;
use mithridate_detect::metrics::{roc_curve, score_detection, DetectionMetrics};
use mithridate_detect::sanitize::{sanitize, Action, SanitizeReport};
use mithridate_detect::{Detection, ScanContext, TrainSpec};
use mithridate_engine::Classifier;
use mithridate_onnx::OnnxClassifier;
use std::time::Instant;

/// ROC points kept per detection: enough for a smooth curve, small in results.jsonl.
pub const ROC_POINTS: usize = 101;

/// One detector's run: its detection, wall time and (with ground truth) its scores.
#[derive(Debug, Clone)]
pub struct DetectorRun {
    pub detection: Detection,
    pub seconds: f64,
    pub metrics: Option<DetectionMetrics>,
}

/// What a data scan runs on, prepared once for the CLI and the Python package alike.
pub struct ScanSetup {
    /// The scanned data, declaring the given model's class count where its labels showed
    /// fewer (see [`Dataset::widen_classes`]).
    pub data: Dataset,
    /// The given model, else one trained on `data` when a detector
    /// [needs one](DetectorSpec::needs_model); `None` when every detector is model-free.
    pub model: Option<Classifier>,
    /// How detectors that train (cross-validation folds, early-loss runs) do so: the scanned
    /// model's family, else the chosen or default one.
    pub recipe: TrainSpec,
}

impl ScanSetup {
    /// Checks `given` against `data`, or trains a seeded model under `spec` when a detector
    /// needs one, reporting `progress(samples done, samples in the fit)` while it trains.
    pub fn new(
        data: Dataset,
        given: Option<Classifier>,
        detectors: &[DetectorSpec],
        spec: &ModelSpec,
        seed: u64,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Self> {
        let data = match &given {
            Some(m) => data.widen_classes(m.num_classes()),
            None => data,
        };
        let model = match given {
            Some(m) => {
                m.check_compatible(&data)?;
                Some(m)
            }
            None if detectors.iter().any(DetectorSpec::needs_model) => {
                let total = spec.work(&data);
                Some(spec.train(&data, seed, &mut |done| progress(done, total))?)
            }
            None => None,
        };
        let arch = spec.architecture().unwrap_or_else(|| match &model {
            Some(m) => m.architecture(),
            None => spec.architecture_for(&data),
        });
        let recipe = spec.scan_recipe(arch, data.len())?;
        Ok(ScanSetup {
            data,
            model,
            recipe,
        })
    }
}

/// Runs every detector on `data` with `model` (embeddings computed once and shared), scoring
/// against the `poisoned` ids when given. `recipe` is how detectors that train, train.
/// `model` may be `None` when no detector [needs one](DetectorSpec::needs_model); `clean`
/// (the defender's trusted clean samples) when none [needs them](DetectorSpec::needs_clean_set).
pub fn scan(
    detectors: &[DetectorSpec],
    data: &Dataset,
    model: Option<&Classifier>,
    clean: Option<&Dataset>,
    recipe: TrainSpec,
    seed: u64,
    poisoned: Option<&[u64]>,
) -> Result<Vec<DetectorRun>> {
    let mut ctx = with_clean_set(ScanContext::new(data, recipe, seed)?, detectors, clean)?;
    if let Some(model) = model {
        ctx = ctx.with_model(model)?;
    } else if let Some(d) = detectors.iter().find(|d| d.needs_model()) {
        return Err(PipelineError::invalid(format!(
            "detector {} needs a model trained on the data",
            d.name()
        )));
    }
    scan_context(detectors, &ctx, poisoned)
}

/// Adds `clean` to the context, or errors naming the first detector that needs it when none
/// is given.
fn with_clean_set<'a>(
    ctx: ScanContext<'a>,
    detectors: &[DetectorSpec],
    clean: Option<&'a Dataset>,
) -> Result<ScanContext<'a>> {
    match clean {
        Some(clean) => Ok(ctx.with_clean_set(clean)?),
        None => match detectors.iter().find(|d| d.needs_clean_set()) {
            Some(d) => Err(PipelineError::invalid(format!(
                "detector {} needs trusted clean samples (--clean-set)",
                d.name()
            ))),
            None => Ok(ctx),
        },
    }
}

/// Runs every detector on a prepared context (e.g. one holding an imported ONNX model, see
/// [`ScanContext::with_onnx_model`]), scoring against the `poisoned` ids when given.
pub fn scan_context(
    detectors: &[DetectorSpec],
    ctx: &ScanContext,
    poisoned: Option<&[u64]>,
) -> Result<Vec<DetectorRun>> {
    detectors
        .iter()
        .map(|d| {
            let start = Instant::now();
            // Through the context, so what one detector computed (auto's members, the
            // input check, the k-NN graph) is not recomputed by another.
            let detection = ctx
                .detection(d.detector())
                .context_with(|| format!("detector {}", d.name()))?;
            let seconds = start.elapsed().as_secs_f64();
            let metrics = match poisoned {
                Some(ids) => Some(score_detection(&detection, ids)?),
                None => None,
            };
            Ok(DetectorRun {
                detection,
                seconds,
                metrics,
            })
        })
        .collect()
}

/// What [`scan_onnx`] ran: every detector's run, the embedding layer, and the embeddings'
/// width per sample when a detector computed them.
#[derive(Debug)]
pub struct OnnxScan {
    pub runs: Vec<DetectorRun>,
    pub layer: String,
    pub embedding_dim: Option<usize>,
}

/// Runs `detectors` on `data` with a user's ONNX classifier: embeddings are the output of the
/// graph value `layer` (default [`OnnxClassifier::penultimate_value`], the activations the
/// final linear layer reads, as a Mithridate model's are) and predictions its arg-max logits.
/// Detectors that train their own models use `spec`'s architecture, else the modality's
/// default (an imported model has no Mithridate family). A set whose labels show fewer
/// classes than the model outputs declares the model's. Scores against `poisoned` when given.
#[allow(clippy::too_many_arguments)]
pub fn scan_onnx(
    data: Dataset,
    model: &OnnxClassifier,
    layer: Option<&str>,
    clean: Option<&Dataset>,
    detectors: &[DetectorSpec],
    spec: &ModelSpec,
    seed: u64,
    poisoned: Option<&[u64]>,
) -> Result<OnnxScan> {
    let layer = match layer {
        Some(l) => l.to_string(),
        None => model.penultimate_value()?,
    };
    let classes = model.output_classes(&data)?;
    let data = data.widen_classes(classes);
    let recipe = spec.scan_recipe(spec.architecture_for(&data), data.len())?;
    let ctx = ScanContext::new(&data, recipe, seed)?.with_onnx_model(model, &layer)?;
    let ctx = with_clean_set(ctx, detectors, clean)?;
    let runs = scan_context(detectors, &ctx, poisoned)?;
    let embedding_dim = ctx.embedding_dim();
    Ok(OnnxScan {
        runs,
        layer,
        embedding_dim,
    })
}

/// What scan -> sanitize -> retrain produced.
pub struct Defended {
    pub runs: Vec<DetectorRun>,
    pub sanitize: SanitizeReport,
    pub retrained: Classifier,
    /// The attack's goal measured on the retrained model.
    pub after: Assessment,
}

/// Clean test samples given to detectors that need trusted clean samples in an assessment
/// cell (a seeded stratified draw, at most half the test split; the retrained model is then
/// scored on the rest of the split).
pub const CELL_CLEAN_SET: usize = 1000;

/// Scans the poisoned set with `detectors` (using the `victim` trained on it), sanitizes it
/// with `action` (the union of their flags) and retrains with `model`, seeded. When a detector
/// needs trusted clean samples, [`DetectorSpec::clean_set_size`] of them (at most half the
/// split) are drawn from `test`, and the retrained model is scored on the rest.
pub fn scan_sanitize_retrain(
    poisoned: &Poisoned,
    victim: &Classifier,
    test: &Dataset,
    detectors: &[DetectorSpec],
    action: Action,
    model: &ModelSpec,
    seed: u64,
) -> Result<Defended> {
    let ids = poisoned.truth.poisoned_ids();
    let recipe = model.scan_recipe(victim.architecture(), poisoned.data.len())?;
    let wanted = detectors
        .iter()
        .filter(|d| d.needs_clean_set())
        .map(DetectorSpec::clean_set_size)
        .max();
    let split = match wanted {
        Some(n) => Some(crate::model_defence::trusted_split(test, n, seed)?),
        None => None,
    };
    let (clean, test) = match &split {
        Some((clean, rest)) => (Some(clean), rest),
        None => (None, test),
    };
    let runs = scan(
        detectors,
        &poisoned.data,
        Some(victim),
        clean,
        recipe,
        seed,
        Some(&ids),
    )?;
    let detections: Vec<Detection> = runs.iter().map(|r| r.detection.clone()).collect();
    let (sanitized, report) = sanitize(&poisoned.data, &detections, action)?;
    let retrained = model.train(&sanitized, seed, &mut |_| {})?;
    let after = assess_model(&poisoned.truth, &retrained, test)?;
    Ok(Defended {
        runs,
        sanitize: report,
        retrained,
        after,
    })
}

/// The report record of one sanitizing defence (the first detector's detection), scored
/// against the attack's ground truth.
pub fn sanitize_outcome(defended: &Defended, truth: &GroundTruth) -> Result<DefenceOutcome> {
    let poisoned_ids = truth.poisoned_ids();
    let run = defended
        .runs
        .first()
        .ok_or_else(|| PipelineError::invalid("the detector produced no result"))?;
    let metrics = run
        .metrics
        .ok_or_else(|| PipelineError::invalid("the detection has no metrics"))?;
    Ok(DefenceOutcome {
        detector: run.detection.detector.clone(),
        mitigation: "AML.M0007".into(),
        flagged: run.detection.flagged.len(),
        removed: defended.sanitize.dropped.len(),
        relabelled: defended.sanitize.relabelled.len(),
        precision: metrics.precision,
        recall: metrics.recall,
        f1: metrics.f1,
        auroc: metrics.auroc,
        recall_relabelled: relabelled_recall(&run.detection.flagged, &truth.changes),
        roc: roc_curve(&run.detection.scores, &poisoned_ids, ROC_POINTS),
        retrained: score(&defended.after),
    })
}

/// Recall over the poisons whose label changed, when the attack also planted label-keeping
/// ones (see [`DefenceOutcome::recall_relabelled`]); `None` when all are of one kind.
fn relabelled_recall(flagged: &[u64], changes: &[SampleChange]) -> Option<f64> {
    let relabelled: Vec<u64> = changes
        .iter()
        .filter(|c| c.label_from.is_some_and(|from| from != c.label_to))
        .map(|c| c.id)
        .collect();
    if relabelled.is_empty() || relabelled.len() == changes.len() {
        return None;
    }
    let flagged: std::collections::HashSet<u64> = flagged.iter().copied().collect();
    let found = relabelled.iter().filter(|id| flagged.contains(id)).count();
    Some(found as f64 / relabelled.len() as f64)
}

/// The attack's goal as a report score.
pub fn score(a: &Assessment) -> ModelScore {
    ModelScore {
        clean_accuracy: a.clean_accuracy,
        success_rate: a.success_rate(),
    }
}

/// An input filter (STRIP, Gao et al. 2019) in front of the poisoned model: calibrated on one
/// seeded half of the clean test set (the defender's trusted clean samples), measured on the
/// other half and on its triggered copies (inputs whose class the attack maps to a target).
///
/// The defended system's clean accuracy counts a rejected clean input as not served
/// (accepted and correct / all), its success rate counts triggered inputs that are accepted
/// and classified as the attacker's class; detection scores are `-entropy` over clean
/// (negative) and triggered (positive) inputs.
pub fn filter_outcome(
    spec: &FilterSpec,
    victim: &Classifier,
    truth: &GroundTruth,
    test: &Dataset,
    seed: u64,
) -> Result<DefenceOutcome> {
    let name = spec.name();
    let (trigger, mapping) = truth.trigger().ok_or_else(|| {
        PipelineError::invalid(format!("{name} needs a backdoor attack with a trigger"))
    })?;
    let (eval, calibration) = mithridate_data::split_stratified(test, 0.5, seed)?;
    let filter = spec.filter().calibrate(victim, &calibration, seed)?;
    let k = eval.num_classes();
    let rows: Vec<usize> = (0..eval.len())
        .filter(|&r| mapping.target_for(eval.labels()[r], k).is_some())
        .collect();
    let triggered = apply_trigger(trigger, &eval.select(&rows)?)?;
    let on_clean = filter.apply(victim, &eval)?;
    let on_triggered = filter.apply(victim, &triggered)?;
    let clean_pred = victim.predict(&eval)?;
    let triggered_pred = victim.predict(&triggered)?;
    let served = (0..eval.len())
        .filter(|&r| !on_clean.inputs[r].2 && clean_pred[r] == eval.labels()[r])
        .count();
    let hits = rows
        .iter()
        .enumerate()
        .filter(|&(t, &r)| {
            !on_triggered.inputs[t].2
                && mapping.target_for(eval.labels()[r], k) == Some(triggered_pred[t])
        })
        .count();
    // Scored as one detection over clean inputs (ids 0..n) and triggered inputs (n..).
    let n = eval.len() as u64;
    let scored = on_clean.inputs.iter().chain(&on_triggered.inputs);
    let scores: Vec<(u64, f64)> = scored
        .clone()
        .enumerate()
        .map(|(i, v)| (i as u64, -v.1))
        .collect();
    let flagged: Vec<u64> = scored
        .enumerate()
        .filter(|(_, v)| v.2)
        .map(|(i, _)| i as u64)
        .collect();
    let positives: Vec<u64> = (n..n + triggered.len() as u64).collect();
    let detection = Detection {
        detector: name.into(),
        parameters: serde_json::to_value(filter.params)?,
        flagged,
        scores,
        classes: Vec::new(),
        relabel: Vec::new(),
    };
    let metrics = score_detection(&detection, &positives)?;
    let share = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    Ok(DefenceOutcome {
        detector: name.into(),
        mitigation: "AML.M0015".into(),
        flagged: detection.flagged.len(),
        removed: detection.flagged.len(),
        relabelled: 0,
        precision: metrics.precision,
        recall: metrics.recall,
        f1: metrics.f1,
        auroc: metrics.auroc,
        recall_relabelled: None,
        roc: roc_curve(&detection.scores, &positives, ROC_POINTS),
        retrained: ModelScore {
            clean_accuracy: share(served, eval.len()),
            success_rate: Some(share(hits, rows.len())),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::relabelled_recall;
    use mithridate_attack::{ChangeKind, SampleChange};

    fn change(id: u64, from: u32, to: u32) -> SampleChange {
        SampleChange {
            id,
            kind: ChangeKind::Modified,
            label_from: Some(from),
            label_to: to,
            features_changed: true,
            source_id: None,
        }
    }

    #[test]
    fn relabelled_recall_counts_only_label_changed_poisons_of_a_mixed_attack() {
        // Two relabelled poisons (ids 1, 2) and two label-keeping ones (3, 4), as WaNet's noise mode.
        let mixed = [
            change(1, 0, 4),
            change(2, 3, 4),
            change(3, 5, 5),
            change(4, 6, 6),
        ];
        assert_eq!(relabelled_recall(&[1, 3, 4, 9], &mixed), Some(0.5));
        assert_eq!(relabelled_recall(&[], &mixed), Some(0.0));
        // One kind only: the plain recall says it all.
        assert_eq!(relabelled_recall(&[1], &mixed[..2]), None);
        assert_eq!(relabelled_recall(&[3], &mixed[2..]), None);
    }
}
