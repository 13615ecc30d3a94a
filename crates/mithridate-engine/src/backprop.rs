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
    /// Gradient of the zero-padded input.
    d_padded: Vec<f32>,
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
fn window_offsets(layer: &ConvPool, p: usize) -> [usize; 4] {
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

/// Backward of [`conv_pool_relu_forward`] for one channel-last image (`weight` in `(O, i, j, in)`
/// order): adds to `d_weight` (same order) and `d_bias`, and overwrites `d_input` with the
/// gradient of `input` (`(in_h, in_w, in)`).
///
/// `dZ` has one non-zero per pooling window and channel (3/4 of it is zero), so instead of the
/// two dense GEMMs `dZ^T X` and `dZ W` (whose multiply-adds are 3/4 wasted) each non-zero
/// `g = dZ[q, o]` at convolution pixel `q = (cy, cx)` is applied directly: `dW[o] += g X[q]` and
/// `dX[q] += g W[o]`, where the patch row `X[q]` is `k` contiguous runs of `k C` values of the
/// zero-padded input, so col2im happens in the same pass. A quarter of the multiply-adds, in
/// runs of `k C` contiguous floats (80 for the second layer) that vectorise.
pub(crate) fn conv_pool_relu_backward_sparse(
    layer: &ConvPool,
    weight: &[f32],
    input: &[f32],
    (out, argmax, d_out): (&[f32], &[u8], &[f32]),
    work: &mut ConvWork,
    (d_weight, d_bias): (&mut [f32], &mut [f32]),
    d_input: &mut [f32],
) {
    let (k, pad, c_in) = (layer.kernel, layer.kernel / 2, layer.in_channels);
    let (in_h, in_w) = (layer.in_h, layer.in_w);
    let pw = in_w + 2 * pad;
    let padded_len = c_in * (in_h + 2 * pad) * pw;
    // The padded input (its zero border is kept across calls, as in `im2col`).
    work.fwd.padded.resize(padded_len, 0.0);
    let row_len = in_w * c_in;
    for (src, dst) in input
        .chunks_exact(row_len)
        .zip(work.fwd.padded[pad * pw * c_in..].chunks_exact_mut(pw * c_in))
    {
        dst[pad * c_in..pad * c_in + row_len].copy_from_slice(src);
    }
    work.d_padded.clear();
    work.d_padded.resize(padded_len, 0.0);
    let geometry = SparseGeometry {
        kernel: k,
        run: k * c_in,
        padded_width: pw,
        out_w: layer.out_w,
        out_channels: layer.out_channels,
    };
    let pooled = (out, argmax, d_out);
    let grads = (d_weight, d_bias);
    let buffers = (&work.fwd.padded[..], &mut work.d_padded[..]);
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F is available (checked).
            unsafe { sparse_avx512(&geometry, weight, pooled, buffers, grads) };
        } else if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is available (checked).
            unsafe { sparse_avx2(&geometry, weight, pooled, buffers, grads) };
        } else {
            sparse_apply(&geometry, weight, pooled, buffers, grads);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    sparse_apply(&geometry, weight, pooled, buffers, grads);
    for (dst, src) in d_input
        .chunks_exact_mut(row_len)
        .zip(work.d_padded[pad * pw * c_in..].chunks_exact(pw * c_in))
    {
        dst.copy_from_slice(&src[pad * c_in..pad * c_in + row_len]);
    }
}

/// Sizes [`sparse_apply`] needs.
struct SparseGeometry {
    kernel: usize,
    /// `k C`: contiguous values per kernel row.
    run: usize,
    padded_width: usize,
    out_w: usize,
    out_channels: usize,
}

type Pooled<'a> = (&'a [f32], &'a [u8], &'a [f32]);

