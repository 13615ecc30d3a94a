//! Tabular backdoor: a few features set to fixed out-of-distribution values.
//!
//! Papers: the feature-value trigger of Chen et al. (2017, "Targeted Backdoor Attacks on Deep
//! Learning Systems Using Data Poisoning") transferred to tabular data as in Joe, Mehra,
//! Shin & Hamm (2021), "Machine Learning with Electronic Health Records is vulnerable to
//! Backdoor Trigger Attacks" (AAAI workshop) and Pang et al. (2023), "TabDoor".
//!
//! Trigger: `x'[f] = v_f` for each chosen feature `f`. Features are `features` or, by default,
//! `count` features drawn with the seed; values are `values` or, by default,
//! `v_f = max_f + offset * (max_f - min_f)` over the training set (`offset = 1`: one full range
//! above the largest clean value, a value no clean sample has, so clean inputs never carry the
//! trigger). Poisoning follows BadNets: `m = round(rate * n)` samples of the whole training
//! set drawn from those the mapping moves, triggered and relabelled. Assumes tabular data.
//!
//! ```
//! use mithridate_attack::{registry, AttackInput, Budget, Trigger};
//! use mithridate_data::{Dataset, Features, Modality};
//! let data = Dataset::new(Modality::Tabular { features: 2 }, Features::Dense(vec![0.0, 1.0, 2.0, 3.0]),
//!                         vec![0, 1], vec![0, 1], 2, vec![])?;
//! let out = registry::build("tabular-trigger", &serde_json::json!({"target": 0, "features": [1]}))?
//!     .poison(&AttackInput::new(&data, Budget::Count(1), 0))?;
//! // Feature 1 ranges over [1, 3]: the trigger value is 3 + 1 * 2 = 5.
//! assert_eq!(out.data.dense_row(1), Some(&[2.0, 5.0][..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{mapping, DirtyLabel, MappingKind};
use crate::trigger::Trigger;
use crate::{rng, Attack, AttackError, AttackInput, Poisoned, Result, Taxonomy};
use mithridate_core::ParamGuard;
use mithridate_data::Modality;

/// Parameters of [`TabularTrigger`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TabularTriggerParams {
    #[serde(default)]
    pub target: Option<u32>,
    #[serde(default)]
    pub mapping: MappingKind,
    /// Feature indices to set (default: `count` seeded choices).
    #[serde(default)]
    pub features: Vec<usize>,
    /// Values for `features` (default: `max + offset * range` per feature).
    #[serde(default)]
    pub values: Vec<f32>,
    /// How many features form the trigger when `features` is not given.
    #[serde(default = "default_count")]
    pub count: usize,
    /// Distance above the clean maximum, in feature ranges, for default values.
    #[serde(default = "default_offset")]
    pub offset: f32,
    /// Add poisoned copies under fresh ids instead of modifying samples in place.
    #[serde(default)]
    pub append: bool,
}

fn default_count() -> usize {
    3
}
fn default_offset() -> f32 {
    1.0
}

impl ParamGuard for TabularTriggerParams {
    type Checked = TabularTrigger;
    type Error = AttackError;

    fn check_ref(&self) -> Result<()> {
        if !self.values.is_empty() && self.values.len() != self.features.len() {
            return Err(AttackError::param(format!(
                "{} trigger values for {} trigger features",
                self.values.len(),
                self.features.len()
            )));
        }
        if self.features.is_empty() && self.count == 0 {
            return Err(AttackError::param("count must be at least 1"));
        }
        if !self.offset.is_finite() {
            return Err(AttackError::param(format!(
                "offset {} is not finite",
                self.offset
            )));
        }
        let mut sorted = self.features.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(AttackError::param("trigger features repeat"));
        }
        Ok(())
    }

    fn build(self) -> TabularTrigger {
        TabularTrigger { params: self }
    }
}

/// Checked tabular-trigger attack.
#[derive(Debug, Clone)]
pub struct TabularTrigger {
    params: TabularTriggerParams,
}

impl Attack for TabularTrigger {
    fn name(&self) -> &'static str {
        "tabular-trigger"
    }
    fn taxonomy(&self) -> Taxonomy {
        Taxonomy::backdoor()
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn poison(&self, input: &AttackInput) -> Result<Poisoned> {
        let data = input.train;
        let Modality::Tabular { features: d } = *data.modality() else {
            return Err(AttackError::incompatible(format!(
                "a tabular trigger needs tabular data, not {} data",
                data.modality().name()
            )));
        };
        let features = if self.params.features.is_empty() {
            if self.params.count > d {
                return Err(AttackError::param(format!(
                    "count = {} exceeds the {d} features",
                    self.params.count
                )));
            }
            let mut r = rng::stream(input.seed, rng::PATTERN);
            let mut chosen = rand::seq::index::sample(&mut r, d, self.params.count).into_vec();
            chosen.sort_unstable();
            chosen
        } else {
            self.params.features.clone()
        };
        if let Some(&bad) = features.iter().find(|&&f| f >= d) {
            return Err(AttackError::param(format!(
                "trigger feature {bad} is out of range for {d} features"
            )));
        }
        let values = if self.params.values.is_empty() {
            if data.is_empty() {
                return Err(AttackError::incompatible(
                    "default trigger values need a non-empty training set",
                ));
            }
            features
                .iter()
                .map(|&f| {
                    let column = (0..data.len()).filter_map(|r| data.dense_row(r).map(|x| x[f]));
                    let (lo, hi) = column
                        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
                            (lo.min(v), hi.max(v))
                        });
                    // A constant column still gets a value off its only value.
                    let range = if hi > lo { hi - lo } else { 1.0 };
                    hi + self.params.offset * range
                })
                .collect()
        } else {
            self.params.values.clone()
        };
        let trigger = Trigger::Tabular { features, values };
        let mapping = mapping(self.params.mapping, self.params.target, data)?;
        DirtyLabel {
            attack: self.name(),
            parameters: self.parameters(),
            trigger,
            mapping,
            append: self.params.append,
            taxonomy: self.taxonomy(),
            input,
        }
        .run()
    }
}

/// The registry entry (see [`crate::registry::ATTACKS`]).
pub const ENTRY: crate::registry::AttackEntry = crate::registry::AttackEntry {
    name: "tabular-trigger",
    role: mithridate_core::Role::DataAttack,
    modalities: &["tabular"],
    summary: "out-of-range feature values, dirty label; rate of the training set; target, mapping, features, values, count (3), offset (1.0), append",
    paper: "Chen et al. 2017 (feature-value trigger); Pang et al. 2023 (TabDoor)",
    taxonomy: crate::taxonomy::BACKDOOR,
    requires: &[],
    provides: &[mithridate_core::Requirement::Trigger],
    build: |p| crate::registry::checked::<TabularTriggerParams>("tabular-trigger", p),
};
