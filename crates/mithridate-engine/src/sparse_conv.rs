//! Backward of a convolution followed by 2x2 max-pooling and ReLU that uses the sparsity the
//! pooling leaves: the gradient of the convolution output `dZ` has at most one non-zero per
//! pooling window and channel (the window's maximum), so 3/4 of it (more where the ReLU is
//! off) is zero and the two dense GEMMs of the textbook backward, `dW += dZ^T X` and `dX = dZ W`
//! followed by col2im (Chellapilla, Puri & Simard, 2006), waste at least 3/4 of their
//! multiply-adds.
//!
//! Here, with `g = dZ[q, o]` the non-zeros, `X[q]` the patch row of convolution pixel `q`
//! (`k` runs of `k C` contiguous values of the zero-padded channel-last input, so no patch
//! matrix is built) and `W[o]` kernel row `o` (taps in `(i, j, in)` order):
//!
//! - `dW[o] += sum_{q: g = dZ[q, o] != 0} g X[q]`, channel by channel;
//! - `dX_padded[window of q] += sum_{o: g = dZ[q, o] != 0} g W[o]`, pixel by pixel (col2im in
//!   the same pass), then the padding is cropped.
//!
//! Both sums accumulate a kernel row's `k C` values in registers over their terms and store
//! once, so the loop is bound by loads rather than by read-modify-write of the destination;
//! it runs compiled for AVX-512 or AVX2 where the CPU has them ([`crate::simd`]). The result equals the dense
//! formulas up to float rounding (a different summation order; tested against the GEMM).

use crate::backprop::ConvWork;
use crate::conv::ConvPool;
use crate::simd::widest_fn;

/// Floats one register block accumulates: a whole kernel row of the engine's second
/// convolution (`k C = 5 x 16`), i.e. five independent 16-float accumulators.
const BLOCK: usize = 80;
/// Width of the blocks for shorter rows and remainders.
const LANES: usize = 16;

/// Buffers of [`conv_pool_relu_backward_sparse`], reused across images.
#[derive(Default)]
pub(crate) struct SparseWork {
    d_padded: Vec<f32>,
    /// `(g, offset of X[q] in the padded input)` grouped by channel; group `o` ends at
    /// `channel_ends[o]`.
    by_channel: Vec<(f32, u32)>,
    channel_ends: Vec<usize>,
    /// `(g, o)` grouped by convolution pixel; `pixel_groups` holds each group's padded offset
    /// and end.
    by_pixel: Vec<(f32, u32)>,
    pixel_groups: Vec<(usize, usize)>,
    /// Per channel of one pooled pixel: its window member, or 4 where the ReLU is off.
    keys: Vec<u8>,
    /// Next free slot of each channel's group while sorting.
    keys_pos: Vec<usize>,
    /// One pixel group's weighted sum of whole kernels (short kernel rows only).
    kernel_sum: Vec<f32>,
}

