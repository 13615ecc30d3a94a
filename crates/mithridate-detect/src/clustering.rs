//! Activation clustering (Chen, Carvalho, Baracaldo, Ludwig, Edwards, Lee, Molloy & Srivastava,
//! "Detecting Backdoor Attacks on Deep Neural Networks by Activation Clustering", 2018).
//!
//! For each class, the penultimate activations are centred and projected on their `components`
//! leading principal directions (PCA via faer's symmetric eigendecomposition; the paper uses
//! ICA to 10 dimensions, PCA is the common substitute, e.g. in ART), then split by 2-means
//! ([`crate::kmeans`]). The class looks poisoned when the smaller cluster holds at most
//! `size_threshold` of it *and* the split is well separated (mean silhouette at least
//! `silhouette_threshold`); the smaller cluster of a poisoned class is flagged.
//!
//! Per-sample score (for ranking and AUROC): `s_c · (d_L - d_S) / (d_L + d_S)`, where `d_L`,
//! `d_S` are the sample's distances to the larger and smaller centroid of its class and `s_c`
//! the class silhouette: positive for members of the smaller cluster, largest in well-separated
//! classes. Assumption: the backdoor gives poisoned samples their own mode in activation space
//! (the network learned the trigger as a separate feature); a poison share above
//! `size_threshold` of its class is missed by design.
//!
//! Scaling: PCA `O(n d^2 + k d^3)`, 2-means `O(restarts · iters · n · components)`, silhouette
//! `O(m^2 · components)` per class on a seeded sample of at most `m = silhouette_sample` rows.
//! Classes with fewer than 4 samples are not clustered (score 0, never flagged).
//!
//! ```
//! use mithridate_detect::{clustering::ClusteringParams, Embeddings};
//! // Class 0: 40 points on a small ring at the origin, 6 far away at (20, 20).
//! let mut v = Vec::new();
//! for i in 0..46 {
//!     let (x, y) = if i < 40 { ((i as f32).cos(), (i as f32).sin()) } else { (20.0, 20.0 + i as f32 * 0.01) };
//!     v.extend([x, y]);
//! }
//! let (labels, ids) = (vec![0u32; 46], (0..46u64).collect::<Vec<_>>());
//! let d = ClusteringParams::default().check()?.detect_embeddings(&Embeddings::new(&v, 2, &labels, &ids, 1)?, 0)?;
//! assert_eq!(d.flagged, (40..46).collect::<Vec<u64>>());
//! assert_eq!(d.suspicious_classes(), vec![0]);
//! # Ok::<(), mithridate_detect::DetectError>(())
//! ```

use crate::kmeans::{kmeans, silhouette};
use crate::linalg::principal;
use crate::{check_share, DetectError, Detection, Detector, Embeddings, Result, ScanContext};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Unchecked parameters of [`ActivationClustering`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClusteringParams {
    /// PCA dimensions before clustering (the paper: 10); at least 1, capped at the
    /// embedding dimension.
    pub components: usize,
    /// Largest relative size of the smaller cluster for the class to look poisoned, in `(0, 0.5]`.
    pub size_threshold: f64,
    /// Smallest mean silhouette of the split for the class to look poisoned, in `[-1, 1]`.
    pub silhouette_threshold: f64,
    /// k-means restarts (k-means++ seeds), at least 1.
    pub restarts: usize,
    /// Rows per class used for the silhouette (a seeded sample), at least 2.
    pub silhouette_sample: usize,
}

impl Default for ClusteringParams {
    fn default() -> Self {
        ClusteringParams {
            components: 10,
            size_threshold: 0.35,
            silhouette_threshold: 0.25,
            restarts: 4,
            silhouette_sample: 2000,
        }
    }
}

impl ClusteringParams {
    /// Validates the parameters once.
    pub fn check(self) -> Result<ActivationClustering> {
        if self.components == 0 || self.restarts == 0 || self.silhouette_sample < 2 {
            return Err(DetectError::param(
                "activation clustering needs components >= 1, restarts >= 1 and silhouette_sample >= 2",
            ));
        }
        if check_share("size threshold", self.size_threshold)? > 0.5 {
            return Err(DetectError::param(format!(
                "size threshold must be at most 0.5 (the smaller of two clusters), got {}",
                self.size_threshold
            )));
        }
        if !(-1.0..=1.0).contains(&self.silhouette_threshold) {
            return Err(DetectError::param(format!(
                "silhouette threshold must be in [-1, 1], got {}",
                self.silhouette_threshold
            )));
        }
        Ok(ActivationClustering { params: self })
    }
}

/// The activation-clustering detector with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct ActivationClustering {
    params: ClusteringParams,
}

