//! Training with one default policy.
//!
//! Every experiment that trains (the victim, the clean baseline, the attacker's surrogate, the
//! retrained model after sanitizing, the models detectors train for cross-validation) goes
//! through [`ModelSpec`], so the same set is trained the same way whichever command asks.
//! The default is [`TrainParams::default_for_samples`]: the family's default (Adam, batch 64)
//! with enough epochs for at least [`mithridate_engine::MIN_DEFAULT_STEPS`] optimiser steps,
//! so small sets are not badly undertrained by MNIST's 3-5 epochs. An explicit `epochs`
//! replaces it.

use crate::error::{PipelineError, Result};
use mithridate_core::ParamGuard;
use mithridate_data::Dataset;
use mithridate_detect::TrainSpec;
use mithridate_engine::{Architecture, Classifier, TrainParams, TrainProgress};

/// Unchecked model choice: a family (default per modality) and epochs (default: the policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelParams {
    pub architecture: Option<Architecture>,
    pub epochs: Option<usize>,
}

/// A checked [`ModelParams`].
///
/// ```
/// use mithridate_core::ParamGuard;
/// use mithridate_engine::Architecture;
/// use mithridate_pipeline::train::ModelParams;
/// let spec = ModelParams { architecture: Some(Architecture::Mlp), epochs: None }.check()?;
/// // 6,000 rows in batches of 64: 94 steps per epoch, 11 epochs for 1,000 steps.
/// assert_eq!(spec.params(Architecture::Mlp, 6_000).epochs, 11);
/// assert!(ModelParams { architecture: None, epochs: Some(0) }.check().is_err());
/// # Ok::<(), mithridate_pipeline::PipelineError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelSpec {
    architecture: Option<Architecture>,
    epochs: Option<usize>,
}

impl ParamGuard for ModelParams {
    type Checked = ModelSpec;
    type Error = PipelineError;

    fn check_ref(&self) -> Result<()> {
        if self.epochs == Some(0) {
            return Err(PipelineError::invalid("epochs must be at least 1"));
        }
        Ok(())
    }

    fn build(self) -> ModelSpec {
        ModelSpec {
            architecture: self.architecture,
            epochs: self.epochs,
        }
    }
}

/// Seed offset of the attacker's surrogate, so it never shares the victim's initialisation.
pub const SURROGATE_SEED_OFFSET: u64 = 0x5u64 << 32;

impl ModelSpec {
    /// The family trained on `data`: the chosen one, else the modality's default.
    pub fn architecture_for(&self, data: &Dataset) -> Architecture {
        self.architecture
            .unwrap_or_else(|| Architecture::default_for(data.modality()))
    }

    pub fn architecture(&self) -> Option<Architecture> {
        self.architecture
    }

    pub fn epochs(&self) -> Option<usize> {
        self.epochs
    }

    /// The training hyperparameters for `samples` rows of `arch` under the one policy.
    pub fn params(&self, arch: Architecture, samples: usize) -> TrainParams {
        let mut params = TrainParams::default_for_samples(arch, samples);
        if let Some(e) = self.epochs {
            params.epochs = e;
        }
        params
    }

    /// Trains a seeded classifier on `data`, reporting `tick(samples done in this fit)`.
    pub fn train(
        &self,
        data: &Dataset,
        seed: u64,
        tick: &mut dyn FnMut(u64),
    ) -> Result<Classifier> {
        let arch = self.architecture_for(data);
        let config = self.params(arch, data.len()).check()?;
        let mut model = Classifier::new(arch, data.modality(), data.num_classes(), seed)?;
        model.fit(data, &config, seed, &mut |p: TrainProgress| {
            tick((p.epoch.saturating_sub(1) * p.samples_total + p.samples_done) as u64)
        })?;
        Ok(model)
    }

    /// The recipe of the models detectors train on `samples` rows (cross-validation folds,
    /// the early-loss run), with `arch` (the scanned model's family).
    pub fn scan_recipe(&self, arch: Architecture, samples: usize) -> Result<TrainSpec> {
        Ok(TrainSpec {
            architecture: arch,
            config: self.params(arch, samples).check()?,
        })
    }

    /// Total samples a fit of `data` processes (for progress bars).
    pub fn work(&self, data: &Dataset) -> u64 {
        let arch = self.architecture_for(data);
        (data.len() * self.params(arch, data.len()).epochs) as u64
    }
}
