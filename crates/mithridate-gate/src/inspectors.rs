//! Model-level backdoor detectors behind one registry ([`MODEL_INSPECTORS`]): a detector
//! that looks at a trained model (its gradients and logits) and a small trusted set, not at
//! the training data. `scan model`, assessments and Python build them by name, with
//! kebab-case parameters checked once:
//!
//! ```
//! use mithridate_gate::inspectors::build_inspector;
//! let nc = build_inspector("neural-cleanse", &serde_json::json!({"steps": 50})).unwrap();
//! assert_eq!(nc.parameters()["steps"], 50);
//! assert!(build_inspector("max-margin", &serde_json::json!({"p-threshold": 2.0})).is_err());
//! assert!(build_inspector("crystal-ball", &serde_json::Value::Null).is_err());
//! ```

use crate::margin_reference::ReferenceArchitecture;
use crate::max_margin::{max_margin_scan, MarginParams};
use crate::model_scan::{scan_model, GradientModel};
use crate::reverse::{ReverseParams, ReversedTrigger};
use crate::{GateError, Result};
use mithridate_core::registry::{Entry, Registry, Role};
use mithridate_core::taxonomy::Ids;
use mithridate_core::ParamGuard;
use mithridate_data::Dataset;
use serde::{Deserialize, Serialize};

/// What a model inspection concluded.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// Suspected backdoor target classes (empty: the model looks clean).
    pub target_classes: Vec<usize>,
    /// The reverse-engineered trigger of each flagged class, where the method reverses one.
    pub triggers: Vec<(usize, ReversedTrigger)>,
    /// One score per class, indexed by class (larger = more suspicious; `None` where the
    /// method did not score a class), named by [`ClassScores::name`], for tables.
    pub class_scores: ClassScores,
    /// The method's full per-class evidence (JSON, for reports).
    pub details: serde_json::Value,
}

/// A detector's per-class statistic, for the CLI's per-class table and reports.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClassScores {
    /// What the score is, e.g. `"anomaly index"`.
    pub name: &'static str,
    /// The score of class `c` at index `c`.
    pub values: Vec<Option<f64>>,
    /// A one-line account of the decision, e.g. `"largest anomaly index 3.53 > 2"`.
    pub evidence: String,
}

impl Inspection {
    /// `"trojaned"` when a class is flagged, else `"clean"` (the `scan model` JSON values).
    pub fn verdict(&self) -> &'static str {
        if self.target_classes.is_empty() {
            "clean"
        } else {
            "trojaned"
        }
    }
}

/// One model-level detector with checked parameters.
pub trait ModelInspector: Send + Sync {
    /// Registry name, e.g. `neural-cleanse`.
    fn name(&self) -> &'static str;
    /// The checked parameters, as reported.
    fn parameters(&self) -> serde_json::Value;
    /// Inspects `model` with the clean `trusted` set; deterministic in `(model, trusted,
    /// parameters, seed)`.
    fn inspect(
        &self,
        model: &dyn GradientModel,
        trusted: &Dataset,
        seed: u64,
    ) -> Result<Inspection>;
}

/// Where model inspection sits: MITRE ATLAS AML.M0008 (Validate ML Model: test for backdoor
/// triggers), OWASP ML10 (model poisoning) and LLM04, NIST AI 100-2 section 2.3.
pub const MODEL_INSPECTION: Ids = Ids {
    mitre_atlas: &["AML.M0008"],
    owasp_ml: &["ML10", "ML02"],
    owasp_llm: &["LLM04"],
    nist_ai_100_2: "2.3",
};

/// A model inspector's builder: parameters (JSON object, kebab-case keys) -> checked method.
pub type InspectorBuild = fn(&serde_json::Value) -> Result<Box<dyn ModelInspector>>;
pub type InspectorEntry = Entry<InspectorBuild>;

/// Every model-level detector.
pub static MODEL_INSPECTORS: Registry<InspectorBuild> = Registry::new(
    Role::ModelInspector,
    &[NEURAL_CLEANSE, MAX_MARGIN, CONSENSUS],
);

/// Entries that run other entries themselves: `all` leaves them out, so that selecting every
/// detector runs each member once.
pub const COMBINATIONS: &[&str] = &["consensus"];

