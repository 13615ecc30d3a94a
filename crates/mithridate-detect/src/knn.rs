//! k-NN label consistency ("Deep k-NN defense", Peri, Gupta, Huang, Fowl, Zhu, Feizi, Goldstein
//! & Dickerson, "Deep k-NN Defense against Clean-label Data Poisoning Attacks", ECCV-W 2020).
//!
//! Each sample's `k` nearest neighbours (Euclidean distance in the model's penultimate feature
//! space, the sample itself excluded, ties by row order) vote with their labels; the sample is
//! flagged when its own label is not the plurality label, i.e. some other label has strictly
//! more votes ([`Vote::Plurality`]). Score: the share of neighbours whose label differs from
//! the sample's. [`Vote::ClassPairs`] flags only the samples labelled `i` outvoted by `j`
//! for ordered pairs `(i -> j)` that fail the symmetric-confusion test of
//! [`crate::class_pairs`]: a targeted flip's signature, calibrated per pair on the data so
//! that a clean set's boundary samples are left alone.
//! Assumption: poisons sit among samples of another class in feature space (feature collision,
//! label flips); a backdoor that forms its own dense cluster inside the target class is not
//! caught (its neighbours are other poisons with the same label).
//!
//! Scaling: exact search, `O(n^2 d)` time (blocked faer matrix products, `|a|^2 + |b|^2 - 2ab`)
//! and `O(B n)` memory for blocks of `B = 256` rows; 60,000 x 128 is ~4.6e11 flops. In a
//! scan, the graph is computed once per `k` and shared ([`ScanContext::embedding_neighbours`]).
//! With fewer than `k + 1` samples, every other sample is a neighbour.
//!
//! ```
//! use mithridate_detect::ParamGuard;
//! use mithridate_detect::{knn::KnnParams, Embeddings};
//! // Five class-0 points near 0 and one class-1 point among them; five class-1 points near 10.
//! let v = [0.0, 0.1, 0.2, 0.3, 0.4, 0.25, 10.0, 10.1, 10.2, 10.3, 10.4f32];
//! let labels = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
//! let ids: Vec<u64> = (0..11).collect();
//! let d = KnnParams { k: 3, ..Default::default() }.check()?.detect_embeddings(&Embeddings::new(&v, 1, &labels, &ids, 2)?)?;
//! assert_eq!(d.flagged, vec![5]);
//! # Ok::<(), mithridate_detect::DetectError>(())
//! ```

use crate::class_pairs::{opinion_sizes, rows_in_pairs, suspicious_pairs, PairTest};
use crate::{DetectError, Detection, Detector, Embeddings, Result, ScanContext};
use faer::{Mat, MatRef};
use mithridate_core::ParamGuard;
use rayon::prelude::*;

const BLOCK: usize = 256;

/// Unchecked parameters of [`KnnConsistency`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct KnnParams {
    /// Neighbours per sample, at least 1.
    pub k: usize,
    /// Which disagreements are flagged.
    pub vote: Vote,
    /// [`Vote::ClassPairs`]: family-wise false-alarm rate of the pair test, in `(0, 1)`.
    pub pair_alpha: f64,
    /// [`Vote::ClassPairs`]: disagreements a pair needs before it is flagged, `>= 1`.
    pub pair_min_count: usize,
    /// [`Vote::ClassPairs`]: times the symmetric expectation a pair's count must reach, `>= 1`.
    pub pair_min_ratio: f64,
}

/// Which outvoted samples [`KnnConsistency`] flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Vote {
    /// Every sample whose label is not the plurality label (random flips, feature collision).
    Plurality,
    /// Only outvoted samples in class pairs with asymmetric disagreement (targeted flips).
    ClassPairs,
}

impl Default for KnnParams {
    fn default() -> Self {
        let pairs = PairTest::default();
        KnnParams {
            k: 10,
            vote: Vote::Plurality,
            pair_alpha: pairs.alpha,
            pair_min_count: pairs.min_count,
            pair_min_ratio: pairs.min_ratio,
        }
    }
}

