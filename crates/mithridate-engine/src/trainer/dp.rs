//! DP-SGD steps on the fast path (Abadi et al. 2016, "Deep Learning with Differential Privacy",
//! Algorithm 1) for the dense networks and the CNN: the lot's per-sample gradients each clipped
//! to L2 norm `C`, summed, plus `N(0, (sigma C)^2)` per coordinate, over the expected lot size.
//!
//! Per-sample norms without a backward pass per sample. The clipped sum is
//! `sum_i c_i grad_i` with `c_i = min(1, C / ||grad_i||)`; every per-sample gradient is linear
//! in its row of the logit gradient, so scaling row `i` by `c_i` and running one ordinary
//! backward gives the clipped sum. The norms come from a first backward of the unscaled rows:
//!
//! * **Dense layers** (the head, the MLP, logistic regression): sample `i`'s weight gradient
//!   is the outer product `g_i a_i^T`, so `||.||^2 = (||a_i||^2 + 1) ||g_i||^2` with the bias
//!   (the ghost norm; Goodfellow 2015, Lee & Kifer 2021), from the batched backward's rows.
//! * **Convolutions**: image `i`'s kernel gradient is `A_i^T G_i` (`A_i`: its `T x d` unfolded
//!   input patches, `G_i`: the `T x p` output gradients at `T` positions; `d = c_in k^2`,
//!   `p = c_out`). The ghost identity `||A_i^T G_i||^2 = <A_i A_i^T, G_i G_i^T>` costs
//!   `T^2 (d + p)` and forming `A_i^T G_i` costs `T d p`, so the ghost is cheaper only when
//!   `T < d p / (d + p)`. For the MNIST CNN, conv1 has `T = 784` positions against
//!   `d p / (d + p) = 25 * 16 / 41 ~ 10`, conv2 `T = 196` against `400 * 32 / 432 ~ 30`: the
//!   gradients are formed directly. The trainer already forms them image by image (the
//!   convolutions' backward runs per image and accumulates), so the first pass reads each
//!   image's gradient (`~13k` values), adds its squared norm and zeroes it before the next.
//!
//! Cost: two backward passes per lot instead of one (a per-sample loop would be `lot` passes).
//! Assumptions: add/remove-one neighbours, Poisson lots (each sample independently with rate
//! `q`, what `mithridate-privacy` accounts), the sum divided by the fixed expected lot `q N`.
//! The noise comes from the seeded ChaCha8 stream of the fit: reproducible, so the guarantee
//! holds only while the seed is secret (and, like most DP-SGD code, it ignores floating-point
//! attacks on Gaussian sampling, Mironov 2012).

use rand::Rng;

use super::{Body, FastTrainer, Hooks, Objective, TaskWork};
use crate::dp_sgd::{add_dense_norms_sq, noise_and_average, scale_rows_to_clip, squared_norm};
use crate::optim::OptimizerState;

/// The noise and normalisation of one DP-SGD step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DpStep {
    /// Per-sample L2 clip norm `C`.
    pub clip: f32,
    /// Noise standard deviation `sigma C`.
    pub noise_std: f64,
    /// Divisor of the noisy sum: the expected lot size `q N`.
    pub expected_lot: f64,
}

/// What one DP-SGD step reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DpStepReport {
    /// Sum of the lot's cross-entropies (NaN on divergence).
    pub loss_sum: f64,
    /// Samples whose gradient norm exceeded the clip norm.
    pub clipped: usize,
}

impl FastTrainer<'_> {
    /// `sum_i min(1, C / ||grad_i||) grad_i` over the lot `rows` into the trainer's gradient
    /// (zero for an empty lot); returns the loss sum and the number of clipped samples.
    pub fn clipped_gradient_sum(
        &mut self,
        params: &[Vec<f32>],
        lot: (&[f32], &[usize], &[u32]),
        clip: f32,
    ) -> DpStepReport {
        let loss_sum = self.accumulate(params, lot, Objective::ClippedCrossEntropy(clip));
        let used = lot.1.len().div_ceil(self.task_samples);
        let clipped = self.tasks[..used.min(self.tasks.len())]
            .iter()
            .flat_map(|t| &t.norms)
            .filter(|&&norm| norm > clip)
            .count();
        DpStepReport { loss_sum, clipped }
    }

    /// One DP-SGD step on `weights` from the lot `rows`: the clipped sum, Gaussian noise, the
    /// division by the expected lot size, then the optimizer's update (noise and update are
    /// post-processing). The loss is NaN, leaving `weights` as they were, on divergence.
    pub fn dp_step(
        &mut self,
        weights: &mut [Vec<f32>],
        optimizer: &mut OptimizerState,
        lot: (&[f32], &[usize], &[u32]),
        step: DpStep,
        rng: &mut impl Rng,
    ) -> DpStepReport {
        let mut report = self.clipped_gradient_sum(weights, lot, step.clip);
        let grad = std::slice::from_mut(&mut self.grad);
        noise_and_average(grad, step.noise_std, step.expected_lot, rng);
        if !report.loss_sum.is_finite() || !self.apply(weights, optimizer) {
            report.loss_sum = f64::NAN;
        }
        report
    }
}

impl TaskWork {
    /// Scales each row of the logit gradient in `self.d_out` by `min(1, clip / ||grad_i||)`
    /// (`grad_i`: sample `i`'s gradient of every parameter) and records the norms in
    /// `self.norms`, by one backward pass that sums nothing (see the module doc).
    pub(super) fn clip_logit_rows(
        &mut self,
        body: &Body<'_>,
        params: &[Vec<f32>],
        conv2_hwc: &[f32],
        offsets: &[usize],
        batch: (&[f32], &[usize]),
        clip: f32,
    ) {
        let n = batch.1.len();
        let d_logits = self.d_out.clone();
        let mut dense_sq = vec![0f64; n];
        let mut conv_sq = vec![0f64; n];
        let hooks = Hooks {
            dense: Some(&mut |_, inputs, d_out| add_dense_norms_sq(inputs, d_out, &mut dense_sq)),
            image: Some(&mut |s, conv_grad: &mut [f32]| {
                conv_sq[s] = squared_norm(conv_grad);
                conv_grad.fill(0.0);
            }),
        };
        let kernels = (conv2_hwc, &[][..]);
        self.backward(body, params, kernels, offsets, batch, None, hooks);
        let norms_sq: Vec<f64> = dense_sq.iter().zip(&conv_sq).map(|(a, b)| a + b).collect();
        self.d_out = d_logits;
        self.norms = scale_rows_to_clip(&mut self.d_out, &norms_sq, clip);
    }
}
