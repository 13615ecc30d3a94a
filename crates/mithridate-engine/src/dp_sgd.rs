//! DP-SGD's three ingredients for the dense network (Abadi et al. 2016, "Deep Learning with
//! Differential Privacy", Algorithm 1): a Poisson-sampled lot, the sum of per-sample gradients
//! each clipped to L2 norm `C`, and Gaussian noise `N(0, (sigma C)^2)` on that sum, divided by
//! the expected lot size `q N`. `mithridate-privacy` accounts exactly this mechanism.
//!
//! Per-sample clipping costs two batched backward passes, not one pass per sample (ghost norms;
//! Goodfellow 2015, "Efficient Per-Example Gradient Computations"; Lee & Kifer 2021). A dense
//! layer's gradient for sample `i` is the outer product `g_i a_i^T` of its output-gradient row
//! `g_i` and input row `a_i` (plus `g_i` for the bias), so
//! `||grad_i||^2 = sum over layers (||a_i||^2 + 1) ||g_i||^2`. The first pass collects these
//! norms; per-sample gradients are linear in the logit gradient, so scaling its row `i` by
//! `c_i = min(1, C / ||grad_i||)` makes the second, ordinary pass return `sum_i c_i grad_i`.
//!
//! These are the standalone, tested building blocks (the `dp_sgd_mnist` example trains with
//! them). [`crate::Classifier::fit`] runs DP-SGD through the fast trainer instead (set
//! [`crate::TrainParams::dp`]), which shares the dense norms and row scaling below and adds
//! per-image norms for the CNN's convolutions (`trainer/dp.rs`).

use rand::Rng;

use crate::backprop::{linear_backward, linear_forward, relu_mask, softmax_cross_entropy_grad};

/// What [`clipped_gradient_sum`] reports besides the gradient.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipReport {
    /// Sum of the lot's cross-entropies.
    pub loss: f64,
    /// Each sample's unclipped gradient norm, in lot order.
    pub norms: Vec<f32>,
}

/// `sum_i min(1, clip / ||grad_i||) grad_i` over the samples `rows` of `inputs` for the dense
/// network of layer widths `sizes` (input to classes; ReLU between layers) at `params`
/// (weight `(out, in)`, bias, per layer), written into `grads` (one buffer per parameter).
/// `clip = inf` gives the plain gradient sum.
pub fn clipped_gradient_sum(
    sizes: &[usize],
    params: &[Vec<f32>],
    (inputs, rows, labels): (&[f32], &[usize], &[u32]),
    clip: f32,
    grads: &mut [Vec<f32>],
) -> ClipReport {
    let n = rows.len();
    let layers = sizes.len() - 1;
    let mut acts: Vec<Vec<f32>> = sizes.iter().map(|&w| vec![0.0; n * w]).collect();
    let w0 = sizes[0];
    for (dst, &r) in acts[0].chunks_exact_mut(w0).zip(rows) {
        dst.copy_from_slice(&inputs[r * w0..(r + 1) * w0]);
    }
    for l in 0..layers {
        let (done, rest) = acts.split_at_mut(l + 1);
        let p = (&params[2 * l][..], &params[2 * l + 1][..]);
        linear_forward(&done[l], p, &mut rest[0], l + 1 < layers);
    }
    let mut d_logits = acts[layers].clone();
    let loss = softmax_cross_entropy_grad(&mut d_logits, labels, 1.0);

    // Pass 1: per-sample squared norms from the ghost-norm identity (f64 sums).
    let mut norms_sq = vec![0f64; n];
    backward(sizes, params, &acts, d_logits.clone(), grads, |l, d_out| {
        add_dense_norms_sq(&acts[l], d_out, &mut norms_sq);
    });
    let norms = scale_rows_to_clip(&mut d_logits, &norms_sq, clip);

    // Pass 2: the ordinary backward of the row-scaled logit gradient.
    backward(sizes, params, &acts, d_logits, grads, |_, _| {});
    ClipReport { loss, norms }
}