impl KnnParams {
    fn pair_test(&self) -> PairTest {
        PairTest {
            alpha: self.pair_alpha,
            min_count: self.pair_min_count,
            min_ratio: self.pair_min_ratio,
        }
    }
}

impl ParamGuard for KnnParams {
    type Checked = KnnConsistency;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        if self.k == 0 {
            return Err(DetectError::param("k-NN needs k >= 1"));
        }
        self.pair_test().check()
    }

    fn build(self) -> KnnConsistency {
        KnnConsistency { params: self }
    }
}

/// The k-NN label-consistency detector with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct KnnConsistency {
    params: KnnParams,
}

impl KnnConsistency {
    /// Scores and flags precomputed representations.
    pub fn detect_embeddings(&self, emb: &Embeddings) -> Result<Detection> {
        self.detect_neighbours(emb, &all_neighbours(emb, self.params.k))
    }

    /// Scores and flags with each row's `k` nearest other rows already found.
    fn detect_neighbours(&self, emb: &Embeddings, neighbours: &[Vec<usize>]) -> Result<Detection> {
        let n = emb.len();
        let labels = emb.labels();
        let nc = emb.num_classes();
        // Per sample: (score, outvoted, plurality label; ties keep the own label).
        let (scores, plurality): (Vec<f64>, Vec<u32>) =
            neighbour_votes(labels, neighbours, nc).into_iter().unzip();
        let outvoted: Vec<bool> = plurality.iter().zip(labels).map(|(p, y)| p != y).collect();
        let flags = match self.params.vote {
            Vote::Plurality => outvoted,
            Vote::ClassPairs => {
                let test = self.params.pair_test();
                let sizes = opinion_sizes(&plurality, nc);
                let pairs = suspicious_pairs(labels, &plurality, &sizes, &test)?;
                rows_in_pairs(labels, &plurality, &pairs)
            }
        };
        let mut class_flags = vec![(0usize, 0usize); nc];
        for (&y, &f) in labels.iter().zip(&flags) {
            class_flags[y as usize].0 += 1;
            class_flags[y as usize].1 += usize::from(f);
        }
        let mut detection = Detection::from_rows(
            self.name(),
            self.parameters(),
            emb.rows(),
            &scores,
            &flags,
            |c| {
                let (total, flagged) = class_flags[c as usize];
                let share = if total == 0 {
                    0.0
                } else {
                    flagged as f64 / total as f64
                };
                // Statistic: share of the class flagged; suspicious above 5% (plurality) or
                // when a pair test flagged any of it.
                let suspicious = match self.params.vote {
                    Vote::Plurality => share >= 0.05,
                    Vote::ClassPairs => flagged > 0,
                };
                (suspicious, share)
            },
        );
        // The neighbours' label is the suggested one (sanitize --action relabel).
        detection.relabel = (0..n)
            .filter(|&r| flags[r])
            .map(|r| (emb.ids()[r], plurality[r]))
            .collect();
        detection.relabel.sort_unstable();
        Ok(detection)
    }
}

/// Every row's [`neighbour_vote`] among its `neighbours` (row indices): the share that
/// disagree with its label, and the plurality label.
pub(crate) fn neighbour_votes(
    labels: &[u32],
    neighbours: &[Vec<usize>],
    classes: usize,
) -> Vec<(f64, u32)> {
    neighbours
        .iter()
        .zip(labels)
        .map(|(nearest, &own)| neighbour_vote(nearest.iter().map(|&j| labels[j]), own, classes))
        .collect()
}

/// The plurality opinion of the default `k` nearest neighbours in the scan's embedding (the
/// class-pair vote's opinion; neighbours shared with every other user of the same `k`).
pub(crate) fn embedding_plurality(ctx: &ScanContext) -> Result<Vec<u32>> {
    let neighbours = ctx.embedding_neighbours(KnnParams::default().k)?;
    let emb = ctx.embeddings()?;
    Ok(neighbour_votes(emb.labels(), &neighbours, emb.num_classes())
        .into_iter()
        .map(|(_, plurality)| plurality)
        .collect())
}

