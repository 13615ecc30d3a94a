//! Baseline-versus-candidate comparison of predictions on a trusted holdout.

use crate::{GateError, Result};
use serde::{Deserialize, Serialize};

/// Recall of one class under both models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassRecall {
    pub class: usize,
    /// Holdout samples of this class.
    pub support: usize,
    pub baseline_recall: f64,
    pub candidate_recall: f64,
    /// `baseline_recall - candidate_recall` (positive: the candidate got worse).
    pub drop: f64,
}

/// How the candidate's predictions differ from the baseline's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flips {
    /// Samples whose predicted class changed (prediction churn).
    pub changed: usize,
    /// Baseline right, candidate wrong (negative flips, "regressions").
    pub negative: usize,
    /// Baseline wrong, candidate right.
    pub positive: usize,
    /// `changed / n`: prediction churn (Milani Fard et al., 2016).
    pub flip_rate: f64,
    /// `negative / n`: negative flip rate (Yan et al., 2021).
    pub negative_flip_rate: f64,
    /// `negative_into[c]`: negative flips the candidate predicts as class `c`.
    pub negative_into: Vec<usize>,
    /// The class receiving the most negative flips (lowest index on ties), if any.
    pub top_class: Option<usize>,
    /// `max_c negative_into[c] / negative` (0 when there are no negative flips).
    pub concentration: f64,
}

/// Accuracy, per-class recall and prediction flips of a candidate against a baseline on the
/// same labelled holdout.
///
/// With labels `y`, baseline predictions `b` and candidate predictions `c` over `n` samples:
/// - accuracy drop `= (1/n) Σ [b_i = y_i] - (1/n) Σ [c_i = y_i]`;
/// - per-class recall drop of class `k` `= recall_b(k) - recall_c(k)`;
/// - prediction churn `= (1/n) Σ [b_i ≠ c_i]` (Milani Fard, Cormier, Canini & Gupta, 2016,
///   "Launch and Iterate: Reducing Prediction Churn", NeurIPS);
/// - negative flip rate `NFR = (1/n) Σ [b_i = y_i ∧ c_i ≠ y_i]` (Yan, Xiong, Kundu, Yang, Deng,
///   Wang, Xia & Soatto, 2021, "Positive-Congruent Training: Towards Regression-Free Model
///   Updates", CVPR);
/// - target concentration `= max_k |{i : b_i = y_i, c_i ≠ y_i, c_i = k}| / (n · NFR)`: the
///   share of the new mistakes that go to one class. A targeted or backdoor poison pulls
///   inputs towards the attacker's class, so its regressions pile up there, whereas a clean
///   retrain's regressions spread over the confusable pairs. This is the label-space analogue
///   of Neural Cleanse's observation that a backdoor makes one class reachable from all others
///   (Wang et al., 2019, IEEE S&P); it needs no trigger, but a stealthy backdoor that leaves
///   clean inputs alone escapes it (use trigger probes then).
///
/// ```
/// use mithridate_gate::Comparison;
/// let labels    = [0, 1, 2, 2];
/// let baseline  = [0, 1, 2, 0];
/// let candidate = [0, 0, 0, 2];
/// let c = Comparison::new(&labels, &baseline, &candidate, 3)?;
/// assert_eq!(c.baseline_accuracy, 0.75);
/// assert_eq!(c.candidate_accuracy, 0.5);
/// assert_eq!((c.flips.changed, c.flips.negative, c.flips.positive), (3, 2, 1));
/// assert_eq!(c.flips.top_class, Some(0));
/// assert_eq!(c.flips.concentration, 1.0);
/// # Ok::<(), mithridate_gate::GateError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub samples: usize,
    pub num_classes: usize,
    /// Holdout samples each model classifies correctly.
    pub baseline_correct: usize,
    pub candidate_correct: usize,
    pub baseline_accuracy: f64,
    pub candidate_accuracy: f64,
    pub per_class: Vec<ClassRecall>,
    pub flips: Flips,
}

