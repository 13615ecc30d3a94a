//! [`Classifier::fit`] with DP-SGD (Abadi et al. 2016, Algorithm 1): Poisson lots, per-sample
//! clipping, Gaussian noise (the fast path's [`crate::trainer`] DP step, which clips the CNN's
//! convolutions per image too), and the privacy spent as `(epsilon, delta)` from
//! `mithridate-privacy`'s RDP accountant of the Poisson-subsampled Gaussian mechanism.

use std::time::Instant;

use mithridate_data::{Dataset, Features};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{diverged, Classifier, EpochReport, TrainProgress, TrainReport};
use crate::dp_sgd::poisson_lot;
use crate::trainer::{DpStep, FastTrainer};
use crate::{DpSgd, EngineError, Result, TrainConfig};

/// What a DP-SGD fit spent: enough to compute its `(epsilon, delta)` guarantee.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DpReport {
    /// `sigma`, `C` and `q` as configured.
    pub noise_multiplier: f64,
    pub clip: f64,
    pub sampling_rate: f64,
    /// Lots drawn, `T`.
    pub steps: u64,
    /// Fraction of the per-sample gradients (over all lots) whose norm exceeded `C`.
    pub clipped_fraction: f64,
}

impl DpReport {
    /// Epsilon at `delta` of `T` Poisson-subsampled Gaussian steps (RDP accountant, Mironov
    /// 2017 and Mironov, Talwar & Zhang 2019; add/remove-one neighbours). Errors if `delta`
    /// is outside (0, 1).
    pub fn epsilon(&self, delta: f64) -> Result<f64> {
        mithridate_privacy::epsilon_for_poisson_gaussian(
            self.noise_multiplier,
            self.sampling_rate,
            self.steps,
            delta,
        )
        .map(|bound| bound.epsilon)
        .map_err(|e| EngineError::InvalidParams(e.to_string()))
    }
}

impl Classifier {
    /// The DP-SGD branch of [`Classifier::fit`]: `cfg.epochs()` epochs of
    /// [`DpSgd::steps_per_epoch`] Poisson lots each; lots and noise come from one ChaCha8
    /// stream of `seed`. Progress reports the expected samples done and the mean loss of the
    /// epoch's lots. Errors for the text model (its embedding-bag layer has no per-sample
    /// clipping here).
    pub(super) fn fit_dp(
        &mut self,
        data: &Dataset,
        cfg: &TrainConfig,
        dp: DpSgd,
        seed: u64,
        progress: &mut dyn FnMut(TrainProgress),
    ) -> Result<TrainReport> {
        let unsupported = || {
            EngineError::Architecture(format!(
                "DP-SGD is not supported for the '{}' model (only logreg, mlp and cnn, whose \
                 per-sample gradients the fast path clips)",
                self.arch
            ))
        };
        let Features::Dense(inputs) = data.features() else {
            return Err(unsupported());
        };
        let n = data.len();
        let expected_lot = dp.sampling_rate * n as f64;
        let mut trainer = FastTrainer::new(&self.network, expected_lot.ceil() as usize)
            .ok_or_else(unsupported)?;
        let mut optimizer = self.optimizer_state(cfg);
        let mut weights = self.weight_vectors()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let step = DpStep {
            clip: dp.clip as f32,
            noise_std: dp.noise_multiplier * dp.clip,
            expected_lot,
        };
        let per_epoch = dp.steps_per_epoch();
        let mut epochs = Vec::with_capacity(cfg.epochs());
        let (mut seen, mut clipped) = (0usize, 0usize);
        let start = Instant::now();
        for epoch in 1..=cfg.epochs() {
            let (mut loss_sum, mut done) = (0f64, 0usize);
            for s in 0..per_epoch {
                let lot = poisson_lot(n, dp.sampling_rate, &mut rng);
                let labels: Vec<u32> = lot.iter().map(|&r| data.labels()[r]).collect();
                let batch = (inputs.as_slice(), lot.as_slice(), labels.as_slice());
                let report = trainer.dp_step(&mut weights, &mut optimizer, batch, step, &mut rng);
                if !report.loss_sum.is_finite() {
                    self.store_weights(&weights)?;
                    return Err(diverged(epoch));
                }
                loss_sum += report.loss_sum;
                done += lot.len();
                clipped += report.clipped;
                progress(TrainProgress {
                    epoch,
                    epochs: cfg.epochs(),
                    samples_done: (s + 1) * n / per_epoch,
                    samples_total: n,
                    running_loss: loss_sum / done.max(1) as f64,
                });
            }
            epochs.push(EpochReport {
                epoch,
                mean_loss: loss_sum / done.max(1) as f64,
            });
            seen += done;
        }
        self.store_weights(&weights)?;
        let seconds = start.elapsed().as_secs_f64();
        Ok(TrainReport {
            epochs,
            seconds,
            samples_per_sec: seen as f64 / seconds.max(1e-9),
            dp: Some(DpReport {
                noise_multiplier: dp.noise_multiplier,
                clip: dp.clip,
                sampling_rate: dp.sampling_rate,
                steps: (cfg.epochs() * per_epoch) as u64,
                clipped_fraction: clipped as f64 / seen.max(1) as f64,
            }),
        })
    }
}
