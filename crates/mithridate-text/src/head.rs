//! The trained head on frozen embeddings: a softmax regression (`hidden = 0`) or a one-hidden-
//! layer ReLU MLP, trained with Adam (Kingma & Ba, 2015) on the cross-entropy.
//!
//! Inputs are standardised with the training set's per-dimension mean and standard deviation.
//! For input `x`: `a = relu(W1 x + b1)` (or `a = x` without hidden layer), `p = softmax(W2 a +
//! b2)`; the loss is `-(1/B) sum log p_y + (wd/2) |W|^2` over minibatches of `B` samples in a
//! seeded order, weights drawn `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` from the seed. Everything is
//! sequential f32 arithmetic: same seed and data, same bytes.
//!
//! ```
//! use mithridate_text::head::{Head, HeadConfig};
//! // Two classes separated along the first of two dimensions.
//! let x = [0.0f32, 1.0, 0.1, 0.9, 1.0, 0.0, 0.9, 0.2];
//! let y = [0u32, 0, 1, 1];
//! let head = Head::train(&x, 2, &y, 2, &HeadConfig { hidden: 0, epochs: 200, ..HeadConfig::default() }, 7);
//! assert_eq!(head.predict(&x), vec![0, 0, 1, 1]);
//! ```

#![allow(clippy::needless_range_loop)] // index loops over parallel weight rows read best

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct HeadConfig {
    /// Hidden units (0: softmax regression).
    pub hidden: usize,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub weight_decay: f32,
}

impl Default for HeadConfig {
    fn default() -> Self {
        HeadConfig {
            hidden: 128,
            epochs: 40,
            batch: 32,
            lr: 1e-3,
            weight_decay: 1e-4,
        }
    }
}

/// A trained head.
#[derive(Debug, Clone)]
pub struct Head {
    // Crate-visible so that fine-tuning (crate::finetune) can start from a trained head and
    // hand its jointly trained weights back in the same layout.
    pub(crate) dim: usize,
    pub(crate) hidden: usize,
    pub(crate) classes: usize,
    pub(crate) mean: Vec<f32>,
    pub(crate) scale: Vec<f32>,
    /// `[hidden, dim]` row-major (unit `k`'s weights in row `k`).
    pub(crate) w1: Vec<f32>,
    pub(crate) b1: Vec<f32>,
    /// `[classes, width]` row-major, `width` = hidden or dim.
    pub(crate) w2: Vec<f32>,
    pub(crate) b2: Vec<f32>,
}

struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    fn new(n: usize) -> Adam {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    fn step(&mut self, w: &mut [f32], g: &[f32], lr: f32, t: i32, decay: f32) {
        let (b1, b2) = (0.9f32, 0.999f32);
        let c1 = 1.0 - b1.powi(t);
        let c2 = 1.0 - b2.powi(t);
        for i in 0..w.len() {
            let gi = g[i] + decay * w[i];
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * gi;
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * gi * gi;
            w[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + 1e-8);
        }
    }
}

fn softmax(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in z.iter_mut() {
        *v /= sum;
    }
}

impl Head {
    /// The same standardisation with fresh weights drawn from `seed` (zero biases), as
    /// [`Head::train`] draws them before its first step.
    pub fn reinitialised(&self, seed: u64) -> Head {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (w1, w2) = draw_weights(&mut rng, self.dim, self.hidden, self.classes);
        Head {
            w1,
            b1: vec![0.0; self.hidden],
            w2,
            b2: vec![0.0; self.classes],
            ..self.clone()
        }
    }

