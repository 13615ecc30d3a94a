//! Validating a whole configuration before the first cell runs: datasets loaded, models,
//! attacks, defences, rules and their Byzantine tolerance checked, each attack tried on a
//! small subset, RAG blocks checked against their corpus (`rag.rs`), privacy blocks' protocols
//! and certified defences (`privacy.rs`), so a typo never costs a
//! half-finished assessment. Mistakes name their line.

use super::CellKinds;
use crate::attack::AttackSpec;
use crate::data::{subsample, DataCache};
use crate::defence::{parse_action, DefenceSpec};
use crate::error::{PipelineError, Result};
use crate::federated::{check_attack_modality, FlSetup};
use mithridate_aggregate::RuleSpec;
use mithridate_assess::config::{Centralized, Config, Continual, Federated};
use mithridate_assess::plan::{CellSpec, ContinualCell};
use mithridate_attack::Budget;
use mithridate_data::partition::Partition;
use mithridate_detect::sanitize::Action;
use mithridate_engine::{Architecture, Classifier};
use toml::Spanned;

/// Rows of the subset each attack is tried on during validation.
const PROBE_ROWS: usize = 200;

/// Checks every named thing in `config` against the data and registries (loading the
/// datasets into `data`).
pub fn validate(config: &Config, data: &DataCache, seed: u64, kinds: &CellKinds) -> Result<()> {
    for block in &config.centralized {
        centralized(config, block, data, seed)?;
    }
    for fed in &config.federated {
        federated(config, fed, data, seed)?;
    }
    for block in &config.continual {
        continual(config, block, data, seed, kinds)?;
    }
    for block in &config.rag {
        super::rag::validate(config, block, data, seed)?;
    }
    for block in &config.privacy {
        super::privacy::validate(config, block, data, seed)?;
    }
    for block in &config.text {
        super::language::validate_text(config, block, data, seed)?;
    }
    for block in &config.lm {
        super::language::validate_lm(config, block, data, seed)?;
    }
    Ok(())
}

/// Each campaign of a continual block checked by the continual runner; a mistake names the
/// line of what is wrong: the dataset, the loop configuration or the campaign.
fn continual(
    config: &Config,
    block: &Continual,
    data: &DataCache,
    seed: u64,
    kinds: &CellKinds,
) -> Result<()> {
    for campaign in &block.campaigns {
        let spec = CellSpec::Continual(ContinualCell::of(block, campaign, seed));
        kinds.check(&spec, data).map_err(|e| {
            let message = e.to_string();
            match &block.config {
                _ if message.starts_with("dataset") => {
                    PipelineError::Config(config.error_at(&block.dataset, message))
                }
                Some(c) if message.starts_with("continual config") => {
                    PipelineError::Config(config.error_at(c, message))
                }
                _ => at(config, &campaign.name, e),
            }
        })?;
    }
    Ok(())
}

/// `'value': message` at the value's line.
pub(super) fn at<T: std::fmt::Display>(
    config: &Config,
    value: &Spanned<T>,
    e: impl std::fmt::Display,
) -> PipelineError {
    PipelineError::Config(config.error_at(value, format!("'{}': {e}", value.get_ref())))
}

pub(super) fn architecture(
    config: &Config,
    m: &Spanned<String>,
    data: &mithridate_data::Dataset,
) -> Result<Architecture> {
    let arch: Architecture = m.get_ref().parse().map_err(|e| at(config, m, e))?;
    Classifier::new(arch, data.modality(), data.num_classes(), 0).map_err(|e| at(config, m, e))?;
    Ok(arch)
}

