//! WaNet: an imperceptible, smooth warp of the whole image as backdoor trigger, with
//! "noise mode" samples that stop the model from accepting any warp as the trigger.
//!
//! Paper: Nguyen & Tran (2021), "WaNet — Imperceptible Warping-based Backdoor Attack",
//! ICLR 2021 (arXiv:2102.10369).
//!
//! Warping field (fixed per attack, drawn from the seed), as in the WaNet reference code:
//! 1. `P` = a `2 x k x k` control field of `U(-1, 1)` offsets, normalised to mean absolute
//!    value 1 (`P / mean|P|`); channel 0 moves columns, channel 1 rows;
//! 2. upsampled to `H x W` **bicubically** (Keys' kernel, `a = -0.75`, `align_corners=True`,
//!    PyTorch's `F.upsample(mode="bicubic")`; see `crate::warp`);
//! 3. scaled by `s / size` in `[-1, 1]` grid units and added to the identity grid, clamped to
//!    the image. In pixels: output pixel `(i, j)` samples the image at row
//!    `clamp(i + s * P_r(i, j) * (H - 1) / (2H), 0, H - 1)` and column
//!    `clamp(j + s * P_c(i, j) * (W - 1) / (2W), 0, W - 1)` — WaNet's `s * P / H` with one grid
//!    unit = `(size - 1) / 2` pixels (WaNet divides both axes by the height; the images there
//!    are square, here each axis uses its own size);
//! 4. every channel is resampled through that grid **bilinearly** (`F.grid_sample` with
//!    `align_corners=True`), so warped pixels stay in the range of their neighbours.
//!
//! Poisoning: `m = round(rate * n)` samples of the whole training set, drawn from those the
//! mapping moves, are warped and relabelled (`target`, all-to-one; or `(y + 1) mod K`,
//! all-to-all). Noise mode: `round(cross-ratio * m)` further samples, drawn from the rest,
//! are warped through the field plus fresh per-sample `U(-1, 1) / size` grid offsets (clamped
//! again) and **keep their labels** — the model must learn the exact field, not "warped".
//! Both kinds are in the ground truth (noise-mode samples have `label_from == label_to`);
//! `budget.selected` counts both. `s = 0` leaves backdoor images unchanged (identity grid).
//! Assumes image data and `k` at most the image side. The paper (k = 4, s = 0.5, rate 0.1,
//! cross-ratio 2, hundreds of epochs) reports about 99% attack success on MNIST, CIFAR-10 and
//! GTSRB with clean accuracy close to the clean model's. Sub-pixel warps are slow to learn:
//! on 8x8 images `s = 0.5` moves a pixel by at most about half a pixel (`|P| <= ~2`).
//!
//! ```
//! use mithridate_attack::{apply_trigger, registry, AttackInput, Budget, Trigger};
//! use mithridate_data::{Dataset, Features, Modality};
//! let image = Modality::Image { channels: 1, height: 6, width: 6 };
//! // A horizontal ramp x(i, j) = j / 5: bilinear warping turns it into source column / 5.
//! let ramp: Vec<f32> = (0..2 * 36).map(|p| (p % 6) as f32 / 5.0).collect();
//! let data = Dataset::new(image, Features::Dense(ramp), vec![0, 1], vec![0, 1], 2, vec![])?;
//! let out = registry::build("wanet", &serde_json::json!({"target": 0, "cross-ratio": 0}))?
//!     .poison(&AttackInput::new(&data, Budget::Count(1), 3))?;
//! let (trigger, _) = out.truth.trigger().unwrap();
//! let Trigger::Warp { source_cols, .. } = trigger else { panic!() };
//! let warped = apply_trigger(trigger, &data)?;
//! for (x, c) in warped.dense_row(0).unwrap().iter().zip(source_cols) {
//!     assert!((x - c / 5.0).abs() < 1e-5);
//! }
//! assert_eq!(out.truth.changes.len(), 1);
//! assert_eq!((out.truth.changes[0].label_from, out.truth.changes[0].label_to), (Some(1), 0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{choose, mapping, rows_where, stamp, MappingKind};
use crate::edit::{Edits, Record};
use crate::trigger::Trigger;
use crate::truth::{BudgetRecord, Goal};
use crate::{rng, warp, Attack, AttackError, AttackInput, Poisoned, Result, Taxonomy};
use mithridate_core::ParamGuard;
use rand::Rng;

