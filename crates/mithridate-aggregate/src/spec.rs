//! Checked rule specifications: pre-aggregators chained before a rule, each with parameters.

use crate::error::{AggregateError, Result};
use crate::pre::PreAggregated;
use crate::registry::{PRE_AGGREGATORS, RULES};
use crate::rules::Aggregator;
use mithridate_core::registry::{Entry, Registry, Requirement};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// One registry entry with its parameters (a JSON object; empty = every default).
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    name: &'static str,
    params: Map<String, Value>,
}

impl Component {
    /// The registry name.
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// The parameters as given (defaults are not filled in).
    pub fn params(&self) -> &Map<String, Value> {
        &self.params
    }
    /// `f` for this component: its `f` parameter if set, else `byzantine`; and the other
    /// parameters.
    fn split_f(&self, byzantine: usize) -> Result<(usize, Value)> {
        let mut rest = self.params.clone();
        let f = match rest.remove("f") {
            None => byzantine,
            Some(v) => v.as_u64().map(|f| f as usize).ok_or_else(|| {
                AggregateError::Params(format!("{}: f must be a count, got {v}", self.name))
            })?,
        };
        Ok((f, Value::Object(rest)))
    }
}

impl fmt::Display for Component {
    /// `name` or `name:key=value,key=value` (keys sorted).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        for (i, (key, value)) in self.params.iter().enumerate() {
            let sep = if i == 0 { ':' } else { ',' };
            match value {
                Value::String(s) => write!(f, "{sep}{key}={s}")?,
                other => write!(f, "{sep}{key}={other}")?,
            }
        }
        Ok(())
    }
}

/// A checked aggregation rule specification: pre-aggregators in order, then the rule.
///
/// Text form: components joined by `+`, the rule last; each component is `name` or
/// `name:key=value,...` (`"nnm+krum"`, `"bucketing:s=2+clipping:tau=1+median"`,
/// `"trimmed-mean:beta=0.2"`). Table form (TOML/JSON):
/// `{ rule = "trimmed-mean", params = { beta = 0.2 }, pre = [{ name = "nnm" }] }`. Every
/// component also takes `f`, overriding the Byzantine count it is built for. Parsing checks the
/// names against [`RULES`] and [`PRE_AGGREGATORS`] and the parameters by building once, so a
/// `RuleSpec` always builds (for any `f` the rules accept). `Display` prints the text form; a
/// name without parameters prints as itself, so `"nnm+krum"` round-trips unchanged. A
/// pre-aggregator may appear once.
///
/// ```
/// use mithridate_aggregate::{Round, RoundState, RuleSpec, Updates};
/// let spec: RuleSpec = "bucketing:s=2+clipping:tau=1+median".parse().unwrap();
/// assert_eq!(spec.to_string(), "bucketing:s=2+clipping:tau=1+median");
/// let table: RuleSpec = toml::from_str::<toml::Table>(
///     r#"r = { rule = "trimmed-mean", params = { beta = 0.2 }, pre = [{ name = "nnm" }] }"#,
/// ).unwrap()["r"].clone().try_into().unwrap();
/// assert_eq!(table.to_string(), "nnm+trimmed-mean:beta=0.2");
/// assert!("nnm+nope".parse::<RuleSpec>().is_err());
/// assert!("median:beta=0.2".parse::<RuleSpec>().is_err());
/// // Static clipping to norm 1, then the median: (0.6, 0.8), (0, 1), (0, 0.5) -> (0, 0.8).
/// let rule = "clipping:tau=1+median".parse::<RuleSpec>().unwrap().build(1).unwrap();
/// let u = Updates::new(&[3.0, 4.0, 0.0, 1.0, 0.0, 0.5], 3, 2).unwrap();
/// let out = rule.aggregate(&Round::new(u), &mut RoundState::default()).unwrap();
/// assert_eq!(out.aggregate, vec![0.0, 0.8]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pre: Vec<Component>,
    rule: Component,
}

fn component<B>(
    registry: &'static Registry<B>,
    name: &str,
    params: Value,
) -> Result<(&'static Entry<B>, Component)> {
    let entry = registry
        .get(&name.trim().to_ascii_lowercase())
        .map_err(|e| AggregateError::UnknownRule(name.to_string(), e.known))?;
    let params = match params {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        other => {
            return Err(AggregateError::Params(format!(
                "{}: parameters must be a table, got {other}",
                entry.name
            )))
        }
    };
    Ok((
        entry,
        Component {
            name: entry.name,
            params,
        },
    ))
}

impl RuleSpec {
    /// The rule `name` with JSON `params` (`null` or `{}` = defaults), checked.
    pub fn new(name: &str, params: Value) -> Result<RuleSpec> {
        let (_, rule) = component(&RULES, name, params)?;
        RuleSpec::checked(Vec::new(), rule)
    }

