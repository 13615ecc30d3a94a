//! A model to run, whoever trained it: a Mithridate model (safetensors + card) or a user's
//! ONNX classifier (chosen by the `.onnx` extension), behind the interfaces the inference-time
//! detectors (STRIP), the trigger reverse-engineering and the gate use. The CLI's `--model`
//! and the Python package load models through here, so both refuse the same mistakes.
//!
//! ```
//! use mithridate_onnx::InputOptions;
//! use mithridate_pipeline::run_model::RunModel;
//! // Input options describe how dataset values feed an ONNX graph; a Mithridate model refuses them.
//! let options = InputOptions { scale: 255.0, ..InputOptions::default() };
//! let err = RunModel::load("model.safetensors".as_ref(), Some(options)).err().unwrap();
//! assert!(err.to_string().contains("apply to .onnx models only"));
//! ```

use crate::error::{PipelineError, Result, WithContext};
use mithridate_data::Dataset;
use mithridate_engine::{Classifier, ModelCard};
use mithridate_onnx::{InputOptions, OnnxClassifier};
use std::path::Path;

/// A model to run: trained by Mithridate, or imported from ONNX.
pub enum RunModel {
    Native(Box<(Classifier, ModelCard)>),
    Onnx(Box<OnnxClassifier>),
}

impl RunModel {
    /// Loads `path`: ONNX by its `.onnx` extension (with `onnx`, or the defaults: layout read
    /// from the graph, values as given), else a Mithridate model, which refuses `onnx` options
    /// (they would be silently ignored otherwise).
    pub fn load(path: &Path, onnx: Option<InputOptions>) -> Result<Self> {
        if mithridate_onnx::is_onnx_path(path) {
            let model = OnnxClassifier::load(path, onnx.unwrap_or_default())
                .context_with(|| format!("loading ONNX model {}", path.display()))?;
            return Ok(RunModel::Onnx(Box::new(model)));
        }
        if onnx.is_some() {
            return Err(PipelineError::invalid(format!(
                "input layout, scale, mean, std and class count apply to .onnx models only; {} is not one",
                path.display()
            )));
        }
        let (model, card) =
            Classifier::load(path).context_with(|| format!("loading model {}", path.display()))?;
        Ok(RunModel::Native(Box::new((model, card))))
    }

    /// The number of classes the model outputs (an ONNX graph's may depend on the input, so
    /// `data` is read for its shape).
    pub fn num_classes(&self, data: &Dataset) -> Result<usize> {
        Ok(match self {
            RunModel::Native(m) => m.0.num_classes(),
            RunModel::Onnx(m) => m.output_classes(data)?,
        })
    }

    /// `data` declaring the model's class count where its labels showed fewer (a triggered
    /// test set labelled with the target, a single-class holdout); unchanged otherwise, so
    /// [`RunModel::check_compatible`] still refuses a dataset with more classes than the model.
    pub fn adopt_classes(&self, data: Dataset) -> Result<Dataset> {
        let classes = self.num_classes(&data)?;
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
