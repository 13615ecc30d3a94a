//! Model-level defences of a centralized cell (issue 15): the poisoned model is inspected for a
//! backdoor ([`mithridate_gate::inspectors::MODEL_INSPECTORS`]) or repaired
//! ([`mithridate_repair::REPAIRS`]) with a small trusted clean set, never with the training
//! data. Both registries' names are defences of an assessment block, next to the data
//! detectors:
//!
//! ```
//! use mithridate_pipeline::model_defence::ModelDefenceSpec;
//! let nc = ModelDefenceSpec::new("neural-cleanse", &serde_json::json!({"trusted": 300}))?.unwrap();
//! assert_eq!((nc.name(), nc.trusted()), ("neural-cleanse", 300));
//! let repair = ModelDefenceSpec::new("nc-unlearning", &serde_json::json!({"epochs": 2}))?.unwrap();
//! assert_eq!(repair.trusted(), mithridate_pipeline::model_defence::DEFAULT_TRUSTED);
//! assert!(ModelDefenceSpec::new("spectral", &serde_json::json!({}))?.is_none());
//! assert!(ModelDefenceSpec::new("max-margin", &serde_json::json!({"trusted": 0})).is_err());
//! # Ok::<(), mithridate_pipeline::PipelineError>(())
//! ```
//!
//! The trusted set is a seeded stratified draw of `trusted` samples (parameter `trusted`,
//! default [`DEFAULT_TRUSTED`], at most half the test split) from the cell's clean test split;
//! the model before and after is scored on the rest of the test split, so no sample the
//! defender used is scored.

use crate::attack::assess_model;
use crate::defend::score;
use crate::error::{PipelineError, Result};
use base64::Engine as _;
use mithridate_assess::record::{AttackInfo, ModelDefenceOutcome, TriggerPicture};
use mithridate_attack::{GroundTruth, Mapping};
use mithridate_core::registry::Entry;
use mithridate_data::{Dataset, Modality};
use mithridate_engine::Classifier;
use mithridate_gate::inspectors::{ModelInspector, MODEL_INSPECTORS};
use mithridate_repair::{Repair, REPAIRS};
use std::sync::Arc;

/// The parameter every model-level defence takes beside its own: trusted samples.
pub const TRUSTED_KEY: &str = "trusted";
/// Trusted clean samples a model-level defence gets by default (Neural Cleanse's and the
/// repairs' experiments use a few hundred to a few thousand).
pub const DEFAULT_TRUSTED: usize = 1000;

#[derive(Clone)]
enum Method {
    Inspect(
        Arc<dyn ModelInspector>,
        &'static Entry<mithridate_gate::inspectors::InspectorBuild>,
    ),
    Repair(
        Arc<dyn Repair>,
        &'static Entry<mithridate_repair::RepairBuild>,
    ),
}

/// A model inspector or repair with checked parameters and its trusted-set size.
#[derive(Clone)]
pub struct ModelDefenceSpec {
    method: Method,
    trusted: usize,
}

impl std::fmt::Debug for ModelDefenceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ModelDefenceSpec({}, trusted {})",
            self.name(),
            self.trusted
        )
    }
}

/// Splits `trusted` off the parameters: `(trusted, the method's own parameters)`.
fn split_trusted(name: &str, params: &serde_json::Value) -> Result<(usize, serde_json::Value)> {
    let (trusted, own) = crate::defence::take_sample_count(name, params, TRUSTED_KEY)?;
    Ok((trusted.unwrap_or(DEFAULT_TRUSTED), own))
}

impl ModelDefenceSpec {
    /// The model-level defence `name` from its parameters (the method's own plus `trusted`);
    /// `Ok(None)` when `name` is neither a model inspector nor a repair.
    pub fn new(name: &str, params: &serde_json::Value) -> Result<Option<ModelDefenceSpec>> {
        let method = if let Ok(entry) = MODEL_INSPECTORS.get(name) {
            let (trusted, own) = split_trusted(name, params)?;
            let built = (entry.build)(&own).map_err(|e| PipelineError::invalid(e.to_string()))?;
            (Method::Inspect(Arc::from(built), entry), trusted)
        } else if let Ok(entry) = REPAIRS.get(name) {
            let (trusted, own) = split_trusted(name, params)?;
            let built = (entry.build)(&own).map_err(|e| PipelineError::invalid(e.to_string()))?;
            (Method::Repair(Arc::from(built), entry), trusted)
        } else {
            return Ok(None);
        };
        Ok(Some(ModelDefenceSpec {
            method: method.0,
            trusted: method.1,
        }))
    }