/// The loop of [`conv_pool_relu_backward_sparse`]; `padded` is the zero-padded input and
/// `d_padded` (zeroed) receives its gradient. Inlined into feature-specific copies so its
/// `k C`-long runs vectorise with the widest registers the CPU has.
#[inline(always)]
fn sparse_apply(
    g: &SparseGeometry,
    weight: &[f32],
    (out, argmax, d_out): Pooled<'_>,
    (padded, d_padded): (&[f32], &mut [f32]),
    (d_weight, d_bias): (&mut [f32], &mut [f32]),
) {
    let (o_n, run) = (g.out_channels, g.run);
    let taps = g.kernel * run;
    let c_in = run / g.kernel;
    // Channel by channel: one kernel row and its gradient (`k k C` values each) stay in L1
    // while every pooled pixel visits them.
    for (o, (w_row, dw_row)) in weight
        .chunks_exact(taps)
        .zip(d_weight.chunks_exact_mut(taps))
        .enumerate()
    {
        for p in 0..out.len() / o_n {
            let at = p * o_n + o;
            if out[at] <= 0.0 {
                continue;
            }
            let grad = d_out[at];
            d_bias[o] += grad;
            let m = argmax[at] as usize;
            let (y, x) = (p / g.out_w, p % g.out_w);
            let (cy, cx) = (2 * y + m / 2, 2 * x + m % 2);
            for i in 0..g.kernel {
                let start = ((cy + i) * g.padded_width + cx) * c_in;
                let dst = &mut dw_row[i * run..(i + 1) * run];
                for (d, s) in dst.iter_mut().zip(&padded[start..start + run]) {
                    *d += grad * s;
                }
                let dst = &mut d_padded[start..start + run];
                for (d, s) in dst.iter_mut().zip(&w_row[i * run..(i + 1) * run]) {
                    *d += grad * s;
                }
            }
        }
    }
}

/// [`sparse_apply`] compiled for AVX-512F.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sparse_avx512(
    g: &SparseGeometry,
    weight: &[f32],
    pooled: Pooled<'_>,
    buffers: (&[f32], &mut [f32]),
    grads: (&mut [f32], &mut [f32]),
) {
    sparse_apply(g, weight, pooled, buffers, grads);
}

/// [`sparse_apply`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sparse_avx2(
    g: &SparseGeometry,
    weight: &[f32],
    pooled: Pooled<'_>,
    buffers: (&[f32], &mut [f32]),
    grads: (&mut [f32], &mut [f32]),
) {
    sparse_apply(g, weight, pooled, buffers, grads);
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

/// Backward of [`linear_forward`] given the output gradient `d_out (rows, o)` (already masked
/// by the ReLU, if any): adds to `d_weight (o, i)` and `d_bias`, and overwrites `d_x` when given.
pub(crate) fn linear_backward(
    x: &[f32],
    weight: &[f32],
    d_out: &[f32],
    (d_weight, d_bias): (&mut [f32], &mut [f32]),
    d_x: Option<&mut [f32]>,
) {
    let o = d_bias.len();
    let i = weight.len() / o;
    let rows = d_out.len() / o;
    let d_out_m = MatRef::from_row_major_slice(d_out, rows, o);
    matmul(
        MatMut::from_row_major_slice_mut(d_weight, o, i),
        Accum::Add,
        d_out_m.transpose(),
        MatRef::from_row_major_slice(x, rows, i),
        1.0f32,
        Par::Seq,
    );
    for row in d_out.chunks_exact(o) {
        for (b, d) in d_bias.iter_mut().zip(row) {
            *b += d;
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

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

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
                (&mut dw, &mut db),
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

    /// The sparse backward's kernel and bias gradients equal the dense GEMM formula
    /// `dW = dZ^T X` on a layer with several channels, odd sides and a 3x3 kernel.
    #[test]
    fn sparse_kernel_gradient_equals_the_gemm() {
        let layer = ConvPool::new(3, 4, 3, 7, 9);
        let input = random(3 * 7 * 9, 1);
        let weight = random(4 * 27, 2);
        let bias = random(4, 3);
        let pooled_len = layer.out_h * layer.out_w * 4;
        let (mut out, mut arg) = (vec![0f32; pooled_len], vec![0u8; pooled_len]);
        let mut work = ConvWork::default();
        let layout = Patches::ChannelLast;
        conv_pool_relu_forward(
            &layer, &weight, &bias, &input, layout, &mut work, &mut out, &mut arg,
        );
        assert!(out.iter().any(|&v| v == 0.0) && out.iter().any(|&v| v > 0.0));
        let d_out = random(pooled_len, 4);
        let pooled = (&out[..], &arg[..], &d_out[..]);
        let (mut dw, mut db, mut dx) = (vec![0f32; 108], vec![0f32; 4], vec![0f32; input.len()]);
        conv_pool_relu_backward_sparse(
            &layer,
            &weight,
            &input,
            pooled,
            &mut work,
            (&mut dw, &mut db),
            &mut dx,
        );
        let (mut dw_gemm, mut db_gemm) = (vec![0f32; 108], vec![0f32; 4]);
        conv_pool_relu_backward_gemm(
            &layer,
            &input,
            layout,
            pooled,
            &mut work,
            (&mut dw_gemm, &mut db_gemm),
        );
        for (a, b) in dw.iter().zip(&dw_gemm).chain(db.iter().zip(&db_gemm)) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
