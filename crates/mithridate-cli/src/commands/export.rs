//! `mithridate export`: a model Mithridate trained (or repaired) written as an ONNX classifier
//! for the user's ONNX runtime.

use crate::output::Context;
use anyhow::{Context as _, Result};
use clap::Args;
use mithridate_engine::Classifier;
use mithridate_onnx::{Dim, InputOptions, OnnxClassifier};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

#[derive(Args)]
#[command(
    after_help = "Writes a Mithridate model (safetensors with its .json card; logreg, mlp or cnn) \
as an ONNX classifier: IR version 8, opset 17, float input 'input' ([batch, C, H, W] for images, \
[batch, F] for tabular rows, the dataset's own [0, 1] values), output 'logits' ([batch, classes]). \
The file loads in `evaluate`/`scan input`/`scan model --model M.onnx` with default flags and in \
ONNX Runtime, and gives the model's own logits (measured within 6e-6). Text models are refused: \
their inputs are token ids.\n\n\
Example: mithridate train --data mnist -o m.safetensors && mithridate export --model m.safetensors -o m.onnx"
)]
pub struct ExportArgs {
    /// The model to export: written by `mithridate train` or `repair` (safetensors with its
    /// `.json` card beside it).
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the ONNX file (replaced atomically if it exists).
    #[arg(short, long)]
    pub output: PathBuf,
}

pub fn run(args: ExportArgs, ctx: &Context) -> Result<()> {
    let path = &args.model;
    if mithridate_onnx::is_onnx_path(path) {
        anyhow::bail!("{} is already an ONNX model", path.display());
    }
    // A mistyped path is an argument error (exit 2), not an environment failure.
    if !path.is_file() {
        anyhow::bail!("no model file at {}", path.display());
    }
    // The card `Classifier::save` writes beside the weights: the path with `.json` appended.
    let mut card = path.as_os_str().to_owned();
    card.push(".json");
    let card = PathBuf::from(card);
    if !card.is_file() {
        anyhow::bail!(
            "{} has no model card {} (a model written by `mithridate train`)",
            path.display(),
            card.display()
        );
    }
    let (model, _card) =
        Classifier::load(path).with_context(|| format!("loading model {}", path.display()))?;
    let exported = mithridate_onnx::export_classifier(&model)
        .with_context(|| format!("exporting {}", path.display()))?;
    // The file must load in Mithridate's own importer before it is written.
    OnnxClassifier::from_bytes(&exported.bytes, InputOptions::default())
        .context("the exported graph does not load (a bug: please report it)")?;
    mithridate_core::write_atomic(
        &args.output,
        &exported.bytes,
        mithridate_core::FileMode::Shared,
    )
    .with_context(|| format!("writing {}", args.output.display()))?;
    let sha256 = hex::encode(Sha256::digest(&exported.bytes));
    let input_shape: Vec<Value> = exported
        .input_shape
        .iter()
        .map(|d| match d {
            Dim::Fixed(v) => json!(v),
            Dim::Symbolic(p) => json!(p),
        })
        .collect();
    if ctx.json {
        ctx.print_json(&json!({
            "model": path,
            "output": args.output,
            "architecture": model.architecture().name(),
            "classes": exported.classes,
            "input_shape": input_shape,
            "output_shape": ["batch", exported.classes],
            "ir_version": mithridate_onnx::EXPORT_IR_VERSION,
            "opset": mithridate_onnx::EXPORT_OPSET,
            "operators": exported.operators,
            "bytes": exported.bytes.len(),
            "sha256": sha256,
        }))?;
    } else {
        println!(
            "wrote {} ({} model, {} classes, input {}, opset {}, {} bytes, sha256 {})",
            args.output.display(),
            model.architecture(),
            exported.classes,
            exported.input_shape_text(),
            mithridate_onnx::EXPORT_OPSET,
            exported.bytes.len(),
            sha256
        );
    }
    Ok(())
}
