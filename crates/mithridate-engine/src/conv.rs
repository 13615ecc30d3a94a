//! Convolution and max-pooling built from candle ops that autodiff differentiates cheaply.
//!
//! candle 0.11's CPU `conv2d` computes the kernel gradient as a convolution whose kernel is the
//! whole output-gradient map, which made a small CNN ~5x slower than PyTorch. Here a 2-D
//! convolution is *im2col* (Chellapilla, Puri & Simard, 2006, "High Performance Convolutional
//! Neural Networks for Document Processing"): a precomputed gather index copies every receptive
//! field into one row (`index_select`, whose backward is a scatter-add), and one matrix product
//! with the reshaped kernel does the arithmetic (`matmul`, whose backward is two matmuls).
//!
//! Activations stay in "rows" layout: a `(batch * height * width, channels)` matrix, i.e. NHWC
//! flattened, so a receptive field is `k*k` contiguous channel vectors and the gather moves whole
//! rows. Zero padding costs nothing: out-of-image taps use the index `u32::MAX`, which candle's
//! `index_select` reads as zero and its `index_add` (the backward) skips.
//!
//! This module is the autodiff path (input and parameter gradients for attacks and detectors;
//! the reference the hand-written training backward of `crate::backprop` is tested against);
//! training (`crate::trainer`) and inference (`crate::infer`) run the same layers without candle.

use std::sync::Mutex;

use candle_core::{Result, Tensor};

/// How many batch sizes a layer keeps gather indices for (training batch, last partial batch,
/// inference chunk and its remainder).
const INDEX_CACHE_ENTRIES: usize = 4;

/// A stride-1 "same" convolution (odd kernel, zero padding `k/2`) followed by 2x2 max-pooling
/// with stride 2, over rows-layout activations:
///
/// `conv[b, y, x, o] = bias[o] + sum_{c, i, j} w[o, c, i, j] * in[b, y + i - k/2, x + j - k/2, c]`
/// (out-of-range taps read as 0), then `out[b, y, x, o] = max_{dy, dx in {0,1}} conv[b, 2y+dy, 2x+dx, o]`,
/// i.e. PyTorch's `MaxPool2d(2)(Conv2d(c_in, c_out, k, padding=k//2)(x))` (floor mode: an odd
/// last row or column is dropped). The kernel is stored in PyTorch's `(out, in, k, k)` layout.
///
/// Fusing the pooling into the gather is what makes it cheap: the gather lists the convolution's
/// output pixels window position first, `(dy, dx, b, y, x)`, so the four members of every pooling
/// window sit in four contiguous blocks and the pooling is one max over the leading axis of a
/// `(4, n)` matrix (whose backward is a mask multiply). Pixels no window covers are never computed.
#[derive(Debug)]
pub(crate) struct ConvPool {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub in_h: usize,
    pub in_w: usize,
    /// Output side lengths (after pooling): `in / 2`, rounded down.
    pub out_h: usize,
    pub out_w: usize,
    index_cache: Mutex<Vec<(usize, Tensor)>>,
}

