//! Neural Cleanse unlearning (Wang et al., 2019): reverse-engineer the backdoor's trigger,
//! stamp it on clean data under the correct labels, fine-tune.

use crate::{
    accuracy, check_inputs, params, FineTune, Repair, RepairEntry, RepairError, Repaired, Result,
};
use mithridate_core::registry::Role;
use mithridate_core::ParamGuard;
use mithridate_data::Dataset;
use mithridate_engine::Classifier;
use mithridate_gate::{scan_model, ReverseParams};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub const ENTRY: RepairEntry = RepairEntry {
    name: "nc-unlearning",
    role: Role::Repair,
    modalities: &["image", "tabular"],
    summary: "Neural Cleanse scan of the trusted set (steps=300, samples=512, scan-batch-size=128, l1-weight=0.001), the flagged classes' reversed triggers (else the most anomalous class's) stamped on stamp-fraction=0.2 of it under the true labels, then fine-tuning (epochs=10, learning-rate=0.001, batch-size=64)",
    paper: "Wang, Yao, Shan, Li, Viswanath, Zheng & Zhao 2019 (Neural Cleanse, IEEE S&P), Section VI-C",
    taxonomy: crate::MODEL_REPAIR,
    requires: &[],
    provides: &[],
    build: |p| Ok(Box::new(NcUnlearning::new(params("nc-unlearning", p)?)?)),
};

/// Parameters of [`NcUnlearning`] (kebab-case keys).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct NcUnlearningParams {
    /// Adam steps of the trigger search per class.
    pub steps: usize,
    /// Inputs of other classes each class's trigger is optimised on.
    pub samples: usize,
    /// Inputs per step of the trigger search.
    pub scan_batch_size: usize,
    /// Initial weight of the mask's L1 norm.
    pub l1_weight: f64,
    /// Share of the trusted set stamped with a reversed trigger (the paper's 20%).
    pub stamp_fraction: f64,
    pub epochs: usize,
    pub learning_rate: f64,
    pub batch_size: usize,
}

impl Default for NcUnlearningParams {
    fn default() -> Self {
        let r = ReverseParams::default();
        let d = FineTune::DEFAULT;
        NcUnlearningParams {
            steps: r.steps,
            samples: r.samples,
            scan_batch_size: r.batch_size,
            l1_weight: r.l1_weight,
            stamp_fraction: 0.2,
            epochs: d.epochs,
            learning_rate: d.learning_rate,
            batch_size: d.batch_size,
        }
    }
}

/// Neural Cleanse unlearning (Wang, Yao, Shan, Li, Viswanath, Zheng & Zhao, 2019, "Neural
/// Cleanse: Identifying and Mitigating Backdoor Attacks in Neural Networks", IEEE S&P,
/// Section VI-C "Patching DNN via Unlearning").
///
/// 1. Scan: for every class `t`, the smallest mask `m_t` and pattern `p_t` sending trusted
///    inputs of other classes to `t`; classes whose mask norm is an outlier (anomaly index
///    `(median - |m_t|_1) / (1.4826 MAD) > 2`) are flagged ([`mithridate_gate::scan_model`]).
/// 2. Stamp `x' = (1 - m_t) ⊙ x + m_t ⊙ p_t` on a random `stamp_fraction` of the trusted
///    samples (the flagged classes' triggers in turn; the most anomalous class's when none is
///    flagged), keeping their true labels, so the trigger is taught to mean nothing.
/// 3. Fine-tune on that set. The paper reports BadNets' attack success falling to < 2%
///    with 10% of the training data and 20% stamped, at < 1 point of accuracy.
///
/// Assumptions: a small patch-like trigger that the reversed one approximates (blended or
/// full-image triggers are reversed poorly; the fine-tuning still runs); inputs in `[0, 1]`;
/// at least 3 classes. Cost: `K * steps` gradient passes of `scan_batch_size` inputs, plus
/// fine-tuning.
///
/// ```
/// use mithridate_repair::nc_unlearning::{NcUnlearning, NcUnlearningParams};
/// assert!(NcUnlearning::new(NcUnlearningParams::default()).is_ok());
/// let bad = NcUnlearningParams { stamp_fraction: 0.0, ..Default::default() };
/// assert!(NcUnlearning::new(bad).is_err());
/// ```
pub struct NcUnlearning {
    reverse: mithridate_gate::reverse::CheckedReverse,
    stamp_fraction: f64,
    tune: FineTune,
}

