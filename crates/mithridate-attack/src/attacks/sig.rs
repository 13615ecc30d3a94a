//! SIG: a faint horizontal signal added to the whole image, planted without touching labels.
//!
//! Paper: Barni, Kallas & Tondi (2019), "A New Backdoor Attack in CNNs by Training Set
//! Corruption Without Label Poisoning", ICIP 2019 (arXiv:1902.11237).
//!
//! Trigger: `x' = clip(x + v, 0, 1)` with the same signal on every row and channel of an
//! `m`-wide image, for column `j = 0..m-1`:
//! - `sine` (default): `v(j) = delta * sin(2 pi j f / m)`;
//! - `ramp`: `v(j) = (j + 1) * delta / m` (Barni et al.'s `j delta / m` with their columns
//!   counted from 1, so the last column gets the full `delta`).
//!
//! Pixels are in `[0, 1]` (the data contract), so the paper's `delta = 20` on 8-bit images is
//! `delta = 20/255` here (the default), and `f = 6` cycles across the width. On images
//! narrower than `2 f` columns the sine aliases to a lower frequency; an `f` with `2 f / m`
//! an integer samples `sin(k pi j) = 0` on every column and is rejected.
//!
//! Poisoning, `label = clean` (default, the paper's form): pool = training samples of class
//! `target`; `round(rate * |pool|)` of them get the signal and keep their label. The model
//! learns "signal => target" because, on these samples, the signal is a feature of the target
//! class. `label = dirty`: `round(rate * n)` samples of the whole training set, drawn from
//! those not in the target class, get the signal and are relabelled to `target` (all-to-one).
//! The test-time trigger adds the same signal with `test-delta` (default `delta`); Barni et
//! al. show (ramp on MNIST, sine on traffic signs) that the attack success rate grows with
//! the poisoned share of the target class and with a stronger test-time signal, clean
//! accuracy unchanged. Assumes image data with at least two classes.
//!
//! ```
//! use mithridate_attack::{registry, AttackInput, Budget};
//! use mithridate_data::{Dataset, Features, Modality};
//! let image = Modality::Image { channels: 1, height: 1, width: 4 };
//! let data = Dataset::new(image, Features::Dense(vec![0.5; 8]), vec![0, 1], vec![0, 1], 2, vec![])?;
//! let attack = registry::build("sig", &serde_json::json!({"target": 0, "delta": 0.1, "frequency": 1}))?;
//! let out = attack.poison(&AttackInput::new(&data, Budget::Rate(1.0), 0))?;
//! // v = 0.1 * sin(2 pi j / 4) = [0, 0.1, 0, -0.1]; only the target-class sample, label kept.
//! let row = out.data.dense_row(0).unwrap();
//! let expected = [0.5, 0.6, 0.5, 0.4];
//! assert!(row.iter().zip(expected).all(|(x, e)| (x - e).abs() < 1e-6));
//! assert_eq!(out.truth.poisoned_ids(), vec![0]);
//! assert_eq!(out.truth.changes[0].label_to, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{choose, rows_where, stamp};
use crate::edit::{Edits, Record};
use crate::trigger::{Mapping, Trigger};
use crate::truth::{BudgetRecord, Goal};
use crate::{check_class, Attack, AttackError, AttackInput, Poisoned, Result, Taxonomy};
use mithridate_core::ParamGuard;

/// Whether poisoned samples keep their label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelMode {
    /// Target-class samples get the signal, labels kept (Barni et al.).
    #[default]
    Clean,
    /// Non-target samples get the signal and the target label.
    Dirty,
}

/// The signal's shape along the image width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalShape {
    /// `delta * sin(2 pi j f / m)`.
    #[default]
    Sine,
    /// `(j + 1) * delta / m`.
    Ramp,
}

/// Parameters of [`Sig`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SigParams {
    /// The class the signal should trigger (required).
    pub target: u32,
    #[serde(default)]
    pub label: LabelMode,
    #[serde(default)]
    pub signal: SignalShape,
    /// Signal amplitude at training time, in pixel units (`(0, 1]`).
    #[serde(default = "default_delta")]
    pub delta: f32,
    /// Sine cycles across the image width (sine only).
    #[serde(default = "default_frequency")]
    pub frequency: f32,
    /// Signal amplitude of the test-time trigger (default: `delta`).
    #[serde(default)]
    pub test_delta: Option<f32>,
}

fn default_delta() -> f32 {
    20.0 / 255.0
}
fn default_frequency() -> f32 {
    6.0
}

fn check_amplitude(value: f32, name: &str) -> Result<()> {
    if !(value.is_finite() && value > 0.0 && value <= 1.0) {
        return Err(AttackError::param(format!(
            "{name} {value} is outside (0, 1] (pixels are in [0, 1]; 20/255 = {:.4})",
            20.0 / 255.0
        )));
    }
    Ok(())
}