    /// Every model inspector's and repair's name (both are assessment defences).
    pub fn names() -> Vec<&'static str> {
        MODEL_INSPECTORS
            .names()
            .into_iter()
            .chain(REPAIRS.names())
            .collect()
    }

    pub fn name(&self) -> &'static str {
        match &self.method {
            Method::Inspect(_, e) => e.name,
            Method::Repair(_, e) => e.name,
        }
    }

    pub fn trusted(&self) -> usize {
        self.trusted
    }

    /// The data modalities the method works on.
    pub fn modalities(&self) -> &'static [&'static str] {
        match &self.method {
            Method::Inspect(_, e) => e.modalities,
            Method::Repair(_, e) => e.modalities,
        }
    }

    /// Inspects or repairs `victim` (trained on the poisoned set described by `truth` and
    /// `attack`) with a trusted draw from `test`, scoring it on the rest.
    pub fn run(
        &self,
        victim: &Classifier,
        context: ModelContext<'_>,
        test: &Dataset,
        seed: u64,
    ) -> Result<ModelDefenceOutcome> {
        let (trusted, evaluated) = trusted_split(test, self.trusted, seed)?;
        let before = match context.truth {
            Some(truth) => score(&assess_model(truth, victim, &evaluated)?),
            None => mithridate_assess::record::ModelScore {
                clean_accuracy: crate::attack::accuracy(victim, &evaluated)?,
                success_rate: None,
            },
        };
        let mut outcome = ModelDefenceOutcome {
            model: context.model.to_string(),
            train_samples: context.train_samples,
            attack: context.attack.clone(),
            method: self.name().to_string(),
            role: String::new(),
            mitigation: String::new(),
            parameters: serde_json::Value::Null,
            trusted_samples: trusted.len(),
            evaluated_samples: evaluated.len(),
            verdict: None,
            target_classes: Vec::new(),
            true_target: context.truth.and_then(true_target),
            before,
            after: None,
            triggers: Vec::new(),
            details: serde_json::Value::Null,
        };
        match &self.method {
            Method::Inspect(inspector, entry) => {
                let found = inspector
                    .inspect(victim, &trusted, seed)
                    .map_err(|e| PipelineError::invalid(e.to_string()))?;
                outcome.role = "inspection".into();
                outcome.mitigation = entry.taxonomy.mitre_atlas.join(";");
                outcome.parameters = inspector.parameters();
                outcome.verdict = Some(found.verdict().to_string());
                outcome.triggers = pictures(&found.triggers, test.modality())?;
                outcome.target_classes = found.target_classes;
                outcome.details = found.details;
            }
            Method::Repair(repair, entry) => {
                let repaired = repair
                    .repair(victim, &trusted, seed)
                    .map_err(|e| PipelineError::invalid(e.to_string()))?;
                outcome.role = "repair".into();
                outcome.mitigation = entry.taxonomy.mitre_atlas.join(";");
                outcome.parameters = repair.parameters();
                outcome.after = Some(match context.truth {
                    Some(truth) => score(&assess_model(truth, &repaired.model, &evaluated)?),
                    None => mithridate_assess::record::ModelScore {
                        clean_accuracy: crate::attack::accuracy(&repaired.model, &evaluated)?,
                        success_rate: None,
                    },
                });
                // A repair that scans (nc-unlearning) reports its verdict too.
                let details = &repaired.details;
                if let Some(v) = details.get("scan_verdict").and_then(|v| v.as_str()) {
                    outcome.verdict = Some(v.to_string());
                }
                if let Some(classes) = details.get("flagged_classes") {
                    outcome.target_classes =
                        serde_json::from_value(classes.clone()).unwrap_or_default();
                }
                outcome.details = repaired.details;
            }
        }
        Ok(outcome)
    }
}

/// The repair registry (re-exported so the Python binding lists it without its own
/// dependency on the repair crate).
pub fn repairs() -> &'static mithridate_core::registry::Registry<mithridate_repair::RepairBuild> {
    &REPAIRS
}

/// What a model-level defence reports about the cell it defends.
pub struct ModelContext<'a> {
    pub model: &'a str,
    pub train_samples: usize,
    pub attack: &'a Option<AttackInfo>,
    /// The attack's ground truth (`None` for a clean model: no ASR).
    pub truth: Option<&'a GroundTruth>,
}