/// The labels of a sample's neighbours vote: returns the share of them that differ from
/// `own` and the plurality label, which replaces `own` only with strictly more votes (ties
/// between other labels go to the smaller one). No neighbours: `(0, own)`.
pub(crate) fn neighbour_vote(
    neighbour_labels: impl Iterator<Item = u32>,
    own: u32,
    classes: usize,
) -> (f64, u32) {
    let mut votes = vec![0usize; classes];
    let mut total = 0usize;
    for y in neighbour_labels {
        votes[y as usize] += 1;
        total += 1;
    }
    if total == 0 {
        return (0.0, own);
    }
    let mine = votes[own as usize];
    let best = (0..classes)
        .filter(|&c| votes[c] > mine)
        .max_by(|&a, &b| votes[a].cmp(&votes[b]).then(b.cmp(&a)))
        .map_or(own, |c| c as u32);
    ((total - mine) as f64 / total as f64, best)
}

/// The `k` nearest rows of `references` to each row of `queries`, nearest first (squared
/// Euclidean distance `|a|^2 + |b|^2 - 2ab` from blocked faer products, ties by reference
/// index), skipping the pairs `(query, reference)` for which `skip` is true (e.g. a sample and
/// itself). A query with fewer than `k` admissible references gets all of them. Cost
/// `O(q r d)` for the products plus `O(q r)` comparisons against each query's current k-th
/// distance (a candidate enters a sorted list of `k` only when it beats it, so selection
/// allocates nothing per reference); `O(B r)` memory for blocks of `B = 256` queries; queries
/// run in parallel.
pub(crate) fn nearest_neighbours(
    queries: MatRef<f32>,
    references: MatRef<f32>,
    k: usize,
    skip: &(dyn Fn(usize, usize) -> bool + Sync),
) -> Vec<Vec<usize>> {
    let squared_norm =
        |m: MatRef<f32>, i: usize| -> f32 { (0..m.ncols()).map(|c| m[(i, c)] * m[(i, c)]).sum() };
    let ref_norms: Vec<f32> = (0..references.nrows())
        .map(|j| squared_norm(references, j))
        .collect();
    let mut out = Vec::with_capacity(queries.nrows());
    for start in (0..queries.nrows()).step_by(BLOCK) {
        let end = (start + BLOCK).min(queries.nrows());
        // References x queries, column-major: each query's products are one contiguous
        // column (the other orientation strides a cache line per reference, and a 60,000-row
        // scan then spent most of its time waiting on memory).
        let gram = references * queries.subrows(start, end - start).transpose();
        let block: Vec<Vec<usize>> = (start..end)
            .into_par_iter()
            .map(|i| {
                let own = squared_norm(queries, i);
                let column = gram.col(i - start);
                let products: std::borrow::Cow<[f32]> = match column.try_as_col_major() {
                    Some(contiguous) => contiguous.as_slice().into(),
                    None => column.iter().copied().collect::<Vec<f32>>().into(),
                };
                let distances = products
                    .iter()
                    .zip(&ref_norms)
                    .enumerate()
                    .map(|(j, (&product, &norm))| (own + norm - 2.0 * product, j));
                smallest_k(distances, k, |j| skip(i, j))
            })
            .collect();
        out.extend(block);
    }
    out
}

/// The indices of the `k` smallest `(distance, index)` pairs (lexicographic: ties go to the
/// smaller index), nearest first, leaving out indices for which `skip` is true. `candidates`
/// must come in increasing index order, so a candidate tying the current k-th distance never
/// displaces it.
fn smallest_k(
    candidates: impl Iterator<Item = (f32, usize)>,
    k: usize,
    skip: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
    if k == 0 {
        return Vec::new();
    }
    // The k-th distance so far, once there are k (the one comparison most candidates take).
    let mut worst: Option<f32> = None;
    for (d, j) in candidates {
        if worst.is_some_and(|w| w.total_cmp(&d).is_le()) || skip(j) {
            continue;
        }
        let at = best.partition_point(|&(b, _)| b.total_cmp(&d).is_le());
        best.insert(at, (d, j));
        best.truncate(k);
        if best.len() == k {
            worst = Some(best[k - 1].0);
        }
    }
    best.into_iter().map(|(_, j)| j).collect()
}

