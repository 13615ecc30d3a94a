//! Hand-written backpropagation (Rumelhart, Hinton & Williams, 1986) through the engine's layers,
//! for the training fast path ([`crate::trainer`]): each layer's forward keeps what its backward
//! needs, and the backward accumulates parameter gradients into caller-owned buffers.
//!
//! Why by hand rather than candle autodiff: autodiff of the im2col formulation in
//! [`crate::conv`] materialises the whole batch's patch matrix (~300 KB per image), its
//! scatter-add backward and a fresh tensor for every intermediate on every step; here one image
//! at a time goes through buffers that stay in cache and are reused across steps, and every
//! product is one faer GEMM. The formulas, per image:
//!
//! - convolution as im2col (Chellapilla, Puri & Simard, 2006): `Z (P, O) = X (P, T) W^T`
//!   with `X` the patch matrix over the `P` pixels the pooling windows cover and `T = C k k`
//!   taps; backward `dW += dZ^T X`, `dX = dZ W`, and the input gradient is col2im of `dX`
//!   (each patch entry added back to the pixel it was copied from);
//! - 2x2 max-pooling keeps, per output, which window member was the maximum (the first one
//!   on ties, row-major in the window, as PyTorch's `MaxPool2d`), so its backward routes the
//!   gradient to that member only; the bias is added after the max, ReLU after the bias:
//!   `out = relu(max_window(Z) + b)`, `dpre = dout [out > 0]`, `db = sum_pixels dpre`;
//! - a linear layer `Y = X W^T + b`: `dW += dY^T X`, `db += sum_rows dY`, `dX = dY W`;
//! - softmax cross-entropy: `dlogits = (softmax(logits) - onehot(y)) / batch`.
//!
//! Tolerance: the results equal candle autodiff up to float rounding (different summation
//! orders; ~1e-5 relative measured) except where the pooling window has tied maxima, where
//! candle's `max` backward sends the gradient to every tied member and this one to the first.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

use crate::conv::ConvPool;
use crate::infer::{im2col, patch_matrix, ConvScratch, Patches};

/// Buffers one convolution layer reuses across the images of a task.
#[derive(Default)]
pub(crate) struct ConvWork {
    /// Forward buffers (padded input, patch matrix, convolution output; the latter doubles as
    /// the convolution's output gradient in the backward).
    pub fwd: ConvScratch,
    /// The sparse backward's buffers.
    pub sparse: crate::sparse_conv::SparseWork,
}

/// `out (out_h out_w, O) = relu(bias + maxpool2(conv(input)))` for one image, channel-last,
/// recording in `argmax` which window member (0..4, row-major) gave each output's maximum.
/// `weight` is `(O, T)` with taps in `layout`'s order.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_pool_relu_forward(
    layer: &ConvPool,
    weight: &[f32],
    bias: &[f32],
    input: &[f32],
    layout: Patches,
    work: &mut ConvWork,
    out: &mut [f32],
    argmax: &mut [u8],
) {
    let (pixels, o) = (4 * layer.out_h * layer.out_w, layer.out_channels);
    im2col(layer, input, layout, &mut work.fwd);
    work.fwd.conv.resize(pixels * o, 0.0);
    let kernel = MatRef::from_row_major_slice(weight, o, layer.fan_in()).transpose();
    matmul(
        MatMut::from_row_major_slice_mut(&mut work.fwd.conv, pixels, o),
        Accum::Replace,
        patch_matrix(&work.fwd.patches, layer, layout),
        kernel,
        1.0f32,
        Par::Seq,
    );
    let conv = &work.fwd.conv;
    for (p, (pooled, arg)) in out
        .chunks_exact_mut(o)
        .zip(argmax.chunks_exact_mut(o))
        .enumerate()
    {
        let members = window_offsets(layer, p);
        for t in 0..o {
            let (mut best, mut which) = (conv[members[0] + t], 0u8);
            for (m, &q) in members.iter().enumerate().skip(1) {
                if conv[q + t] > best {
                    (best, which) = (conv[q + t], m as u8);
                }
            }
            pooled[t] = (best + bias[t]).max(0.0);
            arg[t] = which;
        }
    }
}

/// Offsets into the `(P, O)` convolution output of the four members of pooled pixel `p`'s
/// window, row-major.
pub(crate) fn window_offsets(layer: &ConvPool, p: usize) -> [usize; 4] {
    let (cw, o) = (2 * layer.out_w, layer.out_channels);
    let (y, x) = (p / layer.out_w, p % layer.out_w);
    let at = |dy: usize, dx: usize| ((2 * y + dy) * cw + 2 * x + dx) * o;
    [at(0, 0), at(0, 1), at(1, 0), at(1, 1)]
}

