//! `consensus`: a model is trojaned when Neural Cleanse and MM-BD point at the same class.
//!
//! Why two detectors' *top classes* and not their thresholds: Neural Cleanse (Wang et al.
//! 2019) asks which class the smallest input mask reaches, MM-BD (Wang, Xiang, Miller &
//! Kesidis 2024) which class the largest logit margin reaches. A backdoor makes its target the
//! answer to both (a small trigger that yields a large, input-independent margin), while a
//! clean model's natural extremes differ: on the measured Fashion-MNIST zoos Neural Cleanse's
//! top class on clean models was mostly the bag (small masks reach it), MM-BD's mostly the
//! sandal or trouser (large natural margins). Each detector's own threshold is tuned for one
//! architecture family: on models of architectures it was not calibrated on, the target is
//! usually the top class of each without being significant (onnx README, stop 40).
//!
//! Rule: with `a = argmax_c index_NC(c)` and `b = argmax_c ratio_MM(c)` (a tie for either
//! maximum gives no top class), the model is trojaned with target `a` iff `a = b`. For
//! ranking models (AUROC), each class also gets a score, the smaller of its two robust
//! z-scores ([`class_scores`]; JSON `score` = the largest, `class_scores`).
//! Assumptions: at least 3 classes (Neural Cleanse's MAD test); under the null the two top
//! classes are roughly independent, so a clean model agrees by chance with probability about
//! `sum_c P_NC(c) P_MM(c)`, which is `1/K` for uniform tops and more when both detectors favour
//! the same natural class. Measured (onnx README, stop 40): 8 of 8 working backdoors and 1 of
//! 10 clean models flagged on a Fashion-MNIST engine zoo, 7 of 9 and 1 of 9 on held-out
//! PyTorch architectures; both false positives were Fashion-MNIST's bag, a class both
//! detectors favour on clean models. Cost: both detectors' (Neural Cleanse dominates on CNNs).
//!
//! ```
//! use mithridate_gate::consensus::agreed_class;
//! // Both rank class 2 highest: the model is flagged with target 2.
//! assert_eq!(agreed_class(&[Some(0.1), Some(1.2), Some(3.0)], &[Some(0.5), Some(0.4), Some(2.0)]), Some(2));
//! // Different top classes, or a tie at the top: no verdict.
//! assert_eq!(agreed_class(&[Some(3.0), Some(1.0), None], &[Some(0.1), Some(0.9), None]), None);
//! assert_eq!(agreed_class(&[Some(3.0), Some(3.0), None], &[Some(0.9), Some(0.1), None]), None);
//! ```

use crate::inspectors::{
    ClassScores, Inspection, MaxMargin, MaxMarginParams, ModelInspector, NeuralCleanse,
    NeuralCleanseParams,
};
use crate::model_scan::GradientModel;
use crate::Result;
use mithridate_data::Dataset;
use serde::{Deserialize, Serialize};

/// The class with the unique largest finite score, if any.
fn top_class(scores: &[Option<f64>]) -> Option<usize> {
    let finite = || {
        scores
            .iter()
            .enumerate()
            .filter_map(|(c, s)| s.filter(|v| v.is_finite()).map(|v| (c, v)))
    };
    let best = finite().map(|(_, v)| v).fold(f64::NEG_INFINITY, f64::max);
    let mut at_best = finite().filter(|&(_, v)| v == best).map(|(c, _)| c);
    match (at_best.next(), at_best.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// Each class's consensus score: the smaller of its two robust z-scores, Neural Cleanse's
/// anomaly index (already `(median - norm) / (1.4826 MAD)` over the mask norms) and MM-BD's
/// `(ratio - median) / (1.4826 MAD)` over the referenced ratios; `None` where either is
/// missing or not finite. When the two top classes agree, that class has the largest score
/// (no other class beats it on either z-score), so the model's score, the largest class
/// score, ranks models for AUROC without changing the verdict rule.
pub fn class_scores(
    neural_cleanse: &[Option<f64>],
    max_margin: &[Option<f64>],
) -> Vec<Option<f64>> {
    let finite: Vec<(usize, f64)> = max_margin
        .iter()
        .enumerate()
        .filter_map(|(c, s)| s.filter(|v| v.is_finite()).map(|v| (c, -v)))
        .collect();
    let negated: Vec<f64> = finite.iter().map(|&(_, v)| v).collect();
    let (z, _, _) = crate::model_scan::anomaly_indices(&negated);
    let mut mm_z = vec![None; max_margin.len()];
    for (&(c, _), z) in finite.iter().zip(z) {
        mm_z[c] = Some(z);
    }
    neural_cleanse
        .iter()
        .zip(mm_z.iter().chain(std::iter::repeat(&None)))
        .map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) if a.is_finite() && b.is_finite() => Some(a.min(*b)),
            _ => None,
        })
        .collect()
}

/// The class both score vectors rank highest (each with a unique maximum), else `None`.
pub fn agreed_class(neural_cleanse: &[Option<f64>], max_margin: &[Option<f64>]) -> Option<usize> {
    same_class(top_class(neural_cleanse), top_class(max_margin))
}

/// `a` when both top classes exist and are equal.
fn same_class(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    a.filter(|&a| Some(a) == b)
}

/// Parameters of [`Consensus`]: each member's own, under its registry name.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ConsensusParams {
    pub neural_cleanse: NeuralCleanseParams,
    pub max_margin: MaxMarginParams,
}

/// The combined inspector with checked members (see the [module](self) docs).
pub struct Consensus {
    params: ConsensusParams,
    neural_cleanse: NeuralCleanse,
    max_margin: MaxMargin,
}

