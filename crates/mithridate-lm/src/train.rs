//! Training from scratch with AdamW over shuffled context windows.
//!
//! The documents are joined into one token stream, each followed by the end-of-text id (as
//! GPT-2 pre-training does), and cut into non-overlapping windows of `ctx + 1` ids. Each epoch
//! visits every window once in a ChaCha8-shuffled order (seeded by the training seed and the
//! epoch), in mini-batches, minimising the mean next-token cross-entropy with AdamW
//! (Loshchilov & Hutter 2019: `theta <- theta - lr (m_hat / (sqrt(v_hat) + eps) + wd theta)`,
//! `beta = (0.9, 0.95)`, decay on every parameter), the learning rate warmed up linearly over
//! the first 5% of steps and then cosine-decayed to a tenth (as GPT-3's schedule). Everything
//! runs on the CPU in f32 with a fixed order of operations, so the same seed gives the same
//! bytes.

use crate::model::Gpt;
use crate::{LmError, Result};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// Optimisation settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Passes over the token stream.
    pub epochs: usize,
    /// Windows per mini-batch.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    pub weight_decay: f64,
    /// Seeds the window order.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 2,
            batch: 32,
            lr: 3e-3,
            weight_decay: 0.1,
            seed: 0,
        }
    }
}

/// What a training run did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainReport {
    pub steps: usize,
    /// Tokens predicted (windows x ctx x epochs).
    pub tokens: usize,
    pub seconds: f64,
    pub tokens_per_second: f64,
    /// Mean training loss (nats) over the last epoch.
    pub final_loss: f64,
}

/// The training stream: each document's ids followed by `eot`.
pub fn token_stream(docs: &[Vec<u32>], eot: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(docs.iter().map(|d| d.len() + 1).sum());
    for d in docs {
        out.extend_from_slice(d);
        out.push(eot);
    }
    out
}

/// The learning rate at `step` of `total` (linear warm-up, cosine decay to `peak / 10`).
pub fn learning_rate(peak: f64, step: usize, total: usize) -> f64 {
    let warm = (total / 20).max(1);
    if step < warm {
        return peak * (step + 1) as f64 / warm as f64;
    }
    let progress = (step - warm) as f64 / (total - warm).max(1) as f64;
    let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos());
    peak * (0.1 + 0.9 * cosine)
}

/// Trains `model` in place on `stream`; `progress(step, total_steps, loss)` after each step.
pub fn train(
    model: &mut Gpt,
    stream: &[u32],
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(usize, usize, f32),
) -> Result<TrainReport> {
    let ctx = model.config.ctx;
    if cfg.batch == 0 || cfg.epochs == 0 || cfg.lr.is_nan() || cfg.lr <= 0.0 {
        return Err(LmError::invalid(
            "batch, epochs and learning rate must be positive",
        ));
    }
    let n_windows = stream.len().saturating_sub(1) / ctx;
    if n_windows == 0 {
        return Err(LmError::invalid(format!(
            "the corpus has {} tokens, fewer than one context of {ctx}",
            stream.len()
        )));
    }
    let per_epoch = n_windows.div_ceil(cfg.batch);
    let total = per_epoch * cfg.epochs;
    let mut opt = AdamW::new(
        model.vars().to_vec(),
        ParamsAdamW {
            lr: cfg.lr,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: cfg.weight_decay,
        },
    )?;
    let start = Instant::now();
    let mut step = 0;
    let mut last_epoch_loss = 0.0;
    let mut buf: Vec<u32> = Vec::with_capacity(cfg.batch * (ctx + 1));
    for epoch in 0..cfg.epochs {
        let mut order: Vec<usize> = (0..n_windows).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(
            cfg.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
        let mut epoch_loss = 0.0;
        for chunk in order.chunks(cfg.batch) {
            buf.clear();
            for &w in chunk {
                buf.extend_from_slice(&stream[w * ctx..w * ctx + ctx + 1]);
            }
            opt.set_learning_rate(learning_rate(cfg.lr, step, total));
            let loss = model.loss(&buf, chunk.len(), ctx)?;
            opt.backward_step(&loss)?;
            let l = loss.to_scalar::<f32>()?;
            if !l.is_finite() {
                return Err(LmError::Model(format!("training diverged at step {step}")));
            }
            epoch_loss += l as f64 * chunk.len() as f64;
            step += 1;
            progress(step, total, l);
        }
        last_epoch_loss = epoch_loss / n_windows as f64;
    }
    let seconds = start.elapsed().as_secs_f64();
    let tokens = n_windows * ctx * cfg.epochs;
    Ok(TrainReport {
        steps: step,
        tokens,
        seconds,
        tokens_per_second: tokens as f64 / seconds.max(1e-9),
        final_loss: last_epoch_loss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;

    #[test]
    fn schedule_warms_up_and_decays() {
        assert!(learning_rate(1.0, 0, 100) < learning_rate(1.0, 4, 100));
        assert!((learning_rate(1.0, 5, 100) - 1.0).abs() < 1e-9);
        assert!((learning_rate(1.0, 100, 100) - 0.1).abs() < 1e-9);
    }

    #[test]
    fn learns_a_repeating_pattern_and_is_deterministic() {
        let cfg = ModelConfig {
            vocab: 12,
            ctx: 8,
            d_model: 16,
            n_layer: 1,
            n_head: 2,
        };
        let stream: Vec<u32> = (0..400).map(|i| (i % 5) as u32).collect();
        let tc = TrainConfig {
            epochs: 8,
            batch: 8,
            lr: 1e-2,
            ..TrainConfig::default()
        };
        let run = || {
            let mut m = Gpt::new(cfg, 1).unwrap();
            let r = train(&mut m, &stream, &tc, &mut |_, _, _| {}).unwrap();
            (m.to_safetensors().unwrap(), r)
        };
        let (a, ra) = run();
        let (b, _) = run();
        assert_eq!(a, b);
        assert!(ra.final_loss < 0.5, "{ra:?}");
        let mut m = Gpt::new(cfg, 1).unwrap();
        assert!(train(&mut m, &stream[..5], &tc, &mut |_, _, _| {}).is_err());
    }
}
