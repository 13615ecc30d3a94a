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

use std::sync::Mutex;

use candle_core::{Result, Tensor, D};

/// How many batch sizes a layer keeps gather indices for (training batch, last partial batch,
/// inference chunk and its remainder).
const INDEX_CACHE_ENTRIES: usize = 4;

/// A stride-1, zero-padded 2-D convolution over rows-layout activations.
///
/// `out[b, y, x, o] = bias[o] + sum_{c, i, j} w[o, c, i, j] * in[b, y + i - pad, x + j - pad, c]`
/// with out-of-range input taps read as 0 (PyTorch's `Conv2d(stride=1, padding=pad)`; the kernel
/// is stored in PyTorch's `(out, in, k, k)` layout).
#[derive(Debug)]
pub(crate) struct Conv2d {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub pad: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_h: usize,
    pub out_w: usize,
    index_cache: Mutex<Vec<(usize, Tensor)>>,
}

impl Conv2d {
    /// A convolution of an `in_h x in_w` map; the output is `(in + 2 pad - k + 1)` per side.
    /// Callers guarantee the output is at least 1x1.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        pad: usize,
        in_h: usize,
        in_w: usize,
    ) -> Conv2d {
        Conv2d {
            in_channels,
            out_channels,
            kernel,
            pad,
            in_h,
            in_w,
            out_h: in_h + 2 * pad + 1 - kernel,
            out_w: in_w + 2 * pad + 1 - kernel,
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

    /// For each output pixel of each sample, the input row of each kernel tap, in
    /// `(b, y, x, i, j)` order; `u32::MAX` marks a tap that falls into the padding.
    fn patch_rows(&self, batch: usize) -> Result<Vec<u32>> {
        let k = self.kernel;
        let per_sample = self.in_h * self.in_w;
        if batch * per_sample >= u32::MAX as usize {
            candle_core::bail!("batch of {batch} images is too large to index");
        }
        let mut rows = Vec::with_capacity(batch * self.out_h * self.out_w * k * k);
        for b in 0..batch {
            let base = b * per_sample;
            for y in 0..self.out_h {
                for x in 0..self.out_w {
                    for i in 0..k {
                        // y + i - pad, computed without underflow.
                        let iy = (y + i).checked_sub(self.pad).filter(|&v| v < self.in_h);
                        for j in 0..k {
                            let ix = (x + j).checked_sub(self.pad).filter(|&v| v < self.in_w);
                            rows.push(match (iy, ix) {
                                (Some(iy), Some(ix)) => (base + iy * self.in_w + ix) as u32,
                                _ => u32::MAX,
                            });
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

    /// Applies the convolution to `(batch * in_h * in_w, in_channels)` rows, returning
    /// `(batch * out_h * out_w, out_channels)` rows.
    pub fn forward(&self, rows: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let batch = rows.dim(0)? / (self.in_h * self.in_w);
        let kk = self.kernel * self.kernel;
        let index = self.patch_index(batch, rows)?;
        let patches = rows
            .index_select(&index, 0)?
            .reshape((batch * self.out_h * self.out_w, kk * self.in_channels))?;
        // (out, in, i, j) -> (out, i, j, in): the column order of `patches`.
        let kernel = weight
            .permute((0, 2, 3, 1))?
            .contiguous()?
            .reshape((self.out_channels, kk * self.in_channels))?;
        patches.matmul(&kernel.t()?)?.broadcast_add(bias)
    }
}

/// 2x2 max-pooling with stride 2 over `(batch * h * w, c)` rows; an odd last row or column is
/// dropped (PyTorch's `MaxPool2d(2)` floor mode). Returns `(batch * (h/2) * (w/2), c)` rows.
pub(crate) fn max_pool2(rows: &Tensor, batch: usize, h: usize, w: usize) -> Result<Tensor> {
    let c = rows.dim(D::Minus1)?;
    let (h2, w2) = (h / 2, w / 2);
    let even = if h.is_multiple_of(2) && w.is_multiple_of(2) {
        rows.clone()
    } else {
        rows.reshape((batch, h, w, c))?
            .narrow(1, 0, 2 * h2)?
            .narrow(2, 0, 2 * w2)?
            .contiguous()?
    };
    even.reshape((batch, h2, 2, w2, 2, c))?
        .max(4)?
        .max(2)?
        .reshape((batch * h2 * w2, c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Direct evaluation of the convolution formula in the doc comment.
    fn reference_conv(
        conv: &Conv2d,
        input: &[f32],
        weight: &[f32],
        bias: &[f32],
        batch: usize,
    ) -> Vec<f32> {
        let (c_in, c_out, k) = (conv.in_channels, conv.out_channels, conv.kernel);
        let mut out = vec![0f32; batch * conv.out_h * conv.out_w * c_out];
        for b in 0..batch {
            for y in 0..conv.out_h {
                for x in 0..conv.out_w {
                    for o in 0..c_out {
                        let mut acc = bias[o] as f64;
                        for c in 0..c_in {
                            for i in 0..k {
                                for j in 0..k {
                                    let iy = y as isize + i as isize - conv.pad as isize;
                                    let ix = x as isize + j as isize - conv.pad as isize;
                                    if iy < 0
                                        || ix < 0
                                        || iy >= conv.in_h as isize
                                        || ix >= conv.in_w as isize
                                    {
                                        continue;
                                    }
                                    let (iy, ix) = (iy as usize, ix as usize);
                                    let v =
                                        input[((b * conv.in_h + iy) * conv.in_w + ix) * c_in + c];
                                    let wv = weight[((o * c_in + c) * k + i) * k + j];
                                    acc += (v * wv) as f64;
                                }
                            }
                        }
                        out[((b * conv.out_h + y) * conv.out_w + x) * c_out + o] = acc as f32;
                    }
                }
            }
        }
        out
    }

    fn ramp(n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * scale)
            .collect()
    }

    #[test]
    fn im2col_matches_direct_convolution() -> Result<()> {
        let dev = Device::Cpu;
        for (k, pad, h, w) in [(5, 2, 7, 6), (3, 1, 4, 4), (3, 0, 5, 5)] {
            let conv = Conv2d::new(3, 4, k, pad, h, w);
            let batch = 2;
            let input = ramp(batch * h * w * 3, 1.0);
            let weight = ramp(4 * 3 * k * k, 0.3);
            let bias = vec![0.1, -0.2, 0.3, 0.0];
            let got = conv
                .forward(
                    &Tensor::from_vec(input.clone(), (batch * h * w, 3), &dev)?,
                    &Tensor::from_vec(weight.clone(), conv.weight_shape(), &dev)?,
                    &Tensor::new(bias.as_slice(), &dev)?,
                )?
                .flatten_all()?
                .to_vec1::<f32>()?;
            let want = reference_conv(&conv, &input, &weight, &bias, batch);
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-4, "{g} vs {w}");
            }
        }
        Ok(())
    }

    #[test]
    fn im2col_gradient_matches_candle_conv2d() -> Result<()> {
        // candle's own conv2d (NCHW) is an independent reference for the backward pass.
        let dev = Device::Cpu;
        let (batch, c_in, c_out, k, pad, h, w) = (2, 2, 3, 3, 1, 5, 4);
        let conv = Conv2d::new(c_in, c_out, k, pad, h, w);
        let nchw = Var::from_vec(ramp(batch * c_in * h * w, 1.0), (batch, c_in, h, w), &dev)?;
        let weight = Var::from_vec(ramp(c_out * c_in * k * k, 0.5), conv.weight_shape(), &dev)?;
        let bias = Var::from_vec(vec![0.0f32; c_out], c_out, &dev)?;
        let upstream =
            Tensor::from_vec(ramp(batch * c_out * h * w, 2.0), (batch, h, w, c_out), &dev)?;

        let rows = nchw
            .permute((0, 2, 3, 1))?
            .contiguous()?
            .reshape((batch * h * w, c_in))?;
        let ours = conv
            .forward(&rows, &weight, &bias)?
            .reshape((batch, h, w, c_out))?;
        let g1 = (ours * &upstream)?.sum_all()?.backward()?;
        let theirs = nchw
            .conv2d(&weight, pad, 1, 1, 1)?
            .broadcast_add(&bias.reshape((1, c_out, 1, 1))?)?
            .permute((0, 2, 3, 1))?;
        let g2 = (theirs * &upstream)?.sum_all()?.backward()?;
        for v in [&nchw, &weight, &bias] {
            let a = g1.get(v).unwrap().flatten_all()?.to_vec1::<f32>()?;
            let b = g2.get(v).unwrap().flatten_all()?.to_vec1::<f32>()?;
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-3 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
        Ok(())
    }

    #[test]
    fn max_pool_takes_window_maxima_and_drops_odd_edge() -> Result<()> {
        let dev = Device::Cpu;
        // One sample, 3x5 map, 1 channel: values 0..15 row-major.
        let rows = Tensor::arange(0f32, 15.0, &dev)?.reshape((15, 1))?;
        let pooled = max_pool2(&rows, 1, 3, 5)?.flatten_all()?.to_vec1::<f32>()?;
        assert_eq!(pooled, vec![6.0, 8.0]);
        Ok(())
    }
}
