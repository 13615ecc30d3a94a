//! Expanding a [`Config`] into the ordered list of cells, and sharding it.
//!
//! A cell's id is readable (`mnist/badnets@0.01/spectral/seed0`) plus a BLAKE3 digest of its
//! full specification, so editing the configuration reruns exactly the cells whose settings
//! changed and a results file never mixes two different experiments under one id.

mod language;
mod privacy;
mod rag;

pub use language::{lm_cells, text_cells, LmCell, NamedCell, TextCell};
pub use privacy::{DpaCell, PrivacyCell, SecAggCell};
pub use rag::{RagCell, RagDefenceCell};

use crate::config::Config;
use serde::Serialize;

/// The attack of a centralized cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackCell {
    pub name: String,
    pub rate: f64,
    /// Attack parameters as JSON (kebab-case keys); `{}` for defaults.
    pub params: serde_json::Value,
}

/// The defence of a centralized cell: scan the poisoned set, sanitize, retrain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DefenceCell {
    pub detector: String,
    /// `drop` or `relabel`.
    pub action: String,
    pub expected_rate: Option<f64>,
    /// The defence's hyperparameters (kebab-case keys); absent for defaults, so the ids of
    /// cells without them are those of earlier versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
}

/// Train on a dataset, optionally poisoned, optionally defended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CentralizedCell {
    pub dataset: String,
    pub model: Option<String>,
    pub epochs: Option<usize>,
    pub max_train: Option<usize>,
    pub max_test: Option<usize>,
    /// `None`: the clean baseline.
    pub attack: Option<AttackCell>,
    /// `None`: the undefended model.
    pub defence: Option<DefenceCell>,
    pub seed: u64,
}

impl CentralizedCell {
    /// The same cell without its defence: the run whose trained model a defence cell scans.
    pub fn undefended(&self) -> CentralizedCell {
        CentralizedCell {
            defence: None,
            ..self.clone()
        }
    }

    /// The clean baseline of this cell's dataset, model and seed.
    pub fn baseline(&self) -> CentralizedCell {
        CentralizedCell {
            attack: None,
            defence: None,
            ..self.clone()
        }
    }
}

/// One federated simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FederatedCell {
    pub dataset: String,
    pub model: String,
    pub clients: usize,
    pub per_round: f64,
    pub rounds: usize,
    pub byzantine: f64,
    pub partition: String,
    pub rule: String,
    pub attack: String,
    pub local_epochs: Option<usize>,
    pub lr: Option<f64>,
    pub max_train: Option<usize>,
    pub max_test: Option<usize>,
    pub seed: u64,
}

impl FederatedCell {
    /// The cell of `rule` under `attack` in the scenario `fed` at `seed` (the plan's, and what
    /// privacy blocks build theirs from).
    pub fn of(
        fed: &crate::config::Federated,
        rule: &toml::Spanned<String>,
        attack: &toml::Spanned<String>,
        seed: u64,
    ) -> FederatedCell {
        FederatedCell {
            dataset: fed.dataset.get_ref().clone(),
            model: fed
                .model
                .as_ref()
                .map_or("mlp".to_string(), |m| m.get_ref().clone()),
            clients: *fed.clients.get_ref(),
            per_round: *fed.per_round.get_ref(),
            rounds: *fed.rounds.get_ref(),
            byzantine: *fed.byzantine.get_ref(),
            partition: fed
                .partition
                .as_ref()
                .map_or("iid".to_string(), |p| p.get_ref().clone()),
            rule: rule.get_ref().clone(),
            attack: attack.get_ref().clone(),
            local_epochs: fed.local_epochs.as_ref().map(|v| *v.get_ref()),
            lr: fed.lr.as_ref().map(|v| *v.get_ref()),
            max_train: fed.max_train.as_ref().map(|v| *v.get_ref()),
            max_test: fed.max_test.as_ref().map(|v| *v.get_ref()),
            seed,
        }
    }
}