impl ConvPool {
    /// A convolution with an odd `kernel` over `in_h x in_w` maps of `in_channels`, pooled.
    /// Callers guarantee both sides are at least 2.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        in_h: usize,
        in_w: usize,
    ) -> ConvPool {
        ConvPool {
            in_channels,
            out_channels,
            kernel,
            in_h,
            in_w,
            out_h: in_h / 2,
            out_w: in_w / 2,
            index_cache: Mutex::new(Vec::new()),
        }
    }

    /// Shape of the kernel tensor, `(out, in, k, k)`.
    pub fn weight_shape(&self) -> Vec<usize> {
        vec![
            self.out_channels,
            self.in_channels,
            self.kernel,
            self.kernel,
        ]
    }

    /// Number of inputs feeding one output (the fan-in used for initialisation).
    pub fn fan_in(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }

    /// For each pooling-window position `(dy, dx)`, sample `b` and pooled pixel `(y, x)`, the input
    /// row of each kernel tap `(i, j)` of the convolution at `(2y + dy, 2x + dx)`; `u32::MAX` marks
    /// a tap in the padding.
    fn patch_rows(&self, batch: usize) -> Result<Vec<u32>> {
        let (k, pad) = (self.kernel, self.kernel / 2);
        let per_sample = self.in_h * self.in_w;
        if batch * per_sample >= u32::MAX as usize {
            candle_core::bail!("batch of {batch} images is too large to index");
        }
        // Input coordinate of tap `t` for output coordinate `o`, if inside the image.
        let tap = |o: usize, t: usize, side: usize| (o + t).checked_sub(pad).filter(|&v| v < side);
        let mut rows = Vec::with_capacity(4 * batch * self.out_h * self.out_w * k * k);
        for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            for b in 0..batch {
                let base = b * per_sample;
                for y in 0..self.out_h {
                    for x in 0..self.out_w {
                        let (cy, cx) = (2 * y + dy, 2 * x + dx);
                        for i in 0..k {
                            let iy = tap(cy, i, self.in_h);
                            for j in 0..k {
                                rows.push(match (iy, tap(cx, j, self.in_w)) {
                                    (Some(iy), Some(ix)) => (base + iy * self.in_w + ix) as u32,
                                    _ => u32::MAX,
                                });
                            }
                        }
                    }
                }
            }
        }
        Ok(rows)
    }

    fn patch_index(&self, batch: usize, like: &Tensor) -> Result<Tensor> {
        let mut cache = self
            .index_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, t)) = cache.iter().find(|(b, _)| *b == batch) {
            return Ok(t.clone());
        }
        let rows = self.patch_rows(batch)?;
        let len = rows.len();
        let t = Tensor::from_vec(rows, len, like.device())?;
        if cache.len() == INDEX_CACHE_ENTRIES {
            cache.remove(0);
        }
        cache.push((batch, t.clone()));
        Ok(t)
    }

    /// Applies convolution and pooling to `(batch * in_h * in_w, in_channels)` rows, returning
    /// `(batch * out_h * out_w, out_channels)` rows.
    pub fn forward(&self, rows: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let batch = rows.dim(0)? / (self.in_h * self.in_w);
        let pooled = batch * self.out_h * self.out_w;
        let kk = self.kernel * self.kernel;
        let index = self.patch_index(batch, rows)?;
        let patches = rows
            .index_select(&index, 0)?
            .reshape((4 * pooled, kk * self.in_channels))?;
        // (out, in, i, j) -> (out, i, j, in): the column order of `patches`.
        let kernel = weight
            .permute((0, 2, 3, 1))?
            .contiguous()?
            .reshape((self.out_channels, kk * self.in_channels))?;
        // The bias is the same across a window, so it is added after the max (4x fewer adds).
        patches
            .matmul(&kernel.t()?)?
            .reshape((4, pooled * self.out_channels))?
            .max(0)?
            .reshape((pooled, self.out_channels))?
            .broadcast_add(bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Direct evaluation of the convolution and pooling formulas in the doc comment.
    fn reference(
        layer: &ConvPool,
        input: &[f32],
        weight: &[f32],
        bias: &[f32],
        batch: usize,
    ) -> Vec<f32> {
        let (c_in, c_out, k) = (layer.in_channels, layer.out_channels, layer.kernel);
        let pad = (k / 2) as isize;
        let conv = |b: usize, y: usize, x: usize, o: usize| {
            let mut acc = bias[o] as f64;
            for c in 0..c_in {
                for i in 0..k {
                    for j in 0..k {
                        let iy = y as isize + i as isize - pad;
                        let ix = x as isize + j as isize - pad;
                        if iy < 0
                            || ix < 0
                            || iy >= layer.in_h as isize
                            || ix >= layer.in_w as isize
                        {
                            continue;
                        }
                        let v = input[((b * layer.in_h + iy as usize) * layer.in_w + ix as usize)
                            * c_in
                            + c];
                        acc += (v * weight[((o * c_in + c) * k + i) * k + j]) as f64;
                    }
                }
            }
            acc
        };
        let mut out = Vec::new();
        for b in 0..batch {
            for y in 0..layer.out_h {
                for x in 0..layer.out_w {
                    for o in 0..c_out {
                        let m = [(0, 0), (0, 1), (1, 0), (1, 1)]
                            .iter()
                            .map(|&(dy, dx)| conv(b, 2 * y + dy, 2 * x + dx, o))
                            .fold(f64::NEG_INFINITY, f64::max);
                        out.push(m as f32);
                    }
                }
            }
        }
        out
    }

    /// Deterministic values in `[-scale, scale]` without ties.
    fn ramp(n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 % 10007) as f32 / 5003.5 - 1.0) * scale)
            .collect()
    }

    #[test]
    fn matches_direct_convolution_and_pooling() -> Result<()> {
        let dev = Device::Cpu;
        for (k, h, w) in [(5, 7, 6), (3, 4, 4), (3, 5, 9), (1, 2, 3)] {
            let layer = ConvPool::new(3, 4, k, h, w);
            let batch = 2;
            let input = ramp(batch * h * w * 3, 1.0);
            let weight = ramp(4 * 3 * k * k, 0.3);
            let bias = vec![0.1, -0.2, 0.3, 0.0];
            let got = layer
                .forward(
                    &Tensor::from_vec(input.clone(), (batch * h * w, 3), &dev)?,
                    &Tensor::from_vec(weight.clone(), layer.weight_shape(), &dev)?,
                    &Tensor::new(bias.as_slice(), &dev)?,
                )?
                .flatten_all()?
                .to_vec1::<f32>()?;
            let want = reference(&layer, &input, &weight, &bias, batch);
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-4, "{g} vs {w}");
            }
        }
        Ok(())
    }

    #[test]
    fn gradients_match_candle_conv2d_and_max() -> Result<()> {
        // candle's own conv2d (NCHW) and max-reductions are an independent reference for backprop.
        let dev = Device::Cpu;
        let (batch, c_in, c_out, k, h, w) = (2, 2, 3, 3, 6, 4);
        let layer = ConvPool::new(c_in, c_out, k, h, w);
        let nchw = Var::from_vec(ramp(batch * c_in * h * w, 1.0), (batch, c_in, h, w), &dev)?;
        let weight = Var::from_vec(ramp(c_out * c_in * k * k, 0.5), layer.weight_shape(), &dev)?;
        let bias = Var::from_vec(vec![0.1f32, 0.0, -0.1], c_out, &dev)?;
        let (oh, ow) = (layer.out_h, layer.out_w);
        let upstream = Tensor::from_vec(
            ramp(batch * oh * ow * c_out, 2.0),
            (batch, oh, ow, c_out),
            &dev,
        )?;

        let rows = nchw
            .permute((0, 2, 3, 1))?
            .contiguous()?
            .reshape((batch * h * w, c_in))?;
        let ours = layer
            .forward(&rows, &weight, &bias)?
            .reshape((batch, oh, ow, c_out))?;
        let g1 = (ours * &upstream)?.sum_all()?.backward()?;
        let theirs = nchw
            .conv2d(&weight, k / 2, 1, 1, 1)?
            .broadcast_add(&bias.reshape((1, c_out, 1, 1))?)?
            // 2x2 max-pooling as a max over reshaped axes (`max_pool2d`'s backward in candle
            // 0.11 scales the gradient by 1/4; reductions differentiate correctly).
            .reshape((batch, c_out, oh, 2, ow, 2))?
            .max(5)?
            .max(3)?
            .permute((0, 2, 3, 1))?;
        let g2 = (theirs * &upstream)?.sum_all()?.backward()?;
        for v in [&nchw, &weight, &bias] {
            let a = g1
                .get(v)
                .expect("gradient")
                .flatten_all()?
                .to_vec1::<f32>()?;
            let b = g2
                .get(v)
                .expect("gradient")
                .flatten_all()?
                .to_vec1::<f32>()?;
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-3 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
        Ok(())
    }
}