fn centralized(config: &Config, block: &Centralized, data: &DataCache, seed: u64) -> Result<()> {
    let full = data
        .full(block.dataset.get_ref(), seed)
        .map_err(|e| at(config, &block.dataset, e))?;
    let train = &full.0;
    let modality = train.modality().name();
    if let Some(m) = &block.model {
        architecture(config, m, train)?;
    }
    let action = match &block.action {
        Some(a) => parse_action(a.get_ref()).map_err(|e| at(config, a, e))?,
        None => Action::Drop,
    };
    let expected_rate = block.expected_rate.as_ref().map(|v| *v.get_ref());
    let defence = |d: &Spanned<String>| {
        let params = block
            .defence_params_json(d.get_ref())
            .unwrap_or_else(|| serde_json::json!({}));
        DefenceSpec::new(d.get_ref(), &params, expected_rate, action).map_err(|e| {
            match &block.defence_params {
                Some(p) if block.defence_params_json(d.get_ref()).is_some() => {
                    PipelineError::Config(
                        config.error_at(p, format!("'{}' parameters: {e}", d.get_ref())),
                    )
                }
                _ => at(config, d, e),
            }
        })
    };
    for d in &block.defences {
        defence(d)?;
    }
    let probe = subsample(train.clone(), Some(PROBE_ROWS), seed)?;
    for entry in &block.attacks {
        let params = entry.params_json();
        // Parameter mistakes point at the `params` line when there is one.
        let blame = |e: &dyn std::fmt::Display| match &entry.params {
            Some(p) => PipelineError::Config(
                config.error_at(p, format!("'{}' parameters: {e}", entry.name.get_ref())),
            ),
            None => at(config, &entry.name, e),
        };
        let attack = AttackSpec::new(entry.name.get_ref(), &params).map_err(|e| match e {
            PipelineError::Attack(mithridate_attack::AttackError::InvalidParameter(ref m))
                if m.starts_with("unknown") =>
            {
                at(config, &entry.name, &e)
            }
            other => blame(&other),
        })?;
        attack
            .check_modality(modality, block.dataset.get_ref())
            .map_err(|e| at(config, &entry.name, e))?;
        for d in entry.defences.as_deref().unwrap_or(&block.defences) {
            defence(d)?
                .check_applies(&attack, modality)
                .map_err(|e| at(config, d, e))?;
        }
        // Data-dependent checks (target is a class, patch fits) on a small subset; attacks
        // that need a surrogate model are checked when they run.
        if !attack.needs_surrogate() {
            let rate = entry.rates.iter().map(|r| *r.get_ref()).fold(0.0, f64::max);
            attack
                .run(&probe, Budget::Rate(rate), seed, None, Some(&probe))
                .map_err(|e| blame(&e))?;
        }
    }
    Ok(())
}

/// A federated scenario (or a privacy block's federation): dataset, model, partition, clients
/// against the training rows, each attack and its modality, each rule against each attack.
pub(super) fn federated(
    config: &Config,
    fed: &Federated,
    data: &DataCache,
    seed: u64,
) -> Result<()> {
    let full = data
        .full(fed.dataset.get_ref(), seed)
        .map_err(|e| at(config, &fed.dataset, e))?;
    let train = &full.0;
    let arch = match &fed.model {
        Some(m) => architecture(config, m, train)?,
        None => Architecture::Mlp,
    };
    let partition = match &fed.partition {
        Some(p) => p
            .get_ref()
            .parse::<Partition>()
            .map_err(|e| at(config, p, e))?,
        None => Partition::Iid,
    };
    let rows = fed
        .max_train
        .as_ref()
        .map_or(train.len(), |m| (*m.get_ref()).min(train.len()));
    if rows < *fed.clients.get_ref() {
        return Err(PipelineError::Config(config.error_at(
            &fed.clients,
            format!(
                "{} clients need at least as many training rows, have {rows}",
                fed.clients.get_ref()
            ),
        )));
    }
    let setup = FlSetup {
        architecture: arch,
        clients: *fed.clients.get_ref(),
        per_round: *fed.per_round.get_ref(),
        rounds: *fed.rounds.get_ref(),
        partition,
        local_epochs: None,
        local_steps: None,
        batch_size: None,
        lr: None,
        root_size: None,
        secure_aggregation: None,
        dropout: 0.0,
        dp_delta: 1e-5,
    };
    for attack in &fed.attacks {
        let spec: mithridate_fl::AttackSpec = attack
            .get_ref()
            .parse()
            .map_err(|e| at(config, attack, e))?;
        check_attack_modality(&spec, train.modality().name()).map_err(|e| at(config, attack, e))?;
        for rule in &fed.rules {
            let parsed: RuleSpec = rule.get_ref().parse().map_err(|e| at(config, rule, e))?;
            let p = setup.params(parsed, spec.clone(), *fed.byzantine.get_ref(), seed);
            p.check().map_err(|e| at(config, rule, e))?;
        }
    }
    Ok(())
}
