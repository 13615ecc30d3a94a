//! Activation clustering (Chen, Carvalho, Baracaldo, Ludwig, Edwards, Lee, Molloy & Srivastava,
//! "Detecting Backdoor Attacks on Deep Neural Networks by Activation Clustering", 2018).
//!
//! For each class, the penultimate activations are centred and projected on their `components`
//! leading principal directions (PCA via faer's symmetric eigendecomposition; the paper uses
//! ICA to 10 dimensions, PCA is the common substitute, e.g. in ART), then split by 2-means
//! ([`crate::kmeans`]). A class whose split is well separated (mean silhouette at least
//! `silhouette_threshold`) looks poisoned when one of its two clusters is singled out by
//! either of the paper's criteria:
//!
//! 1. **Dirty labels** (a cheap form of the paper's *exclusionary reclassification*: "would a
//!    model that never learned this cluster's feature put it in its labelled class?"). The
//!    classifier is a k-NN vote in *input* space, where a trigger is a small perturbation the
//!    poisoned network's features cannot amplify: for a seeded sample of each cluster
//!    (`consistency_sample` members), the share `a` of its `consistency_k` nearest raw inputs
//!    among a seeded reference sample of the whole training set (`reference_size` rows, the
//!    sample itself excluded) that carry the class's label. When `a_other - a_cluster >=
//!    consistency_gap`, the less consistent cluster is flagged *whatever its size*: an
//!    all-to-one backdoor at a 10% rate is about half of its target class, beyond any
//!    relative-size rule. In such a class, members of the other cluster whose neighbours
//!    mostly carry other labels (`a < 1/2`, the k-NN majority rule) are flagged as well:
//!    a few dozen stragglers keep a BadNets trigger alive. Dense (image, tabular) inputs
//!    only; for token inputs this criterion is skipped.
//! 2. **Relative size** (the paper's default): the smaller cluster holds at most
//!    `size_threshold` of the class. This is what catches clean-label poisons, whose labels
//!    agree with their inputs.
//!
//! Per-sample score (for ranking and AUROC): `s_c · (d_O - d_S) / (d_O + d_S)`, where `d_S`,
//! `d_O` are the sample's distances to the suspect centroid (the dirty-label cluster, else the
//! smaller one) and to the other, and `s_c` the class silhouette: positive on the suspect side,
//! largest in well-separated classes. Assumption: the backdoor gives poisoned samples their
//! own mode in activation space (the network learned the trigger as a separate feature); a
//! clean-label poison share above `size_threshold` of its class is missed by design. Two
//! legitimate modes of a clean class (a 7 with and without its bar) both agree with their
//! labels in input space, so criterion 1 does not flag them.
//!
//! Scaling: PCA `O(n d^2 + k d^3)`, 2-means `O(restarts · iters · n · components)`, silhouette
//! `O(m^2 · components)` per class on a seeded sample of at most `m = silhouette_sample` rows;
//! the dirty-label check `O(q R D)` per class for `q = consistency_sample` queries against
//! `R = reference_size` inputs of dimension `D` (blocked GEMM), plus `O(n_c R D)` for the
//! stragglers of a dirty-labelled class of `n_c` samples. Full MNIST (60,000 x 784, CNN
//! embeddings): 8.5 s for the detector, 12.7 s wall for `scan data` with features, on 2 cores.
//! Classes with fewer than 4 samples are not clustered (score 0, never flagged).
//!
//! ```
//! use mithridate_detect::ParamGuard;
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

use crate::kmeans::{kmeans, lloyd, silhouette, KMeansFit};
use crate::knn::nearest_neighbours;
use crate::linalg::principal;
use crate::{check_share, DetectError, Detection, Detector, Embeddings, Result, ScanContext};
use faer::Mat;
use mithridate_core::ParamGuard;
use mithridate_data::{seeded_sample, Dataset};

/// Unchecked parameters of [`ActivationClustering`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
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
    /// Dirty-label check: smallest gap in input-space label agreement between the two
    /// clusters for the less consistent one to be flagged, in `(0, 1]`.
    pub consistency_gap: f64,
    /// Dirty-label check: neighbours per queried sample, at least 1.
    pub consistency_k: usize,
    /// Dirty-label check: members queried per cluster (a seeded sample), at least 1.
    pub consistency_sample: usize,
    /// Dirty-label check: training inputs searched (a seeded sample), at least 1.
    pub reference_size: usize,
    /// The relative-size criterion also requires the class's silhouette to be an outlier
    /// among the classes: robust z-score at least this (>= 0; 0 switches the requirement
    /// off). Applied with at least 5 clustered classes.
    pub size_rule_outlier: f64,
}

