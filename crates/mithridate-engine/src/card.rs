//! The model card: the JSON sidecar saved next to every model's safetensors file.

use std::collections::BTreeMap;

use mithridate_data::Modality;

use crate::{Architecture, Classifier, TrainConfig};

/// The engine identification written into model cards.
pub const ENGINE_VERSION: &str = concat!(
    "mithridate ",
    env!("CARGO_PKG_VERSION"),
    // The workspace pins candle-core/candle-nn to this release.
    " (candle 0.11.1)"
);

/// What a saved model is and how it was made. Saved as `<model path>.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelCard {
    pub architecture: Architecture,
    pub modality: Modality,
    pub num_classes: usize,
    /// Name or path of the training dataset.
    pub dataset: String,
    /// Seed used for initialisation and shuffling.
    pub seed: u64,
    /// The training configuration (`TrainConfig` as JSON), `null` if untrained.
    pub train: serde_json::Value,
    /// Named metrics (e.g. `"test_accuracy"`).
    pub metrics: BTreeMap<String, f64>,
    /// [`ENGINE_VERSION`] of the engine that wrote the model.
    pub engine: String,
}

impl ModelCard {
    /// A card describing `model`, trained on `dataset` with `seed` and (if any) `config`,
    /// with no metrics yet.
    pub fn describe(
        model: &Classifier,
        dataset: impl Into<String>,
        seed: u64,
        config: Option<&TrainConfig>,
    ) -> ModelCard {
        ModelCard {
            architecture: model.architecture(),
            modality: model.modality().clone(),
            num_classes: model.num_classes(),
            dataset: dataset.into(),
            seed,
            train: config.map_or(serde_json::Value::Null, TrainConfig::to_json),
            metrics: BTreeMap::new(),
            engine: ENGINE_VERSION.to_string(),
        }
    }
}
