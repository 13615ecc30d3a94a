//! Scoring a [`Detection`] against ground truth: precision, recall, F1 of the flagged set and
//! AUROC of the scores.

use crate::{DetectError, Detection, Result};
use std::collections::HashSet;

/// How well a detection matches the truly poisoned ids.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DetectionMetrics {
    pub samples: usize,
    pub poisoned: usize,
    pub flagged: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    /// `tp / flagged` (1 when nothing is flagged, the convention that no flag is no false alarm).
    pub precision: f64,
    /// `tp / poisoned` (1 when nothing is poisoned).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Share of clean samples flagged.
    pub false_positive_rate: f64,
    /// Area under the ROC curve of the scores (Mann-Whitney U / (P N), ties counted half);
    /// `None` when all samples are poisoned or none is.
    pub auroc: Option<f64>,
}

/// Compares `detection` with the poisoned ids of the scanned set (ids not in the scanned set,
/// e.g. poison that was never scanned, are ignored).
///
/// ```
/// use mithridate_detect::{metrics::score_detection, Detection};
/// let d = Detection { detector: "x".into(), parameters: serde_json::Value::Null,
///     flagged: vec![1, 2], scores: vec![(0, 0.1), (1, 0.9), (2, 0.8), (3, 0.2)],
///     classes: vec![], relabel: vec![] };
/// let m = score_detection(&d, &[1, 3])?;
/// assert_eq!((m.true_positives, m.false_positives), (1, 1));
/// assert_eq!((m.precision, m.recall), (0.5, 0.5));
/// // Positive scores {0.9, 0.2} vs negative {0.1, 0.8}: pairs won 1 + 0 + 1 + 1 = 3 of 4.
/// assert_eq!(m.auroc, Some(0.75));
/// # Ok::<(), mithridate_detect::DetectError>(())
/// ```
pub fn score_detection(detection: &Detection, poisoned_ids: &[u64]) -> Result<DetectionMetrics> {
    let scanned: HashSet<u64> = detection.scores.iter().map(|&(id, _)| id).collect();
    if scanned.len() != detection.scores.len() {
        return Err(DetectError::input("the detection scores an id twice"));
    }
    let poisoned: HashSet<u64> = poisoned_ids
        .iter()
        .copied()
        .filter(|id| scanned.contains(id))
        .collect();
    let flagged: HashSet<u64> = detection.flagged.iter().copied().collect();
    let tp = flagged.intersection(&poisoned).count();
    let fp = flagged.len() - tp;
    let share = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let precision = share(tp, flagged.len());
    let recall = share(tp, poisoned.len());
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let clean = scanned.len() - poisoned.len();
    Ok(DetectionMetrics {
        samples: scanned.len(),
        poisoned: poisoned.len(),
        flagged: flagged.len(),
        true_positives: tp,
        false_positives: fp,
        precision,
        recall,
        f1,
        false_positive_rate: if clean == 0 {
            0.0
        } else {
            fp as f64 / clean as f64
        },
        auroc: auroc(&detection.scores, &poisoned),
    })
}

