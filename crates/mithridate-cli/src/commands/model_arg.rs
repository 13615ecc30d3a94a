//! `--model` for commands that only run a model: a Mithridate model (safetensors + card) or a
//! user's ONNX classifier (by the `.onnx` extension), with the flags that say how dataset values
//! map to the ONNX model's input (what a graph cannot tell).

use anyhow::{Context as _, Result};
use clap::Args;
use mithridate_data::Dataset;
use mithridate_engine::{Classifier, ModelCard};
use mithridate_onnx::{InputLayout, InputOptions, OnnxClassifier};
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

/// A model to run: trained by Mithridate, or imported from ONNX.
pub enum RunModel {
    Native(Box<(Classifier, ModelCard)>),
    Onnx(Box<OnnxClassifier>),
}

impl RunModel {
    /// Loads `path`: ONNX by its `.onnx` extension, else a Mithridate model.
    pub fn load(path: &Path, onnx: &OnnxInputArgs) -> Result<Self> {
        if mithridate_onnx::is_onnx_path(path) {
            let model = OnnxClassifier::load(path, onnx.options()?)
                .with_context(|| format!("loading ONNX model {}", path.display()))?;
            return Ok(RunModel::Onnx(Box::new(model)));
        }
        if onnx.any_given() {
            anyhow::bail!(
                "--input-layout/--input-scale/--input-mean/--input-std/--classes apply to .onnx models only; {} is not one",
                path.display()
            );
        }
        let (model, card) =
            Classifier::load(path).with_context(|| format!("loading model {}", path.display()))?;
        Ok(RunModel::Native(Box::new((model, card))))
    }

    /// `data` declaring the model's class count where its labels showed fewer (a triggered
    /// test set labelled with the target, a single-class holdout); unchanged otherwise, so
    /// [`RunModel::check_compatible`] still refuses a dataset with more classes than the model.
    pub fn adopt_classes(&self, data: Dataset) -> Result<Dataset> {
        let classes = match self {
            RunModel::Native(m) => m.0.num_classes(),
            RunModel::Onnx(m) => m.output_classes(&data)?,
        };
        Ok(data.widen_classes(classes))
    }

    pub fn check_compatible(&self, data: &Dataset) -> Result<()> {
        match self {
            RunModel::Native(m) => Ok(m.0.check_compatible(data)?),
            RunModel::Onnx(m) => Ok(m.check_compatible(data)?),
        }
    }

    pub fn predict(&self, data: &Dataset) -> Result<Vec<u32>> {
        match self {
            RunModel::Native(m) => Ok(m.0.predict(data)?),
            RunModel::Onnx(m) => Ok(m.predict(data)?),
        }
    }

    /// The model as inference-time detectors (STRIP) see it.
    pub fn proba_model(&self) -> &dyn mithridate_detect::proba_model::ProbabilityModel {
        match self {
            RunModel::Native(m) => &m.0,
            RunModel::Onnx(m) => m.as_ref(),
        }
    }

    /// The model as trigger reverse-engineering sees it.
    pub fn gradient_model(&self) -> &dyn mithridate_gate::GradientModel {
        match self {
            RunModel::Native(m) => &m.0,
            RunModel::Onnx(m) => m.as_ref(),
        }
    }

    /// `(architecture, dataset it was trained on)` as the card says; for ONNX, the opset and
    /// the input, and "unknown" (an imported model carries no training record).
    pub fn describe(&self) -> (String, String) {
        match self {
            RunModel::Native(m) => (m.1.architecture.to_string(), m.1.dataset.clone()),
            RunModel::Onnx(m) => (
                format!("onnx (opset {}, input {})", m.opset(), m.describe_input()),
                "unknown".to_string(),
            ),
        }
    }
}
