//! The rule-by-name enum and option-struct builder of earlier versions, kept for callers:
//! both go through [`RuleSpec`] and the registries.

use crate::error::{AggregateError, Result};
use crate::registry::RULES;
use crate::rules::Aggregator;
use crate::spec::RuleSpec;
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// An aggregation rule by name, without parameters. `"nnm+<rule>"` composes nearest-neighbour
/// mixing with any rule (not with itself). [`RuleSpec`] is the general form (any chain of
/// pre-aggregators, parameters); `RuleSpec::from(rule)` converts, printing the same text.
///
/// ```
/// use mithridate_aggregate::Rule;
/// let r: Rule = "nnm+krum".parse().unwrap();
/// assert_eq!(r, Rule::Nnm(Box::new(Rule::Krum)));
/// assert_eq!(r.to_string(), "nnm+krum");
/// assert!("nnm+nnm+krum".parse::<Rule>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    FedAvg,
    Median,
    TrimmedMean,
    Krum,
    MultiKrum,
    Bulyan,
    GeoMed,
    CenteredClipping,
    FlTrust,
    FoolsGold,
    NormBound,
    Flame,
    DpFedAvg,
    /// Nearest-neighbour mixing, then the inner rule.
    Nnm(Box<Rule>),
}

const BASE: [(&str, Rule); 13] = [
    ("fedavg", Rule::FedAvg),
    ("median", Rule::Median),
    ("trimmed-mean", Rule::TrimmedMean),
    ("krum", Rule::Krum),
    ("multi-krum", Rule::MultiKrum),
    ("bulyan", Rule::Bulyan),
    ("geomed", Rule::GeoMed),
    ("centered-clipping", Rule::CenteredClipping),
    ("fltrust", Rule::FlTrust),
    ("foolsgold", Rule::FoolsGold),
    ("norm-bound", Rule::NormBound),
    ("flame", Rule::Flame),
    ("dp-fedavg", Rule::DpFedAvg),
];

impl Rule {
    /// Every accepted name (the `nnm+` prefix composes with each): the registry's rules.
    pub fn names() -> Vec<&'static str> {
        RULES.names()
    }

    /// The rule without its `nnm+` prefixes.
    fn base(&self) -> &Rule {
        match self {
            Rule::Nnm(inner) => inner.base(),
            rule => rule,
        }
    }

    /// The registry name of the base rule.
    fn base_name(&self) -> &'static str {
        let base = self.base();
        BASE.iter()
            .find(|(_, r)| r == base)
            .map_or("?", |(name, _)| *name)
    }
}

impl From<&Rule> for RuleSpec {
    fn from(rule: &Rule) -> RuleSpec {
        let spec = RuleSpec::new(rule.base_name(), Value::Null).expect("every Rule is registered");
        match rule {
            Rule::Nnm(_) => spec
                .with_pre("nnm", Value::Null)
                .expect("nnm is registered"),
            _ => spec,
        }
    }
}

impl From<Rule> for RuleSpec {
    fn from(rule: Rule) -> RuleSpec {
        RuleSpec::from(&rule)
    }
}

impl FromStr for Rule {
    type Err = AggregateError;
    fn from_str(s: &str) -> Result<Self> {
        let unknown = || {
            AggregateError::UnknownRule(
                s.to_string(),
                format!("{}, nnm+<rule>", Rule::names().join(", ")),
            )
        };
        let lower = s.trim().to_ascii_lowercase();
        if let Some(inner) = lower.strip_prefix("nnm+") {
            let inner: Rule = inner.parse().map_err(|_| unknown())?;
            if matches!(inner, Rule::Nnm(_)) {
                return Err(unknown());
            }
            return Ok(Rule::Nnm(Box::new(inner)));
        }
        BASE.iter()
            .find(|(name, _)| *name == lower)
            .map(|(_, rule)| rule.clone())
            .ok_or_else(unknown)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Nnm(inner) => write!(f, "nnm+{inner}"),
            rule => f.write_str(rule.base_name()),
        }
    }
}

/// A rule plus its hyperparameters as options; [`build`](RuleConfig::build) validates them
/// through the rule's registry entry (the checked type is the returned boxed rule). Unset
/// options take each rule's documented default; setting an option the rule does not have is
/// an error. [`RuleSpec`] reaches every parameter of every rule and pre-aggregator.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub rule: Rule,
    /// Byzantine clients to withstand.
    pub byzantine: usize,
    /// Multi-Krum: updates to average `m` (default `n - f`).
    pub select: Option<usize>,
    /// Centered clipping radius `tau` or norm-bound `M` (default: a median, see the rules).
    pub radius: Option<f64>,
    /// Centered clipping iterations (default 3) or geometric-median max iterations (1000).
    pub iterations: Option<usize>,
    /// Norm bounding: Gaussian noise standard deviation (default 0).
    pub noise_std: Option<f64>,
    /// Geometric median: relative tolerance (default 1e-7).
    pub tolerance: Option<f64>,
    /// FLAME: noise level `lambda`, noise std = `lambda` x clipping bound (default 0.001).
    pub noise_factor: Option<f64>,
}

/// Which registry parameter each option sets, per rule.
const OPTION_KEYS: [(&str, &str, &str); 8] = [
    ("select", "multi-krum", "m"),
    ("radius", "centered-clipping", "tau"),
    ("radius", "norm-bound", "bound"),
    ("iterations", "centered-clipping", "iterations"),
    ("iterations", "geomed", "max-iterations"),
    ("noise_std", "norm-bound", "noise-std"),
    ("tolerance", "geomed", "tolerance"),
    ("noise_factor", "flame", "noise-factor"),
];

impl RuleConfig {
    /// Defaults for everything but the rule and `f`.
    pub fn new(rule: Rule, byzantine: usize) -> Self {
        RuleConfig {
            rule,
            byzantine,
            select: None,
            radius: None,
            iterations: None,
            noise_std: None,
            tolerance: None,
            noise_factor: None,
        }
    }

    /// Validates and builds the rule.
    ///
    /// ```
    /// use mithridate_aggregate::{Rule, RuleConfig};
    /// let mut c = RuleConfig::new(Rule::Median, 1);
    /// c.radius = Some(1.0);
    /// assert!(c.build().is_err()); // the median has no radius
    /// ```
    pub fn build(&self) -> Result<Box<dyn Aggregator>> {
        self.spec()?.build(self.byzantine)
    }

    /// The options as a [`RuleSpec`] (errors on an option the rule does not have).
    pub fn spec(&self) -> Result<RuleSpec> {
        let rule = self.rule.base_name();
        let options: [(&'static str, Option<Value>); 6] = [
            ("select", self.select.map(Value::from)),
            ("radius", self.radius.map(Value::from)),
            ("iterations", self.iterations.map(Value::from)),
            ("noise_std", self.noise_std.map(Value::from)),
            ("tolerance", self.tolerance.map(Value::from)),
            ("noise_factor", self.noise_factor.map(Value::from)),
        ];
        let mut params = Map::new();
        for (option, value) in options {
            let Some(value) = value else { continue };
            let key = OPTION_KEYS
                .iter()
                .find(|(o, r, _)| *o == option && *r == rule)
                .map(|(_, _, key)| *key)
                .ok_or_else(|| AggregateError::Param {
                    name: option,
                    reason: format!("{rule} has no such option"),
                })?;
            params.insert(key.to_string(), value);
        }
        let spec = RuleSpec::new(rule, Value::Object(params))?;
        match self.rule {
            Rule::Nnm(_) => spec.with_pre("nnm", Value::Null),
            _ => Ok(spec),
        }
    }
}
