//! k-means (Lloyd, 1982) with k-means++ seeding (Arthur & Vassilvitskii, 2007), and the mean
//! silhouette coefficient (Rousseeuw, 1987). Small and exact; used with `k = 2` by
//! activation clustering.
//!
//! Lloyd's iteration alternates assigning each point to its nearest centroid (squared
//! Euclidean distance, ties to the lower index) and moving each centroid to its cluster's mean,
//! until no assignment changes or `max_iter` rounds; it is restarted `restarts` times from
//! independent k-means++ seeds (first centre uniform, each next one drawn with probability
//! proportional to `D(x)^2`) and the lowest inertia `Σ ||x - c(x)||^2` wins (ties: the first).
//! Deterministic in `seed`. Cost `O(restarts · iterations · n k d)`.
//!
//! ```
//! use mithridate_detect::kmeans::{kmeans, silhouette};
//! // 1-D points {0, 1, 10, 11}: the optimum is {0, 1} | {10, 11}, centroids 0.5 and 10.5.
//! let fit = kmeans(&[0.0, 1.0, 10.0, 11.0], 1, 2, 3, 7)?;
//! assert_eq!(fit.assignment[0], fit.assignment[1]);
//! assert_ne!(fit.assignment[1], fit.assignment[2]);
//! assert!((fit.inertia - 1.0).abs() < 1e-12);
//! // Silhouette of point 0: a = 1, b = (10 + 11) / 2 = 10.5, s = 1 - 1/10.5.
//! let s = silhouette(&[0.0, 1.0, 10.0, 11.0], 1, &fit.assignment, 2);
//! assert!((s - (1.0 - 1.0 / 10.5 + 1.0 - 1.0 / 9.5 + 1.0 - 1.0 / 9.5 + 1.0 - 1.0 / 10.5) / 4.0).abs() < 1e-12);
//! # Ok::<(), mithridate_detect::DetectError>(())
//! ```

