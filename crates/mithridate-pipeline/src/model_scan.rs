//! Model-level scanning (`mithridate scan model`, Python's `mithridate.detect.scan_model`): is
//! this model backdoored, and toward which class? Runs the selected detectors of the
//! [`MODEL_INSPECTORS`] registry (Neural Cleanse, MM-BD) over a small trusted clean set and
//! combines their verdicts: the model is trojaned when any detector flags a class, so the
//! combined false-positive rate is at most the sum of the detectors' own. One implementation
//! for the CLI and Python; assessments run the same registry entries per cell
//! ([`crate::model_defence`]).
//!
//! ```
//! use mithridate_pipeline::model_scan::selected_inspectors;
//! let all = selected_inspectors(&["all".to_string()], &Default::default())?;
//! assert_eq!(all.len(), 2); // neural-cleanse and max-margin (not consensus, which runs both)
//! let params = [("max-margin".to_string(), serde_json::json!({"starts": 4}))].into();
//! let one = selected_inspectors(&["max-margin".to_string()], &params)?;
//! assert_eq!(one[0].parameters()["starts"], 4);
//! // Parameters for a detector that is not selected are a mistake, not silently dropped.
//! assert!(selected_inspectors(&["neural-cleanse".to_string()], &params).is_err());
//! # Ok::<(), mithridate_pipeline::PipelineError>(())
//! ```

use crate::error::{PipelineError, Result};
use crate::run_model::RunModel;
use mithridate_core::fsutil::{write_atomic, FileMode};
use mithridate_data::{Dataset, Modality};
use mithridate_gate::inspectors::{
    build_inspector, Inspection, ModelInspector, COMBINATIONS, MODEL_INSPECTORS,
};
use mithridate_gate::model_scan::trigger_png;
use mithridate_gate::reverse::ReversedTrigger;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The inspectors named in `names` (`all` = every registered one; duplicates once, in order
/// of first mention), each built from its entry in `params` (absent = defaults) and checked
/// by its registry entry before any model or data is loaded.
pub fn selected_inspectors(
    names: &[String],
    params: &BTreeMap<String, serde_json::Value>,
) -> Result<Vec<Box<dyn ModelInspector>>> {
    let mut chosen: Vec<&'static str> = Vec::new();
    for name in names {
        let list = if name == "all" {
            // Combinations rerun their members: `all` is every single detector.
            let names = MODEL_INSPECTORS.names().into_iter();
            names.filter(|n| !COMBINATIONS.contains(n)).collect()
        } else {
            vec![registered(name)?]
        };
        for n in list {
            if !chosen.contains(&n) {
                chosen.push(n);
            }
        }
    }
    if chosen.is_empty() {
        return Err(PipelineError::invalid(format!(
            "no model-level detector selected (choose from {}, or all)",
            MODEL_INSPECTORS.names().join(", ")
        )));
    }
    for name in params.keys() {
        if !chosen.contains(&registered(name)?) {
            return Err(PipelineError::invalid(format!(
                "parameters given for '{name}', which is not a selected detector"
            )));
        }
    }
    chosen
        .into_iter()
        .map(|name| {
            let given = params.get(name).cloned().unwrap_or(serde_json::Value::Null);
            build_inspector(name, &given).map_err(|e| PipelineError::invalid(e.to_string()))
        })
        .collect()
}

fn registered(name: &str) -> Result<&'static str> {
    Ok(MODEL_INSPECTORS
        .get(name)
        .map_err(|e| PipelineError::invalid(e.to_string()))?
        .name)
}

/// One detector's inspection and its wall time.
pub struct InspectorRun {
    pub name: &'static str,
    pub parameters: serde_json::Value,
    pub inspection: Inspection,
    pub seconds: f64,
}

/// Every selected detector's inspection of one model, and the combined verdict.
pub struct ModelScan {
    /// Trusted samples the detectors used.
    pub samples: usize,
    /// The model's class count.
    pub num_classes: usize,
    /// The trusted set's modality (trigger pictures need images).
    pub modality: Modality,
    pub runs: Vec<InspectorRun>,
}

