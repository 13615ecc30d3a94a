//! The one registry pattern.
//!
//! Every role (data attacks, training-set detectors, inference-time detectors, aggregation
//! rules, pre-aggregators, federated update attacks, and the families added later) is a
//! [`Registry`]: a static list of [`Entry`] values. An entry is declared as a `pub const` in
//! the algorithm's own file and registered with one line in its role's list; the CLI help,
//! `--list`, the assessment configuration and the docs tables all read the same list.
//!
//! `B` is the role's builder: usually `fn(&serde_json::Value) -> Result<Box<dyn Trait>, E>`,
//! turning parameters (a JSON object with kebab-case keys, TOML tables converted to JSON)
//! into the checked algorithm.
//!
//! ```
//! use mithridate_core::registry::{Entry, Registry, Role};
//! use mithridate_core::taxonomy::Ids;
//!
//! type Build = fn(&serde_json::Value) -> Result<u32, String>;
//! const DOUBLE: Entry<Build> = Entry {
//!     name: "double",
//!     role: Role::Detector,
//!     modalities: &["image"],
//!     summary: "doubles k",
//!     paper: "none",
//!     taxonomy: Ids::NONE,
//!     requires: &[],
//!     provides: &[],
//!     build: |p| Ok(2 * p["k"].as_u64().ok_or("k is required")? as u32),
//! };
//! static ALL: Registry<Build> = Registry::new(Role::Detector, &[DOUBLE]);
//! assert_eq!((ALL.get("double").unwrap().build)(&serde_json::json!({"k": 4})), Ok(8));
//! assert!(ALL.get("nope").unwrap_err().to_string().contains("known: double"));
//! ```

use crate::taxonomy::TaxonomyIds;
use serde::de::DeserializeOwned;
use std::fmt;

/// What an entry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    DataAttack,
    Detector,
    InputDetector,
    AggregationRule,
    PreAggregator,
    UpdateAttack,
    ModelInspector,
    Repair,
    RetrievalAttack,
    RetrievalDefence,
    /// A poisoning campaign over time (what a feed attacker does at each retraining step).
    Campaign,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::DataAttack => "data attack",
            Role::Detector => "training-set detector",
            Role::InputDetector => "inference-time detector",
            Role::AggregationRule => "aggregation rule",
            Role::PreAggregator => "pre-aggregator",
            Role::UpdateAttack => "federated update attack",
            Role::ModelInspector => "model inspector",
            Role::Repair => "model repair",
            Role::RetrievalAttack => "retrieval attack",
            Role::RetrievalDefence => "retrieval defence",
            Role::Campaign => "poisoning campaign",
        }
    }
}

/// What an entry needs beyond its parameters; callers check these before running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Requirement {
    /// A model trained on the data (embeddings, probabilities).
    Model,
    /// The attacker's surrogate model.
    Surrogate,
    /// A victim (test) set.
    Victims,
    /// A backdoor trigger to stamp (the attack must plant one).
    Trigger,
    /// Trusted clean samples (calibration).
    CleanSet,
    /// Relabelling suggestions (a detector that proposes a label per flagged sample).
    Relabel,
    /// The server's trusted root update (FLTrust).
    RootSet,
    /// Retraining: the entry trains models of its own.
    Training,
    /// The honest updates of the round (omniscient update attacks).
    HonestUpdates,
}

impl Requirement {
    pub fn name(self) -> &'static str {
        match self {
            Requirement::Model => "model",
            Requirement::Surrogate => "surrogate",
            Requirement::Victims => "victims",
            Requirement::Trigger => "trigger",
            Requirement::CleanSet => "clean set",
            Requirement::Relabel => "relabel",
            Requirement::RootSet => "root set",
            Requirement::Training => "training",
            Requirement::HonestUpdates => "honest updates",
        }
    }
}

/// One registered algorithm.
#[derive(Debug)]
pub struct Entry<B: 'static> {
    /// The name on the command line, in configurations and in results (kebab-case).
    pub name: &'static str,
    pub role: Role,
    /// Data modalities (`image`, `tabular`, `text`); empty: any (e.g. update vectors).
    pub modalities: &'static [&'static str],
    /// One line: what it does and its parameters with defaults.
    pub summary: &'static str,
    /// The paper it implements (authors, year).
    pub paper: &'static str,
    pub taxonomy: TaxonomyIds,
    pub requires: &'static [Requirement],
    /// What it supplies that other entries may require (a data attack that plants a
    /// test-time trigger provides [`Requirement::Trigger`], which STRIP requires).
    pub provides: &'static [Requirement],
    pub build: B,
}

impl<B> Entry<B> {
    /// Whether the entry applies to `modality` (an empty list means any).
    pub fn applies_to(&self, modality: &str) -> bool {
        self.modalities.is_empty() || self.modalities.contains(&modality)
    }

    pub fn requires(&self, r: Requirement) -> bool {
        self.requires.contains(&r)
    }

    pub fn provides(&self, r: Requirement) -> bool {
        self.provides.contains(&r)
    }
}

/// A name no entry of the role has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {role} '{name}' (known: {known})")]
pub struct UnknownName {
    pub role: &'static str,
    pub name: String,
    pub known: String,
}

/// Every entry of one role.
#[derive(Debug)]
pub struct Registry<B: 'static> {
    role: Role,
    entries: &'static [Entry<B>],
}

