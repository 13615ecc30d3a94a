//! The assessment configuration (`assess.toml`): which datasets, attacks with budgets,
//! defences, federated scenarios, continual streams, retrieval-poisoning matrices ([`Rag`]),
//! privacy-preserving and certified deployments ([`Privacy`]) and seeds make up the matrix.
//!
//! Parsing is purely syntactic plus range checks that need no other crate (rates in `[0, 1]`,
//! positive sizes); every value that names something (a dataset, an attack, a detector, a
//! rule) keeps its position so the caller's validation can name the line of the mistake.
//! The built-in default ([`Config::builtin`]) is `default.toml` next to this crate's manifest.
//!
//! ```
//! use mithridate_assess::config::Config;
//! let text = r#"
//! seeds = 2
//! [[centralized]]
//! dataset = "digits"
//! defences = ["spectral"]
//! [[centralized.attacks]]
//! name = "badnets"
//! rates = [0.05]
//! params = { target = 0 }
//! "#;
//! let config = Config::parse(text)?;
//! assert_eq!(config.seeds, 2);
//! assert_eq!(config.line_of(&config.centralized[0].attacks[0].name), 7);
//! # Ok::<(), mithridate_assess::config::ConfigError>(())
//! ```

mod language;
mod privacy;
mod rag;

pub use language::{Lm, LmModel, NamedList, Text, TextAttack};
pub use privacy::{Deployment, Dpa, NoiseCurve, Privacy, SecAgg, DEFAULT_DELTA, DEFAULT_RADII};
pub use rag::{
    DefenceSetting, NamedParams, Rag, RagTargets, DEFAULT_POISONS_PER_TARGET, DEFAULT_RAG_TARGETS,
    MAX_POISONS_PER_TARGET,
};

use serde::Deserialize;
use toml::Spanned;

/// A configuration that cannot be used; the message names the line.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
    pub message: String,
}

/// The whole matrix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Seeds per cell: `base_seed`, `base_seed + 1`, ... (`--seeds` overrides).
    #[serde(default = "one")]
    pub seeds: u64,
    /// Centralized training blocks.
    #[serde(default)]
    pub centralized: Vec<Centralized>,
    /// Federated scenarios.
    #[serde(default)]
    pub federated: Vec<Federated>,
    /// Continual-retraining runs: `[continual]` (one block) or `[[continual]]` (several).
    #[serde(default, deserialize_with = "one_or_many")]
    pub continual: Vec<Continual>,
    /// Retrieval-corpus poisoning matrices: `[rag]` (one block) or `[[rag]]` (several).
    #[serde(default, deserialize_with = "one_or_many")]
    pub rag: Vec<Rag>,
    /// Privacy-preserving federated deployments side by side, with an optional noise curve and
    /// certified defence: `[privacy]` (one block) or `[[privacy]]` (several).
    #[serde(default, deserialize_with = "one_or_many")]
    pub privacy: Vec<Privacy>,
    /// Text-classifier backdoors on a frozen encoder: `[text]` or `[[text]]`.
    #[serde(default, deserialize_with = "one_or_many")]
    pub text: Vec<Text>,
    /// Generative-model training-data poisoning: `[lm]` or `[[lm]]`.
    #[serde(default, deserialize_with = "one_or_many")]
    pub lm: Vec<Lm>,
    /// The source text, to turn byte spans into lines.
    #[serde(skip)]
    source: String,
}

fn one() -> u64 {
    1
}

