//! STRIP (Gao, Xu, Wang, Chen, Ranasinghe & Nepal, "STRIP: A Defence Against Trojan Attacks on
//! Deep Neural Networks", ACSAC 2019): an inference-time filter for triggered inputs.
//!
//! Each input `x` is superimposed with `N` clean samples `c_1..c_N` (images: pixel-wise sum
//! clipped to `[0, 1]`, as the paper's `addWeighted(x, 1, c, 1)`; tabular rows: the sum), and the
//! model's predictions on the blends are scored by their mean Shannon entropy
//! `H(x) = (1/N) Σ_n -Σ_j p_j(x ⊕ c_n) log2 p_j(x ⊕ c_n)`. A trigger dominates the prediction
//! whatever it is blended with, so triggered inputs have *low* entropy. The threshold is the
//! `frr`-quantile of the entropies of held-out clean inputs, so about `frr` of clean inputs are
//! rejected (the false rejection rate); inputs below it are flagged. The false acceptance rate
//! (triggered inputs passed) is measured on triggered inputs when they are available.
//!
//! [`Strip::calibrate`] splits the clean set it is given in two seeded halves: the overlay pool
//! and the calibration inputs, so no clean input is blended with itself. Overlays of input `i`
//! are drawn from a ChaCha8 stream of `(seed, i)`. Text is not supported (tokens cannot be
//! superimposed). Cost: `N` forward passes per input.
//!
//! ```
//! use mithridate_detect::ParamGuard;
//! use mithridate_detect::strip::StripParams;
//! assert!(StripParams { overlays: 16, frr: 0.05 }.check().is_ok());
//! assert!(StripParams { overlays: 0, frr: 0.05 }.check().is_err());
//! ```

use crate::proba_model::ProbabilityModel;
use crate::{check_share, DetectError, Result};
use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Features, Modality};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Inputs blended per forward chunk.
const INPUTS_PER_CHUNK: usize = 32;

/// Unchecked parameters of [`Strip`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct StripParams {
    /// Clean overlays per input (`N`; the paper uses 100), at least 1.
    pub overlays: usize,
    /// Target false rejection rate on clean inputs, in `(0, 1]`.
    pub frr: f64,
}

impl Default for StripParams {
    fn default() -> Self {
        StripParams {
            overlays: 32,
            frr: 0.05,
        }
    }
}

impl ParamGuard for StripParams {
    type Checked = Strip;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        if self.overlays == 0 {
            return Err(DetectError::param("STRIP needs at least 1 overlay"));
        }
        check_share("FRR", self.frr)?;
        Ok(())
    }

    fn build(self) -> Strip {
        Strip { params: self }
    }
}

/// STRIP with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct Strip {
    params: StripParams,
}

/// A calibrated STRIP filter: the overlay pool and the entropy threshold.
#[derive(Debug, Clone)]
pub struct StripFilter {
    pub params: StripParams,
    /// Inputs with mean entropy strictly below this are flagged.
    pub threshold: f64,
    /// Entropies of the calibration inputs (clean).
    pub calibration: Vec<f64>,
    pool: Dataset,
    seed: u64,
}

/// Verdict of a calibrated filter on a set of inputs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StripVerdict {
    pub threshold: f64,
    /// Per input: `(id, mean entropy, flagged)`.
    pub inputs: Vec<(u64, f64, bool)>,
}

impl StripVerdict {
    /// Share of inputs flagged.
    pub fn flagged_share(&self) -> f64 {
        if self.inputs.is_empty() {
            return 0.0;
        }
        self.inputs.iter().filter(|i| i.2).count() as f64 / self.inputs.len() as f64
    }
}