/// One continual-retraining run: the loop over a dataset's time-ordered batches under one
/// campaign (executed by mithridate-continual).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContinualCell {
    pub dataset: String,
    /// Campaign registry name.
    pub campaign: String,
    /// The campaign's parameters (kebab-case keys, `rate` and `target` included); `{}`: defaults.
    pub params: serde_json::Value,
    /// The loop's configuration (the keys of a `continual.toml`); `{}`: defaults.
    pub config: serde_json::Value,
    pub seed: u64,
}

impl ContinualCell {
    /// The cell of `campaign` in `block` at `seed` (the plan's, and what validation checks).
    pub fn of(
        block: &crate::config::Continual,
        campaign: &crate::config::ContinualCampaign,
        seed: u64,
    ) -> ContinualCell {
        ContinualCell {
            dataset: block.dataset.get_ref().clone(),
            campaign: campaign.name.get_ref().clone(),
            params: campaign.params_json(),
            config: block.config_json(),
            seed,
        }
    }
}

/// What a cell runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CellSpec {
    Centralized(CentralizedCell),
    Federated(FederatedCell),
    Continual(ContinualCell),
    Rag(RagCell),
    Privacy(PrivacyCell),
    Dpa(DpaCell),
    Text(TextCell),
    Lm(LmCell),
}

impl CellSpec {
    /// Stable id: readable prefix + 12 hex digits of BLAKE3 over the canonical JSON spec.
    pub fn id(&self) -> String {
        let json = serde_json::to_vec(self).expect("cell specs serialize");
        let digest = blake3::hash(&json).to_hex();
        let readable = match self {
            CellSpec::Centralized(c) => {
                let attack = c
                    .attack
                    .as_ref()
                    .map_or("clean".to_string(), |a| format!("{}@{}", a.name, a.rate));
                let defence = c.defence.as_ref().map_or("none", |d| d.detector.as_str());
                format!("{}/{attack}/{defence}/seed{}", c.dataset, c.seed)
            }
            CellSpec::Federated(f) => format!(
                "{}/fl/{}/{}/byz{}/seed{}",
                f.dataset, f.attack, f.rule, f.byzantine, f.seed
            ),
            CellSpec::Continual(c) => {
                let rate = c
                    .params
                    .get("rate")
                    .map_or(String::new(), |r| format!("@{r}"));
                format!(
                    "{}/continual/{}{rate}/seed{}",
                    c.dataset, c.campaign, c.seed
                )
            }
            CellSpec::Rag(r) => format!(
                "{}/rag/{}/{}@{}/{}/seed{}",
                r.corpus,
                r.retriever,
                r.attack,
                r.poisons_per_target,
                r.defence_label(),
                r.seed
            ),
            CellSpec::Privacy(p) => format!(
                "{}/privacy/{}/{}{}/seed{}",
                p.federated.dataset,
                p.federated.attack,
                p.label().replace(' ', ""),
                if p.curve { "/curve" } else { "" },
                p.federated.seed
            ),
            CellSpec::Dpa(d) => format!("{}/dpa/k{}/seed{}", d.dataset, d.partitions, d.seed),
            CellSpec::Text(t) => {
                format!("{}/text/{}@{}/seed{}", t.dataset, t.attack, t.rate, t.seed)
            }
            CellSpec::Lm(l) => format!(
                "{}/lm/{}@{}/docs{}/seed{}",
                l.corpus,
                l.attack,
                l.poison_docs,
                l.docs.map_or("all".to_string(), |d| d.to_string()),
                l.seed
            ),
        };
        format!("{readable}#{}", &digest[..12])
    }

    pub fn seed(&self) -> u64 {
        match self {
            CellSpec::Centralized(c) => c.seed,
            CellSpec::Federated(f) => f.seed,
            CellSpec::Continual(c) => c.seed,
            CellSpec::Rag(r) => r.seed,
            CellSpec::Privacy(p) => p.federated.seed,
            CellSpec::Dpa(d) => d.seed,
            CellSpec::Text(t) => t.seed,
            CellSpec::Lm(l) => l.seed,
        }
    }

    pub fn dataset(&self) -> &str {
        match self {
            CellSpec::Centralized(c) => &c.dataset,
            CellSpec::Federated(f) => &f.dataset,
            CellSpec::Continual(c) => &c.dataset,
            CellSpec::Rag(r) => &r.corpus,
            CellSpec::Privacy(p) => &p.federated.dataset,
            CellSpec::Dpa(d) => &d.dataset,
            CellSpec::Text(t) => &t.dataset,
            CellSpec::Lm(l) => &l.corpus,
        }
    }
}

