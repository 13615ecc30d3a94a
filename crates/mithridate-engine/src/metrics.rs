//! Classification metrics: accuracy, per-class precision and recall, confusion matrix.

use crate::{EngineError, Result};

/// Precision and recall of one class.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassMetrics {
    pub class: usize,
    /// Number of samples whose true label is `class`.
    pub support: usize,
    /// `TP / (TP + FP)`; 0 when the class was never predicted.
    pub precision: f64,
    /// `TP / (TP + FN)`; 0 when the class has no samples.
    pub recall: f64,
}

/// Evaluation of predictions against labels.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// Fraction of correct predictions.
    pub accuracy: f64,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

/// Compares `predicted` with `labels` over `num_classes` classes.
///
/// Accuracy is `sum_c confusion[c][c] / n`; precision of class `c` is
/// `confusion[c][c] / sum_t confusion[t][c]` and recall `confusion[c][c] / sum_p confusion[c][p]`,
/// defined as 0 when the denominator is 0 (scikit-learn's `zero_division=0`).
/// Errors on length mismatch, no samples, or a class index `>= num_classes`.
///
/// ```
/// use mithridate_engine::metrics::evaluate;
/// let e = evaluate(&[0, 1, 1, 1], &[0, 1, 0, 1], 2)?;
/// assert_eq!(e.accuracy, 0.75);
/// assert_eq!(e.confusion, vec![vec![1, 1], vec![0, 2]]);
/// assert!((e.per_class[1].precision - 2.0 / 3.0).abs() < 1e-12);
/// assert_eq!(e.per_class[0].recall, 0.5);
/// # Ok::<(), mithridate_engine::EngineError>(())
/// ```
pub fn evaluate(predicted: &[u32], labels: &[u32], num_classes: usize) -> Result<Evaluation> {
    if predicted.len() != labels.len() {
        return Err(EngineError::invalid_input(format!(
            "{} predictions for {} labels",
            predicted.len(),
            labels.len()
        )));
    }
    if labels.is_empty() {
        return Err(EngineError::invalid_input("cannot evaluate zero samples"));
    }
    let mut confusion = vec![vec![0usize; num_classes]; num_classes];
    for (row, (&p, &t)) in predicted.iter().zip(labels).enumerate() {
        let (p, t) = (p as usize, t as usize);
        if p >= num_classes || t >= num_classes {
            return Err(EngineError::invalid_input(format!(
                "class {} at row {row} is out of range for {num_classes} classes",
                p.max(t)
            )));
        }
        confusion[t][p] += 1;
    }
    let ratio = |num: usize, den: usize| {
        if den == 0 {
            0.0
        } else {
            num as f64 / den as f64
        }
    };
    let correct: usize = (0..num_classes).map(|c| confusion[c][c]).sum();
    let per_class = (0..num_classes)
        .map(|c| {
            let support: usize = confusion[c].iter().sum();
            let predicted_c: usize = confusion.iter().map(|row| row[c]).sum();
            ClassMetrics {
                class: c,
                support,
                precision: ratio(confusion[c][c], predicted_c),
                recall: ratio(confusion[c][c], support),
            }
        })
        .collect();
    Ok(Evaluation {
        accuracy: ratio(correct, labels.len()),
        per_class,
        confusion,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_class_case_by_hand() {
        // true:  0 0 0 1 1 2
        // pred:  0 1 0 1 2 2
        let e = evaluate(&[0, 1, 0, 1, 2, 2], &[0, 0, 0, 1, 1, 2], 3).unwrap();
        assert_eq!(
            e.confusion,
            vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
        );
        assert!((e.accuracy - 4.0 / 6.0).abs() < 1e-12);
        let p: Vec<f64> = e.per_class.iter().map(|m| m.precision).collect();
        let r: Vec<f64> = e.per_class.iter().map(|m| m.recall).collect();
        assert_eq!(p, vec![1.0, 0.5, 0.5]);
        assert_eq!(r, vec![2.0 / 3.0, 0.5, 1.0]);
        assert_eq!(e.per_class[0].support, 3);
    }

    #[test]
    fn absent_class_has_zero_precision_and_recall() {
        let e = evaluate(&[0, 0], &[0, 0], 2).unwrap();
        assert_eq!(
            (e.per_class[1].precision, e.per_class[1].recall),
            (0.0, 0.0)
        );
        assert_eq!(e.per_class[1].support, 0);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(evaluate(&[0], &[0, 1], 2).is_err());
        assert!(evaluate(&[], &[], 2).is_err());
        let err = evaluate(&[5], &[0], 2).unwrap_err().to_string();
        assert!(err.contains("class 5"), "{err}");
    }
}
