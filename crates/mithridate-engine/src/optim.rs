//! Parameter update rules over flat `f32` slices (formulas on [`crate::Optimizer`]).
//!
//! The updates follow PyTorch's `torch.optim.SGD` / `torch.optim.Adam` exactly (L2 weight decay
//! added to the gradient; Adam's bias correction folded into the step size), so hyperparameters
//! carry over between the two.

use rayon::prelude::*;

use crate::simd::widest_fn;
use crate::Optimizer;

const ADAM_BETA1: f32 = 0.9;
const ADAM_BETA2: f32 = 0.999;
const ADAM_EPS: f32 = 1e-8;

/// Optimizer state for a fixed list of parameter tensors.
#[derive(Debug)]
pub(crate) struct OptimizerState {
    rule: Optimizer,
    weight_decay: f32,
    /// Number of completed steps (Adam's `t`).
    steps: i32,
    /// Per parameter: SGD velocity, or Adam first and second moments.
    first: Vec<Vec<f32>>,
    second: Vec<Vec<f32>>,
}

impl OptimizerState {
    pub fn new(rule: Optimizer, weight_decay: f64, sizes: &[usize]) -> OptimizerState {
        let zeros = || sizes.iter().map(|&n| vec![0f32; n]).collect::<Vec<_>>();
        OptimizerState {
            rule,
            weight_decay: weight_decay as f32,
            steps: 0,
            first: zeros(),
            second: match rule {
                Optimizer::Adam { .. } => zeros(),
                Optimizer::Sgd { .. } => Vec::new(),
            },
        }
    }

    /// Starts a step: call once per mini-batch, before [`OptimizerState::update`] on each tensor.
    pub fn begin_step(&mut self) {
        self.steps = self.steps.saturating_add(1);
    }

    /// Updates parameter tensor `index` in place from its gradient.
    pub fn update(&mut self, index: usize, weights: &mut [f32], grad: &[f32]) {
        let current = weights.to_vec();
        self.update_into(index, &current, grad, weights);
    }

    /// Writes the update of parameter tensor `index` from `weights` and its gradient into
    /// `updated` (so a caller can discard a step whose result is not finite) and returns whether
    /// every updated value is finite. Slices of large tensors are updated in parallel, in loops
    /// compiled for the CPU's widest registers; the rule is element-wise, so the result does not
    /// depend on the thread count.
    pub fn update_into(
        &mut self,
        index: usize,
        weights: &[f32],
        grad: &[f32],
        updated: &mut [f32],
    ) -> bool {
        /// Elements per parallel slice (smaller tensors are updated in one go).
        const SLICE: usize = 1 << 14;
        let rule = self.rule;
        let t = self.steps.max(1);
        let (first, second) = (
            &mut self.first[index],
            self.second
                .get_mut(index)
                .map_or(&mut [][..], |v| &mut v[..]),
        );
        let second_chunks = second.par_chunks_mut(SLICE);
        let slice = |c: usize, len: usize| c * SLICE..c * SLICE + len;
        let rates = Rates {
            weight_decay: self.weight_decay,
            rule,
            bias1: 1.0 - ADAM_BETA1.powi(t),
            bias2_sqrt: (1.0 - ADAM_BETA2.powi(t)).sqrt(),
        };
        let step = |(c, (out, m)): (usize, (&mut [f32], &mut [f32])), v: &mut [f32]| {
            let range = slice(c, out.len());
            update_widest(&rates, (&weights[range.clone()], &grad[range]), (m, v), out)
        };
        let chunks = updated
            .par_chunks_mut(SLICE)
            .zip(first.par_chunks_mut(SLICE))
            .enumerate();
        match rule {
            Optimizer::Adam { .. } => chunks
                .zip(second_chunks)
                .map(|(chunk, v)| step(chunk, v))
                .reduce(|| true, |a, b| a && b),
            Optimizer::Sgd { .. } => chunks
                .map(|chunk| step(chunk, &mut []))
                .reduce(|| true, |a, b| a && b),
        }
    }
}

/// What one step's element-wise update needs.
struct Rates {
    weight_decay: f32,
    rule: Optimizer,
    /// Adam's bias corrections at this step: `1 - beta1^t` and `sqrt(1 - beta2^t)`.
    bias1: f32,
    bias2_sqrt: f32,
}