/// Builds the inspector `name` from its parameters (`null` = defaults).
pub fn build_inspector(name: &str, params: &serde_json::Value) -> Result<Box<dyn ModelInspector>> {
    let entry = MODEL_INSPECTORS
        .get(name)
        .map_err(|e| GateError::Input(e.to_string()))?;
    (entry.build)(params)
}

fn parse<P: serde::de::DeserializeOwned>(name: &str, value: &serde_json::Value) -> Result<P> {
    mithridate_core::registry::params(name, value).map_err(GateError::Input)
}

pub const NEURAL_CLEANSE: InspectorEntry = InspectorEntry {
    name: "neural-cleanse",
    role: Role::ModelInspector,
    modalities: &["image", "tabular"],
    summary: "per-class smallest mask-and-pattern trigger over the trusted set (steps=300, samples=512, batch-size=128, learning-rate=0.1, l1-weight=0.001, patience=50: a class stops after 50 steps without a 1% smaller mask); classes whose mask norm has MAD anomaly index > 2 are targets; reverses the trigger (picture)",
    paper: "Wang, Yao, Shan, Li, Viswanath, Zheng & Zhao 2019 (Neural Cleanse, IEEE S&P)",
    taxonomy: MODEL_INSPECTION,
    requires: &[],
    provides: &[],
    build: |p| Ok(Box::new(NeuralCleanse::new(parse("neural-cleanse", p)?)?)),
};

pub const MAX_MARGIN: InspectorEntry = InspectorEntry {
    name: "max-margin",
    role: Role::ModelInspector,
    modalities: &["image", "tabular"],
    summary: "per-class maximum logit margin over the input box by Adam ascent (steps=300, starts=8, learning-rate=0.1), divided by the same margin of clean reference models trained on the trusted set (reference-models=3, reference-architecture=auto: the model's own family; 0: the paper's raw margins); Gamma null fitted to the other classes, p-value calibrated by parametric bootstrap (calibration-draws=2000; 0: the paper's plug-in), flagged when the top class's p < p-threshold=0.05 and its statistic is at least min-effect=1.5 times the classes' median (1: significance alone); assumes no trigger shape",
    paper: "Wang, Xiang, Miller & Kesidis 2024 (MM-BD, IEEE S&P)",
    taxonomy: MODEL_INSPECTION,
    requires: &[],
    provides: &[],
    build: |p| Ok(Box::new(MaxMargin::new(parse("max-margin", p)?)?)),
};

pub const CONSENSUS: InspectorEntry = InspectorEntry {
    name: "consensus",
    role: Role::ModelInspector,
    modalities: &["image", "tabular"],
    summary: "runs neural-cleanse and max-margin (their parameters nested under their names) and flags the model when their top classes agree (Neural Cleanse's largest anomaly index, MM-BD's largest referenced ratio), whatever either's own threshold says; the agreed class's trigger picture is Neural Cleanse's; costs both",
    paper: "Wang et al. 2019 (Neural Cleanse) and Wang, Xiang, Miller & Kesidis 2024 (MM-BD), top classes combined",
    taxonomy: MODEL_INSPECTION,
    requires: &[],
    provides: &[],
    build: |p| {
        Ok(Box::new(crate::consensus::Consensus::new(parse(
            "consensus",
            p,
        )?)?))
    },
};

/// Parameters of [`NeuralCleanse`] (kebab-case keys); see [`ReverseParams`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct NeuralCleanseParams {
    pub steps: usize,
    pub samples: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub l1_weight: f64,
    /// Early stopping: steps without progress before a class stops (0: every step).
    pub patience: usize,
}

impl Default for NeuralCleanseParams {
    fn default() -> Self {
        let r = ReverseParams::default();
        NeuralCleanseParams {
            steps: r.steps,
            samples: r.samples,
            batch_size: r.batch_size,
            learning_rate: r.learning_rate,
            l1_weight: r.l1_weight,
            patience: r.patience,
        }
    }
}

/// Neural Cleanse as a registry entry: [`scan_model`] with checked [`ReverseParams`].
pub struct NeuralCleanse {
    params: NeuralCleanseParams,
    reverse: crate::reverse::CheckedReverse,
}

