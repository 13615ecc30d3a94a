//! Which ordered class pairs `(i -> j)` hold more disagreements than natural confusion
//! explains: the calibration that lets confident learning and k-NN catch *targeted* label
//! flips (a share of one class relabelled as another; Tolpegin, Truex, Gursoy & Liu 2020)
//! without flagging a clean set's ordinary mistakes.
//!
//! Input: per sample its label `y` and an independent opinion `ŷ` of its class (the
//! out-of-sample arg-max of cross-validated probabilities, or the plurality label of its
//! nearest neighbours). `D[i][j]` counts samples labelled `i` whose opinion is `j != i`.
//! A targeted flip `s -> t` of features-untouched samples adds to `D[t][s]` only: the flipped
//! samples still look like `s`. Natural confusion between two classes is, to first order,
//! symmetric in *rate*: `D[i][j] / n_i ≈ D[j][i] / n_j`, where `n_c` is the number of
//! samples that truly belong to `c`. The label counts are the attacker's to inflate (a flip
//! into `t` grows `t`'s label count), so the caller estimates `n_c` from an opinion (how many
//! samples the arg-max of out-of-sample probabilities, or the neighbours' plurality, assign
//! to `c`: [`opinion_sizes`]).
//!
//! Test (per unordered pair, both directions): conditional on `m = D[i][j] + D[j][i]`, under
//! the symmetric-rate null `D[i][j] ~ Binomial(m, n_i / (n_i + n_j))`; the one-sided p-value
//! `P(X >= D[i][j])` is compared with `alpha / (k (k - 1))` (Bonferroni over the ordered
//! pairs), and the pair must also hold at least `min_count` disagreements (a share of a
//! class so small that no retraining would notice it is not worth flagging) and at least
//! `min_ratio` times the symmetric expectation `D[j][i] · n_i / n_j` (an effect size: with
//! hundreds of natural confusions, as between Fashion-MNIST's shirts and T-shirts, a mild
//! natural asymmetry is statistically significant but is not a flip).
//!
//! Assumptions and limits: a flip in both directions at once (a label *swap* of equal
//! rates) is symmetric and passes; uniformly random flips spread over all pairs and are left
//! to the global rules (confident learning's noise-rate pruning). Sensitivity grows with the
//! flipped count: at the default `alpha = 0.01` over 90 ordered pairs (level 1.1e-4), a pair
//! needs 14 disagreements with none the other way (`0.5^14 = 6e-5`), or 17 against one.
//! Cost: `O(n + k^2 m)` with `m` the largest pair count.
//!
//! ```
//! use mithridate_detect::class_pairs::{opinion_sizes, suspicious_pairs, PairTest};
//! // Three classes of 100; 20 samples labelled 2 look like 0 (a flip 0 -> 2), and the
//! // natural confusions 0 <-> 1 are 3 and 2.
//! let mut labels = vec![0u32; 100];
//! labels.extend([1; 100]);
//! labels.extend([2; 100]);
//! let mut opinion: Vec<u32> = labels.clone();
//! for r in 200..220 { opinion[r] = 0; }
//! for r in 0..3 { opinion[r] = 1; }
//! for r in 100..102 { opinion[r] = 0; }
//! let sizes = opinion_sizes(&opinion, 3);
//! let pairs = suspicious_pairs(&labels, &opinion, &sizes, &PairTest::default())?;
//! assert_eq!(pairs.len(), 1);
//! assert_eq!((pairs[0].labelled, pairs[0].looks_like, pairs[0].count), (2, 0, 20));
//! # Ok::<(), mithridate_detect::DetectError>(())
//! ```

use crate::{DetectError, Result};

/// The test's two knobs (see the [module](self) docs).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct PairTest {
    /// Family-wise false-alarm rate over all ordered pairs, in `(0, 1)`.
    pub alpha: f64,
    /// Disagreements a pair needs before it can be flagged, at least 1.
    pub min_count: usize,
    /// How many times the symmetric expectation a pair's count must reach, `>= 1`.
    pub min_ratio: f64,
}

impl Default for PairTest {
    fn default() -> Self {
        PairTest {
            alpha: 1e-2,
            min_count: 5,
            min_ratio: 3.0,
        }
    }
}

