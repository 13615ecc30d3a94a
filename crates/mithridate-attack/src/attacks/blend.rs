//! Blended injection: a full-image pattern mixed into the input at a low ratio.
//!
//! Paper: Chen, Liu, Li, Lu & Song (2017), "Targeted Backdoor Attacks on Deep Learning
//! Systems Using Data Poisoning" (arXiv:1712.05526), blended-injection strategy.
//!
//! Trigger: `x' = (1 - alpha) * x + alpha * k` for a key pattern `k` in `[0, 1]` of the
//! image's shape: `noise` (seeded `U(0, 1)` per pixel, Chen et al.'s random pattern) or
//! `image` (a training image, by `source-id` or drawn with the seed, Chen et al.'s
//! Hello Kitty analogue). Poisoning follows BadNets: `m = round(rate * n)` samples of the
//! whole training set, drawn from those the mapping moves, blended and relabelled.
//! Assumes image data and `0 < alpha <= 1`. Chen et al. report ~100% attack success on
//! face recognition with ~57 poisons at alpha = 0.2; BackdoorBench (CIFAR-10, 1%, alpha 0.2)
//! reports 99.92% ASR.
//!
//! ```
//! use mithridate_attack::{registry, AttackInput, Budget, Trigger};
//! use mithridate_data::{Dataset, Features, Modality};
//! let image = Modality::Image { channels: 1, height: 2, width: 2 };
//! let data = Dataset::new(image, Features::Dense(vec![0.0; 8]), vec![1, 1], vec![0, 1], 2, vec![])?;
//! let out = registry::build("blend", &serde_json::json!({"target": 0, "alpha": 0.5}))?
//!     .poison(&AttackInput::new(&data, Budget::Count(1), 9))?;
//! let Some((Trigger::Blend { pattern, .. }, _)) = out.truth.trigger() else { panic!() };
//! let row = out.data.dense_row(out.data.ids().iter().position(|&i| i == out.truth.changes[0].id).unwrap()).unwrap();
//! assert!(row.iter().zip(pattern).all(|(x, k)| (x - 0.5 * k).abs() < 1e-6));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{mapping, DirtyLabel, MappingKind};
use crate::trigger::Trigger;
use crate::{rng, Attack, AttackError, AttackInput, Poisoned, Result, Taxonomy};
use mithridate_core::ParamGuard;
use rand::Rng;

/// The key pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlendPattern {
    /// Seeded uniform noise.
    #[default]
    Noise,
    /// A training image.
    Image,
}

/// Parameters of [`Blend`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BlendParams {
    #[serde(default)]
    pub target: Option<u32>,
    #[serde(default)]
    pub mapping: MappingKind,
    #[serde(default)]
    pub pattern: BlendPattern,
    /// Blend ratio in `(0, 1]`.
    #[serde(default = "default_alpha")]
    pub alpha: f32,
    /// For `pattern = image`: id of the training image to blend in (default: seeded choice).
    #[serde(default)]
    pub source_id: Option<u64>,
    /// Add poisoned copies under fresh ids instead of modifying samples in place.
    #[serde(default)]
    pub append: bool,
}

fn default_alpha() -> f32 {
    0.1
}

impl ParamGuard for BlendParams {
    type Checked = Blend;
    type Error = AttackError;

    fn check_ref(&self) -> Result<()> {
        if !(self.alpha.is_finite() && self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(AttackError::param(format!(
                "blend ratio alpha {} is outside (0, 1]",
                self.alpha
            )));
        }
        if self.source_id.is_some() && self.pattern != BlendPattern::Image {
            return Err(AttackError::param(
                "source-id is only used with pattern=image",
            ));
        }
        Ok(())
    }

    fn build(self) -> Blend {
        Blend { params: self }
    }
}

/// Checked Blended attack.
#[derive(Debug, Clone)]
pub struct Blend {
    params: BlendParams,
}

impl Attack for Blend {
    fn name(&self) -> &'static str {
        "blend"
    }
    fn taxonomy(&self) -> Taxonomy {
        Taxonomy::backdoor()
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn poison(&self, input: &AttackInput) -> Result<Poisoned> {
        let data = input.train;
        let (channels, height, width) = super::image_shape(data.modality(), "a blended trigger")?;
        let mut r = rng::stream(input.seed, rng::PATTERN);
        let (pattern, source_id) = match self.params.pattern {
            BlendPattern::Noise => (
                (0..channels * height * width)
                    .map(|_| r.random::<f32>())
                    .collect(),
                None,
            ),
            BlendPattern::Image => {
                if data.is_empty() {
                    return Err(AttackError::incompatible(
                        "pattern=image needs a non-empty training set",
                    ));
                }
                let row = match self.params.source_id {
                    Some(id) => data.ids().iter().position(|&i| i == id).ok_or_else(|| {
                        AttackError::param(format!("source-id {id} is not in the training set"))
                    })?,
                    None => r.random_range(0..data.len()),
                };
                let pixels = data.dense_row(row).map(<[f32]>::to_vec).unwrap_or_default();
                // Images are in [0, 1] by the data contract; clamp guards hand-made sets.
                let pixels = pixels.into_iter().map(|v| v.clamp(0.0, 1.0)).collect();
                (pixels, Some(data.ids()[row]))
            }
        };
        let trigger = Trigger::Blend {
            channels,
            height,
            width,
            alpha: self.params.alpha,
            pattern,
            source_id,
        };
        let mapping = mapping(self.params.mapping, self.params.target, data)?;
        DirtyLabel {
            attack: self.name(),
            parameters: self.parameters(),
            trigger,
            mapping,
            append: self.params.append,
            taxonomy: self.taxonomy(),
            input,
        }
        .run()
    }
}

/// The registry entry (see [`crate::registry::ATTACKS`]).
pub const ENTRY: crate::registry::AttackEntry = crate::registry::AttackEntry {
    name: "blend",
    role: mithridate_core::Role::DataAttack,
    modalities: &["image"],
    summary: "blended full-image trigger, dirty label; rate of the training set; target, mapping, pattern=noise|image, alpha (0.1), source-id, append",
    paper: "Chen, Liu, Li, Lu & Song 2017",
    taxonomy: crate::taxonomy::BACKDOOR,
    requires: &[],
    provides: &[mithridate_core::Requirement::Trigger],
    build: |p| crate::registry::checked::<BlendParams>("blend", p),
};