impl NeuralCleanse {
    pub fn new(params: NeuralCleanseParams) -> Result<NeuralCleanse> {
        let reverse = ReverseParams {
            steps: params.steps,
            batch_size: params.batch_size,
            samples: params.samples,
            learning_rate: params.learning_rate,
            l1_weight: params.l1_weight,
            patience: params.patience,
        }
        .check()?;
        Ok(NeuralCleanse { params, reverse })
    }
}

impl NeuralCleanse {
    /// The inspection (triggers of the flagged classes only) and every class's reversed
    /// trigger, for a combination that flags a class Neural Cleanse alone did not.
    pub(crate) fn inspect_with_all_triggers(
        &self,
        model: &dyn GradientModel,
        trusted: &Dataset,
    ) -> Result<(Inspection, Vec<(usize, ReversedTrigger)>)> {
        let scan = scan_model(model, trusted, &self.reverse)?;
        let mut values = vec![None; trusted.num_classes()];
        for c in &scan.classes {
            if let Some(v) = values.get_mut(c.class) {
                *v = Some(c.anomaly_index);
            }
        }
        let largest = values
            .iter()
            .flatten()
            .fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let threshold = crate::model_scan::ANOMALY_THRESHOLD;
        let class_scores = ClassScores {
            name: "anomaly index",
            values,
            evidence: format!(
                "largest anomaly index {largest:.2} {} {threshold} ({} trusted samples)",
                if largest > threshold { ">" } else { "<=" },
                trusted.len()
            ),
        };
        let triggers = scan
            .classes
            .iter()
            .filter(|c| c.flagged)
            .map(|c| (c.class, c.trigger.clone()))
            .collect();
        let details = serde_json::json!({
            "median_mask_norm": scan.median_norm,
            "mad": scan.mad,
            "threshold": crate::model_scan::ANOMALY_THRESHOLD,
            "classes": scan.classes.iter().map(|c| serde_json::json!({
                "class": c.class,
                "mask_norm": c.trigger.mask_norm,
                "success": c.trigger.success,
                "steps": c.trigger.steps,
                "anomaly_index": c.anomaly_index,
                "flagged": c.flagged,
            })).collect::<Vec<_>>(),
        });
        let all = scan
            .classes
            .into_iter()
            .map(|c| (c.class, c.trigger))
            .collect();
        let inspection = Inspection {
            target_classes: scan.target_classes,
            triggers,
            class_scores,
            details,
        };
        Ok((inspection, all))
    }
}

impl ModelInspector for NeuralCleanse {
    fn name(&self) -> &'static str {
        NEURAL_CLEANSE.name
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    /// The trigger search is seeded by the trusted set's order, not by `seed`.
    fn inspect(
        &self,
        model: &dyn GradientModel,
        trusted: &Dataset,
        _seed: u64,
    ) -> Result<Inspection> {
        Ok(self.inspect_with_all_triggers(model, trusted)?.0)
    }
}

/// Parameters of [`MaxMargin`] (kebab-case keys); the random starts are seeded by the
/// inspection's seed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct MaxMarginParams {
    pub steps: usize,
    pub starts: usize,
    pub learning_rate: f64,
    pub p_threshold: f64,
    pub min_effect: f64,
    pub calibration_draws: usize,
    pub reference_models: usize,
    pub reference_architecture: ReferenceArchitecture,
    /// Picture each flagged class's trigger by Neural Cleanse's reverse-engineering of that
    /// class alone (default settings; image and tabular data).
    pub reverse_trigger: bool,
}

impl Default for MaxMarginParams {
    fn default() -> Self {
        let m = MarginParams::default();
        MaxMarginParams {
            steps: m.steps,
            starts: m.starts,
            learning_rate: m.learning_rate,
            p_threshold: m.p_threshold,
            min_effect: m.min_effect,
            calibration_draws: m.calibration_draws,
            reference_models: m.reference_models,
            reference_architecture: m.reference_architecture,
            reverse_trigger: true,
        }
    }
}

/// MM-BD as a registry entry: [`max_margin_scan`], whose trusted samples train the clean
/// reference models (with `reference-models = 0` only the set's shape and classes are used);
/// a flagged class's trigger is then reversed by Neural Cleanse's routine for that class
/// alone, for its picture (MM-BD decides; the reversal only shows what was found).
pub struct MaxMargin {
    params: MaxMarginParams,
    reverse: crate::reverse::CheckedReverse,
}