impl PairTest {
    /// Checks `alpha` in `(0, 1)` and `min_count >= 1`.
    pub fn check(&self) -> Result<()> {
        if !(self.alpha.is_finite() && self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(DetectError::param(format!(
                "pair-test alpha must be in (0, 1), got {}",
                self.alpha
            )));
        }
        if self.min_count == 0 {
            return Err(DetectError::param("pair-test min-count must be at least 1"));
        }
        if !(self.min_ratio.is_finite() && self.min_ratio >= 1.0) {
            return Err(DetectError::param(format!(
                "pair-test min-ratio must be at least 1, got {}",
                self.min_ratio
            )));
        }
        Ok(())
    }
}

/// One ordered pair with more disagreements than symmetric confusion explains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuspiciousPair {
    /// The label the samples carry (a flip's target).
    pub labelled: u32,
    /// The class they look like (a flip's source).
    pub looks_like: u32,
    /// `D[labelled][looks_like]`.
    pub count: usize,
    /// `D[looks_like][labelled]`.
    pub reverse: usize,
    /// The one-sided binomial p-value (before the Bonferroni factor).
    pub p_value: f64,
}

/// How many rows the opinion assigns to each of `k` classes (values `>= k` are ignored).
pub fn opinion_sizes(opinion: &[u32], k: usize) -> Vec<usize> {
    let mut sizes = vec![0usize; k];
    for &o in opinion {
        if let Some(s) = sizes.get_mut(o as usize) {
            *s += 1;
        }
    }
    sizes
}

/// The ordered pairs whose disagreement counts fail the symmetric-rate test, most
/// significant first. `labels` and `opinion` are row-aligned, every value `< k` where
/// `k = true_sizes.len()`; `true_sizes` estimates how many samples belong to each class.
pub fn suspicious_pairs(
    labels: &[u32],
    opinion: &[u32],
    true_sizes: &[usize],
    test: &PairTest,
) -> Result<Vec<SuspiciousPair>> {
    test.check()?;
    let k = true_sizes.len();
    if labels.len() != opinion.len() {
        return Err(DetectError::input(format!(
            "{} labels but {} opinions",
            labels.len(),
            opinion.len()
        )));
    }
    if let Some(&c) = labels.iter().chain(opinion).find(|&&c| c as usize >= k) {
        return Err(DetectError::input(format!(
            "class {c} is not a class (classes 0..{k})"
        )));
    }
    let size = true_sizes;
    let d = disagreement_counts(labels, opinion, k);
    let ordered_pairs = (k * k.saturating_sub(1)).max(1) as f64;
    let level = test.alpha / ordered_pairs;
    let mut found = Vec::new();
    for i in 0..k {
        for j in (0..k).filter(|&j| j != i) {
            let (count, reverse) = (d[i][j], d[j][i]);
            if count < test.min_count || size[i] + size[j] == 0 {
                continue;
            }
            let share = size[i] as f64 / (size[i] + size[j]) as f64;
            let expected = reverse as f64 * size[i] as f64 / size[j].max(1) as f64;
            if (count as f64) < test.min_ratio * expected {
                continue;
            }
            let p_value = binomial_upper_tail(count + reverse, count, share);
            if p_value < level {
                found.push(SuspiciousPair {
                    labelled: i as u32,
                    looks_like: j as u32,
                    count,
                    reverse,
                    p_value,
                });
            }
        }
    }
    found.sort_by(|a, b| {
        a.p_value
            .total_cmp(&b.p_value)
            .then(a.labelled.cmp(&b.labelled))
            .then(a.looks_like.cmp(&b.looks_like))
    });
    Ok(found)
}

/// `D[i][j]`: how many rows labelled `i` the opinion assigns to `j != i` (`k x k`, zero
/// diagonal). Labels and opinions must be `< k`.
pub(crate) fn disagreement_counts(labels: &[u32], opinion: &[u32], k: usize) -> Vec<Vec<usize>> {
    let mut d = vec![vec![0usize; k]; k];
    for (&y, &o) in labels.iter().zip(opinion) {
        if y != o {
            d[y as usize][o as usize] += 1;
        }
    }
    d
}

/// Rows whose `(label, opinion)` is one of `pairs`.
pub fn rows_in_pairs(labels: &[u32], opinion: &[u32], pairs: &[SuspiciousPair]) -> Vec<bool> {
    labels
        .iter()
        .zip(opinion)
        .map(|(&y, &o)| pairs.iter().any(|p| p.labelled == y && p.looks_like == o))
        .collect()
}

