//! The forward pass without gradients, in plain Rust over `&[f32]`, for inference.
//!
//! The autodiff forward ([`crate::network::Network::forward`]) builds candle tensors for a whole
//! inference chunk: for the CNN its im2col gather allocates ~300 KB per sample (~320 MB per chunk
//! of 1,024), so most of its time went to zeroing fresh pages, copying and the gather rather than
//! arithmetic. Here the same layers run sample by sample with buffers that stay in cache:
//!
//! - a convolution is im2col (Chellapilla, Puri & Simard, 2006) in the "columns" orientation,
//!   `conv (O, P) = W (O, C k k) x cols (C k k, P)` over one image's `P` output pixels, with the
//!   kernel in its stored PyTorch `(out, in, k, k)` layout read as an `(O, C k k)` matrix and
//!   `cols[(c, i, j), (y, x)] = in[c, y + i - k/2, x + j - k/2]` (0 outside the image);
//! - 2x2 max-pooling, the bias and ReLU are one pass over the convolution output (bias after the
//!   max and ReLU after the pooling, as in the autodiff forward, so the results agree to rounding);
//! - matrix products are faer's `matmul` run sequentially inside rayon tasks of a fixed number of
//!   samples, so the result does not depend on the thread count.
//!
//! Results equal the autodiff forward up to float rounding (a different summation order in the
//! matrix products: relative differences of order 1e-6); `tests` check this on random inputs.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::conv::ConvPool;

/// Samples one rayon task runs through the network. A fixed size (not one derived from the
/// thread count) keeps every output independent of how many threads run. Dense layers take
/// larger tasks, so each matrix product amortises packing its weights over more rows; a CNN
/// task's per-sample buffers should stay in cache.
const DENSE_TASK_SAMPLES: usize = 256;
const CNN_TASK_SAMPLES: usize = 32;

/// Penultimate activations and logits of a batch, both row-major per sample.
pub(crate) struct Activations {
    pub hidden: Vec<f32>,
    pub logits: Vec<f32>,
}