/// Inspects `model` with every inspector over the trusted clean set `trusted` (labels may
/// cover fewer classes than the model outputs; a set with more is refused), in order, with
/// `seed`. Deterministic in `(model, trusted, inspectors' parameters, seed)`.
pub fn scan_model(
    model: &RunModel,
    trusted: Dataset,
    inspectors: &[Box<dyn ModelInspector>],
    seed: u64,
) -> Result<ModelScan> {
    if trusted.is_empty() {
        return Err(PipelineError::invalid("the trusted set is empty"));
    }
    let trusted = model.adopt_classes(trusted)?;
    model.check_compatible(&trusted)?;
    let mut runs = Vec::with_capacity(inspectors.len());
    for inspector in inspectors {
        let started = Instant::now();
        let inspection = inspector
            .inspect(model.gradient_model(), &trusted, seed)
            .map_err(|e| PipelineError::invalid(format!("{}: {e}", inspector.name())))?;
        runs.push(InspectorRun {
            name: inspector.name(),
            parameters: inspector.parameters(),
            inspection,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(ModelScan {
        samples: trusted.len(),
        num_classes: trusted.num_classes(),
        modality: trusted.modality().clone(),
        runs,
    })
}

impl ModelScan {
    /// Classes any detector flags, ascending.
    pub fn target_classes(&self) -> Vec<usize> {
        let mut classes: Vec<usize> = self
            .runs
            .iter()
            .flat_map(|r| r.inspection.target_classes.iter().copied())
            .collect();
        classes.sort_unstable();
        classes.dedup();
        classes
    }

    /// `"trojaned"` when any detector flags a class, else `"clean"`.
    pub fn verdict(&self) -> &'static str {
        if self.target_classes().is_empty() {
            "clean"
        } else {
            "trojaned"
        }
    }

    /// Per detector: its evidence, its own verdict and target classes, the one-line account
    /// of its decision, its checked parameters and its seconds (the `detectors` JSON key).
    pub fn detectors_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.runs
            .iter()
            .map(|run| {
                let found = &run.inspection;
                let mut v = found.details.clone();
                if !v.is_object() {
                    v = json!({ "details": v });
                }
                if let Some(map) = v.as_object_mut() {
                    map.insert("verdict".into(), json!(found.verdict()));
                    map.insert("target_classes".into(), json!(found.target_classes));
                    map.insert("evidence".into(), json!(found.class_scores.evidence));
                    map.insert("parameters".into(), run.parameters.clone());
                    map.insert("seconds".into(), json!(run.seconds));
                }
                (run.name.to_string(), v)
            })
            .collect()
    }

    /// The reverse-engineered trigger of every flagged class, as PNG bytes, in detector order
    /// (detectors that do not reverse a trigger, such as MM-BD, add none; empty for
    /// non-image data).
    pub fn trigger_pngs(&self) -> Result<Vec<(usize, Vec<u8>)>> {
        let mut out = Vec::new();
        for run in &self.runs {
            let triggers = &run.inspection.triggers;
            let pngs = image_trigger_pngs(triggers, &self.modality)?;
            out.extend(triggers.iter().map(|(class, _)| *class).zip(pngs));
        }
        Ok(out)
    }
    /// The scan as the CLI's `--json` prints it: `verdict`, `target_classes`, `samples`,
    /// `detectors` (see [`ModelScan::detectors_json`]) and the written `trigger_pictures`.
    pub fn report(&self, model: &Path, data: &str, pictures: &[PathBuf]) -> serde_json::Value {
        json!({
            "model": model,
            "data": data,
            "samples": self.samples,
            "verdict": self.verdict(),
            "target_classes": self.target_classes(),
            "detectors": self.detectors_json(),
            "trigger_pictures": pictures,
        })
    }
}

/// One PNG picture (`m * p`) per reversed trigger, in order, for image data; none for other
/// modalities (a tabular trigger has no picture). Shared by `scan model` and the assessment's
/// model-defence records.
pub(crate) fn image_trigger_pngs(
    triggers: &[(usize, ReversedTrigger)],
    modality: &Modality,
) -> Result<Vec<Vec<u8>>> {
    if !matches!(modality, Modality::Image { .. }) {
        return Ok(Vec::new());
    }
    triggers
        .iter()
        .map(|(_, t)| trigger_png(t, modality).map_err(|e| PipelineError::invalid(e.to_string())))
        .collect()
}

/// Writes `pngs` (from [`ModelScan::trigger_pngs`]) as `dir/class-K.png`, each atomically; the
/// directory is created only when there is a picture. Returns the paths written.
pub fn write_trigger_pictures(dir: &Path, pngs: &[(usize, Vec<u8>)]) -> Result<Vec<PathBuf>> {
    if !pngs.is_empty() {
        std::fs::create_dir_all(dir)
            .map_err(|e| PipelineError::invalid(format!("creating {}: {e}", dir.display())))?;
    }
    pngs.iter()
        .map(|(class, png)| {
            let path = dir.join(format!("class-{class}.png"));
            write_atomic(&path, png, FileMode::Shared)
                .map_err(|e| PipelineError::invalid(format!("writing {}: {e}", path.display())))?;
            Ok(path)
        })
        .collect()
}