/// Backward of [`crate::backprop::conv_pool_relu_forward`] for one channel-last image
/// (`weight` `(O, i, j, in)`): adds to `param_grads` = `(d_weight` (same order)`, d_bias)` when
/// given (input gradients alone skip that half of the work), and overwrites `d_input`
/// (`(in_h, in_w, in)`) with the gradient of `input`. `(out, argmax, d_out)` are the forward's
/// output, its pooling choices and the output gradient.
pub(crate) fn conv_pool_relu_backward_sparse(
    layer: &ConvPool,
    weight: &[f32],
    input: &[f32],
    (out, argmax, d_out): (&[f32], &[u8], &[f32]),
    work: &mut ConvWork,
    param_grads: Option<(&mut [f32], &mut [f32])>,
    d_input: &mut [f32],
) {
    let (k, pad, c_in, o_n) = (
        layer.kernel,
        layer.kernel / 2,
        layer.in_channels,
        layer.out_channels,
    );
    let (in_h, in_w) = (layer.in_h, layer.in_w);
    let pw = in_w + 2 * pad;
    let padded_len = c_in * (in_h + 2 * pad) * pw;
    // The padded input; its zero border is kept across calls, as in `im2col`.
    let padded = &mut work.fwd.padded;
    padded.resize(padded_len, 0.0);
    let row_len = in_w * c_in;
    for (src, dst) in input
        .chunks_exact(row_len)
        .zip(padded[pad * pw * c_in..].chunks_exact_mut(pw * c_in))
    {
        dst[pad * c_in..pad * c_in + row_len].copy_from_slice(src);
    }
    let sparse = &mut work.sparse;
    sparse.d_padded.clear();
    sparse.d_padded.resize(padded_len, 0.0);
    // The non-zeros grouped by convolution pixel: per pooled pixel, a counting sort of its
    // channels by window member (key 4: ReLU off, dropped). Branch-free and division-free:
    // this runs for every image.
    let row = pw * c_in;
    sparse.by_pixel.clear();
    sparse.pixel_groups.clear();
    sparse.keys.resize(o_n, 0);
    let mut at = 0;
    for y in 0..layer.out_h {
        for x in 0..layer.out_w {
            let top_left = (2 * y * pw + 2 * x) * c_in;
            let members = [
                top_left,
                top_left + c_in,
                top_left + row,
                top_left + row + c_in,
            ];
            let mut counts = [0usize; 5];
            for (o, key) in sparse.keys.iter_mut().enumerate() {
                *key = if out[at + o] > 0.0 { argmax[at + o] } else { 4 };
                counts[usize::from(*key)] += 1;
            }
            let start = sparse.by_pixel.len();
            let mut next = [0usize; 5];
            let mut end = start;
            for (m, &count) in counts.iter().enumerate() {
                next[m] = end;
                end += count;
                if m < 4 && count > 0 {
                    sparse.pixel_groups.push((members[m], end));
                }
            }
            sparse.by_pixel.resize(end, (0.0, 0));
            for (o, &key) in sparse.keys.iter().enumerate() {
                let slot = &mut next[usize::from(key)];
                sparse.by_pixel[*slot] = (d_out[at + o], o as u32);
                *slot += 1;
            }
            sparse.by_pixel.truncate(end - counts[4]);
            at += o_n;
        }
    }
    let geometry = Geometry {
        kernel: k,
        run: k * c_in,
        padded_row: pw * c_in,
    };
    if let Some((d_weight, d_bias)) = param_grads {
        group_by_channel(sparse, o_n, d_bias);
        weight_gradient_widest(&geometry, &work.fwd.padded, sparse, d_weight);
    }
    input_gradient_widest(&geometry, weight, sparse);
    for (dst, src) in d_input
        .chunks_exact_mut(row_len)
        .zip(sparse.d_padded[pad * pw * c_in..].chunks_exact(pw * c_in))
    {
        dst.copy_from_slice(&src[pad * c_in..pad * c_in + row_len]);
    }
}

/// The non-zeros of `sparse.by_pixel` grouped by channel (a counting sort by `o`, pixel
/// order kept), with each one's patch-row offset, into `sparse.by_channel`; the bias
/// gradient, their sum per channel, is added to `d_bias`.
fn group_by_channel(sparse: &mut SparseWork, o_n: usize, d_bias: &mut [f32]) {
    sparse.channel_ends.clear();
    sparse.channel_ends.resize(o_n, 0);
    for &(_, o) in &sparse.by_pixel {
        sparse.channel_ends[o as usize] += 1;
    }
    let mut end = 0;
    for count in sparse.channel_ends.iter_mut() {
        end += *count;
        *count = end;
    }
    let SparseWork {
        by_channel,
        channel_ends,
        by_pixel,
        pixel_groups,
        keys_pos: next,
        ..
    } = &mut *sparse;
    next.clear();
    next.push(0);
    next.extend_from_slice(&channel_ends[..o_n - 1]);
    by_channel.resize(end, (0.0, 0));
    let mut start = 0;
    for &(offset, group_end) in pixel_groups.iter() {
        for &(g, o) in &by_pixel[start..group_end] {
            let slot = &mut next[o as usize];
            by_channel[*slot] = (g, offset as u32);
            *slot += 1;
        }
        start = group_end;
    }
    let mut start = 0;
    for (d_bias, &end) in d_bias.iter_mut().zip(&sparse.channel_ends) {
        *d_bias += sparse.by_channel[start..end]
            .iter()
            .map(|t| t.0)
            .sum::<f32>();
        start = end;
    }
}

/// Sizes [`weight_gradient`] and [`input_gradient`] need.
struct Geometry {
    kernel: usize,
    /// `k C`: contiguous values per kernel row.
    run: usize,
    /// Values per row of the padded input.
    padded_row: usize,
}

