//! Every attack by name, in one place: adding an attack is one module under `attacks/` and
//! one variant here.

use crate::attacks::{
    badnets::BadNetsParams, blend::BlendParams, clean_label::CleanLabelParams,
    feature_collision::FeatureCollisionParams, label_flip_greedy::GreedyFlipParams,
    label_flip_random::RandomFlipParams, label_flip_targeted::TargetedFlipParams,
    tabular_trigger::TabularTriggerParams, text_trigger::TextTriggerParams,
};
use crate::{Attack, AttackError, Result};
use serde::de::DeserializeOwned;

/// The attacks Mithridate ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttackKind {
    LabelFlip,
    LabelFlipTargeted,
    LabelFlipGreedy,
    BadNets,
    Blend,
    CleanLabel,
    FeatureCollision,
    TextTrigger,
    TabularTrigger,
}

impl AttackKind {
    pub const ALL: [AttackKind; 9] = [
        AttackKind::LabelFlip,
        AttackKind::LabelFlipTargeted,
        AttackKind::LabelFlipGreedy,
        AttackKind::BadNets,
        AttackKind::Blend,
        AttackKind::CleanLabel,
        AttackKind::FeatureCollision,
        AttackKind::TextTrigger,
        AttackKind::TabularTrigger,
    ];

    /// The name used on the command line and in ground-truth files.
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::LabelFlip => "label-flip",
            AttackKind::LabelFlipTargeted => "label-flip-targeted",
            AttackKind::LabelFlipGreedy => "label-flip-greedy",
            AttackKind::BadNets => "badnets",
            AttackKind::Blend => "blend",
            AttackKind::CleanLabel => "clean-label",
            AttackKind::FeatureCollision => "feature-collision",
            AttackKind::TextTrigger => "text-trigger",
            AttackKind::TabularTrigger => "tabular-trigger",
        }
    }

    /// The data modalities (`image`, `tabular`, `text`, as `Modality::name`) the attack can
    /// poison, so a plan can be checked before any data is loaded.
    ///
    /// ```
    /// use mithridate_attack::registry::AttackKind;
    /// assert!(AttackKind::BadNets.applies_to("image"));
    /// assert!(!AttackKind::BadNets.applies_to("text"));
    /// assert!(AttackKind::LabelFlip.applies_to("text"));
    /// ```
    pub fn modalities(self) -> &'static [&'static str] {
        const ALL: &[&str] = &["image", "tabular", "text"];
        match self {
            AttackKind::LabelFlip | AttackKind::LabelFlipTargeted | AttackKind::LabelFlipGreedy => {
                ALL
            }
            AttackKind::BadNets | AttackKind::Blend | AttackKind::CleanLabel => &["image"],
            AttackKind::FeatureCollision => &["image", "tabular"],
            AttackKind::TextTrigger => &["text"],
            AttackKind::TabularTrigger => &["tabular"],
        }
    }

    /// Whether [`AttackKind::modalities`] contains `modality`.
    pub fn applies_to(self, modality: &str) -> bool {
        self.modalities().contains(&modality)
    }

    /// One line: what it does, what the rate is of, and its parameters with defaults.
    pub fn summary(self) -> &'static str {
        match self {
            AttackKind::LabelFlip => {
                "random label flips; rate of the training set; no parameters"
            }
            AttackKind::LabelFlipTargeted => {
                "relabel source-class samples as target; rate of the source class; source, target (required)"
            }
            AttackKind::LabelFlipGreedy => {
                "flip the labels a surrogate is surest of; rate of the training set; objective=margin|loss (margin)"
            }
            AttackKind::BadNets => {
                "patch trigger, dirty label; rate of the training set; target, mapping=all-to-one|all-to-all, \
                 pattern=checkerboard|white|random, size (3), position=bottom-right|bottom-left|top-right|top-left|random, \
                 margin (1), append (false)"
            }
            AttackKind::Blend => {
                "blended full-image trigger, dirty label; rate of the training set; target, mapping, \
                 pattern=noise|image, alpha (0.1), source-id, append"
            }
            AttackKind::CleanLabel => {
                "PGD-hardened target-class samples + patch, labels kept; rate of the target class; target (required), \
                 epsilon (0.3), steps (20), step-size, pattern, size, position, margin"
            }
            AttackKind::FeatureCollision => {
                "poisons colliding with one victim in feature space, added with correct labels; rate of the target class; \
                 target (required), victim (test id), iterations (200), lr (0.01), beta (0.25), opacity (0.3)"
            }
            AttackKind::TextTrigger => {
                "rare-token / phrase trigger, dirty label; rate of the training set; target, mapping, words, tokens, \
                 rare (1), position=start|end|random, append"
            }
            AttackKind::TabularTrigger => {
                "out-of-range feature values, dirty label; rate of the training set; target, mapping, features, values, \
                 count (3), offset (1.0), append"
            }
        }
    }
}

