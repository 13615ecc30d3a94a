//! Every data attack by name, in one place: adding an attack is one module under `attacks/`
//! declaring its [`AttackEntry`] and one line in [`ATTACKS`]. The CLI's `--list` and help,
//! the assessment configuration and the docs table all read this list.

use crate::attacks::{
    badnets, blend, clean_label, feature_collision, label_flip_greedy, label_flip_random,
    label_flip_targeted, narcissus, sig, tabular_trigger, text_trigger, wanet,
};
use crate::{Attack, AttackError, Result};
use mithridate_core::registry::{Entry, Registry, Role};
use mithridate_core::ParamGuard;
use serde::de::DeserializeOwned;

/// Builds the checked attack from its JSON parameters.
pub type AttackBuilder = fn(&serde_json::Value) -> Result<Box<dyn Attack>>;

/// One registered data attack.
pub type AttackEntry = Entry<AttackBuilder>;

/// The data attacks Mithridate ships.
pub static ATTACKS: Registry<AttackBuilder> = Registry::new(
    Role::DataAttack,
    &[
        label_flip_random::ENTRY,
        label_flip_targeted::ENTRY,
        label_flip_greedy::ENTRY,
        badnets::ENTRY,
        blend::ENTRY,
        clean_label::ENTRY,
        narcissus::ENTRY,
        sig::ENTRY,
        wanet::ENTRY,
        feature_collision::ENTRY,
        text_trigger::ENTRY,
        tabular_trigger::ENTRY,
    ],
);

/// The entry called `name`, or an error listing every attack.
///
/// ```
/// let e = mithridate_attack::registry::entry("badnets")?;
/// assert!(e.applies_to("image") && !e.applies_to("text"));
/// assert!(mithridate_attack::registry::entry("nope").is_err());
/// # Ok::<(), mithridate_attack::AttackError>(())
/// ```
pub fn entry(name: &str) -> Result<&'static AttackEntry> {
    ATTACKS
        .get(name)
        .map_err(|e| AttackError::param(e.to_string()))
}

/// Deserializes `P` from `params` (`null` = defaults; unknown keys rejected) and checks it.
pub fn checked<P>(name: &str, params: &serde_json::Value) -> Result<Box<dyn Attack>>
where
    P: DeserializeOwned + ParamGuard<Error = AttackError>,
    P::Checked: Attack + 'static,
{
    let parsed =
        mithridate_core::registry::params::<P>(name, params).map_err(AttackError::param)?;
    Ok(Box::new(parsed.check()?))
}

/// Builds and checks the attack `name` from its parameters (a JSON object, kebab-case keys;
/// `null` or `{}` for defaults). Unknown keys and out-of-range values are errors.
pub fn build(name: &str, params: &serde_json::Value) -> Result<Box<dyn Attack>> {
    (entry(name)?.build)(params)
}

/// Parses `key=value` pairs into a parameter object ([`mithridate_core::registry::params_from_pairs`]).
///
/// ```
/// let p = mithridate_attack::registry::params_from_pairs(&["size=4", "pattern=white"])?;
/// assert_eq!(p, serde_json::json!({"size": 4, "pattern": "white"}));
/// # Ok::<(), mithridate_attack::AttackError>(())
/// ```
pub fn params_from_pairs<S: AsRef<str>>(pairs: &[S]) -> Result<serde_json::Value> {
    mithridate_core::registry::params_from_pairs(pairs).map_err(AttackError::param)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_builds_under_its_name_and_rejects_unknown_keys() {
        for e in ATTACKS.entries() {
            assert_eq!(entry(e.name).unwrap().name, e.name);
            let err = build(e.name, &serde_json::json!({"no-such-key": 1}))
                .err()
                .expect("unknown key must be rejected")
                .to_string();
            assert!(
                err.contains("no-such-key") || err.contains("missing field"),
                "{err}"
            );
            // The entry and the built attack agree on name and taxonomy.
            if let Ok(a) = build(e.name, &serde_json::json!({"target": 0, "source": 1})) {
                assert_eq!(a.name(), e.name);
                assert_eq!(a.taxonomy(), crate::Taxonomy::from_ids(e.taxonomy));
                assert_eq!(
                    a.requirements().surrogate,
                    e.requires(mithridate_core::Requirement::Surrogate)
                );
                assert_eq!(
                    a.requirements().victims,
                    e.requires(mithridate_core::Requirement::Victims)
                );
            }
        }
        assert!(entry("nope").is_err());
    }
}
