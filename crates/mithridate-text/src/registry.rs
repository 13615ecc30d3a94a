//! Every text attack and defence by name: adding one is one file declaring its `ENTRY` and one
//! line in [`ATTACKS`] or [`DEFENCES`]. `mithridate text attack --list` reads these lists.

use crate::attacks::{addsent, badnl, template, TextAttack};
use crate::defences::{bki, embedding, onion, strip, TextDefence};
use crate::{Result, TextError};
use mithridate_core::registry::{Entry, Registry, Role};
use mithridate_core::taxonomy::Ids;
use mithridate_core::ParamGuard;
use serde::de::DeserializeOwned;

/// Builds a checked attack from its JSON parameters.
pub type AttackBuilder = fn(&serde_json::Value) -> Result<Box<dyn TextAttack>>;
pub type AttackEntry = Entry<AttackBuilder>;
/// Builds a checked defence from its JSON parameters.
pub type DefenceBuilder = fn(&serde_json::Value) -> Result<Box<dyn TextDefence>>;
pub type DefenceEntry = Entry<DefenceBuilder>;

/// Backdoor poisoning of a text classifier's training data: ATLAS AML.T0020 (Poison Training
/// Data), AML.T0018.000 (Backdoor ML Model: poison), AML.T0043.004 (insert backdoor trigger);
/// OWASP ML02, LLM04; NIST AI 100-2 2.3.3.
pub const TEXT_BACKDOOR: Ids = Ids {
    mitre_atlas: &["AML.T0020", "AML.T0018.000", "AML.T0043.004"],
    owasp_ml: &["ML02"],
    owasp_llm: &["LLM04"],
    nist_ai_100_2: "2.3.3",
};

/// Removing poisoned training data: ATLAS AML.M0007 (Sanitize Training Data).
pub const TEXT_SANITIZATION: Ids = Ids {
    mitre_atlas: &["AML.M0007"],
    owasp_ml: &["ML02"],
    owasp_llm: &["LLM04"],
    nist_ai_100_2: "2.3.3",
};

/// Filtering inputs at inference: ATLAS AML.M0015 (Adversarial Input Detection).
pub const TEXT_INPUT_FILTERING: Ids = Ids {
    mitre_atlas: &["AML.M0015"],
    owasp_ml: &["ML02"],
    owasp_llm: &["LLM04"],
    nist_ai_100_2: "2.3.3",
};

/// The text trigger attacks.
pub static ATTACKS: Registry<AttackBuilder> = Registry::new(
    Role::DataAttack,
    &[badnl::ENTRY, addsent::ENTRY, template::ENTRY],
);

/// The text defences (training-set and inference-time).
pub static DEFENCES: Registry<DefenceBuilder> = Registry::new(
    Role::Detector,
    &[
        onion::ENTRY,
        strip::ENTRY,
        embedding::ACTIVATION_CLUSTERING,
        embedding::SPECTRAL,
        bki::ENTRY,
    ],
);

/// Builds and checks attack `name` (`null` or `{}`: defaults; unknown keys are errors).
pub fn build_attack(name: &str, params: &serde_json::Value) -> Result<Box<dyn TextAttack>> {
    let entry = ATTACKS
        .get(name)
        .map_err(|e| TextError::invalid(e.to_string()))?;
    (entry.build)(params)
}

/// Builds and checks defence `name`.
/// A defence as the CLI's `--defence` and the Python package give it: `NAME` or
/// `NAME:KEY=VALUE,KEY=VALUE` (values parsed as JSON where they parse, else strings).
///
/// ```
/// let (name, params) = mithridate_text::registry::parse_defence("bki:keywords=3")?;
/// assert_eq!((name.as_str(), &params["keywords"]), ("bki", &serde_json::json!(3)));
/// assert!(mithridate_text::registry::parse_defence("bki:keywords").is_err());
/// # Ok::<(), mithridate_text::TextError>(())
/// ```
pub fn parse_defence(text: &str) -> Result<(String, serde_json::Value)> {
    mithridate_core::registry::name_and_params(text, "--defence").map_err(TextError::invalid)
}

pub fn build_defence(name: &str, params: &serde_json::Value) -> Result<Box<dyn TextDefence>> {
    let entry = DEFENCES
        .get(name)
        .map_err(|e| TextError::invalid(e.to_string()))?;
    (entry.build)(params)
}

pub(crate) fn checked_attack<P>(
    name: &str,
    params: &serde_json::Value,
) -> Result<Box<dyn TextAttack>>
where
    P: DeserializeOwned + ParamGuard<Error = TextError>,
    P::Checked: TextAttack + 'static,
{
    let parsed =
        mithridate_core::registry::params::<P>(name, params).map_err(TextError::Invalid)?;
    Ok(Box::new(parsed.check()?))
}

pub(crate) fn checked_defence<P>(
    name: &str,
    params: &serde_json::Value,
) -> Result<Box<dyn TextDefence>>
where
    P: DeserializeOwned + ParamGuard<Error = TextError>,
    P::Checked: TextDefence + 'static,
{
    let parsed =
        mithridate_core::registry::params::<P>(name, params).map_err(TextError::Invalid)?;
    Ok(Box::new(parsed.check()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_bad_params_are_refused() {
        let mut names = ATTACKS.names();
        names.extend(DEFENCES.names());
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        let err = build_attack("nope", &serde_json::Value::Null)
            .err()
            .expect("unknown name refused")
            .to_string();
        assert!(err.contains("known: badnl, addsent, template"), "{err}");
        assert!(build_attack("addsent", &serde_json::json!({"x": 1})).is_err());
        assert!(build_attack("addsent", &serde_json::json!({"trigger": "  "})).is_err());
        let long = vec!["w"; 40].join(" ");
        assert!(build_attack("addsent", &serde_json::json!({"trigger": long})).is_err());
        assert!(build_defence("strip", &serde_json::json!({"copies": 1})).is_err());
        assert!(build_defence("spectral", &serde_json::json!({"expected-rate": 2.0})).is_err());
        assert!(build_defence("onion", &serde_json::json!({"lm": "gpt"})).is_err());
        for name in DEFENCES.names() {
            build_defence(name, &serde_json::Value::Null).unwrap();
        }
    }
}