/// `P(X >= x)` for `X ~ Binomial(m, p)`, summed in log space (exact for the counts here:
/// `m` is at most the data size). `p` in `[0, 1]`.
pub fn binomial_upper_tail(m: usize, x: usize, p: f64) -> f64 {
    if x == 0 {
        return 1.0;
    }
    if x > m || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    // ln C(m, i) built incrementally from ln C(m, x).
    let mut ln_choose: f64 = (0..x)
        .map(|t| ((m - t) as f64).ln() - ((t + 1) as f64).ln())
        .sum();
    let mut total = 0.0;
    for i in x..=m {
        total += (ln_choose + i as f64 * lp + (m - i) as f64 * lq).exp();
        if i < m {
            ln_choose += ((m - i) as f64).ln() - ((i + 1) as f64).ln();
        }
    }
    total.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_tail_matches_hand_computed_values() {
        // P(Bin(4, 1/2) >= 3) = (4 + 1) / 16.
        assert!((binomial_upper_tail(4, 3, 0.5) - 5.0 / 16.0).abs() < 1e-12);
        // P(Bin(13, 1/2) >= 12) = (13 + 1) / 8192.
        assert!((binomial_upper_tail(13, 12, 0.5) - 14.0 / 8192.0).abs() < 1e-12);
        assert_eq!(binomial_upper_tail(5, 0, 0.3), 1.0);
        assert_eq!(binomial_upper_tail(5, 6, 0.3), 0.0);
        // P(Bin(3, 0.2) >= 2) = 3 * 0.04 * 0.8 + 0.008.
        assert!((binomial_upper_tail(3, 2, 0.2) - 0.104).abs() < 1e-12);
        // Large m stays finite and a probability.
        let p = binomial_upper_tail(5000, 2600, 0.5);
        assert!(p > 0.0 && p < 0.01, "{p}");
    }

    #[test]
    fn symmetric_confusion_is_not_a_flip_and_unequal_classes_are_weighed() {
        // 200 vs 100 samples; 8 and 4 confusions: equal rates, not suspicious.
        let mut labels = vec![0u32; 200];
        labels.extend([1; 100]);
        let mut opinion = labels.clone();
        opinion[..8].fill(1);
        opinion[200..204].fill(0);
        let sizes = [200, 100];
        assert!(
            suspicious_pairs(&labels, &opinion, &sizes, &PairTest::default())
                .unwrap()
                .is_empty()
        );
        // Add 25 flipped samples labelled 1 that look like 0: caught, in that direction.
        opinion[210..235].fill(0);
        let pairs = suspicious_pairs(&labels, &opinion, &sizes, &PairTest::default()).unwrap();
        assert_eq!(pairs.len(), 1);
        assert_eq!((pairs[0].labelled, pairs[0].looks_like), (1, 0));
        let rows = rows_in_pairs(&labels, &opinion, &pairs);
        assert_eq!(rows.iter().filter(|&&f| f).count(), 29);
    }

    #[test]
    fn a_significant_but_mild_asymmetry_is_not_a_flip() {
        // Two classes of 1000; 300 vs 180 natural confusions: p ~ 1e-8, but a ratio of 1.7.
        let mut labels = vec![0u32; 1000];
        labels.extend([1; 1000]);
        let mut opinion = labels.clone();
        opinion[..300].fill(1);
        opinion[1000..1180].fill(0);
        let sizes = [1000, 1000];
        assert!(
            suspicious_pairs(&labels, &opinion, &sizes, &PairTest::default())
                .unwrap()
                .is_empty()
        );
        let no_ratio = PairTest {
            min_ratio: 1.0,
            ..PairTest::default()
        };
        assert_eq!(
            suspicious_pairs(&labels, &opinion, &sizes, &no_ratio)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn bad_inputs_are_named_errors() {
        let t = PairTest::default();
        assert!(suspicious_pairs(&[0, 1], &[0], &[1, 1], &t).is_err());
        assert!(suspicious_pairs(&[0, 2], &[0, 1], &[1, 1], &t).is_err());
        let bad = PairTest {
            alpha: 1.5,
            ..PairTest::default()
        };
        let ratio = PairTest {
            min_ratio: 0.5,
            ..PairTest::default()
        };
        assert!(ratio.check().unwrap_err().to_string().contains("min-ratio"));
        assert!(suspicious_pairs(&[0], &[0], &[1, 0], &bad)
            .unwrap_err()
            .to_string()
            .contains("alpha"));
        assert!(suspicious_pairs(&[], &[], &[0, 0], &t).unwrap().is_empty());
        assert_eq!(opinion_sizes(&[0, 2, 2, 7], 3), vec![1, 0, 2]);
    }
}