impl<B> Registry<B> {
    pub const fn new(role: Role, entries: &'static [Entry<B>]) -> Registry<B> {
        Registry { role, entries }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn entries(&self) -> &'static [Entry<B>] {
        self.entries
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.name).collect()
    }

    /// The entry called `name`, or an error listing the known names.
    pub fn get(&self, name: &str) -> Result<&'static Entry<B>, UnknownName> {
        let wanted = name.trim();
        self.entries
            .iter()
            .find(|e| e.name == wanted)
            .ok_or_else(|| UnknownName {
                role: self.role.name(),
                name: name.to_string(),
                known: self.names().join(", "),
            })
    }

    /// One line per entry (`name  summary`), for `--list` and `--help`.
    pub fn listing(&self) -> String {
        let width = self.entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
        self.entries
            .iter()
            .map(|e| format!("{:<width$}  {}", e.name, e.summary))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The docs table: name, modalities, summary, paper, taxonomy, requirements.
    pub fn markdown_table(&self) -> String {
        let mut out = String::from(
            "| name | modalities | what it does | paper | MITRE ATLAS | OWASP | NIST AI 100-2 | needs |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for e in self.entries {
            let list = |v: &[&str]| {
                if v.is_empty() {
                    "-".to_string()
                } else {
                    v.join(", ")
                }
            };
            let owasp: Vec<&str> = e
                .taxonomy
                .owasp_ml
                .iter()
                .chain(e.taxonomy.owasp_llm)
                .copied()
                .collect();
            let needs: Vec<&str> = e.requires.iter().map(|r| r.name()).collect();
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} | {} | {} | {} |\n",
                e.name,
                if e.modalities.is_empty() {
                    "any".to_string()
                } else {
                    e.modalities.join(", ")
                },
                e.summary.replace('|', "\\|"),
                e.paper,
                list(e.taxonomy.mitre_atlas),
                list(&owasp),
                if e.taxonomy.nist_ai_100_2.is_empty() {
                    "-"
                } else {
                    e.taxonomy.nist_ai_100_2
                },
                list(&needs),
            ));
        }
        out
    }
}

/// Deserializes an entry's parameters: `null` means defaults (`{}`); unknown keys are errors
/// when `P` denies them. The error names the entry.
///
/// ```
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// #[serde(deny_unknown_fields, rename_all = "kebab-case")]
/// struct P { #[serde(default)] beta: f64 }
/// let p: P = mithridate_core::registry::params("trimmed-mean", &serde_json::json!({"beta": 0.2})).unwrap();
/// assert_eq!(p, P { beta: 0.2 });
/// assert!(mithridate_core::registry::params::<P>("trimmed-mean", &serde_json::json!({"b": 1}))
///     .unwrap_err().contains("trimmed-mean"));
/// ```
pub fn params<P: DeserializeOwned>(name: &str, value: &serde_json::Value) -> Result<P, String> {
    let value = match value {
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        other => other.clone(),
    };
    serde_json::from_value(value).map_err(|e| format!("{name}: {e}"))
}

/// Parses `key=value` pairs (as given on the command line) into a parameter object. Values
/// are read as JSON when they parse (`3`, `true`, `[1,2]`, `"x"`), as comma-separated lists of
/// JSON scalars when they contain a comma (`1,2`), otherwise as strings.
///
/// ```
/// let p = mithridate_core::registry::params_from_pairs(&["size=4", "pattern=white", "features=1,2"])?;
/// assert_eq!(p, serde_json::json!({"size": 4, "pattern": "white", "features": [1, 2]}));
/// assert!(mithridate_core::registry::params_from_pairs(&["size"]).is_err());
/// # Ok::<(), String>(())
/// ```
pub fn params_from_pairs<S: AsRef<str>>(pairs: &[S]) -> Result<serde_json::Value, String> {
    let scalar = |v: &str| {
        serde_json::from_str::<serde_json::Value>(v)
            .unwrap_or_else(|_| serde_json::Value::String(v.to_string()))
    };
    let mut map = serde_json::Map::new();
    for pair in pairs {
        let pair = pair.as_ref();
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("'{pair}' is not key=value"))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("'{pair}' has an empty key"));
        }
        let value = match serde_json::from_str::<serde_json::Value>(value) {
            Ok(v) => v,
            Err(_) if value.contains(',') => {
                serde_json::Value::Array(value.split(',').map(|v| scalar(v.trim())).collect())
            }
            Err(_) => serde_json::Value::String(value.to_string()),
        };
        if map.insert(key.to_string(), value).is_some() {
            return Err(format!("parameter '{key}' given twice"));
        }
    }
    Ok(serde_json::Value::Object(map))
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A component as a command line names it: `NAME` or `NAME:KEY=VALUE,KEY=VALUE` (values as
/// [`params_from_pairs`] reads them; `Null` parameters without a colon). `flag` names the
/// option in the error (e.g. `--defence`).
///
/// ```
/// use mithridate_core::registry::name_and_params;
/// let (name, p) = name_and_params("bki:keywords=3", "--defence")?;
/// assert_eq!((name.as_str(), &p["keywords"]), ("bki", &serde_json::json!(3)));
/// assert_eq!(name_and_params("onion", "--defence")?.1, serde_json::Value::Null);
/// let err = name_and_params("bki:keywords", "--defence").unwrap_err();
/// assert!(err.starts_with("--defence bki:keywords: "));
/// # Ok::<(), String>(())
/// ```
pub fn name_and_params(text: &str, flag: &str) -> Result<(String, serde_json::Value), String> {
    match text.split_once(':') {
        None => Ok((text.trim().to_string(), serde_json::Value::Null)),
        Some((name, pairs)) => {
            let pairs: Vec<&str> = pairs.split(',').filter(|p| !p.is_empty()).collect();
            let params = params_from_pairs(&pairs).map_err(|e| format!("{flag} {text}: {e}"))?;
            Ok((name.trim().to_string(), params))
        }
    }
}
