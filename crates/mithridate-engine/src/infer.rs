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

/// Samples one rayon task runs through the network: a fixed size (not one derived from the
/// thread count) keeps every output independent of how many threads run.
const TASK_SAMPLES: usize = 32;

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
        let mut hidden = vec![0f32; batch * hidden_dim];
        let mut logits = vec![0f32; batch * classes];
        hidden
            .par_chunks_mut(TASK_SAMPLES * hidden_dim)
            .zip(logits.par_chunks_mut(TASK_SAMPLES * classes))
            .zip(input.par_chunks(TASK_SAMPLES * per))
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
                let [first, second] = convs;
                let per = self.sample_len();
                let last = second.0;
                let features = last.out_channels * last.out_h * last.out_w;
                let mut flat = vec![0f32; batch * features];
                let mut scratch = ConvScratch::default();
                let mut mid = Vec::new();
                let mut out = Vec::new();
                for (sample, flat) in input.chunks_exact(per).zip(flat.chunks_exact_mut(features)) {
                    conv_pool_relu(first.0, first.1, first.2, sample, &mut scratch, &mut mid);
                    conv_pool_relu(second.0, second.1, second.2, &mid, &mut scratch, &mut out);
                    // (channel, y, x) -> (y, x, channel): the order `fc1` reads.
                    let pixels = last.out_h * last.out_w;
                    for (p, row) in flat.chunks_exact_mut(last.out_channels).enumerate() {
                        for (c, v) in row.iter_mut().enumerate() {
                            *v = out[c * pixels + p];
                        }
                    }
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

/// Buffers reused across the samples of a task.
#[derive(Default)]
struct ConvScratch {
    cols: Vec<f32>,
    conv: Vec<f32>,
}

/// `out (O, out_h, out_w) = relu(bias + maxpool2(conv(input (C, in_h, in_w))))` for one image,
/// computing the convolution only at the `2 out_h x 2 out_w` pixels a pooling window covers.
fn conv_pool_relu(
    layer: &ConvPool,
    weight: &[f32],
    bias: &[f32],
    input: &[f32],
    scratch: &mut ConvScratch,
    out: &mut Vec<f32>,
) {
    let (k, pad) = (layer.kernel, layer.kernel / 2);
    let (in_h, in_w) = (layer.in_h, layer.in_w);
    let (ch, cw) = (2 * layer.out_h, 2 * layer.out_w);
    let pixels = ch * cw;
    let taps = layer.in_channels * k * k;
    scratch.cols.resize(taps * pixels, 0.0);
    for (r, row) in scratch.cols.chunks_exact_mut(pixels).enumerate() {
        let (c, i, j) = (r / (k * k), r / k % k, r % k);
        let plane = &input[c * in_h * in_w..(c + 1) * in_h * in_w];
        // Output columns x whose tap x + j - pad lands inside the image.
        let x0 = pad.saturating_sub(j).min(cw);
        let x1 = (in_w + pad).saturating_sub(j).clamp(x0, cw);
        for (y, seg) in row.chunks_exact_mut(cw).enumerate() {
            match (y + i).checked_sub(pad).filter(|&iy| iy < in_h) {
                Some(iy) => {
                    let src = iy * in_w + x0 + j - pad;
                    seg[..x0].fill(0.0);
                    seg[x0..x1].copy_from_slice(&plane[src..src + x1 - x0]);
                    seg[x1..].fill(0.0);
                }
                None => seg.fill(0.0),
            }
        }
    }
    let o = layer.out_channels;
    scratch.conv.resize(o * pixels, 0.0);
    matmul(
        MatMut::from_row_major_slice_mut(&mut scratch.conv, o, pixels),
        Accum::Replace,
        MatRef::from_row_major_slice(weight, o, taps),
        MatRef::from_row_major_slice(&scratch.cols, taps, pixels),
        1.0f32,
        Par::Seq,
    );
    let (oh, ow) = (layer.out_h, layer.out_w);
    out.resize(o * oh * ow, 0.0);
    for ((map, pooled), b) in scratch
        .conv
        .chunks_exact(pixels)
        .zip(out.chunks_exact_mut(oh * ow))
        .zip(bias)
    {
        for (y, pooled_row) in pooled.chunks_exact_mut(ow).enumerate() {
            let top = &map[2 * y * cw..(2 * y + 1) * cw];
            let bottom = &map[(2 * y + 1) * cw..(2 * y + 2) * cw];
            for (x, v) in pooled_row.iter_mut().enumerate() {
                let m = top[2 * x]
                    .max(top[2 * x + 1])
                    .max(bottom[2 * x])
                    .max(bottom[2 * x + 1]);
                *v = (m + b).max(0.0);
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
            for batch in [1, 45] {
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