/// A cell with its position in the full plan and its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub index: usize,
    pub id: String,
    pub spec: CellSpec,
}

/// `--shard i/n`: this process runs the cells whose index is `i - 1` modulo `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based.
    index: usize,
    count: usize,
}

impl Shard {
    /// The whole plan.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn new(index_1_based: usize, count: usize) -> Result<Shard, String> {
        if count == 0 || index_1_based == 0 || index_1_based > count {
            return Err(format!(
                "shard {index_1_based}/{count}: need 1 <= i <= n with n >= 1"
            ));
        }
        Ok(Shard {
            index: index_1_based - 1,
            count,
        })
    }

    pub fn contains(&self, cell: &Cell) -> bool {
        cell.index % self.count == self.index
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    /// Parses `i/n`, e.g. `2/4`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard '{s}' is not of the form i/n (e.g. 1/2)"))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("shard '{s}' is not of the form i/n (e.g. 1/2)"))
        };
        Shard::new(parse(i)?, parse(n)?)
    }
}

/// Every cell of `config`, seeds `base_seed..base_seed + seeds`.
///
/// Order: per seed, per block, the clean baseline and every undefended attack run come before
/// the defence cells that reuse their trained models, then the federated runs, then the
/// continual runs (one per campaign), then the RAG runs (per retriever, attack and poisons
/// per target: undefended, then each defence setting), then the privacy blocks' runs (per
/// attack: each deployment, then each noise-curve point; then each DPA setting), then the text
/// blocks' runs (per attack and rate) and the lm blocks' (per attack, corpus size and count).
///
/// ```
/// use mithridate_assess::{config::Config, plan::plan};
/// let config = Config::parse(r#"
/// [[centralized]]
/// dataset = "digits"
/// defences = ["spectral", "knn"]
/// [[centralized.attacks]]
/// name = "badnets"
/// rates = [0.01, 0.05]
/// "#)?;
/// let cells = plan(&config, 2, 0);
/// // Per seed: 1 clean + 2 undefended + 2 x 2 defended.
/// assert_eq!(cells.len(), 2 * (1 + 2 + 4));
/// # Ok::<(), mithridate_assess::config::ConfigError>(())
/// ```
pub fn plan(config: &Config, seeds: u64, base_seed: u64) -> Vec<Cell> {
    plan_with(config, seeds, base_seed, &|_| false)
}

