//! k-NN label consistency ("Deep k-NN defense", Peri, Gupta, Huang, Fowl, Zhu, Feizi, Goldstein
//! & Dickerson, "Deep k-NN Defense against Clean-label Data Poisoning Attacks", ECCV-W 2020).
//!
//! Each sample's `k` nearest neighbours (Euclidean distance in the model's penultimate feature
//! space, the sample itself excluded, ties by row order) vote with their labels; the sample is
//! flagged when its own label is not the plurality label, i.e. some other label has strictly
//! more votes. Score: the share of neighbours whose label differs from the sample's.
//! Assumption: poisons sit among samples of another class in feature space (feature collision,
//! label flips); a backdoor that forms its own dense cluster inside the target class is not
//! caught (its neighbours are other poisons with the same label).
//!
//! Scaling: exact search, `O(n^2 d)` time (blocked faer matrix products, `|a|^2 + |b|^2 - 2ab`)
//! and `O(B n)` memory for blocks of `B = 256` rows; 60,000 x 128 is ~4.6e11 flops.
//! With fewer than `k + 1` samples, every other sample is a neighbour.
//!
//! ```
//! use mithridate_detect::{knn::KnnParams, Embeddings};
//! // Five class-0 points near 0 and one class-1 point among them; five class-1 points near 10.
//! let v = [0.0, 0.1, 0.2, 0.3, 0.4, 0.25, 10.0, 10.1, 10.2, 10.3, 10.4f32];
//! let labels = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
//! let ids: Vec<u64> = (0..11).collect();
//! let d = KnnParams { k: 3 }.check()?.detect_embeddings(&Embeddings::new(&v, 1, &labels, &ids, 2)?)?;
//! assert_eq!(d.flagged, vec![5]);
//! # Ok::<(), mithridate_detect::DetectError>(())
//! ```

use crate::{DetectError, Detection, Detector, Embeddings, Result, ScanContext};
use faer::Mat;
use rayon::prelude::*;

const BLOCK: usize = 256;

/// Unchecked parameters of [`KnnConsistency`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KnnParams {
    /// Neighbours per sample, at least 1.
    pub k: usize,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams { k: 10 }
    }
}

impl KnnParams {
    /// Validates the parameters once.
    pub fn check(self) -> Result<KnnConsistency> {
        if self.k == 0 {
            return Err(DetectError::param("k-NN needs k >= 1"));
        }
        Ok(KnnConsistency { params: self })
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
        let n = emb.len();
        let d = emb.dim();
        let k = self.params.k.min(n.saturating_sub(1));
        let all = Mat::from_fn(n, d, |i, j| emb.row(i)[j]);
        let norms: Vec<f32> = (0..n)
            .map(|i| emb.row(i).iter().map(|x| x * x).sum())
            .collect();
        let labels = emb.labels();
        let nc = emb.num_classes();
        let mut scores = vec![0f64; n];
        let mut flags = vec![false; n];
        for start in (0..n).step_by(BLOCK) {
            let end = (start + BLOCK).min(n);
            let block = all.subrows(start, end - start);
            let gram = block * all.transpose();
            let results: Vec<(f64, bool)> = (start..end)
                .into_par_iter()
                .map(|i| {
                    let mut cand: Vec<(f32, usize)> = (0..n)
                        .filter(|&j| j != i)
                        .map(|j| (norms[i] + norms[j] - 2.0 * gram[(i - start, j)], j))
                        .collect();
                    if k == 0 {
                        return (0.0, false);
                    }
                    let cmp = |a: &(f32, usize), b: &(f32, usize)| {
                        a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
                    };
                    cand.select_nth_unstable_by(k - 1, cmp);
                    let mut votes = vec![0usize; nc];
                    for &(_, j) in &cand[..k] {
                        votes[labels[j] as usize] += 1;
                    }
                    let own = votes[labels[i] as usize];
                    let disagree = (k - own) as f64 / k as f64;
                    let beaten = votes.iter().any(|&v| v > own);
                    (disagree, beaten)
                })
                .collect();
            for (offset, (score, flag)) in results.into_iter().enumerate() {
                scores[start + offset] = score;
                flags[start + offset] = flag;
            }
        }
        let mut class_flags = vec![(0usize, 0usize); nc];
        for (&y, &f) in labels.iter().zip(&flags) {
            class_flags[y as usize].0 += 1;
            class_flags[y as usize].1 += usize::from(f);
        }
        Ok(Detection::from_rows(
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
                // Statistic: share of the class flagged; suspicious above 5%.
                (share >= 0.05, share)
            },
        ))
    }
}

impl Detector for KnnConsistency {
    fn name(&self) -> &'static str {
        "knn"
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    fn scan(&self, ctx: &ScanContext) -> Result<Detection> {
        self.detect_embeddings(&ctx.embeddings()?)
    }
}
