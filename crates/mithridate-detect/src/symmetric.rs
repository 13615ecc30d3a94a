//! Symmetric positive semi-definite matrices for the whitening detectors (SPECTRE, SCAn): the
//! mean and covariance of selected rows, the eigendecomposition with eigenvalues in descending
//! order, and matrix functions `f(A) = U f(Λ) U^T` (inverse square root, inverse, exponential),
//! all through faer's self-adjoint eigensolver (`O(d^3)` per call).

use crate::{DetectError, Result};
use faer::{Mat, Side};

/// `A = U diag(values) U^T`, eigenvalues descending, eigenvectors as the columns of `vectors`.
pub(crate) struct SymEigen {
    pub values: Vec<f64>,
    pub vectors: Mat<f64>,
}

/// Eigendecomposition of the symmetric matrix `a` (its lower triangle is read).
pub(crate) fn sym_eigen(a: &Mat<f64>) -> Result<SymEigen> {
    let d = a.nrows();
    let eigen = a
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| DetectError::Linalg(format!("eigendecomposition failed: {e:?}")))?;
    let s = eigen.S().column_vector();
    let u = eigen.U();
    // faer sorts ascending: reverse the order.
    Ok(SymEigen {
        values: (0..d).map(|j| s[d - 1 - j]).collect(),
        vectors: Mat::from_fn(d, d, |i, j| u[(i, d - 1 - j)]),
    })
}

impl SymEigen {
    /// `U diag(f(λ)) U^T`.
    pub fn apply(&self, f: impl Fn(f64) -> f64) -> Mat<f64> {
        let d = self.values.len();
        let fv: Vec<f64> = self.values.iter().map(|&v| f(v)).collect();
        let scaled = Mat::from_fn(d, d, |i, j| self.vectors[(i, j)] * fv[j]);
        &scaled * self.vectors.transpose()
    }
}

/// Mean and covariance (divided by the count) of the given rows of `x`; zero for no rows.
pub(crate) fn mean_cov(x: &Mat<f64>, rows: &[usize]) -> (Vec<f64>, Mat<f64>) {
    let d = x.ncols();
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0f64; d];
    for &r in rows {
        for (j, m) in mean.iter_mut().enumerate() {
            *m += x[(r, j)];
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let centred = Mat::from_fn(rows.len(), d, |i, j| x[(rows[i], j)] - mean[j]);
    let cov = (centred.transpose() * &centred) * faer::Scale(1.0 / n);
    (mean, cov)
}

/// `(A + ρ λ̄ I)^{-1/2}` for a covariance `A` with mean eigenvalue `λ̄` and relative ridge
/// `ρ >= 0`; eigenvalues are floored at a tiny positive value so a degenerate `A` (constant
/// data) gives large finite entries, never infinities.
pub(crate) fn inverse_sqrt(a: &Mat<f64>, ridge: f64) -> Result<Mat<f64>> {
    let e = sym_eigen(a)?;
    let shift = ridge_shift(&e.values, ridge);
    Ok(e.apply(|v| 1.0 / (v.max(0.0) + shift).sqrt()))
}

/// The ridge `ρ λ̄` added to every eigenvalue, at least `1e-12 λ̄` and never zero.
pub(crate) fn ridge_shift(values: &[f64], ridge: f64) -> f64 {
    let mean = values.iter().map(|v| v.max(0.0)).sum::<f64>() / values.len().max(1) as f64;
    (ridge.max(1e-12) * mean).max(1e-300)
}

/// The rows of `x` minus `mean`, times the symmetric matrix `w`: `(x_i - μ) W` per row.
pub(crate) fn centred_times(x: &Mat<f64>, mean: &[f64], w: &Mat<f64>) -> Mat<f64> {
    let centred = Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] - mean[j]);
    &centred * w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_square_root_whitens_a_known_covariance() {
        // A = [[4, 2], [2, 3]]: (A^{-1/2})^2 A = I.
        let a = Mat::from_fn(2, 2, |i, j| [[4.0, 2.0], [2.0, 3.0]][i][j]);
        let w = inverse_sqrt(&a, 0.0).unwrap();
        let id = &(&w * &w) * &a;
        for i in 0..2 {
            for j in 0..2 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((id[(i, j)] - want).abs() < 1e-9, "{i},{j}: {}", id[(i, j)]);
            }
        }
        let e = sym_eigen(&a).unwrap();
        // Eigenvalues of A: (7 ± sqrt(17)) / 2, descending.
        assert!((e.values[0] - (7.0 + 17f64.sqrt()) / 2.0).abs() < 1e-12);
        assert!(e.values[0] > e.values[1]);
        // A zero matrix stays finite.
        let z = inverse_sqrt(&Mat::zeros(2, 2), 1e-3).unwrap();
        assert!(z[(0, 0)].is_finite());
    }

    #[test]
    fn mean_and_covariance_of_selected_rows() {
        let x = Mat::from_fn(4, 1, |i, _| [1.0, 3.0, 100.0, 5.0][i]);
        let (m, c) = mean_cov(&x, &[0, 1, 3]);
        assert!((m[0] - 3.0).abs() < 1e-12);
        assert!((c[(0, 0)] - 8.0 / 3.0).abs() < 1e-12);
    }
}
