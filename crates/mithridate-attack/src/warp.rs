//! Image geometry for warping triggers (WaNet, Nguyen & Tran 2021): bicubic upsampling of a
//! coarse control field, and bilinear resampling of an image through a sampling grid.
//!
//! Both follow PyTorch's conventions with `align_corners=True`, which the WaNet reference
//! code uses, so the same seeded field produces the same warp as `F.upsample(mode="bicubic")`
//! followed by `F.grid_sample(mode="bilinear")` would:
//! - output index `o` of an upsampling from `n` to `m` samples reads the source at
//!   `o * (n - 1) / (m - 1)` (corner samples map onto corner samples);
//! - the bicubic kernel is Keys' cubic convolution with `a = -0.75`, source indices clamped
//!   to the border;
//! - a sampling grid holds, for every output pixel, the (fractional) source row and column
//!   in pixel units, inside `[0, H - 1] x [0, W - 1]`.
//!
//! Bilinear sampling is a convex combination of the four neighbouring pixels, so a warped
//! image never leaves the range of its source, a constant image stays constant, and a grid
//! of integer positions copies pixels exactly.

/// Keys' cubic convolution weights for the four taps around a sample at fraction `t` in
/// `[0, 1)` past the second tap, with PyTorch's `a = -0.75`. The weights sum to 1.
pub(crate) fn cubic_weights(t: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    // |x| <= 1: (a + 2)|x|^3 - (a + 3)|x|^2 + 1; 1 < |x| < 2: a|x|^3 - 5a|x|^2 + 8a|x| - 4a.
    let near = |x: f32| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f32| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
}

/// Where output index `o` of `m` samples reads a source of `n` samples (`align_corners=True`).
fn source_position(o: usize, n: usize, m: usize) -> f32 {
    if m <= 1 {
        0.0
    } else {
        (o as f64 * (n - 1) as f64 / (m - 1) as f64) as f32
    }
}

/// Bicubic resampling of one axis: `values` holds `outer` runs of `n` samples spaced by
/// `stride` (and runs start `run_step` apart); the result holds `outer` runs of `m`.
fn cubic_axis(
    values: &[f32],
    n: usize,
    m: usize,
    outer: usize,
    stride: usize,
    run_step: usize,
) -> Vec<f32> {
    let mut out = vec![0.0; outer * m];
    for o in 0..m {
        let s = source_position(o, n, m);
        let base = s.floor();
        let weights = cubic_weights(s - base);
        let base = base as isize;
        for run in 0..outer {
            let mut acc = 0.0;
            for (tap, w) in weights.iter().enumerate() {
                let i = (base + tap as isize - 1).clamp(0, n as isize - 1) as usize;
                acc += w * values[run * run_step + i * stride];
            }
            out[run * m + o] = acc;
        }
    }
    out
}

/// Bicubic upsampling (`align_corners=True`) of a row-major `k_rows x k_cols` field to
/// `rows x cols`; separable, rows first. Needs `k_rows, k_cols >= 1` and
/// `field.len() == k_rows * k_cols` (the caller's checked shapes).
pub(crate) fn upsample_bicubic(
    field: &[f32],
    (k_rows, k_cols): (usize, usize),
    (rows, cols): (usize, usize),
) -> Vec<f32> {
    // Along columns: k_rows runs of k_cols contiguous values -> k_rows x cols.
    let wide = cubic_axis(field, k_cols, cols, k_rows, 1, k_cols);
    // Along rows: cols runs of k_rows values spaced by cols -> cols x rows (column-major).
    let tall = cubic_axis(&wide, k_rows, rows, cols, cols, 1);
    let mut out = vec![0.0; rows * cols];
    for c in 0..cols {
        for r in 0..rows {
            out[r * cols + c] = tall[c * rows + r];
        }
    }
    out
}

