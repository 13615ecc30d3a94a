//! Trojan scan of one model without its training data: Neural Cleanse's per-class outlier
//! test over the trigger reverse-engineering of [`crate::reverse`], for models Mithridate
//! trained and for imported ONNX classifiers alike.

use crate::reverse::{reverse_one, CheckedReverse, ReversedTrigger};
use crate::{GateError, Result};
use mithridate_data::{Dataset, Modality};
use mithridate_engine::{Architecture, Classifier};
use mithridate_onnx::OnnxClassifier;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Neural Cleanse's anomaly-index threshold: a class whose index exceeds it is flagged
/// (Wang et al. 2019, Section IV-C: "any data point with anomaly index larger than 2 has
/// > 95% probability of being an outlier").
pub const ANOMALY_THRESHOLD: f64 = 2.0;

/// What trigger reverse-engineering needs from a model: predictions and the gradient of the
/// cross-entropy against chosen targets with respect to the input.
pub trait GradientModel: Sync {
    fn predict(&self, data: &Dataset) -> Result<Vec<u32>>;
    fn input_gradients(&self, data: &Dataset, targets: &[u32]) -> Result<Vec<f32>>;
    /// Both at once; models whose backward pass has the logits override this to save a
    /// forward pass.
    fn input_gradients_and_predictions(
        &self,
        data: &Dataset,
        targets: &[u32],
    ) -> Result<(Vec<f32>, Vec<u32>)> {
        Ok((self.input_gradients(data, targets)?, self.predict(data)?))
    }
    /// Gradient of each sample's logit margin `z_c - max_{j != c} z_j` for `classes[i]` with
    /// respect to its input, and the margins (for MM-BD, [`crate::max_margin`]).
    fn margin_gradients(&self, _data: &Dataset, _classes: &[u32]) -> Result<(Vec<f32>, Vec<f32>)> {
        Err(GateError::Incompatible(
            "this model does not give logit-margin gradients".into(),
        ))
    }
    /// The engine family closest to this model, for clean reference models
    /// ([`crate::margin_reference`]); `None` when unknown.
    fn reference_architecture(&self) -> Option<Architecture> {
        None
    }
}

impl GradientModel for Classifier {
    fn predict(&self, data: &Dataset) -> Result<Vec<u32>> {
        Ok(Classifier::predict(self, data)?)
    }
    fn input_gradients(&self, data: &Dataset, targets: &[u32]) -> Result<Vec<f32>> {
        Ok(Classifier::input_gradients(self, data, targets)?)
    }
    fn input_gradients_and_predictions(
        &self,
        data: &Dataset,
        targets: &[u32],
    ) -> Result<(Vec<f32>, Vec<u32>)> {
        Ok(Classifier::input_gradients_and_predictions(
            self, data, targets,
        )?)
    }
    fn margin_gradients(&self, data: &Dataset, classes: &[u32]) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok(Classifier::margin_gradients(self, data, classes)?)
    }
    fn reference_architecture(&self) -> Option<Architecture> {
        Some(self.architecture())
    }
}

impl GradientModel for OnnxClassifier {
    fn predict(&self, data: &Dataset) -> Result<Vec<u32>> {
        OnnxClassifier::predict(self, data).map_err(|e| GateError::Incompatible(e.to_string()))
    }
    fn input_gradients(&self, data: &Dataset, targets: &[u32]) -> Result<Vec<f32>> {
        OnnxClassifier::input_gradients(self, data, targets)
            .map_err(|e| GateError::Incompatible(e.to_string()))
    }
    fn margin_gradients(&self, data: &Dataset, classes: &[u32]) -> Result<(Vec<f32>, Vec<f32>)> {
        OnnxClassifier::margin_gradients(self, data, classes)
            .map_err(|e| GateError::Incompatible(e.to_string()))
    }
    /// A graph with a convolution is closest to the engine's CNN (used only for image
    /// data, see [`crate::margin_reference::ReferenceArchitecture::resolve`]), any other
    /// to its MLP.
    fn reference_architecture(&self) -> Option<Architecture> {
        Some(if self.uses_operator("Conv") {
            Architecture::Cnn
        } else {
            Architecture::Mlp
        })
    }
}