/// Backward of [`conv_pool_relu_forward`] for the same image, kernel gradient only (the first
/// layer, whose input needs no gradient): adds to `d_weight` (`(O, T)`, taps in `layout`'s
/// order) and `d_bias`, with one GEMM `dW += dZ^T X` over the re-built patch matrix.
pub(crate) fn conv_pool_relu_backward_gemm(
    layer: &ConvPool,
    input: &[f32],
    layout: Patches,
    (out, argmax, d_out): (&[f32], &[u8], &[f32]),
    work: &mut ConvWork,
    (d_weight, d_bias): (&mut [f32], &mut [f32]),
) {
    let (pixels, o) = (4 * layer.out_h * layer.out_w, layer.out_channels);
    // dZ: zero except at each window's maximum.
    let d_conv = &mut work.fwd.conv;
    d_conv.clear();
    d_conv.resize(pixels * o, 0.0);
    for (p, ((out, arg), d_out)) in out
        .chunks_exact(o)
        .zip(argmax.chunks_exact(o))
        .zip(d_out.chunks_exact(o))
        .enumerate()
    {
        let members = window_offsets(layer, p);
        for t in 0..o {
            if out[t] > 0.0 {
                d_conv[members[arg[t] as usize] + t] = d_out[t];
                d_bias[t] += d_out[t];
            }
        }
    }
    // The patch matrix is rebuilt rather than kept from the forward: a copy is cheaper than
    // holding a task's worth of patch matrices out of cache.
    im2col(layer, input, layout, &mut work.fwd);
    matmul(
        MatMut::from_row_major_slice_mut(d_weight, o, layer.fan_in()),
        Accum::Add,
        MatRef::from_row_major_slice(&work.fwd.conv, pixels, o).transpose(),
        patch_matrix(&work.fwd.patches, layer, layout),
        1.0f32,
        Par::Seq,
    );
}

/// A PyTorch `(out, in, k, k)` kernel with its taps reordered to `(i, j, in)`, the column
/// order of channel-last patches (`to_hwc = true`), or back (`to_hwc = false`).
pub(crate) fn reorder_kernel(layer: &ConvPool, from: &[f32], to: &mut [f32], to_hwc: bool) {
    let (c, kk) = (layer.in_channels, layer.kernel * layer.kernel);
    for o in 0..layer.out_channels {
        for ij in 0..kk {
            for ch in 0..c {
                let (chw, hwc) = (o * c * kk + ch * kk + ij, o * c * kk + ij * c + ch);
                if to_hwc {
                    to[hwc] = from[chw];
                } else {
                    to[chw] = from[hwc];
                }
            }
        }
    }
}

/// `out (rows, o) = x (rows, i) W^T + b` for a PyTorch-layout `(o, i)` weight, then ReLU when
/// `relu` is set.
pub(crate) fn linear_forward(
    x: &[f32],
    (weight, bias): (&[f32], &[f32]),
    out: &mut [f32],
    relu: bool,
) {
    let (o, i) = (bias.len(), weight.len() / bias.len());
    let rows = x.len() / i;
    matmul(
        MatMut::from_row_major_slice_mut(out, rows, o),
        Accum::Replace,
        MatRef::from_row_major_slice(x, rows, i),
        MatRef::from_row_major_slice(weight, o, i).transpose(),
        1.0f32,
        Par::Seq,
    );
    for row in out.chunks_exact_mut(o) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
            if relu {
                *v = v.max(0.0);
            }
        }
    }
}

/// Backward of [`linear_forward`] given the output gradient `d_out (rows, outputs)` (already
/// masked by the ReLU, if any): overwrites `param_grads` = `(d_weight (o, i), d_bias)` with
/// this batch's gradients when given (no zeroing pass over the weight gradient needed; input
/// gradients alone skip that GEMM), and `d_x` when given.
pub(crate) fn linear_backward(
    x: &[f32],
    weight: &[f32],
    d_out: &[f32],
    outputs: usize,
    param_grads: Option<(&mut [f32], &mut [f32])>,
    d_x: Option<&mut [f32]>,
) {
    let o = outputs;
    let i = weight.len() / o;
    let rows = d_out.len() / o;
    let d_out_m = MatRef::from_row_major_slice(d_out, rows, o);
    if let Some((d_weight, d_bias)) = param_grads {
        matmul(
            MatMut::from_row_major_slice_mut(d_weight, o, i),
            Accum::Replace,
            d_out_m.transpose(),
            MatRef::from_row_major_slice(x, rows, i),
            1.0f32,
            Par::Seq,
        );
        d_bias.fill(0.0);
        for row in d_out.chunks_exact(o) {
            for (b, d) in d_bias.iter_mut().zip(row) {
                *b += d;
            }
        }
    }
    if let Some(d_x) = d_x {
        matmul(
            MatMut::from_row_major_slice_mut(d_x, rows, i),
            Accum::Replace,
            d_out_m,
            MatRef::from_row_major_slice(weight, o, i),
            1.0f32,
            Par::Seq,
        );
    }
}

