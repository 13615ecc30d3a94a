//! The assessment's privacy cells: a `[privacy]` block's deployments run as federated
//! simulations (the federated cells' setup, plus secure aggregation, dropouts and the epsilon's
//! delta), and its DPA settings as certified-defence runs (`mithridate_engine`'s partition
//! aggregation).
//!
//! Validation checks the block's federation exactly as a `[[federated]]` scenario running every
//! deployment's and curve point's rule (dataset, model, partition, clients, attacks and their
//! modality, each rule against the Byzantine share), then each deployment under secure
//! aggregation with each attack through [`FlParams::check`] (so a rule SecAgg cannot run is
//! refused with the simulation's reason, at the deployment's line), then each DPA setting's
//! model and partitions against the training set. Nothing runs before all of it passed.

use super::cell::{self, FederatedRun};
use super::validate::{architecture, federated as check_federation};
use crate::data::DataCache;
use crate::error::{PipelineError, Result};
use crate::federated;
use mithridate_assess::config::{Config, Privacy};
use mithridate_assess::plan::{DpaCell, PrivacyCell};
use mithridate_assess::record::{DpaOutcome, PrivacyOutcome, RadiusPoint};
use mithridate_engine::base_features::BaseFeatures;
use mithridate_engine::partition_aggregation::{self, DpaParams};
use mithridate_fl::{FlParams, FlReport, SecAggParams};

/// A privacy cell with its checked federated run (secure aggregation, dropout and delta set).
#[derive(Debug, Clone)]
pub struct PrivacyRun {
    pub cell: PrivacyCell,
    pub run: FederatedRun,
}

impl PrivacyRun {
    /// Checks the cell's names once, as a federated cell's, and sets its protocol.
    pub fn check(cell: &PrivacyCell) -> Result<PrivacyRun> {
        let mut run = cell::federated(&cell.federated)?;
        let defaults = SecAggParams::default();
        run.setup.secure_aggregation = cell.secagg.map(|s| SecAggParams {
            neighbours: s.neighbours,
            threshold: s.threshold.unwrap_or(defaults.threshold),
            ..defaults
        });
        run.setup.dropout = cell.secagg.map_or(0.0, |s| s.dropout);
        run.setup.dp_delta = cell.delta;
        Ok(PrivacyRun {
            cell: cell.clone(),
            run,
        })
    }

    /// The simulation parameters (unchecked).
    pub fn params(&self) -> FlParams {
        let run = &self.run;
        let c = &run.cell;
        run.setup
            .params(run.rule.clone(), run.attack.clone(), c.byzantine, c.seed)
    }

    /// The record of a finished simulation.
    pub(super) fn outcome(&self, report: &FlReport) -> PrivacyOutcome {
        let c = &self.run.cell;
        PrivacyOutcome {
            deployment: self.cell.label(),
            curve: self.cell.curve,
            noise_multiplier: report.privacy.as_ref().map(|p| p.noise_multiplier),
            epsilon: report.privacy.as_ref().and_then(|p| p.epsilon),
            delta: self.cell.delta,
            secure_aggregation: report.secure_aggregation.clone(),
            dropout: self.run.setup.dropout,
            federated: federated::outcome(report, &c.model, c.byzantine, &c.rule, &c.attack),
        }
    }
}

/// A DPA cell with its engine parameters.
#[derive(Debug, Clone)]
pub struct DpaRun {
    pub cell: DpaCell,
    pub params: DpaParams,
}

impl DpaRun {
    /// Parses the base classifier; unset settings take the engine's defaults.
    pub fn check(cell: &DpaCell) -> Result<DpaRun> {
        let defaults = DpaParams::default();
        let architecture = match &cell.model {
            Some(m) => m.parse()?,
            None => defaults.architecture,
        };
        // `..default()` although every field is named today: fields the engine adds later keep
        // their defaults instead of breaking this literal.
        #[allow(clippy::needless_update)]
        let params = DpaParams {
            partitions: cell.partitions,
            architecture,
            steps: cell.steps.unwrap_or(defaults.steps),
            shift: cell.shift.unwrap_or(defaults.shift),
            features: match &cell.features {
                Some(f) => f.parse()?,
                None => defaults.features,
            },
            seed: cell.seed,
            ..DpaParams::default()
        };
        Ok(DpaRun {
            params,
            cell: cell.clone(),
        })
    }

    /// Trains the base classifiers on the cell's subsets, certifies the test set and records
    /// certified accuracy at each configured radius.
    pub(super) fn run(&self, data: &DataCache) -> Result<DpaOutcome> {
        let c = &self.cell;
        let (train, test) = data.split(&c.dataset, c.max_train, c.max_test, c.seed)?;
        let out = partition_aggregation::run(&train, &test, &self.params)?;
        let labels = test.labels();
        Ok(DpaOutcome {
            model: self.params.architecture.to_string(),
            partitions: self.params.partitions,
            steps: self.params.steps,
            shift: self.params.shift,
            features: self.params.features.to_string(),
            train_samples: train.len(),
            test_samples: test.len(),
            partition_sizes: out.partition_sizes,
            empty_partitions: out.empty_partitions,
            base_accuracy: out.base_accuracy,
            vote_accuracy: out.certified_accuracy(labels, 0),
            median_radius: out.median_radius(labels),
            certified_accuracy: c
                .radii
                .iter()
                .map(|&radius| RadiusPoint {
                    radius,
                    accuracy: out.certified_accuracy(labels, radius),
                })
                .collect(),
        })
    }
}

/// Checks a `[privacy]` block (see the module documentation); mistakes name their line.
pub(super) fn validate(
    config: &Config,
    block: &Privacy,
    data: &DataCache,
    seed: u64,
) -> Result<()> {
    check_federation(config, &block.scenario(), data, seed)?;
    for deployment in block.deployments.get_ref() {
        if deployment.get_ref().secagg.is_none() {
            continue;
        }
        for attack in &block.attacks {
            let cell = PrivacyCell::of_deployment(block, deployment.get_ref(), attack, seed);
            let refused = |e: &dyn std::fmt::Display| {
                PipelineError::Config(config.error_at(
                    deployment,
                    format!("'{}' under {}: {e}", cell.label(), attack.get_ref()),
                ))
            };
            let run = PrivacyRun::check(&cell).map_err(|e| refused(&e))?;
            run.params().check().map_err(|e| refused(&e))?;
        }
    }
    if block.dpa.is_empty() {
        return Ok(());
    }
    let full = data
        .full(block.dataset.get_ref(), seed)
        .map_err(|e| super::validate::at(config, &block.dataset, e))?;
    let train = &full.0;
    for dpa in &block.dpa {
        if let Some(m) = &dpa.model {
            architecture(config, m, train)?;
        }
        if let Some(f) = &dpa.features {
            f.get_ref()
                .parse::<BaseFeatures>()
                .map_err(|e| super::validate::at(config, f, e))?;
        }
        // The stratified subset the cell trains on (it may round below max_train).
        let rows = match &dpa.max_train {
            Some(m) => crate::data::subsample(train.clone(), Some(*m.get_ref()), seed)?.len(),
            None => train.len(),
        };
        let k = *dpa.partitions.get_ref();
        if k > rows {
            return Err(PipelineError::Config(config.error_at(
                &dpa.partitions,
                format!("{k} partitions need at least as many training rows, have {rows}"),
            )));
        }
    }
    Ok(())
}