/// One class's reversed trigger and how much of an outlier its size is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScan {
    pub class: usize,
    pub trigger: ReversedTrigger,
    /// `(median - norm) / (1.4826 * MAD)` over the classes' mask norms; positive when the
    /// class's trigger is smaller than the median one.
    pub anomaly_index: f64,
    pub flagged: bool,
}

/// The scan of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelScan {
    /// `"trojaned"` when a class is flagged, else `"clean"`.
    pub verdict: String,
    pub target_classes: Vec<usize>,
    pub classes: Vec<ClassScan>,
    pub median_norm: f64,
    pub mad: f64,
    pub params: serde_json::Value,
}

/// The median of `values` (the middle two averaged for an even count; NaN when empty).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Neural Cleanse's anomaly index of each value: `(median - x_i) / (1.4826 * MAD)`, with
/// `MAD = median_i |x_i - median|` (1.4826 makes the MAD a consistent estimate of the standard
/// deviation under normality). Only small triggers are suspicious, so the sign is kept: a
/// class with a large positive index has a much smaller trigger than the others. When the
/// MAD is 0 (at least half of the values are equal) every index is 0, except values below
/// the median, which are infinitely anomalous.
pub fn anomaly_indices(values: &[f64]) -> (Vec<f64>, f64, f64) {
    let med = median(values);
    let mad = median(&values.iter().map(|x| (x - med).abs()).collect::<Vec<_>>());
    let index = values
        .iter()
        .map(|&x| {
            let d = med - x;
            if mad > 0.0 {
                d / (1.4826 * mad)
            } else if d > 0.0 {
                f64::INFINITY
            } else {
                0.0
            }
        })
        .collect();
    (index, med, mad)
}

/// Neural Cleanse's smallest mask-and-pattern trigger for one `target` class, optimised on
/// the first `samples` inputs of other classes in `trusted` (`None` when every trusted input
/// is of the target class). [`scan_model`] runs it for every class; other detectors use it
/// to picture the trigger of a class they flagged.
pub fn reverse_class(
    model: &dyn GradientModel,
    trusted: &Dataset,
    target: usize,
    params: &CheckedReverse,
) -> Result<Option<ReversedTrigger>> {
    let cfg = params.params();
    let rows: Vec<usize> = (0..trusted.len())
        .filter(|&r| trusted.labels()[r] as usize != target)
        .take(cfg.samples)
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let inputs = trusted
        .select(&rows)
        .map_err(|e| GateError::Input(e.to_string()))?;
    Ok(Some(reverse_one(model, &inputs, target as u32, cfg)?))
}

/// Neural Cleanse (Wang, Yao, Shan, Li, Viswanath, Zheng & Zhao, 2019, IEEE S&P) on one
/// model: for every class `t`, the smallest mask-and-pattern trigger sending the first
/// `samples` inputs of other classes in `trusted` to `t` (see [`crate::reverse_triggers`] for
/// the optimisation), then the classes' mask L1 norms through [`anomaly_indices`]; a class
/// with index above [`ANOMALY_THRESHOLD`] is a suspected target. Assumes a backdoor shrinks
/// the trigger of few classes (all-to-one or few-to-one) and a clean model's norms spread
/// normally; fails on triggers that are not small masks (blended, full-image) and on models
/// with fewer than 3 classes (no spread to compare against). Classes run in parallel.
pub fn scan_model(
    model: &dyn GradientModel,
    trusted: &Dataset,
    params: &CheckedReverse,
) -> Result<ModelScan> {
    let cfg = params.params();
    let k = trusted.num_classes();
    if k < 3 {
        return Err(GateError::Input(format!(
            "a model scan compares classes' trigger sizes and needs at least 3 classes, not {k}"
        )));
    }
    let triggers = (0..k)
        .into_par_iter()
        .map(|target| {
            Ok(reverse_class(model, trusted, target, params)?.map(|trigger| (target, trigger)))
        })
        .collect::<Result<Vec<_>>>()?;
    let triggers: Vec<(usize, ReversedTrigger)> = triggers.into_iter().flatten().collect();
    let norms: Vec<f64> = triggers.iter().map(|(_, t)| t.mask_norm).collect();
    let (index, median_norm, mad) = anomaly_indices(&norms);
    let classes: Vec<ClassScan> = triggers
        .into_iter()
        .zip(index)
        .map(|((class, trigger), anomaly_index)| ClassScan {
            class,
            trigger,
            anomaly_index,
            flagged: anomaly_index > ANOMALY_THRESHOLD,
        })
        .collect();
    let target_classes: Vec<usize> = classes
        .iter()
        .filter(|c| c.flagged)
        .map(|c| c.class)
        .collect();
    Ok(ModelScan {
        verdict: if target_classes.is_empty() {
            "clean"
        } else {
            "trojaned"
        }
        .to_string(),
        target_classes,
        classes,
        median_norm,
        mad,
        params: cfg.to_json(),
    })
}