impl MaxMargin {
    pub fn new(params: MaxMarginParams) -> Result<MaxMargin> {
        MaxMargin::margin(&params, 0)?;
        Ok(MaxMargin {
            params,
            reverse: ReverseParams::default().check()?,
        })
    }

    fn margin(p: &MaxMarginParams, seed: u64) -> Result<crate::max_margin::CheckedMargin> {
        MarginParams {
            steps: p.steps,
            starts: p.starts,
            learning_rate: p.learning_rate,
            p_threshold: p.p_threshold,
            min_effect: p.min_effect,
            calibration_draws: p.calibration_draws,
            reference_models: p.reference_models,
            reference_architecture: p.reference_architecture,
            seed,
        }
        .check()
    }
}

impl ModelInspector for MaxMargin {
    fn name(&self) -> &'static str {
        MAX_MARGIN.name
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    fn inspect(
        &self,
        model: &dyn GradientModel,
        trusted: &Dataset,
        seed: u64,
    ) -> Result<Inspection> {
        let scan = max_margin_scan(model, trusted, &MaxMargin::margin(&self.params, seed)?)?;
        let referenced = scan.reference.is_some();
        let class_scores = ClassScores {
            name: if referenced {
                "margin / reference"
            } else {
                "max margin"
            },
            values: scan
                .classes
                .iter()
                .map(|c| Some(c.ratio.unwrap_or(c.max_margin)))
                .collect(),
            evidence: format!(
                "class {}{} p = {:.2e} {} {}, effect {:.2} {} {}",
                scan.top_class,
                match &scan.reference {
                    Some(r) => format!(
                        " (vs {} clean {} references)",
                        r.per_model.len(),
                        r.architecture
                    ),
                    None => String::new(),
                },
                scan.p_value,
                if scan.p_value < self.params.p_threshold {
                    "<"
                } else {
                    ">="
                },
                self.params.p_threshold,
                scan.effect,
                if scan.effect >= self.params.min_effect {
                    ">="
                } else {
                    "<"
                },
                self.params.min_effect
            ),
        };
        let details = serde_json::json!({
            "classes": scan.classes,
            "top_class": scan.top_class,
            "p_value": scan.p_value,
            "plug_in_p_value": scan.plug_in_p_value,
            "null_shape": scan.null_shape,
            "null_scale": scan.null_scale,
            "effect": scan.effect,
            "reference": scan.reference,
        });
        let mut triggers = Vec::new();
        if self.params.reverse_trigger {
            for &class in &scan.target_classes {
                if let Some(t) =
                    crate::model_scan::reverse_class(model, trusted, class, &self.reverse)?
                {
                    triggers.push((class, t));
                }
            }
        }
        Ok(Inspection {
            target_classes: scan.target_classes,
            triggers,
            class_scores,
            details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked_once_by_name() {
        let nc = build_inspector("neural-cleanse", &serde_json::Value::Null).unwrap();
        assert_eq!(nc.parameters()["samples"], 512);
        assert!(build_inspector("neural-cleanse", &serde_json::json!({"steps": 0})).is_err());
        assert!(build_inspector("neural-cleanse", &serde_json::json!({"stepz": 5})).is_err());
        let mm = build_inspector("max-margin", &serde_json::json!({"starts": 2})).unwrap();
        assert_eq!(mm.parameters()["starts"], 2);
        assert!(build_inspector("max-margin", &serde_json::json!({"starts": 0})).is_err());
        assert_eq!(
            MODEL_INSPECTORS.names(),
            vec!["neural-cleanse", "max-margin", "consensus"]
        );
    }

    #[test]
    fn verdict_follows_the_flagged_classes() {
        let clean = Inspection {
            target_classes: vec![],
            triggers: vec![],
            class_scores: ClassScores::default(),
            details: serde_json::Value::Null,
        };
        assert_eq!(clean.verdict(), "clean");
        let trojaned = Inspection {
            target_classes: vec![3],
            ..clean
        };
        assert_eq!(trojaned.verdict(), "trojaned");
    }
}