impl Consensus {
    pub fn new(params: ConsensusParams) -> Result<Consensus> {
        // MM-BD's own picture step is skipped: the agreed class's trigger is Neural Cleanse's.
        let max_margin = MaxMarginParams {
            reverse_trigger: false,
            ..params.max_margin
        };
        Ok(Consensus {
            params,
            neural_cleanse: NeuralCleanse::new(params.neural_cleanse)?,
            max_margin: MaxMargin::new(max_margin)?,
        })
    }
}

impl ModelInspector for Consensus {
    fn name(&self) -> &'static str {
        crate::inspectors::CONSENSUS.name
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    fn inspect(
        &self,
        model: &dyn GradientModel,
        trusted: &Dataset,
        seed: u64,
    ) -> Result<Inspection> {
        let (nc, triggers) = self
            .neural_cleanse
            .inspect_with_all_triggers(model, trusted)?;
        let mm = self.max_margin.inspect(model, trusted, seed)?;
        let (a, b) = (
            top_class(&nc.class_scores.values),
            top_class(&mm.class_scores.values),
        );
        let agreed = same_class(a, b);
        let show = |c: Option<usize>| c.map_or("none (tie)".to_string(), |c| c.to_string());
        let scores = class_scores(&nc.class_scores.values, &mm.class_scores.values);
        let score = scores.iter().flatten().copied().reduce(f64::max);
        let class_scores = ClassScores {
            name: "score (smaller z)",
            values: scores.clone(),
            evidence: format!(
                "Neural Cleanse's top class {} {} MM-BD's top class {}",
                show(a),
                if agreed.is_some() { "=" } else { "!=" },
                show(b)
            ),
        };
        let details = serde_json::json!({
            "agreed_class": agreed,
            "score": score,
            "class_scores": scores,
            "neural_cleanse": { "top_class": a, "evidence": nc.class_scores.evidence, "details": nc.details },
            "max_margin": { "top_class": b, "evidence": mm.class_scores.evidence, "details": mm.details },
        });
        Ok(Inspection {
            target_classes: agreed.into_iter().collect(),
            triggers: triggers
                .into_iter()
                .filter(|(c, _)| Some(*c) == agreed)
                .collect(),
            class_scores,
            details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_classes_ignore_missing_and_non_finite_scores_and_refuse_ties() {
        assert_eq!(
            top_class(&[None, Some(1.0), Some(f64::NAN), Some(0.5)]),
            Some(1)
        );
        assert_eq!(top_class(&[Some(f64::INFINITY), Some(1.0)]), Some(1));
        assert_eq!(top_class(&[None, None]), None);
        assert_eq!(top_class(&[]), None);
        assert_eq!(top_class(&[Some(2.0), Some(2.0), Some(1.0)]), None);
    }

    #[test]
    fn class_scores_are_the_smaller_robust_z_by_hand() {
        // MM-BD ratios [1, 2, 3, 10]: median 2.5, |deviations| [1.5, 0.5, 0.5, 7.5] -> MAD 1,
        // z = (r - 2.5) / 1.4826. Neural Cleanse's indices are taken as they are.
        let mm = [Some(1.0), Some(2.0), Some(3.0), Some(10.0)];
        let nc = [Some(0.0), Some(5.0), None, Some(3.0)];
        let s = class_scores(&nc, &mm);
        let z = |r: f64| (r - 2.5) / 1.4826;
        assert!((s[0].unwrap() - z(1.0)).abs() < 1e-12);
        assert!((s[1].unwrap() - z(2.0)).abs() < 1e-12);
        assert_eq!(s[2], None);
        assert!((s[3].unwrap() - 3.0).abs() < 1e-12);
        // Agreement at class 3: it has the largest score.
        assert_eq!(agreed_class(&nc[..], &mm[..]), None);
        let nc = [Some(0.0), Some(1.0), Some(0.5), Some(3.0)];
        assert_eq!(agreed_class(&nc, &mm), Some(3));
        let s = class_scores(&nc, &mm);
        assert_eq!(top_class(&s), Some(3));
        // Missing MM-BD classes and non-finite values give no score.
        let s = class_scores(
            &[Some(1.0), Some(f64::NAN), Some(2.0)],
            &[Some(1.0), Some(2.0)],
        );
        assert!(s[0].is_some() && s[1].is_none() && s[2].is_none());
    }

    #[test]
    fn agreement_needs_the_same_unique_top_class() {
        let nc = [Some(-0.1), Some(2.5), Some(0.3)];
        assert_eq!(
            agreed_class(&nc, &[Some(0.7), Some(0.9), Some(0.8)]),
            Some(1)
        );
        assert_eq!(agreed_class(&nc, &[Some(0.7), Some(0.8), Some(0.9)]), None);
        assert_eq!(agreed_class(&nc, &[Some(0.9), Some(0.9), Some(0.1)]), None);
    }

    #[test]
    fn members_parameters_are_checked_under_their_names() {
        let p: ConsensusParams = serde_json::from_value(
            serde_json::json!({"neural-cleanse": {"steps": 40}, "max-margin": {"starts": 2}}),
        )
        .unwrap();
        let c = Consensus::new(p).unwrap();
        assert_eq!(c.parameters()["neural-cleanse"]["steps"], 40);
        assert_eq!(c.parameters()["max-margin"]["starts"], 2);
        let zero_steps = ConsensusParams {
            neural_cleanse: NeuralCleanseParams {
                steps: 0,
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(Consensus::new(zero_steps).is_err());
        assert!(serde_json::from_value::<ConsensusParams>(
            serde_json::json!({"neural-cleanse": {"stepz": 1}})
        )
        .is_err());
    }
}
