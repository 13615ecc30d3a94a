//! `--model` for commands that only run a model: a Mithridate model (safetensors + card) or a
//! user's ONNX classifier (by the `.onnx` extension), with the flags that say how dataset values
//! map to the ONNX model's input (what a graph cannot tell).

use anyhow::Result;
use clap::Args;
use mithridate_onnx::{InputLayout, InputOptions};
pub use mithridate_pipeline::run_model::RunModel;
use std::path::Path;

/// How dataset values (images in `[0, 1]`, `C x H x W`) become an ONNX model's input.
#[derive(Args, Debug, Clone, Default)]
pub struct OnnxInputArgs {
    /// ONNX models only: input layout `nchw`, `nhwc` or `flat` (default: read from the graph).
    #[arg(long, value_name = "LAYOUT")]
    pub input_layout: Option<String>,
    /// ONNX models only: multiply dataset values by this first (255 for models trained on bytes).
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR")]
    pub input_scale: f32,
    /// ONNX models only: per-channel means subtracted after scaling (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "M,...")]
    pub input_mean: Vec<f32>,
    /// ONNX models only: per-channel standard deviations divided by after the mean.
    #[arg(long, value_delimiter = ',', value_name = "S,...")]
    pub input_std: Vec<f32>,
    /// ONNX models only: number of classes, when the graph's output width is symbolic.
    #[arg(long, value_name = "K")]
    pub classes: Option<usize>,
}

impl OnnxInputArgs {
    fn options(&self) -> Result<InputOptions> {
        Ok(InputOptions {
            layout: self
                .input_layout
                .as_deref()
                .map(str::parse::<InputLayout>)
                .transpose()?,
            scale: self.input_scale,
            mean: self.input_mean.clone(),
            std: self.input_std.clone(),
            num_classes: self.classes,
        })
    }

    pub(crate) fn any_given(&self) -> bool {
        self.input_layout.is_some()
            || self.input_scale != 1.0
            || !self.input_mean.is_empty()
            || !self.input_std.is_empty()
            || self.classes.is_some()
    }
}

/// Loads `--model`: the ONNX input flags go to an `.onnx` model; given for a Mithridate model
/// they are refused (they would be silently ignored).
pub fn load_model(path: &Path, onnx: &OnnxInputArgs) -> Result<RunModel> {
    // The library refuses options for a Mithridate model too; this names the flags.
    if onnx.any_given() && !mithridate_onnx::is_onnx_path(path) {
        anyhow::bail!(
            "--input-layout/--input-scale/--input-mean/--input-std/--classes apply to .onnx models only; {} is not one",
            path.display()
        );
    }
    let options = onnx.any_given().then(|| onnx.options()).transpose()?;
    Ok(RunModel::load(path, options)?)
}