/// Zeroes `d` wherever the ReLU output `out` is not positive (the ReLU's backward).
pub(crate) fn relu_mask(out: &[f32], d: &mut [f32]) {
    for (d, &v) in d.iter_mut().zip(out) {
        if v <= 0.0 {
            *d = 0.0;
        }
    }
}

/// Overwrites `logits (rows, k)` with `(softmax - onehot(labels)) * scale`, the gradient of
/// `scale * sum_rows cross_entropy`, and returns that sum of cross-entropies (in f64).
pub(crate) fn softmax_cross_entropy_grad(logits: &mut [f32], labels: &[u32], scale: f32) -> f64 {
    let k = logits.len() / labels.len();
    let mut total = 0f64;
    for (row, &y) in logits.chunks_exact_mut(k).zip(labels) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let shifted_target = row[y as usize] - max;
        let mut sum = 0f32;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        // -log softmax[y] = log(sum_c exp(logit_c - max)) - (logit_y - max).
        total += f64::from(sum.ln() - shifted_target);
        for v in row.iter_mut() {
            *v *= scale / sum;
        }
        row[y as usize] -= scale;
    }
    total
}

/// Overwrites `logits (rows, k)` with the gradient of `sum_rows margin`, where a row's margin
/// is `logit_c - max_{j != c} logit_j` for its class `c` (`+1` at `c`, `-1` at the runner-up,
/// the first on ties), and returns that sum of margins.
pub(crate) fn margin_grad(logits: &mut [f32], classes: &[u32]) -> f64 {
    let k = logits.len() / classes.len();
    let mut total = 0f64;
    for (row, &c) in logits.chunks_exact_mut(k).zip(classes) {
        let c = c as usize;
        let mut other = if c == 0 { 1 } else { 0 };
        for j in 0..k {
            if j != c && row[j] > row[other] {
                other = j;
            }
        }
        total += f64::from(row[c] - row[other]);
        row.fill(0.0);
        row[c] = 1.0;
        row[other] = -1.0;
    }
    total
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::sparse_conv::conv_pool_relu_backward_sparse;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    #[test]
    fn softmax_cross_entropy_by_hand() {
        // softmax([0, ln 3]) = [1/4, 3/4]: loss -ln(3/4) for label 1, -ln(1/4) for label 0.
        let mut logits = vec![0.0, 3f32.ln(), 0.0, 3f32.ln()];
        let loss = softmax_cross_entropy_grad(&mut logits, &[1, 0], 0.5);
        let want = -(0.75f64.ln() + 0.25f64.ln());
        assert!((loss - want).abs() < 1e-6, "{loss} vs {want}");
        for (g, w) in logits.iter().zip([0.125, -0.125, -0.375, 0.375]) {
            assert!((g - w).abs() < 1e-6, "{logits:?}");
        }
    }

    #[test]
    fn pooling_sends_the_gradient_to_the_first_maximum_only() {
        // A 1x1 kernel of weight 1 on a 2x2 one-channel image (both layouts coincide): the
        // convolution is the image, the pooled output its maximum plus the bias; the tie between
        // pixels 1 and 3 goes to pixel 1.
        let layer = ConvPool::new(1, 1, 1, 2, 2);
        let weight = [1.0f32];
        let image = [0.2f32, 0.9, -0.3, 0.9];
        let mut work = ConvWork::default();
        for (bias, live) in [(0.5f32, true), (-5.0, false)] {
            let (mut out, mut arg) = ([0f32], [0u8]);
            let layout = Patches::ChannelLast;
            conv_pool_relu_forward(
                &layer,
                &weight,
                &[bias],
                &image,
                layout,
                &mut work,
                &mut out,
                &mut arg,
            );
            assert_eq!((out[0], arg[0]), (if live { 1.4 } else { 0.0 }, 1));
            let pooled = (&out[..], &arg[..], &[2.0f32][..]);
            let (mut dw, mut db, mut dx) = ([0f32], [0f32], [7f32; 4]);
            conv_pool_relu_backward_sparse(
                &layer,
                &weight,
                &image,
                pooled,
                &mut work,
                Some((&mut dw, &mut db)),
                &mut dx,
            );
            let (mut dw_gemm, mut db_gemm) = ([0f32], [0f32]);
            conv_pool_relu_backward_gemm(
                &layer,
                &image,
                Patches::ChannelFirst,
                pooled,
                &mut work,
                (&mut dw_gemm, &mut db_gemm),
            );
            if live {
                assert_eq!(dx, [0.0, 2.0, 0.0, 0.0]);
                assert_eq!((dw[0], db[0]), (2.0 * 0.9, 2.0));
            } else {
                // A negative pre-activation blocks everything (ReLU).
                assert_eq!((dw[0], db[0], dx), (0.0, 0.0, [0.0; 4]));
            }
            assert_eq!((dw, db), (dw_gemm, db_gemm));
        }
    }

    /// The sparse backward against the dense formulas: kernel and bias gradients against the
    /// GEMM `dW = dZ^T X`, the input gradient against `dX[y, x, c] = sum dZ[q, o] W[o, i, j, c]`
    /// over the convolution pixels `q` and taps `(i, j)` that read `(y, x)`, evaluated directly.
    /// Kernel rows of 9, 24 and 80 values exercise every block width; odd sides leave pixels
    /// no pooling window covers.
    #[test]
    fn sparse_backward_equals_the_dense_formulas() {
        for (seed, (c_in, c_out, k, h, w)) in [(3, 4, 3, 7, 9), (8, 5, 3, 5, 7), (16, 6, 5, 6, 6)]
            .into_iter()
            .enumerate()
        {
            let seed = seed as u64 * 10;
            let layer = ConvPool::new(c_in, c_out, k, h, w);
            let taps = c_in * k * k;
            let input = random(c_in * h * w, seed + 1);
            let weight = random(c_out * taps, seed + 2);
            let bias = random(c_out, seed + 3);
            let pooled_len = layer.out_h * layer.out_w * c_out;
            let (mut out, mut arg) = (vec![0f32; pooled_len], vec![0u8; pooled_len]);
            let mut work = ConvWork::default();
            let layout = Patches::ChannelLast;
            conv_pool_relu_forward(
                &layer, &weight, &bias, &input, layout, &mut work, &mut out, &mut arg,
            );
            assert!(out.contains(&0.0) && out.iter().any(|&v| v > 0.0));
            let d_out = random(pooled_len, seed + 4);
            let pooled = (&out[..], &arg[..], &d_out[..]);
            let mut dw = vec![0f32; c_out * taps];
            let (mut db, mut dx) = (vec![0f32; c_out], vec![0f32; input.len()]);
            let grads = Some((&mut dw[..], &mut db[..]));
            conv_pool_relu_backward_sparse(
                &layer, &weight, &input, pooled, &mut work, grads, &mut dx,
            );
            let (mut dw_gemm, mut db_gemm) = (vec![0f32; c_out * taps], vec![0f32; c_out]);
            let grads = (&mut dw_gemm[..], &mut db_gemm[..]);
            conv_pool_relu_backward_gemm(&layer, &input, layout, pooled, &mut work, grads);
            for (a, b) in dw.iter().zip(&dw_gemm).chain(db.iter().zip(&db_gemm)) {
                assert!((a - b).abs() < 1e-5, "{c_in}x{k}: {a} vs {b}");
            }
            // dZ from the pooling choices, then the input gradient tap by tap.
            let cw = 2 * layer.out_w;
            let mut d_conv = vec![0f32; 4 * pooled_len];
            for (at, ((&o_val, &m), &g)) in out.iter().zip(&arg).zip(&d_out).enumerate() {
                if o_val > 0.0 {
                    let (p, o) = (at / c_out, at % c_out);
                    d_conv[window_offsets(&layer, p)[usize::from(m)] + o] = g;
                }
            }
            let pad = k / 2;
            let mut want = vec![0f32; input.len()];
            for (q, row) in d_conv.chunks_exact(c_out).enumerate() {
                let (cy, cx) = (q / cw, q % cw);
                for (o, &g) in row.iter().enumerate() {
                    for (t, &wv) in weight[o * taps..(o + 1) * taps].iter().enumerate() {
                        let (i, j, c) = (t / (k * c_in), t / c_in % k, t % c_in);
                        let (y, x) = ((cy + i).checked_sub(pad), (cx + j).checked_sub(pad));
                        if let (Some(y), Some(x)) = (y.filter(|&y| y < h), x.filter(|&x| x < w)) {
                            want[(y * w + x) * c_in + c] += g * wv;
                        }
                    }
                }
            }
            for (a, b) in dx.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-5,
                    "{c_in}x{k} input gradient: {a} vs {b}"
                );
            }
        }
    }
}