impl Default for ClusteringParams {
    fn default() -> Self {
        ClusteringParams {
            components: 10,
            size_threshold: 0.35,
            silhouette_threshold: 0.25,
            restarts: 4,
            silhouette_sample: 2000,
            consistency_gap: 0.3,
            consistency_k: 10,
            consistency_sample: 500,
            reference_size: 10_000,
            size_rule_outlier: 2.0,
        }
    }
}

impl ParamGuard for ClusteringParams {
    type Checked = ActivationClustering;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        if self.components == 0
            || self.restarts == 0
            || self.silhouette_sample < 2
            || self.consistency_k == 0
            || self.consistency_sample == 0
            || self.reference_size == 0
        {
            return Err(DetectError::param(
                "activation clustering needs components, restarts, consistency_k, consistency_sample \
                 and reference_size >= 1 and silhouette_sample >= 2",
            ));
        }
        check_share("consistency gap", self.consistency_gap)?;
        if !(self.size_rule_outlier.is_finite() && self.size_rule_outlier >= 0.0) {
            return Err(DetectError::param(format!(
                "size_rule_outlier must be a finite z-score >= 0, got {}",
                self.size_rule_outlier
            )));
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
        Ok(())
    }

    fn build(self) -> ActivationClustering {
        ActivationClustering { params: self }
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
    /// Scores and flags precomputed representations with the relative-size criterion only
    /// (no inputs to check labels against); `seed` drives k-means and the silhouette sample.
    pub fn detect_embeddings(&self, emb: &Embeddings, seed: u64) -> Result<Detection> {
        self.detect(emb, None, seed)
    }

    /// Scores and flags representations of `data`'s rows (same order) with both criteria:
    /// the dirty-label check reads `data`'s raw inputs.
    pub fn detect_with_inputs(
        &self,
        emb: &Embeddings,
        data: &Dataset,
        seed: u64,
    ) -> Result<Detection> {
        if data.len() != emb.len() {
            return Err(DetectError::input(format!(
                "{} embeddings for {} samples",
                emb.len(),
                data.len()
            )));
        }
        self.detect(emb, Some(data), seed)
    }

    fn detect(&self, emb: &Embeddings, data: Option<&Dataset>, seed: u64) -> Result<Detection> {
        let p = self.params;
        let reference = data.and_then(|d| InputReference::new(d, p.reference_size, seed));
        let mut scores = vec![0f64; emb.len()];
        let mut flags = vec![false; emb.len()];
        let mut verdicts: Vec<ClassResult> = vec![(false, 0.0); emb.num_classes()];
        let mut splits = Vec::new();
        for (class, rows) in emb.class_rows().into_iter().enumerate() {
            if rows.len() < 4 {
                continue;
            }
            let pcs = principal(emb, &rows, p.components)?;
            let projected = pcs.projected();
            let m = projected.ncols();
            let points: Vec<f64> = (0..rows.len())
                .flat_map(|i| (0..m).map(move |j| (i, j)))
                .map(|(i, j)| projected[(i, j)])
                .collect();
            let class_seed = seed.wrapping_add(class as u64);
            let mut fit = kmeans(&points, m, 2, p.restarts, class_seed)?;
            let mut sil = self.class_silhouette(&points, m, &fit.assignment, class_seed);
            let mut dirty = None;
            if let Some(reference) = &reference {
                // Input-space label agreement of a seeded sample of the class, then the split
                // (k-means++'s, or Lloyd's from the low/high-agreement groups, which finds a
                // poison mode smaller than the class's legitimate modes) that separates
                // agreement most.
                let sampled = seeded_sample(rows.len(), p.consistency_sample, class_seed);
                let queried: Vec<usize> = sampled.iter().map(|&i| rows[i]).collect();
                let agreement = reference.agreement(&queried, class as u32, &p);
                let mut candidates = vec![fit.clone()];
                if let Some(centroids) = group_centroids(&points, m, &sampled, &agreement) {
                    candidates.push(lloyd(&points, m, 2, centroids));
                }
                let best = candidates
                    .into_iter()
                    .filter_map(|c| agreement_gap(&c, &sampled, &agreement).map(|g| (g, c)))
                    .max_by(|a, b| a.0 .0.total_cmp(&b.0 .0));
                if let Some(((gap, lower), candidate)) = best {
                    if gap >= p.consistency_gap {
                        let s =
                            self.class_silhouette(&points, m, &candidate.assignment, class_seed);
                        if s >= p.silhouette_threshold {
                            (fit, sil, dirty) = (candidate, s, Some(lower));
                        }
                    }
                }
            }
            splits.push(ClassSplit {
                class,
                rows,
                points,
                m,
                fit,
                sil,
                dirty,
            });
        }
        let outlying = silhouette_outliers(&splits, p.size_rule_outlier);
        for (split, outlying) in splits.iter().zip(outlying) {
            let (class, rows, points, fit) = (split.class, &split.rows, &split.points, &split.fit);
            let (m, sil, dirty) = (split.m, split.sil, split.dirty);
            let size1 = fit.assignment.iter().filter(|&&c| c == 1).count();
            let small = usize::from(size1 * 2 < rows.len());
            let small_size = if small == 1 {
                size1
            } else {
                rows.len() - size1
            };
            let separated = small_size > 0 && sil >= p.silhouette_threshold;
            let relative = small_size as f64 / rows.len() as f64;
            let (suspicious, suspect) = match dirty {
                Some(cluster) => (true, cluster),
                None => (separated && relative <= p.size_threshold && outlying, small),
            };
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
                let (d_suspect, d_other) = (dist(centroid(suspect)), dist(centroid(1 - suspect)));
                let sum = d_suspect + d_other;
                let margin = if sum > 0.0 {
                    (d_other - d_suspect) / sum
                } else {
                    0.0
                };
                scores[r] = sil.max(0.0) * margin;
                flags[r] = suspicious && fit.assignment[i] == suspect;
            }
            if let (Some(reference), Some(_)) = (&reference, dirty) {
                // Stragglers: poisons that k-means put on the clean side. A few dozen left in
                // 60,000 keep a BadNets trigger alive, so in a dirty-labelled class every
                // other member whose input-space neighbours mostly carry other labels is
                // flagged too (the k-NN majority rule).
                let others: Vec<usize> = (0..rows.len())
                    .filter(|&i| fit.assignment[i] != suspect)
                    .collect();
                let queried: Vec<usize> = others.iter().map(|&i| rows[i]).collect();
                let agreement = reference.agreement(&queried, class as u32, &p);
                for (&r, a) in queried.iter().zip(agreement) {
                    if a < 0.5 {
                        flags[r] = true;
                        scores[r] = sil.max(0.0) * (1.0 - 2.0 * a);
                    }
                }
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

    /// Mean silhouette of a 2-means split, on a seeded sample of at most `silhouette_sample`
    /// rows.
    fn class_silhouette(&self, points: &[f64], m: usize, assignment: &[usize], seed: u64) -> f64 {
        let n = assignment.len();
        if n <= self.params.silhouette_sample {
            return silhouette(points, m, assignment, 2);
        }
        let picked = seeded_sample(n, self.params.silhouette_sample, seed);
        let sub: Vec<f64> = picked
            .iter()
            .flat_map(|&i| points[i * m..(i + 1) * m].iter().copied())
            .collect();
        let assign: Vec<usize> = picked.iter().map(|&i| assignment[i]).collect();
        silhouette(&sub, m, &assign, 2)
    }
}

/// One clustered class: its rows, PCA points (`m` per row), chosen split and silhouette, and
/// the dirty-label cluster if the input check found one.
struct ClassSplit {
    class: usize,
    rows: Vec<usize>,
    points: Vec<f64>,
    m: usize,
    fit: KMeansFit,
    sil: f64,
    dirty: Option<usize>,
}

/// Whether each class's silhouette is an outlier among the clustered classes: robust z-score
/// `(s - median) / (1.4826 MAD) >= threshold` (Neural Cleanse's anomaly index). All true with
/// fewer than 5 clustered classes (too few for a median and MAD to mean anything) or a zero
/// threshold.
fn silhouette_outliers(splits: &[ClassSplit], threshold: f64) -> Vec<bool> {
    if splits.len() < 5 || threshold == 0.0 {
        return vec![true; splits.len()];
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        (v[(n - 1) / 2] + v[n / 2]) / 2.0
    };
    let sils: Vec<f64> = splits.iter().map(|s| s.sil).collect();
    let centre = median(sils.clone());
    let mad = 1.4826 * median(sils.iter().map(|s| (s - centre).abs()).collect());
    sils.iter()
        .map(|&s| {
            if mad > 0.0 {
                (s - centre) / mad >= threshold
            } else {
                s > centre
            }
        })
        .collect()
}

/// A seeded sample of the raw training inputs, searched by the dirty-label check.
struct InputReference<'d> {
    data: &'d Dataset,
    rows: Vec<usize>,
    inputs: Mat<f32>,
}

impl<'d> InputReference<'d> {
    /// `None` for token inputs (no meaningful Euclidean geometry).
    fn new(data: &'d Dataset, size: usize, seed: u64) -> Option<Self> {
        let dim = data.dense_row(0)?.len();
        let rows = seeded_sample(data.len(), size, seed);
        let inputs = dense_matrix(data, &rows, dim)?;
        Some(InputReference { data, rows, inputs })
    }

    /// For each of `queried` (training rows), the share of its `consistency_k` nearest
    /// reference inputs (itself excluded) labelled `class`.
    fn agreement(&self, queried: &[usize], class: u32, p: &ClusteringParams) -> Vec<f64> {
        let Some(queries) = dense_matrix(self.data, queried, self.inputs.ncols()) else {
            return vec![0.0; queried.len()];
        };
        let labels = self.data.labels();
        nearest_neighbours(
            queries.as_ref(),
            self.inputs.as_ref(),
            p.consistency_k,
            &|q, r| queried[q] == self.rows[r],
        )
        .iter()
        .map(|n| {
            let agree = n.iter().filter(|&&r| labels[self.rows[r]] == class).count();
            agree as f64 / n.len().max(1) as f64
        })
        .collect()
    }
}

/// Initial centroids for Lloyd: the means of the sampled points (`sampled` indexes `points`'
/// rows) whose agreement is below 1/2 and of the others; `None` if either group is empty.
fn group_centroids(
    points: &[f64],
    m: usize,
    sampled: &[usize],
    agreement: &[f64],
) -> Option<Vec<f64>> {
    let mut sums = vec![0f64; 2 * m];
    let mut counts = [0usize; 2];
    for (&i, &a) in sampled.iter().zip(agreement) {
        let g = usize::from(a >= 0.5);
        counts[g] += 1;
        for (s, &x) in sums[g * m..(g + 1) * m]
            .iter_mut()
            .zip(&points[i * m..(i + 1) * m])
        {
            *s += x;
        }
    }
    if counts.contains(&0) {
        return None;
    }
    for (g, &count) in counts.iter().enumerate() {
        sums[g * m..(g + 1) * m]
            .iter_mut()
            .for_each(|s| *s /= count as f64);
    }
    Some(sums)
}

/// `(a_high - a_low, low cluster)` of a 2-cluster fit, from the mean agreement of the sampled
/// members of each cluster; `None` if a cluster has no sampled member.
fn agreement_gap(fit: &KMeansFit, sampled: &[usize], agreement: &[f64]) -> Option<(f64, usize)> {
    let mut sums = [0f64; 2];
    let mut counts = [0usize; 2];
    for (&i, &a) in sampled.iter().zip(agreement) {
        sums[fit.assignment[i]] += a;
        counts[fit.assignment[i]] += 1;
    }
    if counts.contains(&0) {
        return None;
    }
    let means = [sums[0] / counts[0] as f64, sums[1] / counts[1] as f64];
    let lower = usize::from(means[1] < means[0]);
    Some((means[1 - lower] - means[lower], lower))
}

/// The raw inputs of `rows` as a `rows x dim` matrix; `None` for token inputs.
pub(crate) fn dense_matrix(data: &Dataset, rows: &[usize], dim: usize) -> Option<Mat<f32>> {
    let inputs: Vec<&[f32]> = rows
        .iter()
        .map(|&r| data.dense_row(r))
        .collect::<Option<_>>()?;
    Some(Mat::from_fn(rows.len(), dim, |i, j| inputs[i][j]))
}

impl Detector for ActivationClustering {
    fn name(&self) -> &'static str {
        "activation-clustering"
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    fn scan(&self, ctx: &ScanContext) -> Result<Detection> {
        self.detect_with_inputs(&ctx.embeddings()?, ctx.data(), ctx.seed())
    }
}

/// The registry entry (see [`crate::registry::DETECTORS`]).
pub const ENTRY: crate::registry::DetectorEntry = crate::registry::DetectorEntry {
    name: "activation-clustering",
    role: mithridate_core::Role::Detector,
    modalities: &[],
    summary: "2-means on PCA of each class's embeddings, small or well-separated cluster flagged (+ input-space label-consistency check); components (10), size-threshold (0.35), silhouette-threshold (0.25), restarts (4), silhouette-sample (2000), consistency-gap (0.3), consistency-k (10), consistency-sample (500), reference-size (10000), size-rule-outlier (2.0)",
    paper: "Chen et al. 2018",
    taxonomy: crate::registry::SANITIZATION,
    requires: &[mithridate_core::Requirement::Model],
    provides: &[mithridate_core::Requirement::Relabel],
    build: |p| crate::registry::checked::<ClusteringParams>("activation-clustering", p),
};