impl Strip {
    /// Splits `clean` (at least 2 samples) into overlay pool and calibration halves, and sets the
    /// threshold at the `frr`-quantile of the calibration entropies.
    pub fn calibrate(
        &self,
        model: &dyn ProbabilityModel,
        clean: &Dataset,
        seed: u64,
    ) -> Result<StripFilter> {
        if clean.len() < 2 {
            return Err(DetectError::input(
                "STRIP needs at least 2 clean samples (overlay pool and calibration)",
            ));
        }
        if matches!(clean.modality(), Modality::Text { .. }) {
            return Err(DetectError::input("STRIP cannot superimpose text inputs"));
        }
        model.check_compatible(clean)?;
        let mut rows: Vec<usize> = (0..clean.len()).collect();
        rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let half = clean.len() / 2;
        let pool = clean.select(&rows[..half])?;
        let calib = clean.select(&rows[half..])?;
        let mut filter = StripFilter {
            params: self.params,
            threshold: f64::NEG_INFINITY,
            calibration: Vec::new(),
            pool,
            seed,
        };
        let mut entropies = filter.entropies(model, &calib)?;
        let mut sorted = entropies.clone();
        sorted.sort_by(f64::total_cmp);
        let index =
            ((self.params.frr * sorted.len() as f64).floor() as usize).min(sorted.len() - 1);
        filter.threshold = sorted[index];
        entropies.shrink_to_fit();
        filter.calibration = entropies;
        Ok(filter)
    }
}

impl StripFilter {
    /// Mean prediction entropy (bits) of every input under `N` clean overlays.
    pub fn entropies(&self, model: &dyn ProbabilityModel, inputs: &Dataset) -> Result<Vec<f64>> {
        model.check_compatible(inputs)?;
        let (Features::Dense(x), Features::Dense(pool)) = (inputs.features(), self.pool.features())
        else {
            return Err(DetectError::input(
                "STRIP needs dense (image or tabular) inputs",
            ));
        };
        let per = inputs.modality().sample_len();
        let clip = matches!(inputs.modality(), Modality::Image { .. });
        let n_overlays = self.params.overlays;
        let k = inputs.num_classes();
        let mut out = Vec::with_capacity(inputs.len());
        for start in (0..inputs.len()).step_by(INPUTS_PER_CHUNK) {
            let end = (start + INPUTS_PER_CHUNK).min(inputs.len());
            let mut blended = Vec::with_capacity((end - start) * n_overlays * per);
            for i in start..end {
                let mut rng = ChaCha8Rng::seed_from_u64(
                    self.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                let xi = &x[i * per..(i + 1) * per];
                for _ in 0..n_overlays {
                    let c = rng.random_range(0..self.pool.len());
                    let ci = &pool[c * per..(c + 1) * per];
                    blended.extend(xi.iter().zip(ci).map(|(a, b)| {
                        let s = a + b;
                        if clip {
                            s.clamp(0.0, 1.0)
                        } else {
                            s
                        }
                    }));
                }
            }
            let rows = (end - start) * n_overlays;
            let batch = Dataset::new(
                inputs.modality().clone(),
                Features::Dense(blended),
                vec![0; rows],
                (0..rows as u64).collect(),
                k,
                Vec::new(),
            )?;
            let probs = model.predict_proba(&batch)?;
            for input in 0..end - start {
                let mut total = 0f64;
                for o in 0..n_overlays {
                    let row = (input * n_overlays + o) * k;
                    total += probs[row..row + k]
                        .iter()
                        .map(|&p| f64::from(p))
                        .filter(|&p| p > 0.0)
                        .map(|p| -p * p.log2())
                        .sum::<f64>();
                }
                out.push(total / n_overlays as f64);
            }
        }
        Ok(out)
    }

    /// Flags every input whose mean entropy is below the threshold.
    pub fn apply(&self, model: &dyn ProbabilityModel, inputs: &Dataset) -> Result<StripVerdict> {
        let entropies = self.entropies(model, inputs)?;
        Ok(StripVerdict {
            threshold: self.threshold,
            inputs: inputs
                .ids()
                .iter()
                .zip(entropies)
                .map(|(&id, h)| (id, h, h < self.threshold))
                .collect(),
        })
    }
}

/// The registry entry (see [`crate::registry::INPUT_DETECTORS`]).
pub const ENTRY: crate::registry::InputDetectorEntry = crate::registry::InputDetectorEntry {
    name: "strip",
    role: mithridate_core::Role::InputDetector,
    modalities: &["image", "tabular"],
    summary: "superimpose clean inputs; low prediction entropy means a trigger dominates; rejected at the clean FRR quantile; overlays (32), frr (0.05)",
    paper: "Gao et al. 2019",
    taxonomy: crate::registry::INPUT_FILTERING,
    requires: &[mithridate_core::Requirement::Model, mithridate_core::Requirement::CleanSet, mithridate_core::Requirement::Trigger],
    provides: &[],
    build: |p| {
        let params = mithridate_core::registry::params::<StripParams>("strip", p).map_err(DetectError::param)?;
        params.check()
    },
};