/// One dataset trained centrally: a clean baseline, each attack at each rate, and each
/// defence against each poisoned set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Centralized {
    /// Built-in dataset name or `.npz` path.
    pub dataset: Spanned<String>,
    /// Victim architecture (`logreg`, `mlp`, `cnn`, `text`); default per modality.
    pub model: Option<Spanned<String>>,
    /// Training epochs (default: the architecture's default).
    pub epochs: Option<Spanned<usize>>,
    /// Seeded stratified training subset size.
    pub max_train: Option<Spanned<usize>>,
    /// Seeded stratified test subset size.
    pub max_test: Option<Spanned<usize>>,
    /// Data detectors run with sanitize-and-retrain against every poisoned set.
    #[serde(default)]
    pub defences: Vec<Spanned<String>>,
    /// `drop` flagged samples or `relabel` those a detector suggests a label for.
    pub action: Option<Spanned<String>>,
    /// Expected poison share the detectors assume (not the true rate: defenders do not know it).
    pub expected_rate: Option<Spanned<f64>>,
    /// Hyperparameters per defence, by name (kebab-case keys, as the registry documents
    /// them: `mithridate scan data --list`), e.g.
    /// `defence_params = { knn = { k = 20 }, activation-clustering = { consistency-gap = 0.5 } }`.
    #[serde(default)]
    pub defence_params: Option<Spanned<toml::Table>>,
    #[serde(default)]
    pub attacks: Vec<AttackEntry>,
}

impl Centralized {
    /// The parameters configured for the defence `name` as JSON (`None`: defaults).
    pub fn defence_params_json(&self, name: &str) -> Option<serde_json::Value> {
        let table = self.defence_params.as_ref()?.get_ref();
        serde_json::to_value(table.get(name)?).ok()
    }
}

/// One attack with its budgets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackEntry {
    /// Attack registry name (`mithridate poison --list`).
    pub name: Spanned<String>,
    /// Poison rates, each in `[0, 1]` of the attack's pool.
    pub rates: Vec<Spanned<f64>>,
    /// Attack parameters (kebab-case keys, as `mithridate poison --param`).
    #[serde(default)]
    pub params: Option<Spanned<toml::Table>>,
    /// Defences against this attack, replacing the block's list (e.g. no input filter
    /// against an attack without a trigger).
    pub defences: Option<Vec<Spanned<String>>>,
}

impl AttackEntry {
    /// The parameters as the attack registry takes them: a JSON object, `{}` for defaults.
    pub fn params_json(&self) -> serde_json::Value {
        table_json(self.params.as_ref().map(Spanned::get_ref))
    }
}

/// One federated scenario: every rule under every update attack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Federated {
    pub dataset: Spanned<String>,
    /// Model architecture (default `mlp`).
    pub model: Option<Spanned<String>>,
    pub clients: Spanned<usize>,
    /// Fraction of clients per round, in `(0, 1]`.
    pub per_round: Spanned<f64>,
    pub rounds: Spanned<usize>,
    /// Byzantine fraction of all clients, in `[0, 1)`.
    pub byzantine: Spanned<f64>,
    /// Aggregation rules (`mithridate aggregate --help`).
    pub rules: Vec<Spanned<String>>,
    /// Update attacks (`mithridate fl --help`); include `none` for the benign reference run.
    pub attacks: Vec<Spanned<String>>,
    /// `iid`, `dirichlet:ALPHA` or `shards:K` (default `iid`).
    pub partition: Option<Spanned<String>>,
    pub local_epochs: Option<Spanned<usize>>,
    pub lr: Option<Spanned<f64>>,
    pub max_train: Option<Spanned<usize>>,
    pub max_test: Option<Spanned<usize>>,
}

/// One continual-retraining stream (mithridate-continual's loop over time-ordered batches:
/// ingest, screen, retrain, gate, deploy or block, monitor), run once per campaign and seed.
///
/// ```
/// use mithridate_assess::config::Config;
/// let config = Config::parse(r#"
/// [continual]
/// dataset = "mnist"
/// config = { batches = 6, retrain = "finetune" }
/// campaigns = [{ name = "clean" }, { name = "slow-burn", rate = 0.005, target = 0 }]
/// "#)?;
/// assert_eq!(config.continual[0].campaigns.len(), 2);
/// assert_eq!(config.continual[0].campaigns[1].params_json()["rate"], 0.005);
/// # Ok::<(), mithridate_assess::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Continual {
    /// Built-in image dataset (`mnist`, `fashion-mnist`).
    pub dataset: Spanned<String>,
    /// The loop's configuration, with the keys of a `continual.toml`
    /// (`mithridate continual --config`); checked by mithridate-continual.
    pub config: Option<Spanned<toml::Table>>,
    /// Campaigns (`mithridate continual --list-campaigns`), one cell each per seed.
    pub campaigns: Vec<ContinualCampaign>,
}