/// The layers the fast forward knows, with parameters borrowed in [`crate::network::Network::specs`]
/// order.
pub(crate) enum Layers<'a> {
    /// Linear layers `(weight (out, in), bias)`, ReLU between; the last gives the logits.
    Dense { linear: Vec<(&'a [f32], &'a [f32])> },
    /// Two convolution + pooling stages, then `fc1` (reading the pooled map in height-width-channel
    /// order) with ReLU and `fc2`.
    Cnn {
        convs: [(&'a ConvPool, &'a [f32], &'a [f32]); 2],
        fc1: (&'a [f32], &'a [f32]),
        fc2: (&'a [f32], &'a [f32]),
    },
}

impl Layers<'_> {
    fn sample_len(&self) -> usize {
        match self {
            Layers::Dense { linear } => linear[0].0.len() / linear[0].1.len(),
            Layers::Cnn { convs, .. } => {
                let c = convs[0].0;
                c.in_channels * c.in_h * c.in_w
            }
        }
    }

    fn widths(&self) -> (usize, usize) {
        let out = |l: &(&[f32], &[f32])| l.1.len();
        match self {
            Layers::Dense { linear } => {
                let n = linear.len();
                let hidden = if n >= 2 {
                    out(&linear[n - 2])
                } else {
                    self.sample_len()
                };
                (hidden, out(&linear[n - 1]))
            }
            Layers::Cnn { fc1, fc2, .. } => (out(fc1), out(fc2)),
        }
    }

    /// `(penultimate activations, logits)` of the `input.len() / sample_len` samples in `input`.
    pub fn forward(&self, input: &[f32]) -> Activations {
        let per = self.sample_len();
        let batch = input.len() / per;
        let (hidden_dim, classes) = self.widths();
        let task = match self {
            Layers::Dense { .. } => DENSE_TASK_SAMPLES,
            Layers::Cnn { .. } => CNN_TASK_SAMPLES,
        };
        let mut hidden = vec![0f32; batch * hidden_dim];
        let mut logits = vec![0f32; batch * classes];
        hidden
            .par_chunks_mut(task * hidden_dim)
            .zip(logits.par_chunks_mut(task * classes))
            .zip(input.par_chunks(task * per))
            .for_each(|((hidden, logits), input)| self.forward_task(input, hidden, logits));
        Activations { hidden, logits }
    }

    /// One task's samples, sequentially.
    fn forward_task(&self, input: &[f32], hidden: &mut [f32], logits: &mut [f32]) {
        let batch = input.len() / self.sample_len();
        match self {
            Layers::Dense { linear } => {
                let n = linear.len();
                if n == 1 {
                    // Softmax regression: the "penultimate layer" is the input itself.
                    hidden.copy_from_slice(input);
                    dense(input, batch, linear[0], logits);
                    return;
                }
                let mut x = input.to_vec();
                for &layer in &linear[..n - 2] {
                    let mut y = vec![0f32; batch * layer.1.len()];
                    dense(&x, batch, layer, &mut y);
                    relu(&mut y);
                    x = y;
                }
                dense(&x, batch, linear[n - 2], hidden);
                relu(hidden);
                dense(hidden, batch, linear[n - 1], logits);
            }
            Layers::Cnn { convs, fc1, fc2 } => {
                let [(first, w1, b1), (second, w2, b2)] = *convs;
                let per = self.sample_len();
                let features = second.out_channels * second.out_h * second.out_w;
                let mut flat = vec![0f32; batch * features];
                // The second kernel with its taps in (i, j, channel) order, the column order of
                // patches taken from channel-last activations.
                let k = second.kernel;
                let mut w2_hwc = vec![0f32; w2.len()];
                for (o, row) in w2_hwc.chunks_exact_mut(second.fan_in()).enumerate() {
                    for (t, v) in row.iter_mut().enumerate() {
                        let (ij, c) = (t / second.in_channels, t % second.in_channels);
                        *v = w2[(o * second.in_channels + c) * k * k + ij];
                    }
                }
                // One scratch per layer: a layer's padded buffer keeps its zero border.
                let (mut scratch1, mut scratch2) = (ConvScratch::default(), ConvScratch::default());
                let mut mid = vec![0f32; first.out_channels * first.out_h * first.out_w];
                for (sample, flat) in input.chunks_exact(per).zip(flat.chunks_exact_mut(features)) {
                    let first_out = Patches::ChannelFirst;
                    conv_pool_relu(first, w1, b1, sample, first_out, &mut scratch1, &mut mid);
                    // Channel-last output is the (y, x, channel) order `fc1` reads.
                    conv_pool_relu(
                        second,
                        &w2_hwc,
                        b2,
                        &mid,
                        Patches::ChannelLast,
                        &mut scratch2,
                        flat,
                    );
                }
                dense(&flat, batch, *fc1, hidden);
                relu(hidden);
                dense(hidden, batch, *fc2, logits);
            }
        }
    }
}

/// `out (batch, o) = x (batch, i) W^T + b` for a PyTorch-layout `(o, i)` weight.
fn dense(x: &[f32], batch: usize, (weight, bias): (&[f32], &[f32]), out: &mut [f32]) {
    let (o, i) = (bias.len(), weight.len() / bias.len());
    matmul(
        MatMut::from_row_major_slice_mut(out, batch, o),
        Accum::Replace,
        MatRef::from_row_major_slice(x, batch, i),
        MatRef::from_row_major_slice(weight, o, i).transpose(),
        1.0f32,
        Par::Seq,
    );
    for row in out.chunks_exact_mut(o) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

fn relu(x: &mut [f32]) {
    for v in x {
        *v = v.max(0.0);
    }
}

/// Buffers one layer reuses across the samples of a task.
#[derive(Default)]
pub(crate) struct ConvScratch {
    /// The input with a zero border of `k/2`.
    pub padded: Vec<f32>,
    /// The im2col matrix.
    pub patches: Vec<f32>,
    /// The convolution at the pooled pixels, `(pixels, out_channels)`.
    pub conv: Vec<f32>,
}

/// How a layer's input is laid out, which decides how its im2col matrix is built.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Patches {
    /// Input `(C, H, W)`; im2col as `(C k k, P)` columns, each row a run of image rows (few
    /// channels, as in the first layer: a receptive-field row is only `k` values).
    ChannelFirst,
    /// Input `(H, W, C)`; im2col as `(P, k k C)` rows whose `k` runs of `k C` values are
    /// contiguous in the input, with the kernel given in `(out, i, j, in)` order.
    ChannelLast,
}