impl Comparison {
    /// Compares predictions over `num_classes` classes. Errors on mismatched lengths, an empty
    /// holdout or a label or prediction `>= num_classes`.
    pub fn new(
        labels: &[u32],
        baseline: &[u32],
        candidate: &[u32],
        num_classes: usize,
    ) -> Result<Comparison> {
        let n = labels.len();
        if baseline.len() != n || candidate.len() != n {
            return Err(GateError::Input(format!(
                "{n} labels but {} baseline and {} candidate predictions",
                baseline.len(),
                candidate.len()
            )));
        }
        if n == 0 {
            return Err(GateError::Input("the holdout has no samples".into()));
        }
        let mut support = vec![0usize; num_classes];
        let mut hits_b = vec![0usize; num_classes];
        let mut hits_c = vec![0usize; num_classes];
        let mut negative_into = vec![0usize; num_classes];
        let (mut changed, mut negative, mut positive) = (0, 0, 0);
        for (row, ((&y, &b), &c)) in labels.iter().zip(baseline).zip(candidate).enumerate() {
            let (y, b, c) = (y as usize, b as usize, c as usize);
            if y.max(b).max(c) >= num_classes {
                return Err(GateError::Input(format!(
                    "class {} at row {row} is out of range for {num_classes} classes",
                    y.max(b).max(c)
                )));
            }
            support[y] += 1;
            hits_b[y] += usize::from(b == y);
            hits_c[y] += usize::from(c == y);
            changed += usize::from(b != c);
            if b == y && c != y {
                negative += 1;
                negative_into[c] += 1;
            }
            positive += usize::from(b != y && c == y);
        }
        let ratio = |num: usize, den: usize| {
            if den == 0 {
                0.0
            } else {
                num as f64 / den as f64
            }
        };
        let per_class = (0..num_classes)
            .map(|k| {
                let (rb, rc) = (ratio(hits_b[k], support[k]), ratio(hits_c[k], support[k]));
                ClassRecall {
                    class: k,
                    support: support[k],
                    baseline_recall: rb,
                    candidate_recall: rc,
                    // From counts, so a drop of exactly the threshold compares equal to it.
                    drop: (hits_b[k] as f64 - hits_c[k] as f64) / support[k].max(1) as f64,
                }
            })
            .collect();
        // Lowest index on ties, so the report does not depend on iteration details.
        let top = negative_into
            .iter()
            .enumerate()
            .filter(|(_, &count)| count > 0)
            .fold(
                None,
                |best: Option<(usize, usize)>, (k, &count)| match best {
                    Some((_, c)) if c >= count => best,
                    _ => Some((k, count)),
                },
            );
        Ok(Comparison {
            samples: n,
            num_classes,
            baseline_correct: hits_b.iter().sum(),
            candidate_correct: hits_c.iter().sum(),
            baseline_accuracy: ratio(hits_b.iter().sum(), n),
            candidate_accuracy: ratio(hits_c.iter().sum(), n),
            per_class,
            flips: Flips {
                changed,
                negative,
                positive,
                flip_rate: ratio(changed, n),
                negative_flip_rate: ratio(negative, n),
                negative_into,
                top_class: top.map(|(k, _)| k),
                concentration: top.map_or(0.0, |(_, count)| ratio(count, negative)),
            },
        })
    }

    /// `baseline_accuracy - candidate_accuracy`, computed from the counts (so a drop of
    /// exactly `m / n` equals the literal `m / n`).
    pub fn accuracy_drop(&self) -> f64 {
        (self.baseline_correct as f64 - self.candidate_correct as f64) / self.samples as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_a_hand_computed_case() {
        // y: 0 0 1 1 2 2
        // b: 0 0 1 2 2 2   (5/6)
        // c: 0 2 2 1 2 0   (3/6)
        let c = Comparison::new(
            &[0, 0, 1, 1, 2, 2],
            &[0, 0, 1, 2, 2, 2],
            &[0, 2, 2, 1, 2, 0],
            3,
        )
        .unwrap();
        assert!((c.accuracy_drop() - 2.0 / 6.0).abs() < 1e-12);
        assert_eq!(c.flips.changed, 4);
        assert_eq!(c.flips.negative, 3); // rows 1, 2, 5
        assert_eq!(c.flips.positive, 1); // row 3
        assert_eq!(c.flips.negative_into, vec![1, 0, 2]);
        assert_eq!(c.flips.top_class, Some(2));
        assert!((c.flips.concentration - 2.0 / 3.0).abs() < 1e-12);
        let drops: Vec<f64> = c.per_class.iter().map(|r| r.drop).collect();
        assert_eq!(drops, vec![0.5, 0.0, 0.5]);
    }

    #[test]
    fn identical_models_have_no_flips() {
        let y = [0, 1, 2, 1];
        let p = [0, 2, 2, 1];
        let c = Comparison::new(&y, &p, &p, 3).unwrap();
        assert_eq!(c.accuracy_drop(), 0.0);
        assert_eq!((c.flips.changed, c.flips.negative), (0, 0));
        assert_eq!((c.flips.top_class, c.flips.concentration), (None, 0.0));
    }

    #[test]
    fn ties_go_to_the_lowest_class() {
        let c = Comparison::new(&[0, 0, 0, 0], &[0, 0, 0, 0], &[2, 1, 2, 1], 3).unwrap();
        assert_eq!(c.flips.top_class, Some(1));
        assert_eq!(c.flips.concentration, 0.5);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(Comparison::new(&[0, 1], &[0], &[0, 1], 2).is_err());
        assert!(Comparison::new(&[], &[], &[], 2).is_err());
        let err = Comparison::new(&[0], &[0], &[7], 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("class 7"), "{err}");
    }
}
