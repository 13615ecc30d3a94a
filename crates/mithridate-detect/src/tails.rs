//! The per-class flagging rule shared by the training-dynamics and SCALE-UP detectors: robust
//! within-class z-scores, an exact 1-D 2-means split of each class's scores, a bimodality
//! statistic per class and a cross-class outlier verdict.
//!
//! - Robust z-score of `v` in its class: `(v - median) / (1.4826 MAD)` (the MAD is scaled to
//!   the standard deviation of a normal); a class whose MAD is 0 has no spread to measure and
//!   scores 0 throughout, unless the caller gives a floor (SCALE-UP's discrete consistency).
//! - Split: the exact 2-means partition of the sorted scores (the threshold minimising the
//!   within-cluster sum of squares, `O(m log m)` with prefix sums). Only a high tail counts:
//!   a split whose upper cluster is not above the class median reports no tail.
//! - Statistic: Ashman's D of the split, `D = √2 |μ_hi - μ_lo| / √(σ_hi² + σ_lo²)`
//!   (Ashman, Bird & Zepf 1994); `D > 2` is their criterion for a clean separation, but the
//!   2-means split of a *single* normal already gives `D = 2.65`, so the absolute floor
//!   defaults higher (3.5: clean `digits` classes reach 2.5-3.6) and the main test is relative
//!   to the other classes.
//! - Verdict: a class is suspicious when its `D` is at least `min_separation` and, with 5 or
//!   more scored classes, its robust z-score among the classes' `D`s is at least
//!   `class_outlier` (Neural Cleanse's anomaly-index convention; the spread is
//!   `max(1.4826 MAD, 0.1 median)`; with fewer classes a median and MAD mean nothing and only
//!   the floor applies). Flagged: the upper cluster of a
//!   suspicious class, highest scores first, at most `max_class_share` of the class.

use crate::detection::{flag_top, Rows};
use crate::Detection;

/// The consistency constant turning a MAD into a normal standard deviation.
const MAD_TO_SD: f64 = 1.4826;

/// Smallest cross-class spread of the separations, as a share of their median. Clean classes'
/// separations differ by about ±10% (digits: D from 2.5 to 3.3 in one run); when most classes
/// happen to agree more closely, their MAD alone would make a 15% difference an outlier
/// (measured: 146 clean digits flagged in one seed of five before this floor).
const RELATIVE_SPREAD_FLOOR: f64 = 0.1;

/// Fewest classes for which a cross-class median and MAD are used (as activation clustering).
pub(crate) const MIN_CLASSES_FOR_OUTLIER: usize = 5;

/// Median of a non-empty slice (mean of the two middle values for an even length).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    (v[(n - 1) / 2] + v[n / 2]) / 2.0
}

/// Robust z-scores of `values[r]` for `r` in `rows`, written into `out[r]`. `mad_floor` (>= 0)
/// bounds the scaled MAD from below; with a zero floor, a class without spread scores 0.
pub(crate) fn robust_z(values: &[f64], rows: &[usize], mad_floor: f64, out: &mut [f64]) {
    if rows.is_empty() {
        return;
    }
    let class: Vec<f64> = rows.iter().map(|&r| values[r]).collect();
    let centre = median(&class);
    let deviations: Vec<f64> = class.iter().map(|v| (v - centre).abs()).collect();
    let scale = (MAD_TO_SD * median(&deviations)).max(mad_floor);
    for &r in rows {
        out[r] = if scale > 0.0 {
            (values[r] - centre) / scale
        } else {
            0.0
        };
    }
}

/// The exact 1-D 2-means split of `scores[rows]`: the rows of the upper cluster and Ashman's D
/// of the split; no rows and 0 with fewer than 2 distinct values or when the upper cluster's
/// mean is not positive (scores are centred on the class median, so that split isolates a low
/// tail, not a high one).
/// The optimal two-cluster split of ascending `sorted` values (1-D k-means with k = 2, i.e.
/// Otsu's threshold, Otsu 1979): the cut `c` (clusters `sorted[..c]` and `sorted[c..]`)
/// maximising the between-cluster scatter `a b (mean_lo - mean_hi)^2`, which is the same as
/// minimising the within-cluster sum of squares. Cuts fall only between distinct values, so
/// equal values share a cluster; `None` when all values are equal (or fewer than two).
///
/// Exact in O(m) after sorting: one prefix sum.
pub(crate) fn best_two_means_cut(sorted: &[f64]) -> Option<usize> {
    let m = sorted.len();
    let total: f64 = sorted.iter().sum();
    let mut left = 0.0;
    let mut best: Option<(f64, usize)> = None;
    for cut in 1..m {
        left += sorted[cut - 1];
        if sorted[cut] == sorted[cut - 1] {
            continue;
        }
        let (a, b) = (cut as f64, (m - cut) as f64);
        let gap = left / a - (total - left) / b;
        let between = a * b * gap * gap;
        if best.is_none_or(|(score, _)| between > score) {
            best = Some((between, cut));
        }
    }
    best.map(|(_, cut)| cut)
}