/// `out (out_h, out_w, O) = relu(bias + maxpool2(conv(input)))` for one image (channel-last
/// output), computing the convolution only at the `2 out_h x 2 out_w` pixels a pooling window
/// covers.
fn conv_pool_relu(
    layer: &ConvPool,
    weight: &[f32],
    bias: &[f32],
    input: &[f32],
    layout: Patches,
    scratch: &mut ConvScratch,
    out: &mut [f32],
) {
    let (pixels, o) = (4 * layer.out_h * layer.out_w, layer.out_channels);
    im2col(layer, input, layout, scratch);
    scratch.conv.resize(pixels * o, 0.0);
    let dst = MatMut::from_row_major_slice_mut(&mut scratch.conv, pixels, o);
    let kernel = MatRef::from_row_major_slice(weight, o, layer.fan_in()).transpose();
    matmul(
        dst,
        Accum::Replace,
        patch_matrix(&scratch.patches, layer, layout),
        kernel,
        1.0f32,
        Par::Seq,
    );
    let cw = 2 * layer.out_w;
    // 2x2 max-pooling, then the bias (constant over a window) and ReLU, as the autodiff forward.
    let ow = layer.out_w;
    for (p, pooled) in out.chunks_exact_mut(o).enumerate() {
        let (y, x) = (p / ow, p % ow);
        let at = |dy: usize, dx: usize| {
            let q = ((2 * y + dy) * cw + 2 * x + dx) * o;
            &scratch.conv[q..q + o]
        };
        let (a, b, c, d) = (at(0, 0), at(0, 1), at(1, 0), at(1, 1));
        for (t, v) in pooled.iter_mut().enumerate() {
            *v = (a[t].max(b[t]).max(c[t]).max(d[t]) + bias[t]).max(0.0);
        }
    }
}

/// The im2col matrix [`im2col`] left in a scratch's `patches`, as `(pixels, taps)`.
pub(crate) fn patch_matrix<'a>(
    patches: &'a [f32],
    layer: &ConvPool,
    layout: Patches,
) -> MatRef<'a, f32> {
    let (pixels, taps) = (4 * layer.out_h * layer.out_w, layer.fan_in());
    match layout {
        Patches::ChannelFirst => MatRef::from_row_major_slice(patches, taps, pixels).transpose(),
        Patches::ChannelLast => MatRef::from_row_major_slice(patches, pixels, taps),
    }
}

