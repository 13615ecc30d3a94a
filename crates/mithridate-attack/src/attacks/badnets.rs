//! BadNets: a small pixel patch as backdoor trigger, planted by dirty-label poisoning.
//!
//! Paper: Gu, Dolan-Gavitt & Garg (2017), "BadNets: Identifying Vulnerabilities in the
//! Machine Learning Model Supply Chain" (arXiv:1708.06733).
//!
//! Trigger: `x'[c, top+i, left+j] = P[c, i, j]` for a `s x s` pattern `P` in `[0, 1]`
//! (`checkerboard`: `P[i,j] = (i + j + 1) mod 2`; `white`: all ones; `random`: seeded
//! `U(0, 1)` per value), placed in a fixed corner (`margin` pixels from the border) or at a
//! uniformly random position per sample (drawn from `(seed, id)`, so test-time placement is
//! reproducible). Poisoning: `m = round(rate * n)` samples (rate *of the whole training set*)
//! drawn uniformly from those the mapping moves; each is stamped and relabelled to
//! `target` (all-to-one) or `(y + 1) mod K` (all-to-all). Assumes image data and a
//! patch that fits (`s + margin <= min(H, W)`). Gu et al. report > 99% backdoor success on
//! MNIST with no loss of clean accuracy.
//!
//! ```
//! use mithridate_attack::{registry, AttackInput, Budget};
//! use mithridate_data::{Dataset, Features, Modality};
//! let image = Modality::Image { channels: 1, height: 4, width: 4 };
//! let data = Dataset::new(image, Features::Dense(vec![0.0; 4 * 16]), vec![0, 1, 1, 1],
//!                         (0..4).collect(), 2, vec![])?;
//! let attack = registry::build("badnets", &serde_json::json!({"target": 0, "size": 2, "pattern": "white"}))?;
//! let out = attack.poison(&AttackInput::new(&data, Budget::Count(2), 0))?;
//! assert_eq!(out.truth.changes.len(), 2);
//! assert!(out.truth.changes.iter().all(|c| c.label_from == Some(1) && c.label_to == 0 && c.features_changed));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{mapping, DirtyLabel, MappingKind};
use crate::trigger::{Placement, Trigger};
use crate::{rng, Attack, AttackError, AttackInput, Poisoned, Result, Taxonomy};
use mithridate_core::ParamGuard;
use mithridate_data::Modality;
use rand::Rng;

/// Patch pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// Alternating 1/0, bright top-left pixel.
    #[default]
    Checkerboard,
    /// All ones.
    White,
    /// Seeded uniform noise in `[0, 1]`.
    Random,
}

/// Where the patch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Position {
    #[default]
    BottomRight,
    BottomLeft,
    TopRight,
    TopLeft,
    /// Uniformly random per sample.
    Random,
}

/// Patch geometry shared with the clean-label attack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PatchSpec {
    pub pattern: Pattern,
    /// Side of the square patch in pixels.
    pub size: usize,
    pub position: Position,
    /// Distance from the image border for corner positions, in pixels.
    pub margin: usize,
}

impl Default for PatchSpec {
    fn default() -> Self {
        PatchSpec {
            pattern: Pattern::Checkerboard,
            size: 3,
            position: Position::BottomRight,
            margin: 1,
        }
    }
}

impl PatchSpec {
    pub(crate) fn check(&self) -> Result<()> {
        if self.size == 0 {
            return Err(AttackError::param("patch size must be at least 1 pixel"));
        }
        Ok(())
    }

    /// The trigger for images of `modality` (errors for other modalities or a patch too big).
    pub(crate) fn trigger(&self, modality: &Modality, seed: u64) -> Result<Trigger> {
        let (channels, height, width) = super::image_shape(modality, "a patch trigger")?;
        let s = self.size;
        let reach = s + if self.position == Position::Random {
            0
        } else {
            self.margin
        };
        if reach > height || reach > width {
            return Err(AttackError::incompatible(format!(
                "a {s}x{s} patch with margin {} does not fit {height}x{width} images",
                self.margin
            )));
        }
        let mut noise = rng::stream(seed, rng::PATTERN);
        let pattern: Vec<f32> = (0..channels * s * s)
            .map(|i| match self.pattern {
                Pattern::White => 1.0,
                Pattern::Checkerboard => {
                    let (y, x) = ((i % (s * s)) / s, i % s);
                    ((y + x + 1) % 2) as f32
                }
                Pattern::Random => noise.random::<f32>(),
            })
            .collect();
        let (far_top, far_left) = (height - s - self.margin, width - s - self.margin);
        let placement = match self.position {
            Position::TopLeft => Placement::Fixed {
                top: self.margin,
                left: self.margin,
            },
            Position::TopRight => Placement::Fixed {
                top: self.margin,
                left: far_left,
            },
            Position::BottomLeft => Placement::Fixed {
                top: far_top,
                left: self.margin,
            },
            Position::BottomRight => Placement::Fixed {
                top: far_top,
                left: far_left,
            },
            Position::Random => Placement::Random { seed },
        };
        let trigger = Trigger::Patch {
            channels,
            size: s,
            pattern,
            placement,
        };
        trigger.check(modality)?;
        Ok(trigger)
    }
}

/// Parameters of [`BadNets`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BadNetsParams {
    /// Target class (all-to-one; omit for all-to-all).
    #[serde(default)]
    pub target: Option<u32>,
    #[serde(default)]
    pub mapping: MappingKind,
    #[serde(default)]
    pub pattern: Pattern,
    #[serde(default = "default_size")]
    pub size: usize,
    #[serde(default)]
    pub position: Position,
    #[serde(default = "default_margin")]
    pub margin: usize,
    /// Add poisoned copies under fresh ids instead of modifying samples in place.
    #[serde(default)]
    pub append: bool,
}

fn default_size() -> usize {
    3
}
fn default_margin() -> usize {
    1
}

impl ParamGuard for BadNetsParams {
    type Checked = BadNets;
    type Error = AttackError;

    fn check_ref(&self) -> Result<()> {
        self.patch().check()?;
        Ok(())
    }

    fn build(self) -> BadNets {
        BadNets { params: self }
    }
}
impl BadNetsParams {
    fn patch(&self) -> PatchSpec {
        PatchSpec {
            pattern: self.pattern,
            size: self.size,
            position: self.position,
            margin: self.margin,
        }
    }
}

/// Checked BadNets attack.
#[derive(Debug, Clone)]
pub struct BadNets {
    params: BadNetsParams,
}

impl Attack for BadNets {
    fn name(&self) -> &'static str {
        "badnets"
    }
    fn taxonomy(&self) -> Taxonomy {
        Taxonomy::backdoor()
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn poison(&self, input: &AttackInput) -> Result<Poisoned> {
        let data = input.train;
        let trigger = self.params.patch().trigger(data.modality(), input.seed)?;
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
    name: "badnets",
    role: mithridate_core::Role::DataAttack,
    modalities: &["image"],
    summary: "patch trigger, dirty label; rate of the training set; target, mapping=all-to-one|all-to-all, pattern=checkerboard|white|random, size (3), position=bottom-right|bottom-left|top-right|top-left|random, margin (1), append (false)",
    paper: "Gu, Dolan-Gavitt & Garg 2017",
    taxonomy: crate::taxonomy::BACKDOOR,
    requires: &[],
    provides: &[mithridate_core::Requirement::Trigger],
    build: |p| crate::registry::checked::<BadNetsParams>("badnets", p),
};