impl Continual {
    /// The loop configuration as JSON, `{}` for the defaults.
    pub fn config_json(&self) -> serde_json::Value {
        table_json(self.config.as_ref().map(Spanned::get_ref))
    }
}

/// One campaign of a continual block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinualCampaign {
    /// Campaign registry name.
    pub name: Spanned<String>,
    /// Per-batch poison rate (the campaign's `rate` parameter, as `--rate`).
    pub rate: Option<Spanned<f64>>,
    /// Target class (the campaign's `target` parameter, as `--target`).
    pub target: Option<Spanned<u32>>,
    /// Further campaign parameters (kebab-case keys, as `mithridate continual -P`).
    pub params: Option<Spanned<toml::Table>>,
}

impl ContinualCampaign {
    /// Every parameter as the campaign registry takes them: a JSON object.
    pub fn params_json(&self) -> serde_json::Value {
        let mut params = table_json(self.params.as_ref().map(Spanned::get_ref));
        if let Some(rate) = &self.rate {
            params["rate"] = serde_json::json!(*rate.get_ref());
        }
        if let Some(target) = &self.target {
            params["target"] = serde_json::json!(*target.get_ref());
        }
        params
    }
}

/// A TOML table as a JSON object, `{}` when absent.
fn table_json(table: Option<&toml::Table>) -> serde_json::Value {
    table
        .and_then(|t| serde_json::to_value(t).ok())
        .unwrap_or_else(|| serde_json::json!({}))
}

/// A block written as `[name]` (one table) or `[[name]]` (an array of tables), read without
/// buffering, so the blocks keep their spans.
fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Blocks<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Blocks<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a [block] table or [[block]] tables")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let block = T::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
            Ok(vec![block])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
        }
    }
    d.deserialize_any(Blocks(std::marker::PhantomData))
}

/// The built-in default assessment (`default.toml`): MNIST subsets (MLP), a clean baseline,
/// random and greedy label flipping, BadNets and Blended at two budgets each, every data
/// detector with sanitize-and-retrain (and STRIP against the backdoors), and a federated
/// scenario with five rules under three update attacks.
pub const DEFAULT_TOML: &str = include_str!("../default.toml");

impl Config {
    /// The built-in default matrix.
    pub fn builtin() -> Config {
        // The default is a test-checked file of this crate; failing to parse it is a build bug.
        Config::parse(DEFAULT_TOML).expect("the built-in default.toml parses")
    }