impl NcUnlearning {
    pub fn new(p: NcUnlearningParams) -> Result<Self> {
        let reverse = ReverseParams {
            steps: p.steps,
            batch_size: p.scan_batch_size,
            samples: p.samples,
            l1_weight: p.l1_weight,
            ..ReverseParams::default()
        }
        .check()
        .map_err(|e| RepairError::InvalidParameter(format!("nc-unlearning: {e}")))?;
        if !(p.stamp_fraction.is_finite() && p.stamp_fraction > 0.0 && p.stamp_fraction <= 1.0) {
            return Err(RepairError::InvalidParameter(format!(
                "nc-unlearning: stamp-fraction must be in (0, 1], not {}",
                p.stamp_fraction
            )));
        }
        let tune = FineTune {
            epochs: p.epochs,
            learning_rate: p.learning_rate,
            batch_size: p.batch_size,
        };
        tune.check("nc-unlearning")?;
        Ok(NcUnlearning {
            reverse,
            stamp_fraction: p.stamp_fraction,
            tune,
        })
    }
}

impl Repair for NcUnlearning {
    fn name(&self) -> &'static str {
        ENTRY.name
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({
            "reverse": self.reverse.params().to_json(),
            "stamp_fraction": self.stamp_fraction,
            "fine_tune": self.tune,
        })
    }

    fn repair(&self, model: &Classifier, trusted: &Dataset, seed: u64) -> Result<Repaired> {
        check_inputs(model, trusted)?;
        let scan = scan_model(model, trusted, &self.reverse)?;
        let mut unlearn: Vec<usize> = scan.target_classes.clone();
        if unlearn.is_empty() {
            let most = scan
                .classes
                .iter()
                .max_by(|a, b| {
                    a.anomaly_index
                        .total_cmp(&b.anomaly_index)
                        .then(b.class.cmp(&a.class))
                })
                .ok_or_else(|| RepairError::Incompatible("the scan found no class".into()))?;
            unlearn.push(most.class);
        }
        let triggers: Vec<_> = unlearn
            .iter()
            .map(|&t| {
                scan.classes
                    .iter()
                    .find(|c| c.class == t)
                    .map(|c| c.trigger.clone())
                    .ok_or_else(|| RepairError::Incompatible(format!("no trigger for class {t}")))
            })
            .collect::<Result<_>>()?;
        let mut rows: Vec<usize> = (0..trusted.len()).collect();
        rows.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let stamped = ((self.stamp_fraction * trusted.len() as f64).round() as usize).max(1);
        rows.truncate(stamped.min(trusted.len()));
        let mut data = trusted.clone();
        for (i, trigger) in triggers.iter().enumerate() {
            let mine: Vec<usize> = rows
                .iter()
                .skip(i)
                .step_by(triggers.len())
                .copied()
                .collect();
            data = trigger.stamp(&data, &mine)?;
        }
        let mut repaired = model.try_clone()?;
        self.tune.run(&mut repaired, &data, seed)?;
        let classes: Vec<_> = scan
            .classes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "class": c.class,
                    "mask_norm": c.trigger.mask_norm,
                    "success": c.trigger.success,
                    "anomaly_index": c.anomaly_index,
                    "flagged": c.flagged,
                })
            })
            .collect();
        Ok(Repaired {
            details: serde_json::json!({
                "scan_verdict": scan.verdict,
                "flagged_classes": scan.target_classes,
                "unlearned_classes": unlearn,
                "stamped_samples": rows.len(),
                "classes": classes,
                "trusted_accuracy_before": accuracy(model, trusted)?,
                "trusted_accuracy_after": accuracy(&repaired, trusted)?,
            }),
            model: repaired,
        })
    }
}