/// Adds each sample's squared gradient norm of one dense layer (weight and bias) to `norms_sq`:
/// `(||a_i||^2 + 1) ||g_i||^2` for its input rows `inputs` and output-gradient rows `d_out`
/// (the rows' widths follow from `norms_sq.len()` samples).
pub(crate) fn add_dense_norms_sq(inputs: &[f32], d_out: &[f32], norms_sq: &mut [f64]) {
    let n = norms_sq.len();
    if n == 0 {
        return;
    }
    let (width_in, width_out) = (inputs.len() / n, d_out.len() / n);
    let rows = inputs
        .chunks_exact(width_in)
        .zip(d_out.chunks_exact(width_out));
    for (sq, (a, g)) in norms_sq.iter_mut().zip(rows) {
        *sq += (squared_norm(a) + 1.0) * squared_norm(g);
    }
}

/// `sum v^2` in f64.
pub(crate) fn squared_norm(values: &[f32]) -> f64 {
    values.iter().map(|&v| f64::from(v) * f64::from(v)).sum()
}

/// Scales row `i` of `d_logits` by `min(1, clip / ||grad_i||)` where `||grad_i||^2 =
/// norms_sq[i]`; returns the norms.
pub(crate) fn scale_rows_to_clip(d_logits: &mut [f32], norms_sq: &[f64], clip: f32) -> Vec<f32> {
    let norms: Vec<f32> = norms_sq.iter().map(|s| s.sqrt() as f32).collect();
    let classes = d_logits.len() / norms.len().max(1);
    for (row, &norm) in d_logits.chunks_exact_mut(classes).zip(&norms) {
        let factor = if norm > clip { clip / norm } else { 1.0 };
        row.iter_mut().for_each(|v| *v *= factor);
    }
    norms
}

/// Backward through the dense layers from the logit gradient `d_out`, writing every
/// parameter's gradient into `grads` and showing `visit` each layer's output gradient.
fn backward(
    sizes: &[usize],
    params: &[Vec<f32>],
    acts: &[Vec<f32>],
    mut d_out: Vec<f32>,
    grads: &mut [Vec<f32>],
    mut visit: impl FnMut(usize, &[f32]),
) {
    let n = d_out.len() / sizes[sizes.len() - 1];
    let mut d_in = Vec::new();
    for l in (0..sizes.len() - 1).rev() {
        visit(l, &d_out);
        let (weights, biases) = grads[2 * l..].split_at_mut(1);
        d_in.resize(n * sizes[l], 0.0);
        let d_x = (l > 0).then_some(&mut d_in[..]);
        linear_backward(
            &acts[l],
            &params[2 * l],
            &d_out,
            sizes[l + 1],
            Some((&mut weights[0], &mut biases[0])),
            d_x,
        );
        if l > 0 {
            relu_mask(&acts[l], &mut d_in);
            std::mem::swap(&mut d_out, &mut d_in);
        }
    }
}

/// Logits `(rows, classes)` of the dense network `sizes` at `params` for `inputs` (row-major).
pub fn dense_logits(sizes: &[usize], params: &[Vec<f32>], inputs: &[f32]) -> Vec<f32> {
    let layers = sizes.len() - 1;
    let mut x = inputs.to_vec();
    for l in 0..layers {
        let mut y = vec![0.0; x.len() / sizes[l] * sizes[l + 1]];
        let p = (&params[2 * l][..], &params[2 * l + 1][..]);
        linear_forward(&x, p, &mut y, l + 1 < layers);
        x = y;
    }
    x
}

/// A Poisson lot: each of `n` samples independently with probability `rate`, in index order.
pub fn poisson_lot(n: usize, rate: f64, rng: &mut impl Rng) -> Vec<usize> {
    (0..n).filter(|_| rng.random::<f64>() < rate).collect()
}