    /// Parses and range-checks a configuration; errors name the line.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError {
            line: e.span().map(|s| line_at(text, s.start)),
            message: e.message().trim().to_string(),
        })?;
        config.source = text.to_string();
        config.check_ranges()?;
        Ok(config)
    }

    /// 1-based line of a value of this configuration.
    pub fn line_of<T>(&self, value: &Spanned<T>) -> usize {
        line_at(&self.source, value.span().start)
    }

    /// An error about `value`, naming its line.
    pub fn error_at<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            line: Some(self.line_of(value)),
            message: message.into(),
        }
    }

    /// Checks that need nothing but the numbers.
    fn check_ranges(&self) -> Result<(), ConfigError> {
        if self.seeds == 0 {
            return Err(ConfigError {
                line: None,
                message: "seeds must be at least 1".into(),
            });
        }
        if self.centralized.is_empty()
            && self.federated.is_empty()
            && self.continual.is_empty()
            && self.rag.is_empty()
            && self.privacy.is_empty()
            && self.text.is_empty()
            && self.lm.is_empty()
        {
            return Err(ConfigError {
                line: None,
                message: "the configuration has no [[centralized]], [[federated]], [continual], \
                          [rag], [privacy], [text] or [lm] block"
                    .into(),
            });
        }
        let positive = |v: &Option<Spanned<usize>>, key: &str| match v {
            Some(s) if *s.get_ref() == 0 => {
                Err(self.error_at(s, format!("{key} must be at least 1")))
            }
            _ => Ok(()),
        };
        for block in &self.centralized {
            positive(&block.epochs, "epochs")?;
            positive(&block.max_train, "max_train")?;
            positive(&block.max_test, "max_test")?;
            if let Some(r) = &block.expected_rate {
                let v = *r.get_ref();
                if !(v.is_finite() && v > 0.0 && v <= 1.0) {
                    return Err(
                        self.error_at(r, format!("expected_rate must be in (0, 1], got {v}"))
                    );
                }
            }
            for attack in &block.attacks {
                if attack.rates.is_empty() {
                    return Err(self.error_at(&attack.name, "the attack has no rates"));
                }
                for rate in &attack.rates {
                    let v = *rate.get_ref();
                    if !(0.0..=1.0).contains(&v) {
                        return Err(self.error_at(rate, format!("rate must be in [0, 1], got {v}")));
                    }
                }
            }
        }
        for fed in &self.federated {
            self.check_federated(fed)?;
        }
        for block in &self.continual {
            if block.campaigns.is_empty() {
                return Err(self.error_at(&block.dataset, "the continual block has no campaigns"));
            }
            for campaign in &block.campaigns {
                if let Some(r) = &campaign.rate {
                    let v = *r.get_ref();
                    if !(0.0..=1.0).contains(&v) {
                        return Err(self.error_at(r, format!("rate must be in [0, 1], got {v}")));
                    }
                }
            }
        }
        for block in &self.rag {
            self.check_rag(block)?;
        }
        for block in &self.privacy {
            self.check_privacy(block)?;
        }
        for block in &self.text {
            self.check_text(block)?;
        }
        for block in &self.lm {
            self.check_lm(block)?;
        }
        Ok(())
    }

    /// A federated scenario's counts at least 1, fractions in range, rules and attacks listed.
    fn check_federated(&self, fed: &Federated) -> Result<(), ConfigError> {
        let positive = |v: &Option<Spanned<usize>>, key: &str| match v {
            Some(s) if *s.get_ref() == 0 => {
                Err(self.error_at(s, format!("{key} must be at least 1")))
            }
            _ => Ok(()),
        };
        positive(&Some(fed.clients.clone()), "clients")?;
        positive(&Some(fed.rounds.clone()), "rounds")?;
        positive(&fed.local_epochs, "local_epochs")?;
        positive(&fed.max_train, "max_train")?;
        positive(&fed.max_test, "max_test")?;
        let p = *fed.per_round.get_ref();
        if !(p > 0.0 && p <= 1.0) {
            return Err(self.error_at(
                &fed.per_round,
                format!("per_round must be in (0, 1], got {p}"),
            ));
        }
        let b = *fed.byzantine.get_ref();
        if !(0.0..1.0).contains(&b) {
            return Err(self.error_at(
                &fed.byzantine,
                format!("byzantine must be in [0, 1), got {b}"),
            ));
        }
        if fed.rules.is_empty() {
            return Err(self.error_at(&fed.dataset, "the federated scenario has no rules"));
        }
        if fed.attacks.is_empty() {
            return Err(self.error_at(&fed.dataset, "the federated scenario has no attacks"));
        }
        Ok(())
    }

    /// A RAG block's lists are non-empty, its counts at least 1 and its poisons within what
    /// mithridate-rag accepts.
    fn check_rag(&self, block: &Rag) -> Result<(), ConfigError> {
        if let Some(list) = &block.retrievers {
            if list.get_ref().is_empty() {
                return Err(self.error_at(list, "the rag block has no retrievers"));
            }
        }
        if let Some(t) = &block.targets {
            if *t.get_ref() == RagTargets::Count(0) {
                return Err(self.error_at(t, "targets must be at least 1"));
            }
        }
        if let Some(list) = &block.poisons_per_target {
            if list.get_ref().is_empty() {
                return Err(self.error_at(list, "poisons_per_target is empty"));
            }
            for p in list.get_ref() {
                let v = *p.get_ref();
                if !(1..=MAX_POISONS_PER_TARGET).contains(&v) {
                    return Err(self.error_at(
                        p,
                        format!(
                            "poisons_per_target must be in 1..={MAX_POISONS_PER_TARGET}, got {v}"
                        ),
                    ));
                }
            }
        }
        if block.attacks.get_ref().is_empty() {
            return Err(self.error_at(&block.attacks, "the rag block has no attacks"));
        }
        Ok(())
    }
}

fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_default_parses() {
        let c = Config::builtin();
        assert!(!c.centralized.is_empty());
        assert!(!c.federated.is_empty());
    }

    #[test]
    fn rate_above_one_names_its_line() {
        let text = "[[centralized]]\ndataset = \"digits\"\n[[centralized.attacks]]\nname = \"badnets\"\nrates = [0.1,\n 1.5]\n";
        let e = Config::parse(text).unwrap_err();
        assert_eq!(e.line, Some(6));
        assert!(e.message.contains("1.5"), "{}", e.message);
    }

    #[test]
    fn unknown_key_names_its_line() {
        let text = "seeds = 1\n[[centralized]]\ndataset = \"digits\"\nmodle = \"mlp\"\n";
        let e = Config::parse(text).unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("modle"), "{}", e.message);
    }

    #[test]
    fn byzantine_out_of_range_is_an_error() {
        let text = "[[federated]]\ndataset = \"digits\"\nclients = 10\nper_round = 0.5\nrounds = 2\nbyzantine = 1.0\nrules = [\"median\"]\nattacks = [\"none\"]\n";
        let e = Config::parse(text).unwrap_err();
        assert_eq!(e.line, Some(6));
    }

    #[test]
    fn continual_blocks_one_or_many() {
        let one = "[continual]\ndataset = \"mnist\"\ncampaigns = [{ name = \"clean\" }]\n";
        assert_eq!(Config::parse(one).unwrap().continual.len(), 1);
        let many = "[[continual]]\ndataset = \"mnist\"\ncampaigns = [{ name = \"clean\" }]\n\
                    [[continual]]\ndataset = \"fashion-mnist\"\n\
                    campaigns = [{ name = \"burst\", rate = 0.05 }]\n";
        let c = Config::parse(many).unwrap();
        assert_eq!(c.continual.len(), 2);
        assert_eq!(c.line_of(&c.continual[1].dataset), 5);
        let bad_rate = "[continual]\ndataset = \"mnist\"\n\
                        campaigns = [\n{ name = \"burst\", rate = 1.5 }]\n";
        assert_eq!(Config::parse(bad_rate).unwrap_err().line, Some(4));
        let typo = "[continual]\ndataset = \"mnist\"\ncampains = []\n";
        let e = Config::parse(typo).unwrap_err();
        assert!(e.message.contains("campains"), "{}", e.message);
        let none = "[continual]\ndataset = \"mnist\"\ncampaigns = []\n";
        assert!(Config::parse(none)
            .unwrap_err()
            .message
            .contains("no campaigns"));
    }

    #[test]
    fn empty_config_is_an_error() {
        assert!(Config::parse("seeds = 1\n").is_err());
        assert!(Config::parse("seeds = 0\n[[centralized]]\ndataset = \"digits\"\n").is_err());
    }
}
