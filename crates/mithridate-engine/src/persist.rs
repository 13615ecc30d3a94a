//! Model files: [`Classifier::save`] and [`Classifier::load`] (safetensors weights plus a JSON
//! model card beside them).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mithridate_core::FileMode;
use safetensors::{tensor::TensorView, Dtype, SafeTensors};

use crate::classifier::describe;
use crate::{Architecture, Classifier, EngineError, ModelCard, Result};
use mithridate_data::Modality;

/// The only safetensors metadata key the engine writes (a single key keeps the header's byte
/// order, and so the file, deterministic).
const ARCH_METADATA_KEY: &str = "mithridate_architecture";

impl Classifier {
    /// Writes the parameters to `path` (safetensors, f32, tensor names as in
    /// [`Classifier::parameter_shapes`]) and `card` to `<path>.json`, each atomically
    /// (temporary file in the same directory, then rename; 0644). The card must describe this model.
    pub fn save(&self, path: &Path, card: &ModelCard) -> Result<()> {
        if card.architecture != self.architecture()
            || card.modality != *self.modality()
            || card.num_classes != self.num_classes()
        {
            return Err(EngineError::invalid_input(format!(
                "the model card describes a {} model for {} with {} classes, not this {} model for {} with {} classes",
                card.architecture,
                describe(&card.modality),
                card.num_classes,
                self.architecture(),
                describe(self.modality()),
                self.num_classes()
            )));
        }
        // Tensor by tensor in storage order, as `flat_parameters` lays them out.
        let flat = self.flat_parameters()?;
        let specs = self.param_specs();
        let mut values: Vec<Vec<u8>> = Vec::with_capacity(specs.len());
        let mut offset = 0;
        for spec in specs {
            let tensor = &flat[offset..offset + spec.numel()];
            values.push(tensor.iter().flat_map(|x| x.to_le_bytes()).collect());
            offset += spec.numel();
        }
        let views = specs
            .iter()
            .zip(&values)
            .map(|(spec, bytes)| {
                TensorView::new(Dtype::F32, spec.shape.clone(), bytes)
                    .map(|v| (spec.name.clone(), v))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EngineError::format(path, format!("encoding tensors: {e}")))?;
        let metadata = HashMap::from([(
            ARCH_METADATA_KEY.to_string(),
            self.architecture().to_string(),
        )]);
        let bytes = safetensors::serialize(views, Some(metadata))
            .map_err(|e| EngineError::format(path, format!("encoding tensors: {e}")))?;
        let card_json = serde_json::to_vec_pretty(card)
            .map_err(|e| EngineError::format(path, format!("encoding the model card: {e}")))?;
        write_atomic(path, &bytes)?;
        write_atomic(&sidecar_path(path), &card_json)
    }

    /// Reads a model written by [`Classifier::save`], validating the tensors against the card:
    /// a missing or unexpected tensor, a wrong shape or dtype, non-finite weights, a truncated
    /// or non-safetensors file, or a card for another architecture is an error.
    pub fn load(path: &Path) -> Result<(Classifier, ModelCard)> {
        let card_path = sidecar_path(path);
        let card_bytes = std::fs::read(&card_path).map_err(|e| EngineError::io(&card_path, e))?;
        let bytes = std::fs::read(path).map_err(|e| EngineError::io(path, e))?;
        Classifier::load_bytes(path, &card_bytes, &bytes)
    }

    /// [`Classifier::load`] on a card and weights held in memory; `path` names the weights
    /// (and `<path>.json` the card) in errors.
    pub fn load_bytes(
        path: &Path,
        card_bytes: &[u8],
        bytes: &[u8],
    ) -> Result<(Classifier, ModelCard)> {
        let card_path = sidecar_path(path);
        let card: ModelCard = serde_json::from_slice(card_bytes)
            .map_err(|e| EngineError::format(&card_path, format!("invalid model card: {e}")))?;
        // Parsing the safetensors header allocates nothing per tensor; building the model does.
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| EngineError::format(path, format!("not a valid safetensors file: {e}")))?;
        check_card_fits(&card, bytes.len())
            .map_err(|e| EngineError::format(&card_path, format!("invalid model card: {e}")))?;
        let mut model = Classifier::new(card.architecture, &card.modality, card.num_classes, 0)
            .map_err(|e| EngineError::format(&card_path, format!("invalid model card: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| EngineError::format(path, format!("not a valid safetensors file: {e}")))?;
        if let Some(stored) = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(ARCH_METADATA_KEY))
        {
            if stored != card.architecture.name() {
                return Err(EngineError::format(
                    path,
                    format!(
                        "holds a '{stored}' model but its card {} says '{}'",
                        card_path.display(),
                        card.architecture
                    ),
                ));
            }
        }
        let expected = model.param_specs().to_vec();
        if let Some(extra) = file
            .names()
            .into_iter()
            .find(|name| !expected.iter().any(|s| s.name == *name))
        {
            return Err(EngineError::format(
                path,
                format!(
                    "unexpected tensor '{extra}' for a {} model",
                    card.architecture
                ),
            ));
        }
        let mut flat = Vec::with_capacity(model.num_parameters());
        for spec in &expected {
            let view = file.tensor(&spec.name).map_err(|_| {
                EngineError::format(
                    path,
                    format!(
                        "missing tensor '{}' of a {} model",
                        spec.name, card.architecture
                    ),
                )
            })?;
            if view.dtype() != Dtype::F32 {
                return Err(EngineError::format(
                    path,
                    format!("tensor '{}' is {:?}, expected F32", spec.name, view.dtype()),
                ));
            }
            if view.shape() != spec.shape.as_slice() {
                return Err(EngineError::format(
                    path,
                    format!(
                        "tensor '{}' has shape {:?}, expected {:?} for this {} model",
                        spec.name,
                        view.shape(),
                        spec.shape,
                        card.architecture
                    ),
                ));
            }
            flat.extend(
                view.data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
        }
        model
            .set_flat_parameters(&flat)
            .map_err(|e| EngineError::format(path, e.to_string()))?;
        Ok((model, card))
    }
}

/// Refuses a card whose model cannot be stored in `weight_bytes` bytes, before the model is
/// built (building allocates and initialises every parameter). The class count and each
/// input size below sizes a parameter tensor of at least that many `f32`s, all of which the
/// file must hold, so a forged or corrupt card claiming more than the file has floats is
/// caught here instead of making `load` allocate without bound or overflow computing shapes.
fn check_card_fits(card: &ModelCard, weight_bytes: usize) -> std::result::Result<(), String> {
    let floats = weight_bytes / 4;
    let input = match (card.architecture, &card.modality) {
        // conv1's kernel has `channels` input planes; fc1 reads every pooled pixel.
        (
            Architecture::Cnn,
            &Modality::Image {
                channels,
                height,
                width,
            },
        ) => (height / 4)
            .checked_mul(width / 4)
            .map(|pooled| pooled.max(channels)),
        // The embedding table has a row per token; the sequence length sizes no tensor.
        (_, &Modality::Text { vocab_size, .. }) => Some(vocab_size),
        // Dense models: fc1 has a weight per input scalar.
        (
            _,
            &Modality::Image {
                channels,
                height,
                width,
            },
        ) => channels
            .checked_mul(height)
            .and_then(|n| n.checked_mul(width)),
        (_, &Modality::Tabular { features }) => Some(features),
    };
    let fits = |n: Option<usize>| n.is_some_and(|n| n <= floats);
    if !fits(input) || !fits(Some(card.num_classes)) {
        return Err(format!(
            "a {} model for {} with {} classes needs more weights than the {weight_bytes}-byte weights file holds",
            card.architecture,
            describe(&card.modality),
            card.num_classes
        ));
    }
    Ok(())
}

/// Where [`Classifier::save`] writes the model card: the model path with `.json` appended.
pub fn sidecar_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".json");
    PathBuf::from(s)
}

/// Model files are shared outputs: written through the workspace's one atomic writer, 0644.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    mithridate_core::write_atomic(path, bytes, FileMode::Shared)
        .map_err(|e| EngineError::io(path, e))
}