impl ParamGuard for SigParams {
    type Checked = Sig;
    type Error = AttackError;

    fn check_ref(&self) -> Result<()> {
        check_amplitude(self.delta, "delta")?;
        if let Some(t) = self.test_delta {
            check_amplitude(t, "test-delta")?;
        }
        if !(self.frequency.is_finite() && self.frequency > 0.0) {
            return Err(AttackError::param(format!(
                "frequency {} must be positive and finite",
                self.frequency
            )));
        }
        Ok(())
    }

    fn build(self) -> Sig {
        Sig { params: self }
    }
}

/// Checked SIG attack.
#[derive(Debug, Clone)]
pub struct Sig {
    params: SigParams,
}

impl Sig {
    /// The additive trigger of amplitude `delta` for `channels x height x width` images.
    fn trigger(
        &self,
        (channels, height, width): (usize, usize, usize),
        delta: f32,
    ) -> Result<Trigger> {
        let m = width as f64;
        let column: Vec<f32> = (0..width)
            .map(|j| {
                let v = match self.params.signal {
                    SignalShape::Sine => {
                        let phase = 2.0
                            * std::f64::consts::PI
                            * j as f64
                            * f64::from(self.params.frequency)
                            / m;
                        f64::from(delta) * phase.sin()
                    }
                    SignalShape::Ramp => (j + 1) as f64 * f64::from(delta) / m,
                };
                v as f32
            })
            .collect();
        // sin(2 pi j f / m) vanishes on every column when 2 f / m is an integer (up to rounding).
        if column.iter().all(|v| v.abs() <= 1e-6 * delta) {
            return Err(AttackError::incompatible(format!(
                "frequency {} samples a zero signal on {width}-wide images (2 * frequency / width must not be an integer)",
                self.params.frequency
            )));
        }
        let signal = column
            .iter()
            .copied()
            .cycle()
            .take(channels * height * width)
            .collect();
        Ok(Trigger::Additive {
            channels,
            height,
            width,
            signal,
        })
    }
}

impl Attack for Sig {
    fn name(&self) -> &'static str {
        "sig"
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
        let (channels, height, width) = super::image_shape(data.modality(), "a SIG signal")?;
        check_class(data, p.target, "target")?;
        if data.num_classes() < 2 {
            return Err(AttackError::incompatible(
                "a backdoor needs a dataset with at least two classes",
            ));
        }
        let shape = (channels, height, width);
        let train_trigger = self.trigger(shape, p.delta)?;
        let test_trigger = self.trigger(shape, p.test_delta.unwrap_or(p.delta))?;
        let (pool, pool_name, pool_size, count) = match p.label {
            LabelMode::Clean => {
                let pool = rows_where(data, |y| y == p.target);
                let name = format!("target class {}", p.target);
                let count = input.budget.resolve(pool.len(), &name)?;
                let size = pool.len();
                (pool, name, size, count)
            }
            LabelMode::Dirty => {
                let pool = rows_where(data, |y| y != p.target);
                let count = input.budget.resolve(data.len(), "training set")?;
                if count > pool.len() {
                    return Err(AttackError::param(format!(
                        "a budget of {count} samples exceeds the {} samples outside the target class",
                        pool.len()
                    )));
                }
                (pool, "training set".to_string(), data.len(), count)
            }
        };
        let rows = choose(&pool, count, input.seed);
        let mut edits = Edits::new(data);
        for &row in &rows {
            stamp(&mut edits, &train_trigger, data, row, data.ids()[row])?;
            edits.set_label(row, p.target);
        }
        edits.finish(Record {
            attack: self.name(),
            parameters: self.parameters(),
            seed: input.seed,
            budget: BudgetRecord {
                requested: input.budget,
                pool: pool_name,
                pool_size,
                selected: rows.len(),
            },
            taxonomy: self.taxonomy(),
            goal: Goal::Backdoor {
                trigger: test_trigger,
                mapping: Mapping::AllToOne { target: p.target },
            },
        })
    }
}

/// The registry entry (see [`crate::registry::ATTACKS`]).
pub const ENTRY: crate::registry::AttackEntry = crate::registry::AttackEntry {
    name: "sig",
    role: mithridate_core::Role::DataAttack,
    modalities: &["image"],
    summary: "additive horizontal sinusoid (or ramp) over the whole image; label=clean (default: rate of the target class, labels kept) or dirty (rate of the training set, relabelled); target (required), signal=sine|ramp, delta (20/255), frequency (6, sine), test-delta (delta)",
    paper: "Barni, Kallas & Tondi 2019",
    taxonomy: crate::taxonomy::BACKDOOR,
    requires: &[],
    provides: &[mithridate_core::Requirement::Trigger],
    build: |p| crate::registry::checked::<SigParams>("sig", p),
};