/// The first sum of the module doc, `dW[o] += sum g X[q]`, over `sparse.by_channel`. Run
/// through [`weight_gradient_widest`], so its blocks vectorise.
#[inline(always)]
fn weight_gradient(g: &Geometry, padded: &[f32], sparse: &SparseWork, d_weight: &mut [f32]) {
    let (run, taps) = (g.run, g.kernel * g.run);
    let mut start = 0;
    for (&end, dw_row) in sparse
        .channel_ends
        .iter()
        .zip(d_weight.chunks_exact_mut(taps))
    {
        let terms = &sparse.by_channel[start..end];
        start = end;
        for (i, dst) in dw_row.chunks_exact_mut(run).enumerate() {
            let row = i * g.padded_row;
            add_weighted_sum(dst, terms, |at| &padded[at as usize + row..][..run]);
        }
    }
}

/// The second sum of the module doc, `dX_padded[window of q] += sum g W[o]`, over
/// `sparse.by_pixel`, into `sparse.d_padded` (zeroed). Run through [`input_gradient_widest`].
#[inline(always)]
fn input_gradient(g: &Geometry, weight: &[f32], sparse: &mut SparseWork) {
    let (run, taps) = (g.run, g.kernel * g.run);
    let mut start = 0;
    if run < LANES {
        // Kernel rows shorter than a register (a one-channel first layer: 5 values): sum
        // the group's whole kernels first (`taps` contiguous values per channel, so the sum
        // vectorises), then add the sum's rows to the window. Same terms, same order.
        let SparseWork {
            by_pixel,
            pixel_groups,
            d_padded,
            kernel_sum,
            ..
        } = sparse;
        for &(base, end) in pixel_groups.iter() {
            let terms = &by_pixel[start..end];
            start = end;
            kernel_sum.clear();
            kernel_sum.resize(taps, 0.0);
            add_weighted_sum(kernel_sum, terms, |o| &weight[o as usize * taps..][..taps]);
            for (i, row) in kernel_sum.chunks_exact(run).enumerate() {
                let at = base + i * g.padded_row;
                for (d, v) in d_padded[at..at + run].iter_mut().zip(row) {
                    *d += v;
                }
            }
        }
        return;
    }
    for &(base, end) in &sparse.pixel_groups {
        let terms = &sparse.by_pixel[start..end];
        start = end;
        for i in 0..g.kernel {
            let at = base + i * g.padded_row;
            let dst = &mut sparse.d_padded[at..at + run];
            add_weighted_sum(dst, terms, |o| {
                &weight[o as usize * taps + i * run..][..run]
            });
        }
    }
}

/// `dst += sum_(g, at) g source(at)` (each source as long as `dst`), accumulating in
/// registers: blocks of [`BLOCK`], then [`LANES`], then single values.
#[inline(always)]
fn add_weighted_sum<'a>(dst: &mut [f32], terms: &[(f32, u32)], source: impl Fn(u32) -> &'a [f32]) {
    let n = dst.len();
    let mut c = 0;
    while c + BLOCK <= n {
        let mut acc = [0f32; BLOCK];
        for &(g, at) in terms {
            let src = &source(at)[c..c + BLOCK];
            for (a, s) in acc.iter_mut().zip(src) {
                *a += g * s;
            }
        }
        for (d, a) in dst[c..c + BLOCK].iter_mut().zip(&acc) {
            *d += a;
        }
        c += BLOCK;
    }
    while c + LANES <= n {
        let mut acc = [0f32; LANES];
        for &(g, at) in terms {
            let src = &source(at)[c..c + LANES];
            for (a, s) in acc.iter_mut().zip(src) {
                *a += g * s;
            }
        }
        for (d, a) in dst[c..c + LANES].iter_mut().zip(&acc) {
            *d += a;
        }
        c += LANES;
    }
    for (t, d) in dst.iter_mut().enumerate().skip(c) {
        *d += terms.iter().map(|&(g, at)| g * source(at)[t]).sum::<f32>();
    }
}

widest_fn!(
    /// [`weight_gradient`] compiled for the CPU's widest registers.
    fn weight_gradient_widest(
        g: &Geometry,
        padded: &[f32],
        sparse: &SparseWork,
        d_weight: &mut [f32],
    ) = weight_gradient;
);

widest_fn!(
    /// [`input_gradient`] compiled for the CPU's widest registers.
    fn input_gradient_widest(g: &Geometry, weight: &[f32], sparse: &mut SparseWork) = input_gradient;
);