pub(crate) fn two_means_split(scores: &[f64], rows: &[usize]) -> (Vec<usize>, f64) {
    let mut order = rows.to_vec();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let m = order.len();
    let sorted: Vec<f64> = order.iter().map(|&r| scores[r]).collect();
    let mut prefix = vec![0f64; m + 1];
    let mut prefix_sq = vec![0f64; m + 1];
    for (i, &v) in sorted.iter().enumerate() {
        prefix[i + 1] = prefix[i] + v;
        prefix_sq[i + 1] = prefix_sq[i] + v * v;
    }
    // Within-cluster sum of squares of sorted[a..b].
    let sse = |a: usize, b: usize| {
        let (s, q, k) = (
            prefix[b] - prefix[a],
            prefix_sq[b] - prefix_sq[a],
            (b - a) as f64,
        );
        (q - s * s / k).max(0.0)
    };
    let best = best_two_means_cut(&sorted);
    let Some(cut) = best else {
        return (Vec::new(), 0.0);
    };
    let stats = |a: usize, b: usize| {
        let k = (b - a) as f64;
        ((prefix[b] - prefix[a]) / k, sse(a, b) / k)
    };
    let ((mu_lo, var_lo), (mu_hi, var_hi)) = (stats(0, cut), stats(cut, m));
    if mu_hi <= 0.0 {
        // The split separates a *low* tail from a bulk at or below the class centre (scores
        // are z-scores about the class median): there is no high tail to report.
        return (Vec::new(), 0.0);
    }
    let spread = (var_lo + var_hi).sqrt();
    let d = if spread > 0.0 {
        std::f64::consts::SQRT_2 * (mu_hi - mu_lo) / spread
    } else {
        // Two point masses: perfectly separated.
        f64::INFINITY
    };
    (order[cut..].to_vec(), d)
}

/// The shared flagging rule's thresholds (validated by the detectors' parameter checks).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TailRule {
    pub class_outlier: f64,
    pub min_separation: f64,
    pub max_class_share: f64,
}

/// Per-class outcome of [`TailRule::apply`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClassTails {
    /// Ashman's D per class (0 for classes with fewer than 2 distinct scores).
    pub separation: Vec<f64>,
    pub suspicious: Vec<bool>,
}

impl TailRule {
    /// Splits each group's scores, judges the groups against each other and flags the upper
    /// cluster of suspicious groups into `flags`.
    pub(crate) fn apply(
        &self,
        scores: &[f64],
        groups: &[Vec<usize>],
        flags: &mut [bool],
    ) -> ClassTails {
        let splits: Vec<(Vec<usize>, f64)> = groups
            .iter()
            .map(|rows| two_means_split(scores, rows))
            .collect();
        let separation: Vec<f64> = splits.iter().map(|s| s.1).collect();
        let scored: Vec<f64> = separation
            .iter()
            .zip(groups)
            .filter(|(_, g)| g.len() >= 2)
            .map(|(&d, _)| d.min(f64::MAX))
            .collect();
        let outlier = |d: f64| -> bool {
            if scored.len() < MIN_CLASSES_FOR_OUTLIER || self.class_outlier == 0.0 {
                return true;
            }
            let centre = median(&scored);
            let deviations: Vec<f64> = scored.iter().map(|v| (v - centre).abs()).collect();
            let scale = (MAD_TO_SD * median(&deviations)).max(RELATIVE_SPREAD_FLOOR * centre);
            if scale > 0.0 {
                (d.min(f64::MAX) - centre) / scale >= self.class_outlier
            } else {
                d > centre
            }
        };
        let suspicious: Vec<bool> = separation
            .iter()
            .map(|&d| d >= self.min_separation && outlier(d))
            .collect();
        for ((upper, _), (rows, &bad)) in splits.iter().zip(groups.iter().zip(&suspicious)) {
            if bad {
                let budget = crate::detection::flag_count(rows.len(), self.max_class_share);
                flag_top(scores, upper, budget.min(upper.len()), flags);
            }
        }
        ClassTails {
            separation,
            suspicious,
        }
    }