impl std::str::FromStr for AttackKind {
    type Err = AttackError;
    fn from_str(s: &str) -> Result<Self> {
        AttackKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                AttackError::param(format!(
                    "unknown attack '{s}' (known: {})",
                    AttackKind::ALL.map(AttackKind::name).join(", ")
                ))
            })
    }
}

impl std::fmt::Display for AttackKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn parse<P: DeserializeOwned>(kind: AttackKind, params: &serde_json::Value) -> Result<P> {
    let params = match params {
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        other => other.clone(),
    };
    serde_json::from_value(params).map_err(|e| AttackError::param(format!("{}: {e}", kind.name())))
}

/// Builds and checks the attack `name` from its parameters (a JSON object, kebab-case keys;
/// `null` or `{}` for defaults). Unknown keys and out-of-range values are errors.
pub fn build(name: &str, params: &serde_json::Value) -> Result<Box<dyn Attack>> {
    build_kind(name.parse()?, params)
}

/// [`build`] for a parsed kind.
pub fn build_kind(kind: AttackKind, params: &serde_json::Value) -> Result<Box<dyn Attack>> {
    Ok(match kind {
        AttackKind::LabelFlip => Box::new(parse::<RandomFlipParams>(kind, params)?.check()?),
        AttackKind::LabelFlipTargeted => {
            Box::new(parse::<TargetedFlipParams>(kind, params)?.check()?)
        }
        AttackKind::LabelFlipGreedy => Box::new(parse::<GreedyFlipParams>(kind, params)?.check()?),
        AttackKind::BadNets => Box::new(parse::<BadNetsParams>(kind, params)?.check()?),
        AttackKind::Blend => Box::new(parse::<BlendParams>(kind, params)?.check()?),
        AttackKind::CleanLabel => Box::new(parse::<CleanLabelParams>(kind, params)?.check()?),
        AttackKind::FeatureCollision => {
            Box::new(parse::<FeatureCollisionParams>(kind, params)?.check()?)
        }
        AttackKind::TextTrigger => Box::new(parse::<TextTriggerParams>(kind, params)?.check()?),
        AttackKind::TabularTrigger => {
            Box::new(parse::<TabularTriggerParams>(kind, params)?.check()?)
        }
    })
}

/// Parses `key=value` pairs (as given on the command line) into a parameter object. Values
/// are read as JSON when they parse (`3`, `true`, `[1,2]`, `"x"`), as comma-separated lists of
/// JSON scalars when they contain a comma (`1,2`), otherwise as strings.
///
/// ```
/// let p = mithridate_attack::registry::params_from_pairs(&["size=4", "pattern=white", "features=1,2"])?;
/// assert_eq!(p, serde_json::json!({"size": 4, "pattern": "white", "features": [1, 2]}));
/// # Ok::<(), mithridate_attack::AttackError>(())
/// ```
pub fn params_from_pairs<S: AsRef<str>>(pairs: &[S]) -> Result<serde_json::Value> {
    let scalar = |v: &str| {
        serde_json::from_str::<serde_json::Value>(v)
            .unwrap_or_else(|_| serde_json::Value::String(v.to_string()))
    };
    let mut map = serde_json::Map::new();
    for pair in pairs {
        let pair = pair.as_ref();
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| AttackError::param(format!("'{pair}' is not key=value")))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(AttackError::param(format!("'{pair}' has an empty key")));
        }
        let value = match serde_json::from_str::<serde_json::Value>(value) {
            Ok(v) => v,
            Err(_) if value.contains(',') => {
                serde_json::Value::Array(value.split(',').map(|v| scalar(v.trim())).collect())
            }
            Err(_) => serde_json::Value::String(value.to_string()),
        };
        if map.insert(key.to_string(), value).is_some() {
            return Err(AttackError::param(format!("parameter '{key}' given twice")));
        }
    }
    Ok(serde_json::Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_its_name_and_rejects_unknown_keys() {
        for kind in AttackKind::ALL {
            assert_eq!(kind.name().parse::<AttackKind>().unwrap(), kind);
            let err = build_kind(kind, &serde_json::json!({"no-such-key": 1}))
                .err()
                .expect("unknown key must be rejected")
                .to_string();
            assert!(
                err.contains("no-such-key") || err.contains("missing field"),
                "{err}"
            );
        }
        assert!("nope".parse::<AttackKind>().is_err());
    }
}