/// The all-to-one target of a backdoor or targeted attack, if it has one.
fn true_target(truth: &GroundTruth) -> Option<usize> {
    match truth.trigger() {
        Some((_, Mapping::AllToOne { target })) => Some(target as usize),
        _ => None,
    }
}

/// `(trusted, evaluated)`: a seeded stratified draw of `wanted` samples (at most half the
/// set) and the rest.
pub(crate) fn trusted_split(
    test: &Dataset,
    wanted: usize,
    seed: u64,
) -> Result<(Dataset, Dataset)> {
    let n = test.len();
    let take = wanted.min(n / 2);
    if take == 0 {
        return Err(PipelineError::invalid(format!(
            "a trusted clean set is drawn from the test split, and it has only {n} samples"
        )));
    }
    let (trusted, rest) =
        mithridate_data::split_stratified(test, 1.0 - take as f64 / n as f64, seed)?;
    Ok((trusted, rest))
}

/// Image triggers as PNG pictures (base64); tabular data has none.
fn pictures(
    triggers: &[(usize, mithridate_gate::reverse::ReversedTrigger)],
    modality: &Modality,
) -> Result<Vec<TriggerPicture>> {
    let pngs = crate::model_scan::image_trigger_pngs(triggers, modality)?;
    Ok(triggers
        .iter()
        .zip(pngs)
        .map(|((class, t), png)| TriggerPicture {
            class: *class,
            mask_norm: t.mask_norm,
            png_base64: base64::engine::general_purpose::STANDARD.encode(png),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mithridate_data::Features;
    use mithridate_gate::reverse::ReversedTrigger;

    fn images(n: usize) -> Dataset {
        let modality = Modality::Image {
            channels: 1,
            height: 2,
            width: 2,
        };
        let labels: Vec<u32> = (0..n as u32).map(|i| i % 2).collect();
        Dataset::new(
            modality,
            Features::Dense(vec![0.5; n * 4]),
            labels,
            (0..n as u64).collect(),
            2,
            vec![],
        )
        .unwrap()
    }

    #[test]
    fn the_trusted_draw_is_disjoint_from_the_scored_rest_and_at_most_half() {
        let test = images(40);
        let (trusted, rest) = trusted_split(&test, 10, 3).unwrap();
        assert_eq!((trusted.len(), rest.len()), (10, 30));
        assert!(trusted.ids().iter().all(|id| !rest.ids().contains(id)));
        // Asking for more than half gets half; same seed, same draw.
        let (half, _) = trusted_split(&test, 1000, 3).unwrap();
        assert_eq!(half.len(), 20);
        assert_eq!(trusted_split(&test, 10, 3).unwrap().0.ids(), trusted.ids());
        assert!(trusted_split(&images(1), 10, 3).is_err());
    }

    #[test]
    fn pictures_only_for_images() {
        let trigger = ReversedTrigger {
            mask_norm: 1.0,
            success: 1.0,
            mask: vec![1.0, 0.0, 0.0, 0.0],
            pattern: vec![1.0; 4],
            steps: 1,
        };
        let shown = pictures(&[(3, trigger.clone())], images(2).modality()).unwrap();
        assert_eq!(shown.len(), 1);
        assert_eq!((shown[0].class, shown[0].mask_norm), (3, 1.0));
        let png = base64::engine::general_purpose::STANDARD
            .decode(&shown[0].png_base64)
            .unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let tabular = Modality::Tabular { features: 4 };
        assert!(pictures(&[(3, trigger)], &tabular).unwrap().is_empty());
    }

    #[test]
    fn trusted_is_split_off_the_method_parameters() {
        let (n, own) = split_trusted("x", &serde_json::json!({"trusted": 7, "steps": 2})).unwrap();
        assert_eq!((n, own), (7, serde_json::json!({"steps": 2})));
        let (n, _) = split_trusted("x", &serde_json::Value::Null).unwrap();
        assert_eq!(n, DEFAULT_TRUSTED);
        for bad in [
            serde_json::json!({"trusted": -1}),
            serde_json::json!({"trusted": 1.5}),
            serde_json::json!([1]),
        ] {
            assert!(split_trusted("x", &bad).is_err(), "{bad}");
        }
        // Unknown method parameters are the method's error, naming it.
        let e = ModelDefenceSpec::new("neural-cleanse", &serde_json::json!({"stepz": 1}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("stepz"), "{e}");
    }
}