/// Fills `scratch.patches` with the im2col matrix of one image for the `2 out_h x 2 out_w`
/// convolution pixels the pooling windows cover, in `layout`'s orientation.
pub(crate) fn im2col(layer: &ConvPool, input: &[f32], layout: Patches, scratch: &mut ConvScratch) {
    let (k, pad, c_in) = (layer.kernel, layer.kernel / 2, layer.in_channels);
    let (in_h, in_w) = (layer.in_h, layer.in_w);
    let (ch, cw) = (2 * layer.out_h, 2 * layer.out_w);
    let (ph, pw) = (in_h + 2 * pad, in_w + 2 * pad);
    let pixels = ch * cw;
    let taps = c_in * k * k;
    // The zero border is the same on every call: only the interior is rewritten, so every
    // patch copy below is branch-free.
    scratch.padded.resize(c_in * ph * pw, 0.0);
    scratch.patches.resize(taps * pixels, 0.0);
    match layout {
        Patches::ChannelFirst => {
            for (plane, padded) in input
                .chunks_exact(in_h * in_w)
                .zip(scratch.padded.chunks_exact_mut(ph * pw))
            {
                for (src, dst) in plane
                    .chunks_exact(in_w)
                    .zip(padded[pad * pw..].chunks_exact_mut(pw))
                {
                    dst[pad..pad + in_w].copy_from_slice(src);
                }
            }
            for (r, row) in scratch.patches.chunks_exact_mut(pixels).enumerate() {
                // patches[(c, i, j), (y, x)] = padded[c, y + i, x + j].
                let (c, i, j) = (r / (k * k), r / k % k, r % k);
                let plane = &scratch.padded[c * ph * pw..(c + 1) * ph * pw];
                for (y, seg) in row.chunks_exact_mut(cw).enumerate() {
                    let start = (y + i) * pw + j;
                    seg.copy_from_slice(&plane[start..start + cw]);
                }
            }
        }
        Patches::ChannelLast => {
            let row_len = in_w * c_in;
            for (src, dst) in input
                .chunks_exact(row_len)
                .zip(scratch.padded[pad * pw * c_in..].chunks_exact_mut(pw * c_in))
            {
                dst[pad * c_in..pad * c_in + row_len].copy_from_slice(src);
            }
            let run = k * c_in;
            for (p, row) in scratch.patches.chunks_exact_mut(taps).enumerate() {
                // patches[(y, x), (i, j, c)] = padded[y + i, x + j, c]: `k` runs of `k C`.
                let (y, x) = (p / cw, p % cw);
                for (i, seg) in row.chunks_exact_mut(run).enumerate() {
                    let start = ((y + i) * pw + x) * c_in;
                    seg.copy_from_slice(&scratch.padded[start..start + run]);
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use candle_core::{Device, Tensor};
    use mithridate_data::Modality;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use crate::network::Network;
    use crate::Architecture;

    /// Asserts `got` equals `want` to float rounding: every difference at most 1e-5 of the
    /// largest magnitude in `want` (or 1e-5 absolute below 1). Sums of up to ~1,600 products
    /// in a different order differ by a few float epsilons of that scale (~1e-6 measured).
    pub(crate) fn assert_close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        let scale = want.iter().fold(1f32, |m, w| m.max(w.abs()));
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-5 * scale,
                "{what}[{i}]: fast {g} vs autodiff {w} (scale {scale})"
            );
        }
    }

    /// The fast forward against the autodiff forward, on random weights and inputs.
    fn check(arch: Architecture, modality: Modality, classes: usize, batch: usize) {
        let network = Network::new(arch, &modality, classes);
        let mut rng = ChaCha8Rng::seed_from_u64(batch as u64);
        // Weights larger than the initialisation's, so every layer's output varies a lot.
        let params: Vec<Vec<f32>> = network
            .init(3)
            .into_iter()
            .map(|p| p.into_iter().map(|v| 4.0 * v).collect())
            .collect();
        let per = modality.sample_len();
        let input: Vec<f32> = (0..batch * per)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();

        let dev = Device::Cpu;
        let tensors: Vec<Tensor> = params
            .iter()
            .zip(network.specs())
            .map(|(v, spec)| Tensor::from_slice(v, spec.shape.as_slice(), &dev))
            .collect::<candle_core::Result<_>>()
            .expect("parameters");
        let x = Tensor::from_slice(&input, (batch, per), &dev).expect("input");
        let (hidden, logits) = network.forward(&tensors, &x).expect("autodiff forward");
        let flat = |t: Tensor| {
            t.flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .expect("values")
        };

        let fast = network
            .inference_layers(&params)
            .expect("dense and image models have a fast forward")
            .forward(&input);
        let what = format!("{arch} on {modality:?}, batch {batch}");
        assert_close(&fast.hidden, &flat(hidden), &format!("{what} hidden"));
        assert_close(&fast.logits, &flat(logits), &format!("{what} logits"));
    }

    #[test]
    fn cnn_matches_autodiff_forward() {
        let image = |channels, height, width| Modality::Image {
            channels,
            height,
            width,
        };
        // 8x8 digits, odd sides (pooling floors: 7 -> 3 -> 1, 9 -> 4 -> 2), the smallest
        // accepted side, and MNIST's; batches not multiples of the task size.
        for (modality, batch) in [
            (image(1, 8, 8), 70),
            (image(3, 7, 9), 33),
            (image(2, 4, 5), 5),
            (image(1, 28, 28), 37),
            (image(1, 28, 28), 1),
        ] {
            check(Architecture::Cnn, modality, 10, batch);
        }
    }

    #[test]
    fn dense_models_match_autodiff_forward() {
        for arch in [Architecture::Mlp, Architecture::LogReg] {
            for batch in [1, 45, 300] {
                check(arch, Modality::Tabular { features: 13 }, 3, batch);
            }
        }
    }

    #[test]
    fn text_model_has_no_fast_forward() {
        let network = Network::new(
            Architecture::Text,
            &Modality::Text {
                max_len: 4,
                vocab_size: 10,
            },
            2,
        );
        let params = network.init(0);
        assert!(network.inference_layers(&params).is_none());
    }
}