/// Per-class result: (suspicious, silhouette).
type ClassResult = (bool, f64);

impl ActivationClustering {
    /// Scores and flags precomputed representations; `seed` drives k-means and the
    /// silhouette sample.
    pub fn detect_embeddings(&self, emb: &Embeddings, seed: u64) -> Result<Detection> {
        let p = self.params;
        let mut scores = vec![0f64; emb.len()];
        let mut flags = vec![false; emb.len()];
        let mut verdicts: Vec<ClassResult> = vec![(false, 0.0); emb.num_classes()];
        for (class, rows) in emb.class_rows().iter().enumerate() {
            if rows.len() < 4 {
                continue;
            }
            let pcs = principal(emb, rows, p.components)?;
            let projected = pcs.projected();
            let m = projected.ncols();
            let points: Vec<f64> = (0..rows.len())
                .flat_map(|i| (0..m).map(move |j| (i, j)))
                .map(|(i, j)| projected[(i, j)])
                .collect();
            let class_seed = seed.wrapping_add(class as u64);
            let fit = kmeans(&points, m, 2, p.restarts, class_seed)?;
            let size1 = fit.assignment.iter().filter(|&&c| c == 1).count();
            let small = usize::from(size1 * 2 < rows.len());
            let small_size = if small == 1 {
                size1
            } else {
                rows.len() - size1
            };
            let relative = small_size as f64 / rows.len() as f64;
            let sil = if rows.len() <= p.silhouette_sample {
                silhouette(&points, m, &fit.assignment, 2)
            } else {
                let mut rng = ChaCha8Rng::seed_from_u64(class_seed);
                let mut picked = sample(&mut rng, rows.len(), p.silhouette_sample).into_vec();
                picked.sort_unstable();
                let sub: Vec<f64> = picked
                    .iter()
                    .flat_map(|&i| points[i * m..(i + 1) * m].iter().copied())
                    .collect();
                let assign: Vec<usize> = picked.iter().map(|&i| fit.assignment[i]).collect();
                silhouette(&sub, m, &assign, 2)
            };
            let suspicious =
                small_size > 0 && relative <= p.size_threshold && sil >= p.silhouette_threshold;
            verdicts[class] = (suspicious, sil);
            let centroid = |c: usize| &fit.centroids[c * m..(c + 1) * m];
            for (i, &r) in rows.iter().enumerate() {
                let x = &points[i * m..(i + 1) * m];
                let dist = |c: &[f64]| -> f64 {
                    x.iter()
                        .zip(c)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>()
                        .sqrt()
                };
                let (d_small, d_large) = (dist(centroid(small)), dist(centroid(1 - small)));
                let sum = d_small + d_large;
                let margin = if sum > 0.0 {
                    (d_large - d_small) / sum
                } else {
                    0.0
                };
                scores[r] = sil.max(0.0) * margin;
                flags[r] = suspicious && fit.assignment[i] == small;
            }
        }
        Ok(Detection::from_rows(
            self.name(),
            self.parameters(),
            emb.rows(),
            &scores,
            &flags,
            |c| verdicts[c as usize],
        ))
    }
}

impl Detector for ActivationClustering {
    fn name(&self) -> &'static str {
        "activation-clustering"
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    fn scan(&self, ctx: &ScanContext) -> Result<Detection> {
        self.detect_embeddings(&ctx.embeddings()?, ctx.seed())
    }
}