/// The update rule on one slice: `out` gets the new weights, `first` / `second` (SGD velocity,
/// or Adam moments) are updated in place. Returns whether every new weight is finite.
#[inline(always)]
fn update_slice(
    r: &Rates,
    (weights, grad): (&[f32], &[f32]),
    (first, second): (&mut [f32], &mut [f32]),
    out: &mut [f32],
) -> bool {
    let wd = r.weight_decay;
    match r.rule {
        Optimizer::Sgd { lr, momentum } => {
            let (lr, mu) = (lr as f32, momentum as f32);
            for (((out, &w), &g), velocity) in out.iter_mut().zip(weights).zip(grad).zip(first) {
                let g = g + wd * w;
                // PyTorch's first step sets v = g (its buffer starts as a copy of the
                // gradient), which equals mu * 0 + g.
                *velocity = mu * *velocity + g;
                *out = w - lr * *velocity;
            }
        }
        Optimizer::Adam { lr } => {
            let step = lr as f32 / r.bias1;
            for ((((out, &w), &g), m), v) in
                out.iter_mut().zip(weights).zip(grad).zip(first).zip(second)
            {
                let g = g + wd * w;
                *m = ADAM_BETA1 * *m + (1.0 - ADAM_BETA1) * g;
                *v = ADAM_BETA2 * *v + (1.0 - ADAM_BETA2) * g * g;
                *out = w - step * *m / (v.sqrt() / r.bias2_sqrt + ADAM_EPS);
            }
        }
    }
    out.iter().all(|w| w.is_finite())
}

widest_fn!(
    /// [`update_slice`] compiled for the CPU's widest registers.
    fn update_widest(
        r: &Rates,
        params: (&[f32], &[f32]),
        state: (&mut [f32], &mut [f32]),
        out: &mut [f32],
    ) -> bool = update_slice;
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_momentum_by_hand() {
        // w = 1, constant gradient 0.5, lr 0.1, mu 0.9, wd 0.
        let mut opt = OptimizerState::new(
            Optimizer::Sgd {
                lr: 0.1,
                momentum: 0.9,
            },
            0.0,
            &[1],
        );
        let mut w = [1.0f32];
        opt.begin_step();
        opt.update(0, &mut w, &[0.5]);
        assert!((w[0] - 0.95).abs() < 1e-7); // v = 0.5
        opt.begin_step();
        opt.update(0, &mut w, &[0.5]);
        assert!((w[0] - (0.95 - 0.1 * 0.95)).abs() < 1e-7); // v = 0.9*0.5 + 0.5
    }

    #[test]
    fn weight_decay_is_added_to_the_gradient() {
        let mut opt = OptimizerState::new(
            Optimizer::Sgd {
                lr: 0.1,
                momentum: 0.0,
            },
            0.5,
            &[1],
        );
        let mut w = [2.0f32];
        opt.begin_step();
        opt.update(0, &mut w, &[0.0]);
        assert!((w[0] - (2.0 - 0.1 * 0.5 * 2.0)).abs() < 1e-7);
    }

    #[test]
    fn adam_first_steps_move_by_lr() {
        // With bias correction, Adam's first step is lr * g / (|g| + eps) ~ lr * sign(g);
        // a constant gradient keeps that magnitude.
        let mut opt = OptimizerState::new(Optimizer::Adam { lr: 0.01 }, 0.0, &[2]);
        let mut w = [0.0f32, 0.0];
        for step in 1..=3 {
            opt.begin_step();
            opt.update(0, &mut w, &[3.0, -0.2]);
            let expect = 0.01 * step as f32;
            assert!((w[0] + expect).abs() < 1e-6, "{w:?}");
            assert!((w[1] - expect).abs() < 1e-6, "{w:?}");
        }
    }

    #[test]
    fn adam_second_step_by_hand() {
        // g1 = 1, g2 = 0: m2 = 0.09, v2 = 0.000999; bias1 = 0.19, bias2 = 1 - 0.999^2.
        let mut opt = OptimizerState::new(Optimizer::Adam { lr: 0.1 }, 0.0, &[1]);
        let mut w = [0.0f32];
        opt.begin_step();
        opt.update(0, &mut w, &[1.0]);
        opt.begin_step();
        opt.update(0, &mut w, &[0.0]);
        let m_hat = 0.09f64 / 0.19;
        let v_hat = 0.000999f64 / (1.0 - 0.999f64 * 0.999);
        let expect = -0.1 - 0.1 * m_hat / (v_hat.sqrt() + 1e-8);
        assert!((w[0] as f64 - expect).abs() < 1e-5, "{} vs {expect}", w[0]);
    }
}
