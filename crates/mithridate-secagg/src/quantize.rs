//! Fixed-point encoding of real vectors into `Z_{2^32}`, where the masks live and sums wrap.

/// `round(x 2^b)` as a two's-complement word, after clamping `x` to `+-range`; the sum of `n`
/// such words decodes exactly (no wrap-around) when `range = (2^31 - 1) / (n 2^b)`
/// ([`range`]). The rounding error per coordinate is at most `2^-(b+1)`.
///
/// ```
/// use mithridate_secagg::quantize::{decode, encode, range};
/// let r = range(16, 3);
/// let words: Vec<Vec<u32>> = [[0.5f64, -1.25], [0.25, 2.0], [-0.125, 0.0]]
///     .iter()
///     .map(|x| encode(x, 16, r))
///     .collect();
/// let sum: Vec<u32> = (0..2)
///     .map(|j| words.iter().fold(0u32, |s, w| s.wrapping_add(w[j])))
///     .collect();
/// assert_eq!(decode(&sum, 16), vec![0.625, 0.75]);
/// ```
pub fn encode(x: &[f64], fraction_bits: u32, range: f64) -> Vec<u32> {
    let scale = (fraction_bits as f64).exp2();
    x.iter()
        .map(|v| {
            let v = if v.is_nan() {
                0.0
            } else {
                v.clamp(-range, range)
            };
            ((v * scale).round() as i64) as i32 as u32
        })
        .collect()
}

/// The largest magnitude per coordinate that `n` clients may each send without the sum
/// wrapping around: `(2^31 - 1) / (n 2^b)`.
pub fn range(fraction_bits: u32, n: usize) -> f64 {
    (i32::MAX as f64) / (n.max(1) as f64 * (fraction_bits as f64).exp2())
}

/// The words as signed fixed-point numbers: `(w as i32) / 2^b`.
pub fn decode(words: &[u32], fraction_bits: u32) -> Vec<f64> {
    let scale = (fraction_bits as f64).exp2();
    words.iter().map(|w| (*w as i32) as f64 / scale).collect()
}