/// Parameters of [`Wanet`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WanetParams {
    /// Target class (all-to-one; omit for all-to-all).
    #[serde(default)]
    pub target: Option<u32>,
    #[serde(default)]
    pub mapping: MappingKind,
    /// Side of the control grid (WaNet's `k`).
    #[serde(default = "default_k")]
    pub k: usize,
    /// Warping strength (WaNet's `s`), `>= 0`.
    #[serde(default = "default_strength")]
    pub strength: f32,
    /// Noise-mode samples per backdoor sample (WaNet's `cross_ratio`), `>= 0`.
    #[serde(default = "default_cross_ratio")]
    pub cross_ratio: f32,
}

fn default_k() -> usize {
    4
}
fn default_strength() -> f32 {
    0.5
}
fn default_cross_ratio() -> f32 {
    2.0
}

impl ParamGuard for WanetParams {
    type Checked = Wanet;
    type Error = AttackError;

    fn check_ref(&self) -> Result<()> {
        if self.k == 0 {
            return Err(AttackError::param("control grid side k must be at least 1"));
        }
        if !(self.strength.is_finite() && self.strength >= 0.0) {
            return Err(AttackError::param(format!(
                "warping strength {} must be finite and >= 0",
                self.strength
            )));
        }
        if !(self.cross_ratio.is_finite() && self.cross_ratio >= 0.0) {
            return Err(AttackError::param(format!(
                "cross-ratio {} must be finite and >= 0",
                self.cross_ratio
            )));
        }
        Ok(())
    }

    fn build(self) -> Wanet {
        Wanet { params: self }
    }
}

/// Checked WaNet attack.
#[derive(Debug, Clone)]
pub struct Wanet {
    params: WanetParams,
}

/// Pixels per `1 / size` of WaNet's `[-1, 1]` grid: one grid unit is `(size - 1) / 2` pixels.
fn pixels_per_offset(size: usize) -> f32 {
    (size - 1) as f32 / (2 * size) as f32
}

/// Where every output pixel of an `height x width` image samples its source, in pixels.
#[derive(Debug, Clone)]
struct Grid {
    height: usize,
    width: usize,
    rows: Vec<f32>,
    cols: Vec<f32>,
}

impl Grid {
    /// WaNet's field: identity + `s * upsample(P / mean|P|) / size`, clamped to the image.
    fn random(
        r: &mut impl Rng,
        k: usize,
        strength: f32,
        height: usize,
        width: usize,
    ) -> Result<Grid> {
        // torch.rand(1, 2, k, k) * 2 - 1: channel 0 = columns (grid x), channel 1 = rows.
        let control: Vec<f32> = (0..2 * k * k)
            .map(|_| r.random::<f32>() * 2.0 - 1.0)
            .collect();
        let mean_abs = control.iter().map(|v| v.abs()).sum::<f32>() / control.len() as f32;
        if mean_abs <= 0.0 || !mean_abs.is_finite() {
            return Err(AttackError::incompatible(
                "the random control field is all zeros; use another seed",
            ));
        }
        let (col_control, row_control) = control.split_at(k * k);
        let up_cols = warp::upsample_bicubic(col_control, (k, k), (height, width));
        let up_rows = warp::upsample_bicubic(row_control, (k, k), (height, width));
        let (row_gain, col_gain) = (
            strength / mean_abs * pixels_per_offset(height),
            strength / mean_abs * pixels_per_offset(width),
        );
        let (last_row, last_col) = ((height - 1) as f32, (width - 1) as f32);
        let mut grid = Grid {
            height,
            width,
            rows: Vec::with_capacity(height * width),
            cols: Vec::with_capacity(height * width),
        };
        for p in 0..height * width {
            let (i, j) = ((p / width) as f32, (p % width) as f32);
            grid.rows
                .push((i + row_gain * up_rows[p]).clamp(0.0, last_row));
            grid.cols
                .push((j + col_gain * up_cols[p]).clamp(0.0, last_col));
        }
        Ok(grid)
    }

    /// The grid plus per-pixel `U(-1, 1) / size` grid offsets, clamped (noise mode).
    fn with_noise(&self, r: &mut impl Rng) -> Grid {
        let mut noisy = self.clone();
        let (row_unit, col_unit) = (
            pixels_per_offset(self.height),
            pixels_per_offset(self.width),
        );
        let (last_row, last_col) = ((self.height - 1) as f32, (self.width - 1) as f32);
        for (y, x) in noisy.rows.iter_mut().zip(noisy.cols.iter_mut()) {
            // WaNet's noise tensor is (..., 2) with x first.
            let dx = r.random::<f32>() * 2.0 - 1.0;
            let dy = r.random::<f32>() * 2.0 - 1.0;
            *x = (*x + dx * col_unit).clamp(0.0, last_col);
            *y = (*y + dy * row_unit).clamp(0.0, last_row);
        }
        noisy
    }
}