    /// Adds the pre-aggregator `name` with `params` after the existing ones, checked.
    pub fn with_pre(self, name: &str, params: Value) -> Result<RuleSpec> {
        let (_, step) = component(&PRE_AGGREGATORS, name, params)?;
        let mut pre = self.pre;
        pre.push(step);
        RuleSpec::checked(pre, self.rule)
    }

    fn checked(pre: Vec<Component>, rule: Component) -> Result<RuleSpec> {
        for (i, step) in pre.iter().enumerate() {
            if pre[..i].iter().any(|p| p.name == step.name) {
                return Err(AggregateError::Params(format!(
                    "{} appears twice in the chain",
                    step.name
                )));
            }
        }
        let spec = RuleSpec { pre, rule };
        spec.build(0)?;
        Ok(spec)
    }

    /// The rule (last component).
    pub fn rule(&self) -> &Component {
        &self.rule
    }

    /// The pre-aggregators, in order.
    pub fn pre(&self) -> &[Component] {
        &self.pre
    }

    /// Whether any component requires `r` (e.g. FLTrust's [`Requirement::RootSet`]).
    pub fn requires(&self, r: Requirement) -> bool {
        let rule = RULES.get(self.rule.name).is_ok_and(|e| e.requires(r));
        rule || self
            .pre
            .iter()
            .any(|p| PRE_AGGREGATORS.get(p.name).is_ok_and(|e| e.requires(r)))
    }

    /// Builds the rule for `byzantine` clients (each component's `f` parameter overrides it).
    pub fn build(&self, byzantine: usize) -> Result<Box<dyn Aggregator>> {
        let (f, params) = self.rule.split_f(byzantine)?;
        let entry = RULES.get(self.rule.name).expect("checked name");
        let inner = (entry.build)(f, &params)?;
        if self.pre.is_empty() {
            return Ok(inner);
        }
        let steps = self
            .pre
            .iter()
            .map(|step| {
                let (f, params) = step.split_f(byzantine)?;
                let entry = PRE_AGGREGATORS.get(step.name).expect("checked name");
                (entry.build)(f, &params)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(PreAggregated::new(steps, inner)))
    }
}

/// `key=value` text into JSON: integers, then floats, then booleans, else a string.
fn parse_value(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(x) = text.parse::<f64>() {
        return Value::from(x);
    }
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(text.to_string()),
    }
}

/// `name[:key=value,...]` into the name and a JSON object.
fn parse_component(text: &str) -> Result<(&str, Value)> {
    let Some((name, list)) = text.split_once(':') else {
        return Ok((text, Value::Null));
    };
    let mut params = Map::new();
    for pair in list.split(',') {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            AggregateError::Params(format!("{name}: expected key=value, got {pair:?}"))
        })?;
        params.insert(key.trim().to_string(), parse_value(value.trim()));
    }
    Ok((name, Value::Object(params)))
}

impl FromStr for RuleSpec {
    type Err = AggregateError;
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let mut parts: Vec<&str> = lower.split('+').map(str::trim).collect();
        let last = parts.pop().unwrap_or_default();
        let (name, params) = parse_component(last)?;
        let (_, rule) = component(&RULES, name, params).map_err(|e| match e {
            AggregateError::UnknownRule(..) => unknown(s),
            other => other,
        })?;
        let pre = parts
            .into_iter()
            .map(|part| {
                let (name, params) = parse_component(part)?;
                component(&PRE_AGGREGATORS, name, params)
                    .map(|(_, c)| c)
                    .map_err(|e| match e {
                        AggregateError::UnknownRule(..) => unknown(s),
                        other => other,
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        RuleSpec::checked(pre, rule)
    }
}

/// An unknown name in `text`, listing what is known.
fn unknown(text: &str) -> AggregateError {
    AggregateError::UnknownRule(
        text.to_string(),
        format!(
            "{}, <pre>+<rule> with <pre> one of {}",
            RULES.names().join(", "),
            PRE_AGGREGATORS.names().join(", ")
        ),
    )
}

impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.pre {
            write!(f, "{step}+")?;
        }
        write!(f, "{}", self.rule)
    }
}

/// The table form of a component in a chain.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreTable {
    name: String,
    #[serde(default)]
    params: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleTable {
    rule: String,
    #[serde(default)]
    params: Value,
    #[serde(default)]
    pre: Vec<PreTable>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RuleSpecForm {
    Text(String),
    Table(RuleTable),
}

impl<'de> Deserialize<'de> for RuleSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let spec = match RuleSpecForm::deserialize(d)? {
            RuleSpecForm::Text(text) => text.parse(),
            RuleSpecForm::Table(t) => RuleSpec::new(&t.rule, t.params).and_then(|spec| {
                t.pre
                    .into_iter()
                    .try_fold(spec, |spec, step| spec.with_pre(&step.name, step.params))
            }),
        };
        spec.map_err(serde::de::Error::custom)
    }
}

impl Serialize for RuleSpec {
    /// As the text form.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
