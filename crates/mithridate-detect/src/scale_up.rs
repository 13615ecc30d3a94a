//! SCALE-UP (Guo, Li, Chen, Jia & Xie, "SCALE-UP: An Efficient Black-box Input-level Backdoor
//! Detection via Analyzing Scaled Prediction Consistency", ICLR 2023), applied to the training
//! set with the model trained on it.
//!
//! Observation: amplifying a triggered input's values keeps the trigger's effect (its
//! prediction stays the target), while amplified clean inputs drift to other classes. For
//! each sample `x` with prediction `ŷ = pred(x)`, the scaled prediction consistency is
//!
//! `SPC(x) = (1/|S|) Σ_{s ∈ S} 1[pred(clip(s·x)) = ŷ]`
//!
//! over the scale set `S = {1 + t, 1 + 2t, ..., <= N}` (`scale-step` `t`, `max-scale` `N`);
//! the default `t = 2, N = 11` is `{3, 5, 7, 9, 11}`, the set of the reference
//! implementations (BackdoorBox's `SCALE_UP`, backdoor-toolbox's `ScaleUp`), at half the
//! passes of every integer `2..=11` (`t = 1`);
//!
//! where `clip` bounds values to the data's range `[min, max]` over all features (images:
//! `[0, 1]`). The paper's
//! data-limited variant normalises SPC by benign statistics; here, per *predicted* class, the
//! median and 1.4826 MAD of the class's training samples (most are clean), giving the robust
//! z-score `(SPC - median) / max(1.4826 MAD, 1/|S|)` (the floor is the indicator's
//! resolution, so a class whose SPC is nearly constant does not turn ties into outliers).
//!
//! Verdict and flags (shared with [`crate::dynamics`], see [`crate::tails`]): per predicted
//! class, an exact 1-D 2-means split of the z-scores; statistic Ashman's D of the split (0
//! when no high tail); suspicious when `D >= min-separation` and, with 5 or more classes, a
//! robust outlier among the classes (z >= `class-outlier`); the upper cluster of suspicious
//! classes is flagged, at most `max-class-share` of the class. Class verdicts are reported
//! under the class index of the predicted class.
//!
//! Assumptions: a trigger that survives amplification (full-image triggers such as blending
//! do; a saturated patch already at the maximum does, but then amplifying the rest of the image
//! can override it) and clean classes whose samples do not. The second fails on the 8x8
//! `digits`: amplification nearly binarises a digit, which keeps its class, so most clean
//! samples have SPC 1, the class median sits at the ceiling and no high tail exists to flag
//! (measured in the README; nothing is flagged there, poisoned or not). Images and tabular rows
//! only: token ids cannot be scaled. Cost: `1 + |S|` batched forward passes over the set (one
//! unscaled, `|S|` scaled; one scaled copy of the data in memory at a time).
//!
//! ```
//! use mithridate_detect::ParamGuard;
//! use mithridate_detect::scale_up::ScaleUpParams;
//! let p = ScaleUpParams::default();
//! assert_eq!((p.max_scale, p.scale_step), (11, 2)); // scales 3, 5, 7, 9, 11
//! assert!(p.check().is_ok());
//! let err = ScaleUpParams { max_scale: 1, ..p }.check().unwrap_err().to_string();
//! assert!(err.contains("max scale"), "{err}");
//! assert!(ScaleUpParams { scale_step: 0, ..p }.check().is_err());
//! assert!(ScaleUpParams { max_scale: 2, ..p }.check().is_err()); // no scale 1 + 2 <= 2
//! assert!(ScaleUpParams { max_class_share: 0.0, ..p }.check().is_err());
//! ```

use crate::context::class_rows;
use crate::detection::Rows;
use crate::dynamics::check_tail_rule;
use crate::tails::{robust_z, TailRule};
use crate::{DetectError, Detection, Detector, Result, ScanContext, ScanModel};
use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Features, Modality};

/// Unchecked parameters of [`ScaleUp`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct ScaleUpParams {
    /// Largest amplification `N`, at least `1 + scale_step`.
    pub max_scale: usize,
    /// Step `t` between amplifications: scales `1 + t, 1 + 2t, ...` up to `max_scale`; >= 1.
    pub scale_step: usize,
    /// Robust z-score a class's separation must reach among the classes (>= 0; 0 disables).
    pub class_outlier: f64,
    /// Smallest Ashman's D of a suspicious class's split (> 0).
    pub min_separation: f64,
    /// Most of a suspicious class that is flagged, in `(0, 1]`.
    pub max_class_share: f64,
}

impl Default for ScaleUpParams {
    fn default() -> Self {
        ScaleUpParams {
            max_scale: 11,
            scale_step: 2,
            class_outlier: 3.0,
            min_separation: 3.5,
            max_class_share: 0.5,
        }
    }
}