/// The value of a `height x width` plane at fractional position `(y, x)` inside it,
/// interpolated bilinearly from its four neighbours.
pub(crate) fn bilinear(plane: &[f32], (height, width): (usize, usize), y: f32, x: f32) -> f32 {
    let y = y.clamp(0.0, (height - 1) as f32);
    let x = x.clamp(0.0, (width - 1) as f32);
    let (y0, x0) = (y.floor() as usize, x.floor() as usize);
    let (y1, x1) = ((y0 + 1).min(height - 1), (x0 + 1).min(width - 1));
    let (wy, wx) = (y - y0 as f32, x - x0 as f32);
    let at = |r: usize, c: usize| plane[r * width + c];
    let top = at(y0, x0) * (1.0 - wx) + at(y0, x1) * wx;
    let bottom = at(y1, x0) * (1.0 - wx) + at(y1, x1) * wx;
    top * (1.0 - wy) + bottom * wy
}

/// Writes into `out` the `channels x height x width` image `source` resampled through the
/// grid (`source_rows[p]`, `source_cols[p]` for output pixel `p`, row-major); every channel
/// goes through the same grid.
pub(crate) fn resample(
    source: &[f32],
    out: &mut [f32],
    (channels, height, width): (usize, usize, usize),
    source_rows: &[f32],
    source_cols: &[f32],
) {
    let plane = height * width;
    for c in 0..channels {
        let src = &source[c * plane..(c + 1) * plane];
        for (p, v) in out[c * plane..(c + 1) * plane].iter_mut().enumerate() {
            *v = bilinear(src, (height, width), source_rows[p], source_cols[p]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_weights_match_keys_kernel_by_hand() {
        // t = 0.5: near(0.5) = (1.25 * 0.5 - 2.25) * 0.25 + 1 = 0.59375,
        // far(1.5) = ((-1.125 + 3.75) * 1.5 - 6) * 1.5 + 3 = -0.09375.
        assert_eq!(cubic_weights(0.5), [-0.09375, 0.59375, 0.59375, -0.09375]);
        // t = 0 lands on the second tap: an interpolating kernel.
        assert_eq!(cubic_weights(0.0), [0.0, 1.0, 0.0, 0.0]);
        let sum: f32 = cubic_weights(0.3).iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
    }

    #[test]
    fn upsampling_keeps_the_control_points_and_constants() {
        // 4 -> 10 with align_corners: outputs 0, 3, 6, 9 sit exactly on controls 0..3.
        let field: Vec<f32> = (0..16).map(|i| (i as f32 * 1.7).sin()).collect();
        let up = upsample_bicubic(&field, (4, 4), (10, 10));
        for r in 0..4 {
            for c in 0..4 {
                let got = up[3 * r * 10 + 3 * c];
                assert!((got - field[r * 4 + c]).abs() < 1e-6, "({r}, {c}): {got}");
            }
        }
        let flat = upsample_bicubic(&[0.25; 6], (2, 3), (5, 7));
        assert!(flat.iter().all(|v| (v - 0.25).abs() < 1e-6));
        // A 1x1 field is a constant (a pure translation in WaNet terms).
        assert_eq!(upsample_bicubic(&[2.0], (1, 1), (3, 2)), vec![2.0; 6]);
    }

    #[test]
    fn bilinear_interpolates_between_neighbours() {
        // 2x2 plane [[0, 1], [2, 3]]: value = x + 2y inside the square.
        let plane = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(bilinear(&plane, (2, 2), 0.5, 0.5), 1.5);
        assert_eq!(bilinear(&plane, (2, 2), 0.25, 1.0), 1.5);
        assert_eq!(bilinear(&plane, (2, 2), 1.0, 1.0), 3.0);
        // Integer grids copy pixels; channels share the grid.
        let image = [0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 13.0];
        let mut out = [0.0; 8];
        resample(
            &image,
            &mut out,
            (2, 2, 2),
            &[1.0, 1.0, 0.0, 0.0],
            &[1.0, 0.0, 1.0, 0.0],
        );
        assert_eq!(out, [3.0, 2.0, 1.0, 0.0, 13.0, 12.0, 11.0, 10.0]);
    }
}
