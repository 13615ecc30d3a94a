//! Defences from checked specs: training-set detectors with a sanitize action, and
//! inference-time input filters, each looked up once in its registry.

use crate::attack::AttackSpec;
use crate::error::{PipelineError, Result};
use crate::model_defence::ModelDefenceSpec;
use mithridate_core::Requirement;
use mithridate_detect::registry::{self, DetectorEntry, InputDetectorEntry};
use mithridate_detect::sanitize::Action;
use mithridate_detect::strip::Strip;
use mithridate_detect::Detector;
use std::sync::Arc;

/// A training-set detector validated once.
///
/// ```
/// use mithridate_pipeline::defence::DetectorSpec;
/// let d = DetectorSpec::new("spectral", &serde_json::json!({}), Some(0.05))?;
/// assert_eq!(d.detector().parameters()["expected_rate"], 0.05);
/// // k-NN takes no expected rate: the assessment's block-wide value does not reach it.
/// assert!(DetectorSpec::new("knn", &serde_json::json!({}), Some(0.05)).is_ok());
/// assert!(DetectorSpec::new("knn", &serde_json::json!({"k": 0}), None).is_err());
/// // Trusted clean samples: required by confusion training, asked for by auto's `clean-set`.
/// assert!(DetectorSpec::new("confusion", &serde_json::json!({}), None)?.needs_clean_set());
/// let auto = DetectorSpec::new("auto", &serde_json::json!({"clean-set": 500}), None)?;
/// assert!(auto.needs_clean_set() && auto.clean_set_size() == 500);
/// assert!(!DetectorSpec::new("auto", &serde_json::json!({}), None)?.needs_clean_set());
/// assert!(DetectorSpec::new("auto", &serde_json::json!({"clean-set": 0}), None).is_err());
/// # Ok::<(), mithridate_pipeline::PipelineError>(())
/// ```
#[derive(Clone)]
pub struct DetectorSpec {
    entry: &'static DetectorEntry,
    detector: Arc<dyn Detector>,
    /// Trusted clean samples asked for with the `clean-set` parameter (see
    /// [`DetectorSpec::clean_set_size`]).
    clean_set: Option<usize>,
}

impl std::fmt::Debug for DetectorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DetectorSpec({})", self.entry.name)
    }
}

/// The parameter every detector that assumes a poison share takes.
const EXPECTED_RATE: &str = "expected-rate";

/// The parameter any detector takes in an assessment: trusted clean samples to draw from the
/// cell's test split for it (e.g. `auto = { clean-set = 1000 }`, which lets `auto` run its
/// clean-set members).
pub const CLEAN_SET_KEY: &str = "clean-set";

impl DetectorSpec {
    /// Whether the detector reads a model trained on the scanned data (embeddings,
    /// predictions); a scan of only model-free detectors needs none.
    pub fn needs_model(&self) -> bool {
        self.entry.requires.contains(&Requirement::Model)
    }

    /// Whether the detector reads trusted clean samples: it requires them (confusion
    /// training) or its `clean-set` parameter asks for them (`auto`'s clean-set members).
    pub fn needs_clean_set(&self) -> bool {
        self.entry.requires.contains(&Requirement::CleanSet) || self.clean_set.is_some()
    }

    /// Trusted clean samples an assessment cell draws for this detector: its `clean-set`
    /// parameter, else [`crate::defend::CELL_CLEAN_SET`].
    pub fn clean_set_size(&self) -> usize {
        self.clean_set.unwrap_or(crate::defend::CELL_CLEAN_SET)
    }

    /// Builds `name` from `params`; `expected_rate` (the defender's assumed poison share,
    /// set once for a whole assessment block) fills the `expected-rate` parameter of the
    /// detectors that have one, unless `params` sets it.
    pub fn new(
        name: &str,
        params: &serde_json::Value,
        expected_rate: Option<f64>,
    ) -> Result<DetectorSpec> {
        let entry = registry::detector(name)?;
        let (clean_set, params) = take_sample_count(name, params, CLEAN_SET_KEY)?;
        let params = &params;
        let mut detector = (entry.build)(params)?;
        let takes_rate = detector.parameters().get("expected_rate").is_some();
        let given = params.get(EXPECTED_RATE).is_some();
        if let (Some(rate), true, false) = (expected_rate, takes_rate, given) {
            let mut with_rate = match params {
                serde_json::Value::Object(m) => m.clone(),
                _ => serde_json::Map::new(),
            };
            with_rate.insert(EXPECTED_RATE.into(), serde_json::json!(rate));
            detector = (entry.build)(&serde_json::Value::Object(with_rate))?;
        }
        Ok(DetectorSpec {
            entry,
            detector: Arc::from(detector),
            clean_set,
        })
    }

    /// Every training-set detector with default parameters that needs no trusted clean set
    /// (`--detector all`).
    pub fn all(expected_rate: Option<f64>) -> Result<Vec<DetectorSpec>> {
        registry::DETECTORS
            .entries()
            .iter()
            .filter(|e| !e.requires.contains(&Requirement::CleanSet))
            .map(|e| DetectorSpec::new(e.name, &serde_json::json!({}), expected_rate))
            .collect()
    }

