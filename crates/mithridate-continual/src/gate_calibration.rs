//! Calibrating the retraining gate to the stream: how far do clean retrains move?
//!
//! Why: the gate's churn thresholds (accuracy drop, one class's recall drop, flip rate,
//! negative flip rate) were measured for the MLP on MNIST. A model that is less sure of its
//! task moves more between clean retrains: the MLP on Fashion-MNIST (84% accuracy) changes
//! 8-11% of its holdout predictions and loses up to 20 points of one class's recall from one
//! clean retrain to the next, so a fixed policy blocked 9 of 10 clean retrains. The natural
//! churn is the model's and the data's, and it can be measured before any batch arrives.
//!
//! Rule: train `replicates` models on the trusted bootstrap set exactly as the deployed one
//! was trained but with other shuffle orders (prediction churn between such twins is the
//! irreducible part of retraining churn; Milani Fard et al., 2016), compare each with the
//! deployed model on the trusted holdout, and raise each churn threshold to `headroom` times
//! the largest value seen, never below the configured policy:
//! `max_x = max(policy.max_x, headroom * max_r x_r)`. The target concentration (the share of
//! negative flips landing on one class) is calibrated the same way over the twins with at
//! least `min_disagreements` negative flips: at the ~20 negative flips of MNIST MLP twins
//! the share alone swings from 0.19 to 0.44, so a fixed 0.5 blocked a clean retrain whose 23
//! flips put 12 on one class. The probe and trigger-shrink checks keep their configured
//! values.
//!
//! Assumptions and tolerance: retrains on the growing accepted set move no more than twins on
//! the bootstrap set do, times `headroom` (more data steadies a model; drift and a new batch
//! move it, which the headroom covers). A poison that costs less accuracy than natural churn
//! passes these checks by construction; the screen and the concentration check are what look
//! for it. Cost: `replicates` extra trainings on the bootstrap set, once per run.
//!
//! ```
//! use mithridate_continual::gate_calibration::{calibrated_policy, Churn};
//! use mithridate_gate::GatePolicy;
//! let policy = GatePolicy { max_flip_rate: 0.08, ..GatePolicy::default() };
//! let churn = |accuracy_drop, class_recall_drop, flip_rate, negative_flip_rate| Churn {
//!     accuracy_drop,
//!     class_recall_drop,
//!     flip_rate,
//!     negative_flip_rate,
//!     negative_flips: 0,
//!     concentration: 0.0,
//! };
//! let twins = [churn(0.004, 0.03, 0.06, 0.02), churn(-0.002, 0.15, 0.10, 0.03)];
//! let mut concentrated = twins;
//! concentrated[0].negative_flips = 40;
//! concentrated[0].concentration = 0.4;
//! let calibrated_share = calibrated_policy(&policy, &concentrated, 1.5);
//! assert!((calibrated_share.max_target_concentration - 0.6).abs() < 1e-12);
//! let calibrated = calibrated_policy(&policy, &twins, 1.5);
//! assert!((calibrated.max_flip_rate - 0.15).abs() < 1e-12); // 1.5 x 0.10 > 0.08
//! assert!((calibrated.max_class_recall_drop - 0.225).abs() < 1e-12);
//! assert_eq!(calibrated.max_accuracy_drop, policy.max_accuracy_drop); // 0.006 < 0.01
//! assert_eq!(calibrated.max_target_concentration, policy.max_target_concentration); // no flips
//! ```

use crate::config::ContinualSpec;
use crate::models;
use crate::stats::round9;
use crate::Result;
use mithridate_data::Dataset;
use mithridate_engine::Classifier;
use mithridate_gate::{Comparison, GatePolicy};
use serde::{Deserialize, Serialize};

/// How far one clean twin moved from the deployed model on the holdout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Churn {
    /// Deployed accuracy minus the twin's.
    pub accuracy_drop: f64,
    /// Largest recall drop of a class with at least `min_class_support` holdout samples.
    pub class_recall_drop: f64,
    pub flip_rate: f64,
    pub negative_flip_rate: f64,
    /// Negative flips, and the share of them landing on one class.
    pub negative_flips: usize,
    pub concentration: f64,
}

impl Churn {
    fn of(comparison: &Comparison, min_class_support: usize) -> Churn {
        let class_recall_drop = comparison
            .per_class
            .iter()
            .filter(|c| c.support >= min_class_support)
            .map(|c| c.drop)
            .fold(0.0, f64::max);
        Churn {
            accuracy_drop: round9(comparison.baseline_accuracy - comparison.candidate_accuracy),
            class_recall_drop: round9(class_recall_drop),
            flip_rate: round9(comparison.flips.flip_rate),
            negative_flip_rate: round9(comparison.flips.negative_flip_rate),
            negative_flips: comparison.flips.negative,
            concentration: round9(comparison.flips.concentration),
        }
    }
}

/// The calibration a run made at its bootstrap (kept in the checkpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateCalibration {
    pub twins: Vec<Churn>,
    pub headroom: f64,
    /// The policy the gate applies.
    pub policy: GatePolicy,
}

/// `policy` with each churn threshold raised to `headroom` times the largest churn of `twins`.
pub fn calibrated_policy(policy: &GatePolicy, twins: &[Churn], headroom: f64) -> GatePolicy {
    let widest = |value: &dyn Fn(&Churn) -> f64, configured: f64| {
        let seen = twins.iter().map(value).fold(0.0, f64::max);
        configured.max(round9(headroom * seen)).min(1.0)
    };
    // A twin with too few negative flips for the concentration check says nothing about it.
    let judged_concentration = |c: &Churn| {
        if c.negative_flips >= policy.min_disagreements {
            c.concentration
        } else {
            0.0
        }
    };
    GatePolicy {
        max_accuracy_drop: widest(&|c| c.accuracy_drop, policy.max_accuracy_drop),
        max_class_recall_drop: widest(&|c| c.class_recall_drop, policy.max_class_recall_drop),
        max_flip_rate: widest(&|c| c.flip_rate, policy.max_flip_rate),
        max_negative_flip_rate: widest(&|c| c.negative_flip_rate, policy.max_negative_flip_rate),
        max_target_concentration: widest(&judged_concentration, policy.max_target_concentration),
        ..policy.clone()
    }
}

/// Trains the spec's `gate_twins` twins of `deployed` on `bootstrap` and calibrates the
/// spec's gate policy on `holdout`; `None` when calibration is off (`gate_twins = 0`).
pub fn calibrate(
    spec: &ContinualSpec,
    deployed: &Classifier,
    bootstrap: &Dataset,
    holdout: &Dataset,
    seed: u64,
) -> Result<Option<GateCalibration>> {
    let params = spec.params();
    if params.gate_twins == 0 {
        return Ok(None);
    }
    let policy = spec.gate().params();
    let mut twins = Vec::with_capacity(params.gate_twins);
    for twin in 0..params.gate_twins {
        // Shuffle orders the loop's own retrains never use (they count steps up from 0; the
        // bootstrap model is u64::MAX and the clean-up retrain u64::MAX - 1).
        let model = models::train_scratch(spec, bootstrap, seed, u64::MAX - 2 - twin as u64)?;
        let comparison = mithridate_gate::compare_models(deployed, &model, holdout)?;
        twins.push(Churn::of(&comparison, policy.min_class_support));
    }
    Ok(Some(GateCalibration {
        policy: calibrated_policy(policy, &twins, params.gate_headroom),
        headroom: params.gate_headroom,
        twins,
    }))
}
