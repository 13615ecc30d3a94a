//! Models of the run: trained under the one policy, identified by the hash of their weights,
//! stored as raw little-endian `f32` parameters (written atomically).

use crate::config::{ContinualSpec, Retrain};
use crate::error::io_err;
use crate::stream::derive_seed;
use crate::Result;
use mithridate_core::ParamGuard;
use mithridate_core::{write_atomic, FileMode};
use mithridate_data::Dataset;
use mithridate_engine::Classifier;
use mithridate_pipeline::train::ModelParams;
use std::path::{Path, PathBuf};

/// The hex BLAKE3 hash of a model's parameters (little-endian `f32`): its identity in the
/// audit log.
pub fn model_hash(model: &Classifier) -> Result<String> {
    Ok(blake3::hash(&weight_bytes(model)?).to_hex().to_string())
}

fn weight_bytes(model: &Classifier) -> Result<Vec<u8>> {
    Ok(model
        .flat_parameters()?
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect())
}

/// Where model `hash` is stored in run directory `dir`.
pub fn model_path(dir: &Path, hash: &str) -> PathBuf {
    dir.join("models").join(format!("{hash}.f32"))
}

/// Writes `model`'s weights under its hash (atomically); returns the hash.
pub fn save(dir: &Path, model: &Classifier) -> Result<String> {
    let hash = model_hash(model)?;
    let path = model_path(dir, &hash);
    if !path.exists() {
        write_atomic(&path, &weight_bytes(model)?, FileMode::Shared).map_err(io_err(&path))?;
    }
    Ok(hash)
}

/// Loads model `hash` into a fresh classifier shaped for `like` (the stream's data).
pub fn load(dir: &Path, hash: &str, spec: &ContinualSpec, like: &Dataset) -> Result<Classifier> {
    let path = model_path(dir, hash);
    let bytes = std::fs::read(&path).map_err(io_err(&path))?;
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let mut model = Classifier::new(spec.architecture(), like.modality(), like.num_classes(), 0)?;
    model.set_flat_parameters(&values)?;
    let loaded = model_hash(&model)?;
    if loaded != hash {
        return Err(crate::ContinualError::invalid(format!(
            "{}: weights hash to {loaded}, not {hash} (the stored model was changed)",
            path.display()
        )));
    }
    Ok(model)
}

/// A model trained from scratch on `data` under the engine's default policy (the same
/// initialisation seed at every step, so clean retrains differ by their data).
pub fn train_scratch(
    spec: &ContinualSpec,
    data: &Dataset,
    seed: u64,
    step: u64,
) -> Result<Classifier> {
    let arch = spec.architecture();
    let model_spec = ModelParams {
        architecture: Some(arch),
        epochs: spec.params().epochs,
    }
    .check()?;
    let config = model_spec.params(arch, data.len()).check()?;
    let mut model = Classifier::new(
        arch,
        data.modality(),
        data.num_classes(),
        derive_seed(seed, "init", 0),
    )?;
    model.fit(
        data,
        &config,
        derive_seed(seed, "shuffle", step),
        &mut |_| {},
    )?;
    Ok(model)
}

/// The candidate of one step: a scratch retrain on `accumulated`, or the deployed model
/// fine-tuned on `batch`.
pub fn candidate(
    spec: &ContinualSpec,
    deployed: &Classifier,
    accumulated: &Dataset,
    batch: &Dataset,
    seed: u64,
    step: u64,
) -> Result<Classifier> {
    match spec.params().retrain {
        Retrain::Scratch => train_scratch(spec, accumulated, seed, step),
        Retrain::Finetune => {
            let arch = spec.architecture();
            let mut params = mithridate_engine::TrainParams::default_for(arch);
            params.epochs = spec.params().finetune_epochs;
            let config = params.check()?;
            let mut model = deployed.try_clone()?;
            model.fit(
                batch,
                &config,
                derive_seed(seed, "shuffle", step),
                &mut |_| {},
            )?;
            Ok(model)
        }
    }
}
