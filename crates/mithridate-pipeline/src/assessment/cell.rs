//! Checked cells: each planned cell's names turned once into typed specs.

use crate::attack::AttackSpec;
use crate::defence::{parse_action, DefenceSpec};
use crate::error::Result;
use crate::federated::FlSetup;
use crate::train::{ModelParams, ModelSpec};
use mithridate_aggregate::RuleSpec;
use mithridate_assess::plan::{CellSpec, CentralizedCell, FederatedCell};
use mithridate_core::ParamGuard;
use mithridate_engine::Architecture;

/// A centralized cell with checked specs. `cell` stays as the identity (model-cache keys).
#[derive(Debug, Clone)]
pub struct CentralizedRun {
    pub cell: CentralizedCell,
    pub model: ModelSpec,
    /// The attack and its rate; `None`: the clean baseline.
    pub attack: Option<(AttackSpec, f64)>,
    pub defence: Option<DefenceSpec>,
}

/// A federated cell with checked specs.
#[derive(Debug, Clone)]
pub struct FederatedRun {
    pub cell: FederatedCell,
    pub setup: FlSetup,
    pub rule: RuleSpec,
    pub attack: mithridate_fl::AttackSpec,
}

/// What an executor runs.
#[derive(Debug, Clone)]
pub enum CheckedCell {
    Centralized(Box<CentralizedRun>),
    Federated(Box<FederatedRun>),
    Rag(Box<super::rag::RagRun>),
    Privacy(Box<super::privacy::PrivacyRun>),
    Dpa(Box<super::privacy::DpaRun>),
    Text(Box<super::language::TextRun>),
    Lm(Box<super::language::LmRun>),
    /// A cell of a kind checked and run by another crate (`kind.rs`).
    Kind(std::sync::Arc<dyn super::kind::CheckedKindCell>),
}

impl CheckedCell {
    /// Checks every name and parameter of a centralized, federated, RAG or privacy `spec` once (the
    /// attack is built here, not per run); other kinds are checked by their crate through
    /// [`super::CellKinds::check`].
    pub fn new(spec: &CellSpec) -> Result<CheckedCell> {
        Ok(match spec {
            CellSpec::Centralized(c) => CheckedCell::Centralized(Box::new(centralized(c)?)),
            CellSpec::Federated(f) => CheckedCell::Federated(Box::new(federated(f)?)),
            CellSpec::Rag(r) => CheckedCell::Rag(Box::new(super::rag::RagRun::check(r)?)),
            CellSpec::Privacy(p) => {
                CheckedCell::Privacy(Box::new(super::privacy::PrivacyRun::check(p)?))
            }
            CellSpec::Dpa(d) => CheckedCell::Dpa(Box::new(super::privacy::DpaRun::check(d)?)),
            CellSpec::Text(t) => CheckedCell::Text(Box::new(super::language::TextRun::check(t)?)),
            CellSpec::Lm(l) => CheckedCell::Lm(Box::new(super::language::LmRun::check(l)?)),
            CellSpec::Continual(_) => {
                return Err(crate::PipelineError::invalid(
                    "a continual cell is checked by its runner (CellKinds::check)",
                ))
            }
        })
    }
}

fn centralized(c: &CentralizedCell) -> Result<CentralizedRun> {
    let architecture = c
        .model
        .as_deref()
        .map(str::parse::<Architecture>)
        .transpose()?;
    let model = ModelParams {
        architecture,
        epochs: c.epochs,
    }
    .check()?;
    let attack = c
        .attack
        .as_ref()
        .map(|a| Ok::<_, crate::PipelineError>((AttackSpec::new(&a.name, &a.params)?, a.rate)))
        .transpose()?;
    let defence = c
        .defence
        .as_ref()
        .map(|d| {
            let params = d.params.clone().unwrap_or_else(|| serde_json::json!({}));
            DefenceSpec::new(
                &d.detector,
                &params,
                d.expected_rate,
                parse_action(&d.action)?,
            )
        })
        .transpose()?;
    Ok(CentralizedRun {
        cell: c.clone(),
        model,
        attack,
        defence,
    })
}

/// A federated cell's checked run without secure aggregation (privacy cells add theirs).
pub(super) fn federated(f: &FederatedCell) -> Result<FederatedRun> {
    Ok(FederatedRun {
        cell: f.clone(),
        setup: FlSetup {
            architecture: f.model.parse()?,
            clients: f.clients,
            per_round: f.per_round,
            rounds: f.rounds,
            partition: f.partition.parse()?,
            local_epochs: f.local_epochs,
            local_steps: None,
            batch_size: None,
            lr: f.lr,
            root_size: None,
            secure_aggregation: None,
            dropout: 0.0,
            dp_delta: 1e-5,
        },
        rule: f.rule.parse()?,
        attack: f.attack.parse()?,
    })
}