impl ParamGuard for ScaleUpParams {
    type Checked = ScaleUp;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        if self.scale_step == 0 {
            return Err(DetectError::param("SCALE-UP needs scale step >= 1, got 0"));
        }
        if self.max_scale < 1 + self.scale_step {
            return Err(DetectError::param(format!(
                "SCALE-UP needs max scale >= 1 + scale step ({}), got {}",
                1 + self.scale_step,
                self.max_scale
            )));
        }
        check_tail_rule(
            self.class_outlier,
            self.min_separation,
            self.max_class_share,
        )
    }

    fn build(self) -> ScaleUp {
        ScaleUp { params: self }
    }
}

/// SCALE-UP with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct ScaleUp {
    params: ScaleUpParams,
}

impl ScaleUp {
    /// The amplifications `S`: `1 + t, 1 + 2t, ...` up to `N` (never empty once checked).
    fn scales(&self) -> impl Iterator<Item = usize> {
        (1 + self.params.scale_step..=self.params.max_scale).step_by(self.params.scale_step)
    }

    /// Every sample's unscaled prediction and its scaled consistency (in `[0, 1]`).
    pub fn consistency<'m>(
        &self,
        model: impl Into<ScanModel<'m>>,
        data: &Dataset,
    ) -> Result<(Vec<u32>, Vec<f64>)> {
        let model = model.into();
        if matches!(data.modality(), Modality::Text { .. }) {
            return Err(DetectError::input(
                "SCALE-UP scales input values; text token ids cannot be scaled (image and tabular data only)",
            ));
        }
        let Features::Dense(values) = data.features() else {
            return Err(DetectError::input("SCALE-UP needs dense inputs"));
        };
        model.check_compatible(data)?;
        if data.is_empty() {
            // Also keeps the value range below well-formed (`clamp` needs min <= max).
            return Err(DetectError::input("the dataset to scan is empty"));
        }
        let (lo, hi) = values
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let predicted = model.predict(data)?;
        let mut agreement = vec![0usize; data.len()];
        for scale in self.scales() {
            let factor = scale as f32;
            let scaled: Vec<f32> = values.iter().map(|v| (v * factor).clamp(lo, hi)).collect();
            let batch = Dataset::new(
                data.modality().clone(),
                Features::Dense(scaled),
                data.labels().to_vec(),
                data.ids().to_vec(),
                data.num_classes(),
                Vec::new(),
            )?;
            for ((a, p), y) in agreement
                .iter_mut()
                .zip(model.predict(&batch)?)
                .zip(&predicted)
            {
                *a += usize::from(p == *y);
            }
        }
        let scales = self.scales().count() as f64;
        Ok((
            predicted,
            agreement.iter().map(|&a| a as f64 / scales).collect(),
        ))
    }

    /// Flags from consistencies and predictions (row order of `labels`/`ids`).
    pub fn detect_consistency(
        &self,
        consistency: &[f64],
        predicted: &[u32],
        labels: &[u32],
        ids: &[u64],
        num_classes: usize,
    ) -> Result<Detection> {
        let n = labels.len();
        if n == 0 || consistency.len() != n || predicted.len() != n || ids.len() != n {
            return Err(DetectError::input(format!(
                "{} consistencies, {} predictions and {} ids for {n} samples",
                consistency.len(),
                predicted.len(),
                ids.len()
            )));
        }
        if let Some(&y) = labels
            .iter()
            .chain(predicted)
            .find(|&&y| y as usize >= num_classes)
        {
            return Err(DetectError::input(format!("label {y} is not a class")));
        }
        if let Some(c) = consistency
            .iter()
            .find(|c| !(c.is_finite() && (0.0..=1.0).contains(*c)))
        {
            return Err(DetectError::input(format!(
                "consistency {c} is not in [0, 1]"
            )));
        }
        let groups = class_rows(predicted, num_classes);
        let resolution = 1.0 / self.scales().count() as f64;
        let mut scores = vec![0f64; n];
        for rows in &groups {
            robust_z(consistency, rows, resolution, &mut scores);
        }
        let rule = TailRule {
            class_outlier: self.params.class_outlier,
            min_separation: self.params.min_separation,
            max_class_share: self.params.max_class_share,
        };
        let rows = Rows {
            ids,
            labels,
            num_classes,
        };
        Ok(rule.detection(self.name(), self.parameters(), rows, &scores, &groups))
    }
}

impl Detector for ScaleUp {
    fn name(&self) -> &'static str {
        "scale-up"
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    fn scan(&self, ctx: &ScanContext) -> Result<Detection> {
        let model = ctx
            .scan_model()
            .ok_or_else(|| DetectError::input("this detector needs a trained model"))?;
        let data = ctx.data();
        let (predicted, consistency) = self.consistency(model, data)?;
        self.detect_consistency(
            &consistency,
            &predicted,
            data.labels(),
            data.ids(),
            data.num_classes(),
        )
    }
}