/// [`plan`], plus a cell per clean baseline and each configured defence that
/// `runs_on_clean(name)` accepts: model-level inspectors and repairs applied to the
/// unpoisoned model, which measures their false positives (and a repair's cost in clean
/// accuracy). These cells come first among a block's defence cells. The pipeline passes its
/// registries' test; this crate does not know which names are model-level.
///
/// ```
/// use mithridate_assess::{config::Config, plan::plan_with};
/// let config = Config::parse(r#"
/// [[centralized]]
/// dataset = "digits"
/// defences = ["spectral", "neural-cleanse"]
/// [[centralized.attacks]]
/// name = "badnets"
/// rates = [0.05]
/// "#)?;
/// let cells = plan_with(&config, 1, 0, &|name| name == "neural-cleanse");
/// // 1 clean + 1 undefended + 1 clean inspected + 2 defended.
/// assert_eq!(cells.len(), 5);
/// # Ok::<(), mithridate_assess::config::ConfigError>(())
/// ```
pub fn plan_with(
    config: &Config,
    seeds: u64,
    base_seed: u64,
    runs_on_clean: &dyn Fn(&str) -> bool,
) -> Vec<Cell> {
    let mut specs: Vec<CellSpec> = Vec::new();
    for s in 0..seeds {
        let seed = base_seed.wrapping_add(s);
        for block in &config.centralized {
            let base = CentralizedCell {
                dataset: block.dataset.get_ref().clone(),
                model: block.model.as_ref().map(|m| m.get_ref().clone()),
                epochs: block.epochs.as_ref().map(|v| *v.get_ref()),
                max_train: block.max_train.as_ref().map(|v| *v.get_ref()),
                max_test: block.max_test.as_ref().map(|v| *v.get_ref()),
                attack: None,
                defence: None,
                seed,
            };
            // Each attacked run with the defences configured against it.
            let attacked: Vec<(CentralizedCell, &[toml::Spanned<String>])> = block
                .attacks
                .iter()
                .flat_map(|a| {
                    let params = a.params_json();
                    let defences = a.defences.as_deref().unwrap_or(&block.defences);
                    let base = &base;
                    a.rates.iter().map(move |r| {
                        let cell = CentralizedCell {
                            attack: Some(AttackCell {
                                name: a.name.get_ref().clone(),
                                rate: *r.get_ref(),
                                params: params.clone(),
                            }),
                            ..base.clone()
                        };
                        (cell, defences)
                    })
                })
                .collect();
            specs.push(CellSpec::Centralized(base.clone()));
            specs.extend(
                attacked
                    .iter()
                    .map(|(c, _)| CellSpec::Centralized(c.clone())),
            );
            // The clean model under every model-level defence configured for the block or
            // one of its attacks (each once, in configuration order).
            let mut on_clean: Vec<&toml::Spanned<String>> = Vec::new();
            let configured = block.defences.iter().chain(
                block
                    .attacks
                    .iter()
                    .flat_map(|a| a.defences.as_deref().unwrap_or(&[])),
            );
            for d in configured {
                if runs_on_clean(d.get_ref())
                    && !on_clean.iter().any(|o| o.get_ref() == d.get_ref())
                {
                    on_clean.push(d);
                }
            }
            let clean_defended = on_clean
                .iter()
                .map(|d| (base.clone(), std::slice::from_ref(*d)));
            let defended: Vec<(CentralizedCell, &[toml::Spanned<String>])> =
                clean_defended.chain(attacked.iter().cloned()).collect();
            for (cell, defences) in &defended {
                for detector in defences.iter() {
                    specs.push(CellSpec::Centralized(CentralizedCell {
                        defence: Some(DefenceCell {
                            detector: detector.get_ref().clone(),
                            action: block
                                .action
                                .as_ref()
                                .map_or("drop".to_string(), |a| a.get_ref().clone()),
                            expected_rate: block.expected_rate.as_ref().map(|v| *v.get_ref()),
                            params: block.defence_params_json(detector.get_ref()),
                        }),
                        ..cell.clone()
                    }));
                }
            }
        }
        for fed in &config.federated {
            for attack in &fed.attacks {
                for rule in &fed.rules {
                    specs.push(CellSpec::Federated(FederatedCell::of(
                        fed, rule, attack, seed,
                    )));
                }
            }
        }
        for block in &config.continual {
            for campaign in &block.campaigns {
                specs.push(CellSpec::Continual(ContinualCell::of(
                    block, campaign, seed,
                )));
            }
        }
        for block in &config.rag {
            specs.extend(rag::cells(block, seed).into_iter().map(CellSpec::Rag));
        }
        for block in &config.privacy {
            let runs = privacy::cells(block, seed).into_iter();
            specs.extend(runs.map(CellSpec::Privacy));
            let dpa = block.dpa.iter().map(|d| DpaCell::of(block, d, seed));
            specs.extend(dpa.map(CellSpec::Dpa));
        }
        for block in &config.text {
            specs.extend(text_cells(block, seed).into_iter().map(CellSpec::Text));
        }
        for block in &config.lm {
            specs.extend(lm_cells(block, seed).into_iter().map(CellSpec::Lm));
        }
    }
    // A setting listed twice (the same rate or detector repeated) is one experiment: keep
    // its first cell so ids stay unique.
    let mut seen = std::collections::HashSet::new();
    specs
        .into_iter()
        .map(|spec| (spec.id(), spec))
        .filter(|(id, _)| seen.insert(id.clone()))
        .enumerate()
        .map(|(index, (id, spec))| Cell { index, id, spec })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::parse(
            "[[centralized]]\ndataset = \"digits\"\ndefences = [\"spectral\"]\n\
             [[centralized.attacks]]\nname = \"badnets\"\nrates = [0.01, 0.05]\n\
             [[federated]]\ndataset = \"digits\"\nclients = 10\nper_round = 1.0\nrounds = 2\n\
             byzantine = 0.2\nrules = [\"median\", \"krum\"]\nattacks = [\"none\", \"alie\"]\n",
        )
        .unwrap()
    }

    #[test]
    fn ids_are_unique_and_stable() {
        let a = plan(&config(), 3, 7);
        let b = plan(&config(), 3, 7);
        assert_eq!(a, b);
        let ids: std::collections::HashSet<_> = a.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids.len(), a.len());
        assert!(a.iter().enumerate().all(|(i, c)| c.index == i));
    }

    #[test]
    fn repeated_settings_are_one_cell() {
        let twice = config_with("rates = [0.01, 0.05]", "rates = [0.01, 0.05, 0.01]");
        let cells = plan(&twice, 1, 0);
        assert_eq!(cells, plan(&config_with("", ""), 1, 0));
    }

    #[test]
    fn a_changed_setting_changes_the_id() {
        let a = plan(&config(), 1, 0);
        let edited = config_with("rates = [0.01, 0.05]", "rates = [0.01, 0.06]");
        let b = plan(&edited, 1, 0);
        assert_eq!(a[1].id, b[1].id, "the untouched rate keeps its id");
        assert_ne!(a[2].id, b[2].id);
    }

    fn config_with(from: &str, to: &str) -> Config {
        let text = "[[centralized]]\ndataset = \"digits\"\ndefences = [\"spectral\"]\n\
             [[centralized.attacks]]\nname = \"badnets\"\nrates = [0.01, 0.05]\n";
        Config::parse(&text.replace(from, to)).unwrap()
    }

    #[test]
    fn an_attack_can_replace_the_blocks_defences() {
        let text = "[[centralized]]\ndataset = \"digits\"\ndefences = [\"spectral\", \"strip\"]\n\
             [[centralized.attacks]]\nname = \"badnets\"\nrates = [0.05]\n\
             [[centralized.attacks]]\nname = \"label-flip\"\nrates = [0.1]\ndefences = [\"confident\"]\n";
        let cells = plan(&Config::parse(text).unwrap(), 1, 0);
        let defended: Vec<(String, String)> = cells
            .iter()
            .filter_map(|c| match &c.spec {
                CellSpec::Centralized(x) => x
                    .defence
                    .as_ref()
                    .map(|d| (x.attack.as_ref().unwrap().name.clone(), d.detector.clone())),
                _ => None,
            })
            .collect();
        let pairs = [
            ("badnets", "spectral"),
            ("badnets", "strip"),
            ("label-flip", "confident"),
        ];
        assert_eq!(defended, pairs.map(|(a, d)| (a.to_string(), d.to_string())));
    }

    #[test]
    fn shards_partition_the_plan() {
        let cells = plan(&config(), 2, 0);
        let shards = [
            Shard::new(1, 3).unwrap(),
            Shard::new(2, 3).unwrap(),
            Shard::new(3, 3).unwrap(),
        ];
        for cell in &cells {
            assert_eq!(shards.iter().filter(|s| s.contains(cell)).count(), 1);
        }
        assert!("0/2".parse::<Shard>().is_err());
        assert!("3/2".parse::<Shard>().is_err());
        assert!("a/b".parse::<Shard>().is_err());
        assert_eq!("2/2".parse::<Shard>().unwrap(), Shard::new(2, 2).unwrap());
    }

    #[test]
    fn defence_cells_point_at_their_undefended_run() {
        let cells = plan(&config(), 1, 0);
        let defended = cells
            .iter()
            .find_map(|c| match &c.spec {
                CellSpec::Centralized(x) if x.defence.is_some() => Some(x.clone()),
                _ => None,
            })
            .unwrap();
        let undefended_id = CellSpec::Centralized(defended.undefended()).id();
        assert!(cells.iter().any(|c| c.id == undefended_id));
        assert_eq!(cells.len(), 1 + 2 + 2 + 4);
    }
}