impl Attack for Wanet {
    fn name(&self) -> &'static str {
        "wanet"
    }
    fn taxonomy(&self) -> Taxonomy {
        Taxonomy::backdoor()
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn poison(&self, input: &AttackInput) -> Result<Poisoned> {
        let data = input.train;
        let p = &self.params;
        let (channels, height, width) = super::image_shape(data.modality(), "a WaNet warp")?;
        if p.k > height || p.k > width {
            return Err(AttackError::incompatible(format!(
                "a {k}x{k} control grid is finer than the {height}x{width} images (k must be at most the image side)",
                k = p.k
            )));
        }
        let mapping = mapping(p.mapping, p.target, data)?;
        // One stream for the field, the noise-mode choice and the noise, in that order.
        let mut r = rng::stream(input.seed, rng::PATTERN);
        let grid = Grid::random(&mut r, p.k, p.strength, height, width)?;
        let trigger = Trigger::Warp {
            channels,
            height,
            width,
            source_rows: grid.rows.clone(),
            source_cols: grid.cols.clone(),
        };
        trigger.check(data.modality())?;

        let num_classes = data.num_classes();
        let count = input.budget.resolve(data.len(), "training set")?;
        let eligible = rows_where(data, |y| mapping.target_for(y, num_classes).is_some());
        if count > eligible.len() {
            return Err(AttackError::param(format!(
                "a budget of {count} samples exceeds the {} samples outside the target class",
                eligible.len()
            )));
        }
        let backdoor = choose(&eligible, count, input.seed);
        let cross_count = (f64::from(p.cross_ratio) * count as f64).round() as usize;
        let rest: Vec<usize> = (0..data.len())
            .filter(|row| backdoor.binary_search(row).is_err())
            .collect();
        if cross_count > rest.len() {
            return Err(AttackError::param(format!(
                "cross-ratio {} asks for {cross_count} noise-mode samples, but only {} samples are left besides the {count} backdoor samples",
                p.cross_ratio,
                rest.len()
            )));
        }
        let mut cross: Vec<usize> = rand::seq::index::sample(&mut r, rest.len(), cross_count)
            .into_iter()
            .map(|i| rest[i])
            .collect();
        cross.sort_unstable();

        let mut edits = Edits::new(data);
        for &row in &backdoor {
            stamp(&mut edits, &trigger, data, row, data.ids()[row])?;
            if let Some(label) = mapping.target_for(data.labels()[row], num_classes) {
                edits.set_label(row, label);
            }
        }
        for &row in &cross {
            let noisy = grid.with_noise(&mut r);
            let x = edits.dense_row_mut(row)?;
            let source = x.to_vec();
            warp::resample(
                &source,
                x,
                (channels, height, width),
                &noisy.rows,
                &noisy.cols,
            );
        }
        edits.finish(Record {
            attack: self.name(),
            parameters: self.parameters(),
            seed: input.seed,
            budget: BudgetRecord {
                requested: input.budget,
                pool: "training set".into(),
                pool_size: data.len(),
                selected: backdoor.len() + cross.len(),
            },
            taxonomy: self.taxonomy(),
            goal: Goal::Backdoor { trigger, mapping },
        })
    }
}

/// The registry entry (see [`crate::registry::ATTACKS`]).
pub const ENTRY: crate::registry::AttackEntry = crate::registry::AttackEntry {
    name: "wanet",
    role: mithridate_core::Role::DataAttack,
    modalities: &["image"],
    summary: "fixed random smooth warp (bicubic-upsampled k x k field, bilinear resampling), dirty label; rate of the training set, plus cross-ratio x rate noise-warped samples with labels kept; target, mapping=all-to-one|all-to-all, k (4), strength (0.5), cross-ratio (2)",
    paper: "Nguyen & Tran 2021",
    taxonomy: crate::taxonomy::BACKDOOR,
    requires: &[],
    provides: &[mithridate_core::Requirement::Trigger],
    build: |p| crate::registry::checked::<WanetParams>("wanet", p),
};