/// The registry entry (see [`crate::registry::DETECTORS`]).
pub const ENTRY: crate::registry::DetectorEntry = crate::registry::DetectorEntry {
    name: "scale-up",
    role: mithridate_core::Role::Detector,
    modalities: &["image", "tabular"],
    summary: "prediction consistency under input amplification x(1+t), x(1+2t), .. xN, robust z per predicted class; flags the 2-means high tail of classes that stand out; max-scale (11), scale-step (2: x3, x5, .. x11, the reference implementations' set), class-outlier (3), min-separation (3.5), max-class-share (0.5)",
    paper: "Guo et al. 2023 (SCALE-UP)",
    taxonomy: crate::registry::SANITIZATION,
    requires: &[mithridate_core::Requirement::Model],
    provides: &[],
    build: |p| crate::registry::checked::<ScaleUpParams>("scale-up", p),
};

#[cfg(test)]
mod tests {
    use super::*;
    use mithridate_engine::Classifier;

    /// Softmax regression on 2 tabular features with hand-set weights: logits
    /// `(x0, x1, 0.5)`. Scaling `x` by `s` multiplies the first two logits only, so a sample
    /// whose winning logit is the constant class 2 loses it as `s` grows.
    fn model() -> Classifier {
        let modality = Modality::Tabular { features: 2 };
        let mut m =
            Classifier::new(mithridate_engine::Architecture::LogReg, &modality, 3, 0).unwrap();
        let shapes = m.parameter_shapes();
        let mut flat = Vec::new();
        for (name, shape) in &shapes {
            let len: usize = shape.iter().product();
            flat.extend(if name.ends_with("bias") {
                vec![0.0, 0.0, 0.5]
            } else if shape == &[3, 2] {
                vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
            } else {
                vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0][..len].to_vec()
            });
        }
        m.set_flat_parameters(&flat).unwrap();
        m
    }

    #[test]
    fn consistency_matches_the_hand_computed_scaled_predictions() {
        let data = Dataset::new(
            Modality::Tabular { features: 2 },
            // Range [0, 2]: clipping caps every scaled value at 2.
            Features::Dense(vec![0.2, 0.0, 2.0, 0.0, 0.1, 0.15]),
            vec![0, 0, 1],
            vec![10, 11, 12],
            3,
            Vec::new(),
        )
        .unwrap();
        let detector = ScaleUpParams {
            max_scale: 5,
            scale_step: 1,
            ..ScaleUpParams::default()
        }
        .check()
        .unwrap();
        let (predicted, spc) = detector.consistency(&model(), &data).unwrap();
        // Row 0: logits (0.2, 0, 0.5) -> class 2; scaled x0 = 0.4, 0.6, 0.8, 1.0 beat 0.5 from
        // s = 3 on: 1 of 4 scales agrees. Row 1: class 0 at every scale (x0 clipped to 2).
        // Row 2: (0.1, 0.15, 0.5) -> class 2; s = 2, 3 keep 0.5 on top (x1 at most 0.45),
        // s = 4, 5 give x1 = 0.6, 0.75: 2 of 4.
        assert_eq!(predicted, vec![2, 0, 2]);
        assert_eq!(spc, vec![0.25, 1.0, 0.5]);
        // The reference implementations' odd scales, up to 5: {3, 5}. Row 0 leaves class 2 at
        // both; row 2 keeps it at 3 (x1 = 0.45) and loses it at 5.
        let odd = ScaleUpParams {
            max_scale: 5,
            ..ScaleUpParams::default()
        }
        .check()
        .unwrap();
        assert_eq!(
            odd.consistency(&model(), &data).unwrap().1,
            vec![0.0, 1.0, 0.5]
        );
    }

    #[test]
    fn text_and_bad_consistencies_are_one_line_errors() {
        let detector = ScaleUpParams::default().check().unwrap();
        let err = detector
            .detect_consistency(&[0.5, 1.5], &[0, 0], &[0, 0], &[1, 2], 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("1.5"), "{err}");
        assert!(detector
            .detect_consistency(&[0.5], &[3], &[0], &[1], 2)
            .is_err());
        let text = Dataset::new(
            Modality::Text {
                max_len: 2,
                vocab_size: 5,
            },
            Features::Tokens(vec![1, 2]),
            vec![0],
            vec![0],
            2,
            Vec::new(),
        )
        .unwrap();
        let m =
            Classifier::new(mithridate_engine::Architecture::Text, text.modality(), 2, 0).unwrap();
        let err = detector.consistency(&m, &text).unwrap_err().to_string();
        assert!(err.contains("text"), "{err}");
        let empty = Dataset::new(
            Modality::Tabular { features: 2 },
            Features::Dense(Vec::new()),
            Vec::new(),
            Vec::new(),
            3,
            Vec::new(),
        )
        .unwrap();
        assert!(detector.consistency(&model(), &empty).is_err());
    }
}
