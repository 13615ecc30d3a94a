//! The registries of aggregation rules and pre-aggregators (the one pattern of
//! `mithridate_core::registry`): each entry is declared in its algorithm's file; adding one is
//! that file plus one line here.
//!
//! A builder takes `f` (the Byzantine clients the rule must withstand, from the scenario or
//! `--byzantine`) and the entry's JSON parameters (kebab-case keys, unknown keys rejected,
//! absent keys at the documented defaults) and returns the checked algorithm.
//!
//! ```
//! use mithridate_aggregate::registry::{PRE_AGGREGATORS, RULES};
//! let entry = RULES.get("trimmed-mean").unwrap();
//! let rule = (entry.build)(1, &serde_json::json!({ "beta": 0.2 })).unwrap();
//! assert_eq!(rule.name(), "trimmed-mean");
//! assert!((entry.build)(1, &serde_json::json!({ "b": 0.2 })).is_err());
//! assert!(PRE_AGGREGATORS.names().contains(&"bucketing"));
//! ```

use crate::error::{AggregateError, Result};
use crate::pre::{self, PreAggregator};
use crate::rules::{self, Aggregator};
use mithridate_core::registry::{Registry, Role};
use mithridate_core::taxonomy::TaxonomyIds;
use serde::de::DeserializeOwned;

/// Builds a rule from `f` and its JSON parameters.
pub type RuleBuilder = fn(usize, &serde_json::Value) -> Result<Box<dyn Aggregator>>;
/// Builds a pre-aggregation step from `f` and its JSON parameters.
pub type PreBuilder = fn(usize, &serde_json::Value) -> Result<Box<dyn PreAggregator>>;

/// Every aggregation rule.
pub static RULES: Registry<RuleBuilder> = Registry::new(
    Role::AggregationRule,
    &[
        rules::fedavg::ENTRY,
        rules::order_stats::MEDIAN_ENTRY,
        rules::order_stats::TRIMMED_MEAN_ENTRY,
        rules::krum::KRUM_ENTRY,
        rules::krum::MULTI_KRUM_ENTRY,
        rules::bulyan::ENTRY,
        rules::geomed::ENTRY,
        rules::centered_clipping::ENTRY,
        rules::fltrust::ENTRY,
        rules::foolsgold::ENTRY,
        rules::norm_bound::ENTRY,
        rules::flame::ENTRY,
        rules::dp_fedavg::ENTRY,
    ],
);

/// Every pre-aggregator (chained before any rule: `"bucketing:s=2+clipping:tau=1+median"`).
pub static PRE_AGGREGATORS: Registry<PreBuilder> = Registry::new(
    Role::PreAggregator,
    &[pre::nnm::ENTRY, pre::bucketing::ENTRY, pre::clipping::ENTRY],
);

/// Robust aggregation as a mitigation: MITRE ATLAS AML.M0003 (Model Hardening: robust
/// training procedures), against OWASP ML10 (Model Poisoning) and NIST AI 100-2 2.3.4 (model
/// poisoning mitigations).
pub const MITIGATES_MODEL_POISONING: TaxonomyIds = TaxonomyIds {
    mitre_atlas: &["AML.M0003"],
    owasp_ml: &["ML10"],
    owasp_llm: &[],
    nist_ai_100_2: "2.3.4",
};

/// Rules that drop or down-weight suspicious clients, which also filters poisoned
/// contributions: AML.M0003 plus AML.M0007 (Sanitize Training Data).
pub const FILTERS_MODEL_POISONING: TaxonomyIds = TaxonomyIds {
    mitre_atlas: &["AML.M0003", "AML.M0007"],
    owasp_ml: &["ML10"],
    owasp_llm: &[],
    nist_ai_100_2: "2.3.4",
};

/// Parameters of an entry that has none: only `{}` (or `null`) is accepted.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// Deserializes `name`'s parameters (`null` = all defaults; unknown keys are errors).
pub fn params<P: DeserializeOwned>(name: &str, value: &serde_json::Value) -> Result<P> {
    mithridate_core::registry::params(name, value).map_err(AggregateError::Params)
}