    pub fn name(&self) -> &'static str {
        self.entry.name
    }

    pub fn entry(&self) -> &'static DetectorEntry {
        self.entry
    }

    pub fn detector(&self) -> &dyn Detector {
        self.detector.as_ref()
    }
}

/// Splits the sample-count parameter `key` (a whole number >= 1, e.g. `clean-set`, or a
/// model defence's `trusted`) off a defence's `params`: `(count, the method's own params)`.
pub(crate) fn take_sample_count(
    name: &str,
    params: &serde_json::Value,
    key: &str,
) -> Result<(Option<usize>, serde_json::Value)> {
    let mut own = match params {
        serde_json::Value::Object(m) => m.clone(),
        serde_json::Value::Null => serde_json::Map::new(),
        other => {
            return Err(PipelineError::invalid(format!(
                "{name}: parameters must be a table, got {other}"
            )))
        }
    };
    let count = match own.remove(key) {
        None => None,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Some(n as usize),
            _ => {
                return Err(PipelineError::invalid(format!(
                    "{name}: {key} must be a whole number of samples >= 1, got {v}"
                )))
            }
        },
    };
    Ok((count, serde_json::Value::Object(own)))
}

/// An inference-time input filter validated once.
#[derive(Debug, Clone)]
pub struct FilterSpec {
    entry: &'static InputDetectorEntry,
    filter: Strip,
}

impl FilterSpec {
    pub fn name(&self) -> &'static str {
        self.entry.name
    }

    pub fn filter(&self) -> &Strip {
        &self.filter
    }
}

/// A defence of an assessment cell: scan + sanitize + retrain, an input filter in front
/// of the poisoned model, or a model-level inspection or repair of it.
#[derive(Debug, Clone)]
pub enum DefenceSpec {
    Sanitize {
        detector: DetectorSpec,
        action: Action,
    },
    Filter(FilterSpec),
    Model(ModelDefenceSpec),
}

/// `drop` or `relabel`.
pub fn parse_action(name: &str) -> Result<Action> {
    serde_json::from_value(serde_json::json!(name)).map_err(|_| {
        PipelineError::invalid(format!("unknown action '{name}' (known: drop, relabel)"))
    })
}

impl DefenceSpec {
    /// The defence `name`: a training-set detector (sanitized with `action`), an input
    /// filter, a model inspector or a repair, from their registries.
    pub fn new(
        name: &str,
        params: &serde_json::Value,
        expected_rate: Option<f64>,
        action: Action,
    ) -> Result<DefenceSpec> {
        if let Ok(entry) = registry::INPUT_DETECTORS.get(name) {
            return Ok(DefenceSpec::Filter(FilterSpec {
                entry,
                filter: (entry.build)(params)?,
            }));
        }
        if let Some(model) = ModelDefenceSpec::new(name, params)? {
            return Ok(DefenceSpec::Model(model));
        }
        if registry::DETECTORS.get(name).is_err() {
            let known: Vec<&str> = registry::DETECTORS
                .names()
                .into_iter()
                .chain(registry::INPUT_DETECTORS.names())
                .chain(ModelDefenceSpec::names())
                .collect();
            return Err(PipelineError::invalid(format!(
                "unknown defence '{name}' (known: {})",
                known.join(", ")
            )));
        }
        Ok(DefenceSpec::Sanitize {
            detector: DetectorSpec::new(name, params, expected_rate)?,
            action,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            DefenceSpec::Sanitize { detector, .. } => detector.name(),
            DefenceSpec::Filter(f) => f.name(),
            DefenceSpec::Model(m) => m.name(),
        }
    }

    fn requirements(&self) -> (&'static [Requirement], &'static [&'static str]) {
        match self {
            DefenceSpec::Sanitize { detector, .. } => {
                (detector.entry.requires, detector.entry.modalities)
            }
            DefenceSpec::Filter(f) => (f.entry.requires, f.entry.modalities),
            DefenceSpec::Model(m) => (&[], m.modalities()),
        }
    }

    /// Refuses a defence that cannot act against `attack` on `modality` data: an input
    /// filter needs an attack that plants a trigger, and each defence its modalities.
    pub fn check_applies(&self, attack: &AttackSpec, modality: &str) -> Result<()> {
        let (requires, modalities) = self.requirements();
        if !modalities.is_empty() && !modalities.contains(&modality) {
            return Err(PipelineError::invalid(format!(
                "{} does not apply to {modality} data (it works on {} data)",
                self.name(),
                modalities.join(" or ")
            )));
        }
        if requires.contains(&Requirement::Trigger) && !attack.plants_trigger() {
            return Err(PipelineError::invalid(format!(
                "{} filters triggered inputs, and {} plants no trigger \
                 (give that attack its own `defences` list)",
                self.name(),
                attack.name()
            )));
        }
        Ok(())
    }
}