/// Each row's `k` nearest other rows of `emb` (see [`nearest_neighbours`]).
pub(crate) fn all_neighbours(emb: &Embeddings, k: usize) -> Vec<Vec<usize>> {
    let all = Mat::from_fn(emb.len(), emb.dim(), |i, j| emb.row(i)[j]);
    nearest_neighbours(all.as_ref(), all.as_ref(), k, &|i, j| i == j)
}

impl Detector for KnnConsistency {
    fn name(&self) -> &'static str {
        "knn"
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    /// The neighbour graph comes from the context, shared with other detectors using `k`.
    fn scan(&self, ctx: &ScanContext) -> Result<Detection> {
        let neighbours = ctx.embedding_neighbours(self.params.k)?;
        self.detect_neighbours(&ctx.embeddings()?, &neighbours)
    }
}

/// The registry entry (see [`crate::registry::DETECTORS`]).
pub const ENTRY: crate::registry::DetectorEntry = crate::registry::DetectorEntry {
    name: "knn",
    role: mithridate_core::Role::Detector,
    modalities: &[],
    summary: "label disagreement with the k nearest neighbours in embedding space, flagged with the majority label; k (10), vote=plurality|class-pairs (targeted flips: per-pair symmetric-confusion test), pair-alpha (0.01), pair-min-count (5), pair-min-ratio (3)",
    paper: "Peri et al. 2020",
    taxonomy: crate::registry::SANITIZATION,
    requires: &[mithridate_core::Requirement::Model],
    provides: &[mithridate_core::Requirement::Relabel],
    build: |p| crate::registry::checked::<KnnParams>("knn", p),
};

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn every_row_votes_with_its_own_neighbours() {
        // Row 0 (label 0) has neighbours labelled 1, 1, 0: outvoted, 2/3 disagree. Row 1
        // (label 1) has one neighbour of each label: a tie keeps its own. Row 2: none.
        let labels = [0, 1, 1, 0];
        let neighbours = vec![vec![1, 2, 3], vec![0, 2], vec![], vec![0]];
        let votes = neighbour_votes(&labels, &neighbours, 2);
        assert_eq!(votes[0], (2.0 / 3.0, 1));
        assert_eq!(votes[1], (0.5, 1));
        assert_eq!(votes[2], (0.0, 1));
        assert_eq!(votes[3], (0.0, 0));
    }

    #[test]
    fn smallest_k_equals_a_full_sort_with_ties_and_skips() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for trial in 0..200 {
            let n = rng.random_range(0..40);
            let k = rng.random_range(0..12);
            // Few distinct values, so ties are common.
            let d: Vec<f32> = (0..n).map(|_| rng.random_range(0..6) as f32).collect();
            let skipped = trial % 7;
            let mut expected: Vec<(f32, usize)> = d
                .iter()
                .copied()
                .enumerate()
                .filter(|&(j, _)| j % 7 != skipped)
                .map(|(j, v)| (v, j))
                .collect();
            expected.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let expected: Vec<usize> = expected.iter().take(k).map(|&(_, j)| j).collect();
            let got = smallest_k(d.iter().copied().zip(0..), k, |j| j % 7 == skipped);
            assert_eq!(got, expected, "n {n} k {k}");
        }
    }

    #[test]
    fn nearest_neighbours_skip_the_sample_itself() {
        let points = Mat::from_fn(5, 1, |i, _| [0.0f32, 1.0, 3.0, 3.5, 10.0][i]);
        let nn = nearest_neighbours(points.as_ref(), points.as_ref(), 2, &|i, j| i == j);
        assert_eq!(nn, vec![vec![1, 2], vec![0, 2], vec![3, 1], vec![2, 1], vec![3, 2]]);
    }
}