    /// [`TailRule::apply`] to `scores` split by `groups` (classes), as the detection of
    /// `detector`: each class's verdict is its suspicion and its separation the statistic.
    pub(crate) fn detection(
        &self,
        detector: &str,
        parameters: serde_json::Value,
        rows: Rows<'_>,
        scores: &[f64],
        groups: &[Vec<usize>],
    ) -> Detection {
        let mut flags = vec![false; scores.len()];
        let ClassTails {
            separation,
            suspicious,
        } = self.apply(scores, groups, &mut flags);
        Detection::from_rows(detector, parameters, rows, scores, &flags, |c| {
            (suspicious[c as usize], separation[c as usize])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_means_finds_the_hand_computed_split_and_its_separation() {
        // {0, 1} vs {10, 11}: means 0.5 and 10.5, variances 0.25 each:
        // D = √2 · 10 / √0.5 = 20.
        let scores = [10.0, 0.0, 11.0, 1.0];
        let (upper, d) = two_means_split(&scores, &[0, 1, 2, 3]);
        assert_eq!(upper, vec![0, 2]);
        assert!((d - 20.0).abs() < 1e-9, "{d}");
        assert_eq!(two_means_split(&[3.0, 3.0], &[0, 1]), (Vec::new(), 0.0));
        // A bulk at the median (0) with a low tail has no high tail.
        assert_eq!(
            two_means_split(&[0.0, 0.0, 0.0, -5.0], &[0, 1, 2, 3]),
            (Vec::new(), 0.0)
        );
    }

    #[test]
    fn robust_z_uses_the_median_and_scaled_mad() {
        // Median 2, |deviations| {1, 0, 1, 98} -> MAD 1, scale 1.4826.
        let values = [1.0, 2.0, 3.0, 100.0, 2.0];
        let mut z = [0.0; 5];
        robust_z(&values, &[0, 1, 2, 3, 4], 0.0, &mut z);
        assert!((z[3] - 98.0 / 1.4826).abs() < 1e-9 && z[1] == 0.0);
        let mut flat = [9.0; 2];
        robust_z(&[5.0, 5.0], &[0, 1], 0.0, &mut flat);
        assert_eq!(flat, [0.0, 0.0]);
        robust_z(&[5.0, 5.0, 6.0], &[0, 1, 2], 0.5, &mut z);
        assert_eq!(z[2], 2.0);
    }

    #[test]
    fn only_the_outlying_class_is_flagged_and_only_its_upper_cluster() {
        // Six classes of 20 evenly spread scores (D of a uniform split = 3.46 in every class);
        // class 0 additionally holds 5 far-off scores.
        let mut scores = Vec::new();
        let mut groups = vec![Vec::new(); 6];
        for (c, group) in groups.iter_mut().enumerate() {
            for i in 0..20 {
                group.push(scores.len());
                scores.push(i as f64 / 20.0 + c as f64 * 1e-3);
            }
        }
        for _ in 0..5 {
            groups[0].push(scores.len());
            scores.push(10.0);
        }
        let rule = TailRule {
            class_outlier: 3.0,
            min_separation: 3.0,
            max_class_share: 0.5,
        };
        let mut flags = vec![false; scores.len()];
        let tails = rule.apply(&scores, &groups, &mut flags);
        assert_eq!(
            tails.suspicious,
            vec![true, false, false, false, false, false]
        );
        let flagged: Vec<usize> = (0..scores.len()).filter(|&r| flags[r]).collect();
        assert_eq!(flagged, (120..125).collect::<Vec<_>>());
        // The share cap binds: at most 10% of class 0's 25 samples (3).
        let mut capped = vec![false; scores.len()];
        TailRule {
            max_class_share: 0.1,
            ..rule
        }
        .apply(&scores, &groups, &mut capped);
        assert_eq!(capped.iter().filter(|&&f| f).count(), 3);
    }
}
