//! Principal directions of a set of rows, via faer's symmetric eigendecomposition of the
//! scatter matrix `X^T X` of the centred rows (the right singular vectors of `X`).

use crate::{DetectError, Embeddings, Result};
use faer::{Mat, Side};

/// The centred rows of one class and their principal directions.
pub(crate) struct Principal {
    /// The mean of the rows (what was subtracted).
    pub mean: Vec<f64>,
    /// Centred rows, `rows.len() x dim`.
    pub centred: Mat<f64>,
    /// The `count` leading unit eigenvectors of `X^T X` as columns (`dim x count`), largest
    /// eigenvalue first.
    pub directions: Mat<f64>,
    /// Their eigenvalues (squared singular values of `X`), descending.
    pub values: Vec<f64>,
}

/// Centres the given rows of `emb` and computes their `count` leading principal directions
/// (`count` is capped at the dimension). Cost: `O(n d^2 + d^3)`.
pub(crate) fn principal(emb: &Embeddings, rows: &[usize], count: usize) -> Result<Principal> {
    let d = emb.dim();
    let n = rows.len();
    let mut mean = vec![0f64; d];
    for &r in rows {
        for (m, &v) in mean.iter_mut().zip(emb.row(r)) {
            *m += f64::from(v);
        }
    }
    for m in &mut mean {
        *m /= n.max(1) as f64;
    }
    let centred = Mat::from_fn(n, d, |i, j| f64::from(emb.row(rows[i])[j]) - mean[j]);
    let scatter = centred.transpose() * &centred;
    let eigen = scatter
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| DetectError::Linalg(format!("eigendecomposition failed: {e:?}")))?;
    let count = count.min(d);
    let u = eigen.U();
    let s = eigen.S().column_vector();
    // faer sorts eigenvalues ascending: the leading ones are the last columns.
    let directions = Mat::from_fn(d, count, |i, j| u[(i, d - 1 - j)]);
    let values = (0..count).map(|j| s[d - 1 - j].max(0.0)).collect();
    Ok(Principal {
        mean,
        centred,
        directions,
        values,
    })
}

impl Principal {
    /// The centred rows projected onto the leading directions (`n x count`).
    pub fn projected(&self) -> Mat<f64> {
        &self.centred * &self.directions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_direction_of_a_line_is_the_line() {
        // Points on y = 2x (plus a tiny orthogonal wobble): direction ±(1, 2)/sqrt(5).
        let mut values = Vec::new();
        for i in 0..10 {
            let t = i as f32 - 4.5;
            let wobble = if i % 2 == 0 { 0.01 } else { -0.01 };
            values.extend([t - 2.0 * wobble, 2.0 * t + wobble]);
        }
        let labels = vec![0u32; 10];
        let ids: Vec<u64> = (0..10).collect();
        let emb = Embeddings::new(&values, 2, &labels, &ids, 1).unwrap();
        let p = principal(&emb, &(0..10).collect::<Vec<_>>(), 1).unwrap();
        let (a, b) = (p.directions[(0, 0)], p.directions[(1, 0)]);
        let cos = (a + 2.0 * b).abs() / 5f64.sqrt();
        assert!((cos - 1.0).abs() < 1e-6, "cos {cos}");
        // Eigenvalue = sum of squared projections = 5 * sum t^2.
        let expected: f64 = (0..10).map(|i| 5.0 * (i as f64 - 4.5).powi(2)).sum();
        assert!((p.values[0] - expected).abs() / expected < 1e-3);
        assert_eq!(p.projected().ncols(), 1);
    }
}