    /// Trains on row-major `x` (`[n, dim]`) with labels `y` in `0..classes`.
    pub fn train(
        x: &[f32],
        dim: usize,
        y: &[u32],
        classes: usize,
        cfg: &HeadConfig,
        seed: u64,
    ) -> Head {
        let n = y.len();
        let mut mean = vec![0f32; dim];
        let mut scale = vec![0f32; dim];
        for row in x.chunks_exact(dim) {
            for j in 0..dim {
                mean[j] += row[j] / n as f32;
            }
        }
        for row in x.chunks_exact(dim) {
            for j in 0..dim {
                scale[j] += (row[j] - mean[j]).powi(2) / n as f32;
            }
        }
        for s in &mut scale {
            *s = 1.0 / (s.sqrt() + 1e-6);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let h = cfg.hidden;
        let width = if h == 0 { dim } else { h };
        let (w1, w2) = draw_weights(&mut rng, dim, h, classes);
        let mut head = Head {
            dim,
            hidden: h,
            classes,
            mean,
            scale,
            w1,
            b1: vec![0.0; h],
            w2,
            b2: vec![0.0; classes],
        };
        let xs: Vec<f32> = x
            .chunks_exact(dim)
            .flat_map(|r| head.standardise(r))
            .collect();
        let (mut a1, mut a2, mut ab1, mut ab2) = (
            Adam::new(head.w1.len()),
            Adam::new(head.w2.len()),
            Adam::new(h),
            Adam::new(classes),
        );
        let mut order: Vec<usize> = (0..n).collect();
        let mut t = 0;
        let (mut z, mut a, mut p, mut da) = (
            vec![0f32; h],
            vec![0f32; width],
            vec![0f32; classes],
            vec![0f32; width],
        );
        for _ in 0..cfg.epochs {
            order.shuffle(&mut rng);
            for batch in order.chunks(cfg.batch.max(1)) {
                let mut gw1 = vec![0f32; head.w1.len()];
                let mut gb1 = vec![0f32; h];
                let mut gw2 = vec![0f32; head.w2.len()];
                let mut gb2 = vec![0f32; classes];
                let inv = 1.0 / batch.len() as f32;
                for &i in batch {
                    let xi = &xs[i * dim..(i + 1) * dim];
                    head.forward(xi, &mut z, &mut a, &mut p);
                    p[y[i] as usize] -= 1.0;
                    da.fill(0.0);
                    for c in 0..classes {
                        let d = p[c] * inv;
                        gb2[c] += d;
                        let w = &head.w2[c * width..(c + 1) * width];
                        let g = &mut gw2[c * width..(c + 1) * width];
                        for k in 0..width {
                            g[k] += d * a[k];
                            da[k] += d * w[k];
                        }
                    }
                    for k in 0..h {
                        if z[k] > 0.0 {
                            gb1[k] += da[k];
                            let g = &mut gw1[k * dim..(k + 1) * dim];
                            for j in 0..dim {
                                g[j] += da[k] * xi[j];
                            }
                        }
                    }
                }
                t += 1;
                a1.step(&mut head.w1, &gw1, cfg.lr, t, cfg.weight_decay);
                ab1.step(&mut head.b1, &gb1, cfg.lr, t, 0.0);
                a2.step(&mut head.w2, &gw2, cfg.lr, t, cfg.weight_decay);
                ab2.step(&mut head.b2, &gb2, cfg.lr, t, 0.0);
            }
        }
        head
    }

    fn standardise(&self, row: &[f32]) -> Vec<f32> {
        row.iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .map(|((v, m), s)| (v - m) * s)
            .collect()
    }

    fn forward(&self, x: &[f32], z: &mut [f32], a: &mut [f32], p: &mut [f32]) {
        let width = a.len();
        if self.hidden == 0 {
            a.copy_from_slice(x);
        } else {
            for k in 0..self.hidden {
                let w = &self.w1[k * self.dim..(k + 1) * self.dim];
                z[k] = self.b1[k] + w.iter().zip(x).map(|(w, x)| w * x).sum::<f32>();
                a[k] = z[k].max(0.0);
            }
        }
        for c in 0..self.classes {
            let w = &self.w2[c * width..(c + 1) * width];
            p[c] = self.b2[c] + w.iter().zip(a.iter()).map(|(w, x)| w * x).sum::<f32>();
        }
        softmax(p);
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Class probabilities of row-major `x`, `[n, classes]`.
    pub fn probabilities(&self, x: &[f32]) -> Vec<f32> {
        let width = if self.hidden == 0 {
            self.dim
        } else {
            self.hidden
        };
        let (mut z, mut a, mut p) = (
            vec![0f32; self.hidden],
            vec![0f32; width],
            vec![0f32; self.classes],
        );
        let mut out = Vec::with_capacity(x.len() / self.dim * self.classes);
        for row in x.chunks_exact(self.dim) {
            self.forward(&self.standardise(row), &mut z, &mut a, &mut p);
            out.extend_from_slice(&p);
        }
        out
    }

    /// Most probable class of each row (ties: the lower class).
    pub fn predict(&self, x: &[f32]) -> Vec<u32> {
        self.probabilities(x)
            .chunks_exact(self.classes)
            .map(|p| {
                let mut best = 0;
                for c in 1..p.len() {
                    if p[c] > p[best] {
                        best = c;
                    }
                }
                best as u32
            })
            .collect()
    }
}

/// `W1` (`[hidden, dim]`) and `W2` (`[classes, width]`), each `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
fn draw_weights(
    rng: &mut ChaCha8Rng,
    dim: usize,
    hidden: usize,
    classes: usize,
) -> (Vec<f32>, Vec<f32>) {
    let width = if hidden == 0 { dim } else { hidden };
    let mut draw = |len: usize, fan_in: usize| -> Vec<f32> {
        let b = 1.0 / (fan_in as f32).sqrt();
        (0..len).map(|_| rng.random_range(-b..b)).collect()
    };
    let w1 = draw(hidden * dim, dim);
    (w1, draw(classes * width, width))
}
