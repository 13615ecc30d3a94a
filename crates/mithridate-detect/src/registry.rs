//! Every detector by name, in one place: adding a training-set detector is one module
//! declaring its `ENTRY` plus its name in the `detectors!` line of the crate root (which
//! declares the module and lists the entry in [`DETECTORS`]); an inference-time filter goes
//! into [`INPUT_DETECTORS`]. The CLI's `--detector` values and help, the assessment
//! configuration's `defences` and the docs table all read these lists.

use crate::strip;
use crate::strip::Strip;
use crate::{DetectError, Detector, Result};
use mithridate_core::registry::{Entry, Registry, Role};
use mithridate_core::taxonomy::Ids;
use mithridate_core::ParamGuard;
use serde::de::DeserializeOwned;

/// Builds the checked training-set detector from its JSON parameters.
pub type DetectorBuilder = fn(&serde_json::Value) -> Result<Box<dyn Detector>>;
/// One registered training-set detector.
pub type DetectorEntry = Entry<DetectorBuilder>;

/// Builds the checked inference-time filter from its JSON parameters.
pub type InputDetectorBuilder = fn(&serde_json::Value) -> Result<Strip>;
/// One registered inference-time detector.
pub type InputDetectorEntry = Entry<InputDetectorBuilder>;

/// Training-set detectors (scan -> sanitize -> retrain).
pub static DETECTORS: Registry<DetectorBuilder> =
    Registry::new(Role::Detector, crate::DETECTOR_ENTRIES);

/// Inference-time detectors (filters in front of a deployed model).
pub static INPUT_DETECTORS: Registry<InputDetectorBuilder> =
    Registry::new(Role::InputDetector, &[strip::ENTRY]);

/// Training-data sanitization: MITRE ATLAS AML.M0007 (Sanitize Training Data), OWASP ML02's
/// mitigations, NIST AI 100-2 2.3 (poisoning mitigations).
pub const SANITIZATION: Ids = Ids {
    mitre_atlas: &["AML.M0007"],
    owasp_ml: &["ML02"],
    owasp_llm: &["LLM04"],
    nist_ai_100_2: "2.3",
};

/// Input filtering at inference: MITRE ATLAS AML.M0015 (Adversarial Input Detection).
pub const INPUT_FILTERING: Ids = Ids {
    mitre_atlas: &["AML.M0015"],
    owasp_ml: &["ML02"],
    owasp_llm: &["LLM04"],
    nist_ai_100_2: "2.3",
};

/// The training-set detector entry called `name`, or an error listing every detector.
pub fn detector(name: &str) -> Result<&'static DetectorEntry> {
    DETECTORS
        .get(name)
        .map_err(|e| DetectError::param(e.to_string()))
}

/// Builds the training-set detector `name` from its parameters (`null` or `{}`: defaults).
///
/// ```
/// use mithridate_detect::registry;
/// let d = registry::build("knn", &serde_json::json!({"k": 5}))?;
/// assert_eq!((d.name(), d.parameters()["k"].as_u64()), ("knn", Some(5)));
/// assert!(registry::build("knn", &serde_json::json!({"k": 0})).is_err());
/// assert!(registry::build("knn", &serde_json::json!({"kk": 5})).is_err());
/// # Ok::<(), mithridate_detect::DetectError>(())
/// ```
pub fn build(name: &str, params: &serde_json::Value) -> Result<Box<dyn Detector>> {
    (detector(name)?.build)(params)
}

/// Deserializes `P` from `params` (unknown keys rejected) and checks it.
pub fn checked<P>(name: &str, params: &serde_json::Value) -> Result<Box<dyn Detector>>
where
    P: DeserializeOwned + ParamGuard<Error = DetectError>,
    P::Checked: Detector + 'static,
{
    let parsed =
        mithridate_core::registry::params::<P>(name, params).map_err(DetectError::param)?;
    Ok(Box::new(parsed.check()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_detector_builds_with_defaults_under_its_name_and_rejects_unknown_keys() {
        for e in DETECTORS.entries() {
            let d = (e.build)(&serde_json::json!({})).unwrap();
            assert_eq!(d.name(), e.name);
            let err = (e.build)(&serde_json::json!({"no-such-key": 1}))
                .err()
                .expect("unknown keys are rejected")
                .to_string();
            assert!(err.contains("no-such-key"), "{err}");
        }
        for e in INPUT_DETECTORS.entries() {
            assert!((e.build)(&serde_json::json!({})).is_ok());
            assert!((e.build)(&serde_json::json!({"overlay": 1})).is_err());
        }
        assert!(detector("nope")
            .unwrap_err()
            .to_string()
            .contains("spectral"));
    }

    #[test]
    fn kebab_case_keys_reach_every_hyperparameter() {
        let d = build(
            "activation-clustering",
            &serde_json::json!({"consistency-gap": 0.5, "size-rule-outlier": 0.0}),
        )
        .unwrap();
        assert_eq!(d.parameters()["consistency_gap"], 0.5);
        assert_eq!(d.parameters()["size_rule_outlier"], 0.0);
        let l = build(
            "loss",
            &serde_json::json!({"direction": "low", "epochs": 2}),
        )
        .unwrap();
        assert_eq!(l.parameters()["direction"], "low");
    }
}