use crate::{DetectError, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Lloyd rounds per restart at most.
const MAX_ITER: usize = 100;

/// A fitted clustering.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansFit {
    /// Cluster of every point.
    pub assignment: Vec<usize>,
    /// `k * d` centroid coordinates.
    pub centroids: Vec<f64>,
    /// Sum of squared distances to the assigned centroids.
    pub inertia: f64,
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Clusters the `n = points.len() / d` rows of `points` into `k` groups (see the module docs).
/// Errors if `d == 0`, the length is not a multiple of `d`, `k == 0`, `k > n` or `restarts == 0`.
pub fn kmeans(points: &[f64], d: usize, k: usize, restarts: usize, seed: u64) -> Result<KMeansFit> {
    if d == 0 || !points.len().is_multiple_of(d) {
        return Err(DetectError::input(format!(
            "{} coordinates are not rows of dimension {d}",
            points.len()
        )));
    }
    let n = points.len() / d;
    if k == 0 || k > n || restarts == 0 {
        return Err(DetectError::param(format!(
            "k-means needs 1 <= k <= n and restarts >= 1 (k = {k}, n = {n}, restarts = {restarts})"
        )));
    }
    let row = |i: usize| &points[i * d..(i + 1) * d];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut best: Option<KMeansFit> = None;
    for _ in 0..restarts {
        // k-means++ seeding.
        let mut centroids: Vec<f64> = row(rng.random_range(0..n)).to_vec();
        let mut nearest: Vec<f64> = (0..n).map(|i| sq_dist(row(i), &centroids[..d])).collect();
        while centroids.len() < k * d {
            let total: f64 = nearest.iter().sum();
            let pick = if total > 0.0 {
                let mut u = rng.random::<f64>() * total;
                let mut chosen = n - 1;
                for (i, &w) in nearest.iter().enumerate() {
                    if u < w {
                        chosen = i;
                        break;
                    }
                    u -= w;
                }
                chosen
            } else {
                rng.random_range(0..n)
            };
            let start = centroids.len();
            centroids.extend_from_slice(row(pick));
            for (i, m) in nearest.iter_mut().enumerate() {
                *m = m.min(sq_dist(row(i), &centroids[start..start + d]));
            }
        }
        let fit = lloyd(points, d, k, centroids);
        if best.as_ref().is_none_or(|b| fit.inertia < b.inertia) {
            best = Some(fit);
        }
    }
    best.ok_or_else(|| DetectError::input("k-means produced no fit"))
}

/// Lloyd's iteration from the given `k * d` initial centroids (see the module docs).
pub(crate) fn lloyd(points: &[f64], d: usize, k: usize, mut centroids: Vec<f64>) -> KMeansFit {
    let n = points.len() / d;
    let assign = |centroids: &[f64]| -> Vec<usize> {
        (0..n)
            .into_par_iter()
            .map(|i| {
                let p = &points[i * d..(i + 1) * d];
                (0..k)
                    .map(|c| (c, sq_dist(p, &centroids[c * d..(c + 1) * d])))
                    .fold(
                        (0, f64::INFINITY),
                        |acc, x| if x.1 < acc.1 { x } else { acc },
                    )
                    .0
            })
            .collect()
    };
    let mut assignment = assign(&centroids);
    for _ in 0..MAX_ITER {
        let mut sums = vec![0f64; k * d];
        let mut counts = vec![0usize; k];
        for (i, &c) in assignment.iter().enumerate() {
            counts[c] += 1;
            for (s, &x) in sums[c * d..(c + 1) * d]
                .iter_mut()
                .zip(&points[i * d..(i + 1) * d])
            {
                *s += x;
            }
        }
        for c in 0..k {
            // An emptied cluster keeps its centroid (k-means++ seeds are data points, so
            // this only happens with duplicates).
            if counts[c] > 0 {
                for j in 0..d {
                    centroids[c * d + j] = sums[c * d + j] / counts[c] as f64;
                }
            }
        }
        let next = assign(&centroids);
        if next == assignment {
            break;
        }
        assignment = next;
    }
    let inertia = assignment
        .iter()
        .enumerate()
        .map(|(i, &c)| sq_dist(&points[i * d..(i + 1) * d], &centroids[c * d..(c + 1) * d]))
        .sum();
    KMeansFit {
        assignment,
        centroids,
        inertia,
    }
}

/// Mean silhouette `s_i = (b_i - a_i) / max(a_i, b_i)` over all points, with `a_i` the mean
/// Euclidean distance to the other members of its cluster and `b_i` the smallest mean distance to
/// another cluster; `s_i = 0` for a point alone in its cluster. Returns 0 with fewer than two
/// non-empty clusters. Cost `O(n^2 d)` (parallel over points).
pub fn silhouette(points: &[f64], d: usize, assignment: &[usize], k: usize) -> f64 {
    let n = assignment.len();
    let mut sizes = vec![0usize; k];
    for &c in assignment {
        sizes[c] += 1;
    }
    if n == 0 || sizes.iter().filter(|&&s| s > 0).count() < 2 {
        return 0.0;
    }
    // Collected, then summed in order: a parallel float sum would depend on the thread split.
    let per_point: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| {
            let p = &points[i * d..(i + 1) * d];
            let mut sums = vec![0f64; k];
            for j in 0..n {
                if j != i {
                    sums[assignment[j]] += sq_dist(p, &points[j * d..(j + 1) * d]).sqrt();
                }
            }
            let own = assignment[i];
            if sizes[own] < 2 {
                return 0.0;
            }
            let a = sums[own] / (sizes[own] - 1) as f64;
            let b = (0..k)
                .filter(|&c| c != own && sizes[c] > 0)
                .map(|c| sums[c] / sizes[c] as f64)
                .fold(f64::INFINITY, f64::min);
            let m = a.max(b);
            if m > 0.0 {
                (b - a) / m
            } else {
                0.0
            }
        })
        .collect();
    per_point.iter().sum::<f64>() / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_two_clusters_in_2d() {
        // Two squares of side 1 centred at (0.5, 0.5) and (5.5, 0.5).
        let pts = [
            0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 5.0, 0.0, 6.0, 0.0, 5.0, 1.0, 6.0, 1.0,
        ];
        let fit = kmeans(&pts, 2, 2, 4, 1).unwrap();
        let first = fit.assignment[0];
        assert!(fit.assignment[..4].iter().all(|&c| c == first));
        assert!(fit.assignment[4..].iter().all(|&c| c != first));
        let c = &fit.centroids[first * 2..first * 2 + 2];
        assert_eq!(c, &[0.5, 0.5]);
        // Each point is at squared distance 0.5 from its centroid.
        assert!((fit.inertia - 4.0).abs() < 1e-12);
        assert_eq!(kmeans(&pts, 2, 2, 4, 1).unwrap(), fit);
    }

    #[test]
    fn degenerate_inputs_are_errors_or_zero() {
        assert!(kmeans(&[1.0, 2.0], 1, 3, 1, 0).is_err());
        assert!(kmeans(&[1.0, 2.0, 3.0], 2, 1, 1, 0).is_err());
        assert!(kmeans(&[1.0], 1, 1, 0, 0).is_err());
        // All points identical: one cluster gets everything, no panic.
        let fit = kmeans(&[2.0; 6], 1, 2, 2, 0).unwrap();
        assert_eq!(fit.inertia, 0.0);
        assert_eq!(silhouette(&[0.0, 1.0], 1, &[0, 0], 2), 0.0);
    }
}
