//! What inference-time detectors (STRIP) need from a model: a compatibility check and class
//! probabilities. Implemented for Mithridate's `Classifier` and for imported ONNX classifiers,
//! so the same detector code runs on both.

use crate::{DetectError, Result};
use mithridate_data::Dataset;
use mithridate_engine::Classifier;
use mithridate_onnx::OnnxClassifier;

pub trait ProbabilityModel {
    /// Errors unless `data` fits the model's input and has as many classes as it outputs.
    fn check_compatible(&self, data: &Dataset) -> Result<()>;
    /// Softmax class probabilities, `n * num_classes` values row-major.
    fn predict_proba(&self, data: &Dataset) -> Result<Vec<f32>>;
}

impl ProbabilityModel for Classifier {
    fn check_compatible(&self, data: &Dataset) -> Result<()> {
        Ok(Classifier::check_compatible(self, data)?)
    }
    fn predict_proba(&self, data: &Dataset) -> Result<Vec<f32>> {
        Ok(Classifier::predict_proba(self, data)?)
    }
}

impl ProbabilityModel for OnnxClassifier {
    fn check_compatible(&self, data: &Dataset) -> Result<()> {
        OnnxClassifier::check_compatible(self, data)
            .map_err(|e| DetectError::InvalidInput(e.to_string()))
    }
    fn predict_proba(&self, data: &Dataset) -> Result<Vec<f32>> {
        OnnxClassifier::predict_proba(self, data)
            .map_err(|e| DetectError::InvalidInput(e.to_string()))
    }
}