/// The ROC curve of `scores` (higher = more suspicious) against the `poisoned` ids, as
/// `[false positive rate, true positive rate]` points from `[0, 0]` to `[1, 1]`, one point per
/// distinct score (tied scores move both rates at once), thinned to at most `max_points`
/// (>= 2) evenly spaced points of the full curve. Empty when either class is empty.
///
/// ```
/// use mithridate_detect::metrics::roc_curve;
/// let scores = [(0, 0.1), (1, 0.9), (2, 0.8), (3, 0.2)];
/// let roc = roc_curve(&scores, &[1, 3], 100);
/// assert_eq!(roc, vec![[0.0, 0.0], [0.0, 0.5], [0.5, 0.5], [0.5, 1.0], [1.0, 1.0]]);
/// ```
pub fn roc_curve(scores: &[(u64, f64)], poisoned: &[u64], max_points: usize) -> Vec<[f64; 2]> {
    let positives: HashSet<u64> = poisoned.iter().copied().collect();
    let p = scores
        .iter()
        .filter(|(id, _)| positives.contains(id))
        .count();
    let n = scores.len() - p;
    if p == 0 || n == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].1.total_cmp(&scores[a].1));
    let mut curve = vec![[0.0, 0.0]];
    let (mut tp, mut fp) = (0usize, 0usize);
    for (k, &i) in order.iter().enumerate() {
        if positives.contains(&scores[i].0) {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order.get(k + 1).is_none_or(|&j| scores[j].1 != scores[i].1);
        if last_of_tie {
            curve.push([fp as f64 / n as f64, tp as f64 / p as f64]);
        }
    }
    let max_points = max_points.max(2);
    if curve.len() <= max_points {
        return curve;
    }
    let last = curve.len() - 1;
    (0..max_points)
        .map(|k| curve[k * last / (max_points - 1)])
        .collect()
}

/// Mann-Whitney AUROC with average ranks for ties.
fn auroc(scores: &[(u64, f64)], positives: &HashSet<u64>) -> Option<f64> {
    let p = positives.len();
    let n = scores.len() - p;
    if p == 0 || n == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].1.total_cmp(&scores[b].1));
    let mut rank_sum = 0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]].1 == scores[order[i]].1 {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let mean_rank = (i + j + 2) as f64 / 2.0;
        for &r in &order[i..=j] {
            if positives.contains(&scores[r].0) {
                rank_sum += mean_rank;
            }
        }
        i = j + 1;
    }
    let u = rank_sum - (p * (p + 1)) as f64 / 2.0;
    Some(u / (p as f64 * n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(scores: &[f64], flagged: &[u64]) -> Detection {
        Detection {
            detector: "t".into(),
            parameters: serde_json::Value::Null,
            flagged: flagged.to_vec(),
            scores: scores
                .iter()
                .enumerate()
                .map(|(i, &s)| (i as u64, s))
                .collect(),
            classes: vec![],
            relabel: vec![],
        }
    }

    #[test]
    fn roc_ends_at_corners_is_monotone_and_thins() {
        let scores: Vec<(u64, f64)> = (0..1000).map(|i| (i, ((i * 37) % 101) as f64)).collect();
        let poisoned: Vec<u64> = (0..1000).filter(|i| i % 7 == 0).collect();
        let roc = roc_curve(&scores, &poisoned, 50);
        assert_eq!(roc.len(), 50);
        assert_eq!((roc[0], roc[49]), ([0.0, 0.0], [1.0, 1.0]));
        assert!(roc
            .windows(2)
            .all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1]));
        // Tied scores move both rates at once.
        let tied = roc_curve(&[(0, 1.0), (1, 1.0)], &[0], 10);
        assert_eq!(tied, vec![[0.0, 0.0], [1.0, 1.0]]);
        assert!(roc_curve(&scores, &[], 10).is_empty());
    }

    #[test]
    fn auroc_extremes_and_ties() {
        let d = detection(&[0.0, 0.0, 1.0, 1.0], &[2, 3]);
        let m = score_detection(&d, &[2, 3]).unwrap();
        assert_eq!(
            (m.auroc, m.f1, m.false_positive_rate),
            (Some(1.0), 1.0, 0.0)
        );
        assert_eq!(score_detection(&d, &[0, 1]).unwrap().auroc, Some(0.0));
        let flat = detection(&[0.5; 4], &[]);
        let m = score_detection(&flat, &[0]).unwrap();
        assert_eq!((m.auroc, m.precision, m.recall), (Some(0.5), 1.0, 0.0));
        assert_eq!(score_detection(&flat, &[]).unwrap().auroc, None);
        // Poisoned ids outside the scanned set are ignored.
        assert_eq!(score_detection(&flat, &[99]).unwrap().poisoned, 0);
    }
}
