//! Serving-time monitors: signals on the deployed model's inputs and outputs over a window
//! of traffic, each an alert with a threshold calibrated on clean traffic to a configured
//! false-alarm rate `f` per window.
//!
//! - `class_shares`: total variation distance `(1/2) sum_c |s_c - r_c|` between the window's
//!   predicted-class shares `s` and the shares `r` the same model predicts on the clean
//!   reference pool (a prediction-distribution drift test, in the spirit of black-box shift
//!   detection: Rabanser, Günnemann & Lipton, 2019, "Failing Loudly"). Alert above the
//!   `(1 - f)`-quantile of the distance over bootstrap windows of clean traffic.
//! - `confidence`: the window's mean top-class probability. Alert below the `f`-quantile over
//!   the clean bootstrap windows (inputs the model is unsure about: drift or adversarial).
//! - `strip`: STRIP (Gao et al., 2019, ACSAC) on a sample of the window: each input is
//!   superimposed with clean overlays and flagged when the mean prediction entropy stays
//!   below the per-input threshold (set at a 1% false rejection rate on clean inputs); the
//!   monitor alerts when the flagged share exceeds the `(1 - f)`-quantile of flagged shares
//!   over bootstrap windows of held-out clean inputs. A deployed backdoor answering triggered
//!   requests keeps its entropy low under overlays.
//!
//! Thresholds are recalibrated on every deployment (the reference is the model now serving).

use crate::stats::{quantile, round9, shares, total_variation};
use crate::stream::derive_seed;
use crate::Result;
use mithridate_core::ParamGuard;
use mithridate_data::Dataset;
use mithridate_detect::strip::{StripFilter, StripParams};
use mithridate_engine::Classifier;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Per-input false rejection rate of the STRIP filter on clean inputs.
pub const STRIP_FRR: f64 = 0.01;
/// Traffic inputs STRIP examines per window.
pub const STRIP_SAMPLE: usize = 200;
/// Clean inputs used to calibrate STRIP (half overlay pool and per-input threshold, half
/// held out for the window threshold).
pub const STRIP_CALIBRATION: usize = 1600;

/// Calibrated thresholds of the monitors for one deployed model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorThresholds {
    /// Predicted-class shares on the clean reference pool.
    pub reference_shares: Vec<f64>,
    pub max_class_shift: f64,
    pub min_confidence: f64,
    pub max_strip_share: f64,
    pub strip_entropy_threshold: f64,
}

/// What the monitors measured on one window, and which alerted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorReading {
    pub class_shift: f64,
    pub confidence: f64,
    pub strip_share: f64,
    /// Names of the monitors above (below, for confidence) their thresholds.
    pub alerts: Vec<String>,
}

/// The monitors of one deployed model: thresholds plus the calibrated STRIP filter.
#[derive(Clone)]
pub struct Monitors {
    pub thresholds: MonitorThresholds,
    strip: StripFilter,
    seed: u64,
}

fn window_stats(probs: &[f32], rows: &[usize], k: usize) -> (Vec<u32>, f64) {
    let mut predicted = Vec::with_capacity(rows.len());
    let mut confidence = 0.0f64;
    for &r in rows {
        let p = &probs[r * k..(r + 1) * k];
        let (best, &bp) = p
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .unwrap_or((0, &0.0));
        predicted.push(best as u32);
        confidence += f64::from(bp);
    }
    (predicted, confidence / rows.len().max(1) as f64)
}

impl Monitors {
    /// Calibrates every monitor for `model` on the clean `reference` pool with windows of
    /// `window` requests, `windows` bootstrap windows and false-alarm rate `far`.
    pub fn calibrate(
        model: &Classifier,
        reference: &Dataset,
        window: usize,
        windows: usize,
        far: f64,
        overlays: usize,
        seed: u64,
    ) -> Result<Monitors> {
        let k = reference.num_classes();
        let probs = model.predict_proba(reference)?;
        let all: Vec<usize> = (0..reference.len()).collect();
        let (predicted, _) = window_stats(&probs, &all, k);
        let reference_shares = shares(&predicted, k);
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, "monitor-windows", 0));
        let mut shifts = Vec::with_capacity(windows);
        let mut confidences = Vec::with_capacity(windows);
        for _ in 0..windows {
            let rows: Vec<usize> = (0..window)
                .map(|_| rng.random_range(0..reference.len()))
                .collect();
            let (pred, conf) = window_stats(&probs, &rows, k);
            shifts.push(total_variation(&shares(&pred, k), &reference_shares));
            confidences.push(conf);
        }
        // STRIP: calibrate the per-input filter on one part of the pool, then the window
        // threshold on clean inputs the filter never saw.
        let picked = mithridate_data::seeded_sample(
            reference.len(),
            STRIP_CALIBRATION.min(reference.len()),
            derive_seed(seed, "strip-calibration", 0),
        );
        let (fit_rows, held_rows) = picked.split_at(picked.len() * 2 / 3);
        let strip = StripParams {
            overlays,
            frr: STRIP_FRR,
        }
        .check()?
        .calibrate(model, &reference.select(fit_rows)?, seed)?;
        let held = reference.select(held_rows)?;
        let flagged: Vec<bool> = strip
            .entropies(model, &held)?
            .into_iter()
            .map(|e| e < strip.threshold)
            .collect();
        let sample = STRIP_SAMPLE.min(window);
        let strip_shares: Vec<f64> = (0..windows)
            .map(|_| {
                let hits = (0..sample)
                    .filter(|_| flagged[rng.random_range(0..flagged.len())])
                    .count();
                hits as f64 / sample as f64
            })
            .collect();
        Ok(Monitors {
            thresholds: MonitorThresholds {
                reference_shares: reference_shares.into_iter().map(round9).collect(),
                max_class_shift: round9(quantile(&shifts, 1.0 - far)),
                min_confidence: round9(quantile(&confidences, far)),
                max_strip_share: round9(quantile(&strip_shares, 1.0 - far)),
                strip_entropy_threshold: round9(strip.threshold),
            },
            strip,
            seed,
        })
    }

    /// Reads one window of `traffic` (every request for the distribution monitors, a seeded
    /// sample of [`STRIP_SAMPLE`] for STRIP).
    pub fn read(
        &self,
        model: &Classifier,
        traffic: &Dataset,
        step: usize,
    ) -> Result<MonitorReading> {
        let k = traffic.num_classes();
        let t = &self.thresholds;
        let probs = model.predict_proba(traffic)?;
        let all: Vec<usize> = (0..traffic.len()).collect();
        let (predicted, confidence) = window_stats(&probs, &all, k);
        let class_shift = total_variation(&shares(&predicted, k), &t.reference_shares);
        let rows = mithridate_data::seeded_sample(
            traffic.len(),
            STRIP_SAMPLE,
            derive_seed(self.seed, "strip-sample", step as u64),
        );
        let sampled = traffic.select(&rows)?;
        let entropies = self.strip.entropies(model, &sampled)?;
        let strip_share = entropies
            .iter()
            .filter(|&&e| e < self.strip.threshold)
            .count() as f64
            / entropies.len().max(1) as f64;
        let mut alerts = Vec::new();
        if class_shift > t.max_class_shift {
            alerts.push("class_shares".to_string());
        }
        if confidence < t.min_confidence {
            alerts.push("confidence".to_string());
        }
        if strip_share > t.max_strip_share {
            alerts.push("strip".to_string());
        }
        Ok(MonitorReading {
            class_shift: round9(class_shift),
            confidence: round9(confidence),
            strip_share: round9(strip_share),
            alerts,
        })
    }
}
