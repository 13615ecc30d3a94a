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
//! The library only analyses; the `mithridate gate` command loads models, writes JUnit XML
//! ([`junit`]) and appends the decision to the audit log.
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
pub mod inspectors;
pub mod junit;
pub mod margin_reference;
pub mod max_margin;
pub mod model_scan;
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
use mithridate_engine::{Classifier, EngineError};
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

/// Predicts the holdout with both models and compares them. Models of different
/// architectures are fine as long as both accept the holdout; a different class count is
/// [`GateError::Incompatible`].
pub fn compare_models(
    baseline: &Classifier,
    candidate: &Classifier,
    holdout: &Dataset,
) -> Result<Comparison> {
    if baseline.num_classes() != candidate.num_classes() {
        return Err(GateError::Incompatible(format!(
            "the baseline has {} classes, the candidate {}",
            baseline.num_classes(),
            candidate.num_classes()
        )));
    }
    for (role, model) in [("baseline", baseline), ("candidate", candidate)] {
        model
            .check_compatible(holdout)
            .map_err(|e| GateError::Incompatible(format!("{role} model vs holdout: {e}")))?;
    }
    Comparison::new(
        holdout.labels(),
        &baseline.predict(holdout)?,
        &candidate.predict(holdout)?,
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
