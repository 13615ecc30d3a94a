//! # mithridate-gate
//!
//! The retraining gate: before a retrained *candidate* model replaces the *deployed*
//! (baseline) one, compare the two on a trusted holdout the training pipeline never touched,
//! and refuse the candidate when it regressed or shows the signature of a poisoned update.
//! This is the "evaluate before deploy" mitigation NIST AI 100-2 E2025 (Adversarial Machine
//! Learning: A Taxonomy and Terminology of Attacks and Mitigations) lists against poisoning:
//! a poisoned retrain must get past a check its attacker cannot influence.
//!
//! Checks (each a measured value against a [`GatePolicy`] threshold; see [`Comparison`] for
//! the formulas and sources):
//! - `accuracy_drop`, `class_recall_drop`: plain regressions (availability poisoning, a
//!   targeted attack on one class);
//! - `flip_rate` (prediction churn) and `negative_flip_rate` (new mistakes): how far the
//!   candidate moved, from the model-update regression literature;
//! - `target_concentration`: the new mistakes piling onto one class, a trigger-free
//!   backdoor / targeted-poisoning signature;
//! - `probe:<name>`: optional trigger probes ([`run_probe`]): stamp a known trigger (from an
//!   attack's ground truth or a red-team exercise) on the holdout and compare attack success.
//! - `trigger_shrink`: optional trigger reverse-engineering ([`reverse_triggers`], Neural
//!   Cleanse run on both models): a class the candidate reaches with a far smaller input
//!   change than the baseline needs is a backdoor target, found without knowing the trigger.
//!
//! The models are anything that predicts and gives input gradients ([`GradientModel`]): a
//! model Mithridate trained, an imported ONNX classifier, one of each. The library only
//! analyses; the `mithridate gate` command loads models, writes JUnit XML ([`junit`]) and
//! appends the decision to the audit log.
//!
//! ```
//! use mithridate_gate::{evaluate, Comparison, GatePolicy, ParamGuard, Verdict};
//! // 200 holdout samples; the candidate turns 30 correct answers into class 0.
//! let labels: Vec<u32> = (0..200).map(|i| (i % 4) as u32).collect();
//! let candidate: Vec<u32> = labels.iter().enumerate()
//!     .map(|(i, &y)| if i < 40 && y != 0 { 0 } else { y })
//!     .collect();
//! let comparison = Comparison::new(&labels, &labels, &candidate, 4)?;
//! let report = evaluate(&GatePolicy::default().check()?, &comparison, &[]);
//! assert_eq!(report.verdict, Verdict::Fail);
//! assert!(report.reasons().iter().any(|r| r.starts_with("target_concentration")));
//! # Ok::<(), mithridate_gate::GateError>(())
//! ```

pub mod audit;
mod compare;
pub mod consensus;
pub mod inspectors;
pub mod junit;
pub mod margin_reference;
pub mod max_margin;
pub mod model_scan;
mod optimiser;
mod policy;
pub mod probe;
mod report;
pub mod reverse;
mod trigger_stamp;

pub use compare::{ClassRecall, Comparison, Flips};
pub use mithridate_core::ParamGuard;
pub use model_scan::{scan_model, GradientModel, ModelScan};
pub use policy::{CheckedPolicy, GatePolicy};
pub use probe::{run_probe, ProbeOutcome};
pub use report::{evaluate, evaluate_with_triggers, Check, CheckStatus, GateReport, Verdict};
pub use reverse::{reverse_triggers, ReverseParams, TriggerComparison};

use mithridate_data::Dataset;
use mithridate_engine::EngineError;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in the gate (a *failed gate* is not an error: it is a
/// [`GateReport`] with [`Verdict::Fail`]). Messages are one line.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The policy is malformed or a value is out of range; names the key and, where known, the line.
    #[error("gate policy{}: {key_part}{message}", line.map(|l| format!(" line {l}")).unwrap_or_default(), key_part = if key.is_empty() { String::new() } else { format!("key '{key}': ") })]
    Policy {
        key: String,
        line: Option<usize>,
        message: String,
    },
    /// The models and the holdout do not fit together (class count, modality).
    #[error("incompatible: {0}")]
    Incompatible(String),
    /// Invalid input data (empty holdout, mismatched lengths, a probe without a trigger).
    #[error("invalid input: {0}")]
    Input(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The engine failed while predicting.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl GateError {
    pub(crate) fn policy(key: &str, line: Option<usize>, message: impl Into<String>) -> Self {
        GateError::Policy {
            key: key.to_string(),
            line,
            message: message.into(),
        }
    }
}

/// Result type of every fallible gate call.
pub type Result<T, E = GateError> = std::result::Result<T, E>;

/// Errors unless the baseline and the candidate output the same number of classes. The
/// caller reads the counts (a model card's, an ONNX graph's output width): [`GradientModel`]
/// only predicts, so [`compare_models`] cannot tell a model that never predicts its last
/// class from one without it.
///
/// ```
/// assert!(mithridate_gate::check_class_counts(10, 10).is_ok());
/// let err = mithridate_gate::check_class_counts(10, 12).unwrap_err().to_string();
/// assert_eq!(err, "incompatible: the baseline has 10 classes, the candidate 12");
/// ```
pub fn check_class_counts(baseline: usize, candidate: usize) -> Result<()> {
    if baseline != candidate {
        return Err(GateError::Incompatible(format!(
            "the baseline has {baseline} classes, the candidate {candidate}"
        )));
    }
    Ok(())
}

/// Predicts the holdout with both models and compares them. Models of different
/// architectures or formats (a Mithridate model, an imported ONNX classifier) are fine as
/// long as both accept the holdout; a model that does not is [`GateError::Incompatible`],
/// naming its role. Check the class counts first with [`check_class_counts`]: a prediction
/// outside the holdout's classes is an error here, but a model with more classes that never
/// predicts the extra ones is not seen.
pub fn compare_models(
    baseline: &dyn GradientModel,
    candidate: &dyn GradientModel,
    holdout: &Dataset,
) -> Result<Comparison> {
    let predict = |role: &str, model: &dyn GradientModel| {
        model.predict(holdout).map_err(|e| match e {
            // The same message as checking compatibility before predicting.
            GateError::Engine(e @ EngineError::Incompatible(_)) => {
                GateError::Incompatible(format!("{role} model vs holdout: {e}"))
            }
            GateError::Incompatible(m) => {
                GateError::Incompatible(format!("{role} model vs holdout: {m}"))
            }
            other => other,
        })
    };
    let baseline_pred = predict("baseline", baseline)?;
    let candidate_pred = predict("candidate", candidate)?;
    Comparison::new(
        holdout.labels(),
        &baseline_pred,
        &candidate_pred,
        holdout.num_classes(),
    )
}

/// The hex BLAKE3 hash of a model file's bytes: what gate decisions record as the model hash
/// (`b3sum model.safetensors` prints the same value), so `mithridate audit trace` can find
/// them from a model file.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("m.safetensors");
/// std::fs::write(&path, b"abc")?;
/// assert_eq!(mithridate_gate::model_hash(&path)?, blake3::hash(b"abc").to_hex().to_string());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn model_hash(path: &Path) -> Result<String> {
    let io = |source| GateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}