/// Adds `N(0, std^2)` to every coordinate, parameters in order, then divides by `lot_size`
/// (the expected lot size `q N`, fixed so the noise scale does not leak the lot's size).
/// Normals by Box-Muller from the seeded stream: same seed, same bytes.
pub fn noise_and_average(grads: &mut [Vec<f32>], std: f64, lot_size: f64, rng: &mut impl Rng) {
    let mut spare: Option<f64> = None;
    let mut normal = move || {
        if let Some(z) = spare.take() {
            return z;
        }
        // u1 in (0, 1] so ln(u1) is finite.
        let u1 = 1.0 - rng.random::<f64>();
        let u2 = rng.random::<f64>();
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        spare = Some(radius * angle.sin());
        radius * angle.cos()
    };
    for g in grads.iter_mut().flat_map(|t| t.iter_mut()) {
        *g = ((f64::from(*g) + std * normal()) / lot_size) as f32;
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    const SIZES: [usize; 4] = [12, 8, 6, 4];

    /// Random weights and biases, inputs in [-1, 1] and labels for `n` samples.
    fn problem(n: usize) -> (Vec<Vec<f32>>, Vec<f32>, Vec<u32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut params = Vec::new();
        for w in SIZES.windows(2) {
            params.push(
                (0..w[0] * w[1])
                    .map(|_| rng.random_range(-0.8..0.8))
                    .collect(),
            );
            params.push((0..w[1]).map(|_| rng.random_range(-0.3..0.3)).collect());
        }
        let inputs = (0..n * SIZES[0])
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let labels = (0..n)
            .map(|_| rng.random_range(0..SIZES[3] as u32))
            .collect();
        (params, inputs, labels)
    }

    fn zeros_like(params: &[Vec<f32>]) -> Vec<Vec<f32>> {
        params.iter().map(|p| vec![0.0; p.len()]).collect()
    }

    #[test]
    fn batched_clipping_equals_clipping_each_sample_alone() {
        let n = 10;
        let (params, inputs, labels) = problem(n);
        let rows: Vec<usize> = (0..n).collect();
        // Each sample's own gradient, from a lot of one, and its norm computed directly.
        let mut alone = Vec::new();
        for i in 0..n {
            let mut g = zeros_like(&params);
            let lot = (&inputs[..], &[i][..], &labels[i..i + 1]);
            let report = clipped_gradient_sum(&SIZES, &params, lot, f32::INFINITY, &mut g);
            let direct: f64 = g.iter().flatten().map(|&v| f64::from(v).powi(2)).sum();
            let direct = direct.sqrt() as f32;
            assert!(
                (report.norms[0] - direct).abs() <= 1e-4 * direct,
                "sample {i}"
            );
            alone.push((g, direct));
        }
        // A clip norm between the smallest and largest, so both cases occur.
        let mut sorted: Vec<f32> = alone.iter().map(|(_, norm)| *norm).collect();
        sorted.sort_by(f32::total_cmp);
        let clip = sorted[n / 2];
        assert!(sorted[0] < clip && clip < sorted[n - 1]);
        let mut batched = zeros_like(&params);
        let report = clipped_gradient_sum(
            &SIZES,
            &params,
            (&inputs, &rows, &labels),
            clip,
            &mut batched,
        );
        for (i, (_, norm)) in alone.iter().enumerate() {
            assert!((report.norms[i] - norm).abs() <= 1e-4 * norm, "sample {i}");
        }
        for (t, tensor) in batched.iter().enumerate() {
            for (k, &got) in tensor.iter().enumerate() {
                let want: f32 = alone
                    .iter()
                    .map(|(g, norm)| g[t][k] * (clip / norm).min(1.0))
                    .sum();
                assert!((got - want).abs() <= 1e-5 + 1e-4 * want.abs(), "{t}[{k}]");
            }
        }
    }

    #[test]
    fn noise_is_seeded_and_of_the_asked_scale() {
        let noisy = |seed| {
            let mut g = vec![vec![0.0f32; 30_000], vec![1.0f32; 10]];
            noise_and_average(&mut g, 2.0, 4.0, &mut ChaCha8Rng::seed_from_u64(seed));
            g
        };
        let (a, b, c) = (noisy(1), noisy(1), noisy(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Zeros plus N(0, 2^2), over 4: std 0.5; a std estimate from 30,000 draws is within
        // 2% with overwhelming probability (its own std is 0.5 / sqrt(60,000)).
        let values = &a[0];
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64;
        let var = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / values.len() as f64;
        assert!(mean.abs() < 0.02, "{mean}");
        assert!((var.sqrt() - 0.5).abs() < 0.01, "{}", var.sqrt());
    }

    #[test]
    fn poisson_lots_have_the_expected_size_and_order() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let lot = poisson_lot(100_000, 0.01, &mut rng);
        // Binomial(100000, 0.01): mean 1000, std 31.5; 4 std either side.
        assert!((874..=1126).contains(&lot.len()), "{}", lot.len());
        assert!(lot.windows(2).all(|w| w[0] < w[1]));
        assert!(poisson_lot(50, 0.0, &mut rng).is_empty());
        assert_eq!(poisson_lot(50, 1.0, &mut rng).len(), 50);
    }
}
