//! The fine-tuning step every repair ends with.

use crate::{RepairError, Result};
use mithridate_data::Dataset;
use mithridate_engine::{Classifier, Optimizer, TrainParams};
use serde::{Deserialize, Serialize};

/// Fine-tuning settings shared by the repairs: Adam at `learning_rate` over the trusted set
/// for `epochs` epochs in batches of `batch_size`, continuing from the model's weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FineTune {
    pub epochs: usize,
    pub learning_rate: f64,
    pub batch_size: usize,
}

impl FineTune {
    /// Defaults: 10 epochs of Adam at 1e-3 (the engine's training rate) in batches of 64.
    pub const DEFAULT: FineTune = FineTune {
        epochs: 10,
        learning_rate: 1e-3,
        batch_size: 64,
    };

    /// Epochs and batch size at least 1, learning rate positive and finite.
    pub(crate) fn check(&self, name: &str) -> Result<()> {
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(RepairError::InvalidParameter(format!(
                "{name}: epochs and batch-size must be at least 1"
            )));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(RepairError::InvalidParameter(format!(
                "{name}: learning-rate must be positive and finite, not {}",
                self.learning_rate
            )));
        }
        Ok(())
    }

    /// Trains `model` further on `data` (seeded shuffling).
    pub(crate) fn run(&self, model: &mut Classifier, data: &Dataset, seed: u64) -> Result<()> {
        let params = TrainParams {
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: Optimizer::Adam {
                lr: self.learning_rate,
            },
            weight_decay: 0.0,
            dp: None,
        };
        model.fit(data, &params.check()?, seed, &mut |_| {})?;
        Ok(())
    }
}