/// The reversed trigger of an image model as a PNG picture: the stamped contribution
/// `m ⊙ p` (black where the mask is 0), grey for one channel, RGB for three, upscaled by an
/// integer factor so the longer side is at least 112 pixels (nearest neighbour: each input
/// pixel stays a visible square). Errors for tabular data (no picture) or other channel counts.
///
/// ```
/// use mithridate_data::Modality;
/// use mithridate_gate::model_scan::trigger_png;
/// use mithridate_gate::reverse::ReversedTrigger;
/// let t = ReversedTrigger { mask_norm: 1.0, success: 1.0, mask: vec![1.0, 0.0, 0.0, 0.0],
///     pattern: vec![1.0; 4], steps: 1 };
/// let png = trigger_png(&t, &Modality::Image { channels: 1, height: 2, width: 2 }).unwrap();
/// assert_eq!(&png[1..4], b"PNG");
/// ```
pub fn trigger_png(trigger: &ReversedTrigger, modality: &Modality) -> Result<Vec<u8>> {
    let Modality::Image {
        channels,
        height,
        width,
    } = *modality
    else {
        return Err(GateError::Input(format!(
            "a trigger picture needs image data, not {}",
            modality.name()
        )));
    };
    let positions = height * width;
    if !(channels == 1 || channels == 3)
        || trigger.mask.len() != positions
        || trigger.pattern.len() != channels * positions
    {
        return Err(GateError::Input(format!(
            "a {} trigger of {} mask values cannot be drawn as a {channels}x{height}x{width} picture",
            channels,
            trigger.mask.len()
        )));
    }
    let scale = 112usize.div_ceil(height.max(width)).max(1);
    let (w, h) = ((width * scale) as u32, (height * scale) as u32);
    let pixel = |c: usize, y: usize, x: usize| -> u8 {
        let j = (y / scale) * width + x / scale;
        let v = trigger.mask[j] * trigger.pattern[c * positions + j];
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    };
    let mut out = Vec::new();
    let mut cursor = std::io::Cursor::new(&mut out);
    let result = if channels == 1 {
        image::GrayImage::from_fn(w, h, |x, y| image::Luma([pixel(0, y as usize, x as usize)]))
            .write_to(&mut cursor, image::ImageFormat::Png)
    } else {
        image::RgbImage::from_fn(w, h, |x, y| {
            let (y, x) = (y as usize, x as usize);
            image::Rgb([pixel(0, y, x), pixel(1, y, x), pixel(2, y, x)])
        })
        .write_to(&mut cursor, image::ImageFormat::Png)
    };
    result.map_err(|e| GateError::Input(format!("encoding the trigger picture: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anomaly_index_by_hand() {
        // median 10, deviations [8, 1, 0, 1, 2] -> MAD 1; index (10 - x) / 1.4826.
        let (index, med, mad) = anomaly_indices(&[2.0, 9.0, 10.0, 11.0, 12.0]);
        assert_eq!((med, mad), (10.0, 1.0));
        assert!((index[0] - 8.0 / 1.4826).abs() < 1e-12);
        assert!((index[4] + 2.0 / 1.4826).abs() < 1e-12);
        // Even count: median of the middle pair.
        let (_, med, _) = anomaly_indices(&[1.0, 3.0, 5.0, 100.0]);
        assert_eq!(med, 4.0);
        // Zero MAD: only values below the median are anomalous.
        let (index, _, mad) = anomaly_indices(&[5.0, 5.0, 5.0, 1.0, 9.0]);
        assert_eq!(mad, 0.0);
        assert_eq!(index, vec![0.0, 0.0, 0.0, f64::INFINITY, 0.0]);
    }
}
