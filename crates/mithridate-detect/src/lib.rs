//! # mithridate-detect
//!
//! The *detect / defend* stage of Mithridate's data flow (dataset -> attack -> train ->
//! **detect** -> sanitize -> retrain -> evaluate): given a training set (and a model trained on
//! it), every [`Detector`] returns a suspicion score per sample id, a flagged set and per-class
//! verdicts, as one [`Detection`]. It needs no ground truth; when there is one,
//! [`metrics::score_detection`] gives precision, recall, F1 and AUROC.
//!
//! | detector | module | needs | paper |
//! |---|---|---|---|
//! | spectral signatures | [`spectral`] | embeddings | Tran, Li & Madry 2018 |
//! | activation clustering | [`clustering`] | embeddings (+ raw inputs) | Chen et al. 2018 |
//! | confident learning | [`confident`] | k-fold out-of-sample probabilities | Northcutt, Jiang & Chuang 2021 |
//! | k-NN label consistency | [`knn`] | embeddings | Peri et al. 2020 |
//! | early-training loss | [`loss`] | one short training run | Arpit et al. 2017; Li et al. 2021 |
//! | training dynamics (ABL over time) | [`dynamics`] | one short staged training run | Li et al. 2021 (ABL) |
//! | SCALE-UP (scaled prediction consistency) | [`scale_up`] | model (`N` forward passes) | Guo, Li, Chen, Jia & Xie 2023 |
//! | SPECTRE (robust whitening + QUE) | [`spectre`] | embeddings | Hayase, Kong, Somani & Oh 2021 |
//! | SCAn (untangling, two-subgroup test) | [`scan_untangling`] | embeddings | Tang, Wang, Zhang & Wang 2021 |
//! | split consistency (leave-group-out label check of a whitened split) | [`split_consistency`] | embeddings + raw inputs | Tang et al. 2021 (`S_ε`); Otsu 1979 |
//! | input consistency (k-NN label vote among raw inputs, per-class pooled excess over symmetric confusion) | [`input_consistency`] | raw inputs only | Peri et al. 2020 (in input space) |
//! | STRIP (inference-time) | [`strip`] | model + clean inputs | Gao et al. 2019 |
//!
//! Embeddings are the model's penultimate activations ([`mithridate_engine::Classifier::embeddings`],
//! batched), computed once per [`ScanContext`] and shared by every embedding detector.
//! [`sanitize`] turns a detection into a clean set (drop, or relabel where the detector proposes
//! labels), and [`Detection::write_all`] / [`Detection::read_all`] are the `flags.json` format.
//!
//! ```
//! use mithridate_detect::ParamGuard;
//! use mithridate_detect::{spectral::SpectralParams, Embeddings};
//! // Class 0: 18 points near the origin and 2 shifted far along x.
//! let mut values = Vec::new();
//! for i in 0..20 {
//!     let shift = if i < 2 { 10.0 } else { 0.0 };
//!     values.extend([shift + 0.01 * i as f32, (i % 3) as f32 * 0.1]);
//! }
//! let labels = vec![0u32; 20];
//! let ids: Vec<u64> = (100..120).collect();
//! let emb = Embeddings::new(&values, 2, &labels, &ids, 1)?;
//! let detector = SpectralParams { expected_rate: 0.1, removal_factor: 1.0 }.check()?;
//! let d = detector.detect_embeddings(&emb)?;
//! assert_eq!(d.flagged, vec![100, 101]);
//! # Ok::<(), mithridate_detect::DetectError>(())
//! ```

pub mod class_pairs;
pub mod clean_reference;
mod context;
mod detection;
mod group_check;
pub mod kmeans;
mod linalg;
pub mod metrics;
pub mod proba_model;
pub mod propagate;
mod refine;
pub mod registry;
pub mod sanitize;
mod staged_run;
pub mod strip;
mod symmetric;
mod tails;

/// Implements [`Detector`] for a detector whose scan reads only the context's embeddings
/// (`detect_embeddings`) and whose checked parameters are its `params` field.
macro_rules! embedding_detector {
    ($detector:ty, $name:literal) => {
        impl crate::Detector for $detector {
            fn name(&self) -> &'static str {
                $name
            }

            fn parameters(&self) -> serde_json::Value {
                serde_json::to_value(self.params).unwrap_or_default()
            }

            fn scan(&self, ctx: &crate::ScanContext) -> crate::Result<crate::Detection> {
                self.detect_embeddings(&ctx.embeddings()?)
            }
        }
    };
}

/// Declares every training-set detector module and lists its `ENTRY` in
/// [`registry::DETECTORS`], in this order: adding a detector is one new file declaring its
/// `ENTRY` and its module name in the one `detectors!` line below.
macro_rules! detectors {
    ($($module:ident),* $(,)?) => {
        $(pub mod $module;)*
        /// The entries of [`registry::DETECTORS`], in registration order.
        const DETECTOR_ENTRIES: &[registry::DetectorEntry] = &[$($module::ENTRY),*];
    };
}

detectors!(
    spectral,
    clustering,
    confident,
    knn,
    loss,
    mahalanobis,
    dynamics,
    scale_up,
    spectre,
    auto,
    scan_untangling,
    split_consistency,
    input_consistency,
    confusion,
    clean_shift
);

pub use context::{cross_val_probabilities, Embeddings, ScanContext, ScanModel, TrainSpec};
pub use detection::{ClassVerdict, Detection};
pub use mithridate_core::ParamGuard;

use mithridate_data::DataError;
use mithridate_engine::EngineError;

/// Everything that can go wrong while detecting. Messages are one line and name the value at fault.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A hyperparameter is out of range.
    #[error("invalid detector parameter: {0}")]
    InvalidParameter(String),
    /// The data cannot be scanned (empty, too few samples for the folds, wrong shape, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A linear-algebra routine failed (e.g. an eigendecomposition did not converge).
    #[error("linear algebra: {0}")]
    Linalg(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Data(#[from] DataError),
    /// Reading or writing a flags file failed.
    #[error("{path}: {message}")]
    File {
        path: std::path::PathBuf,
        message: String,
    },
}

impl DetectError {
    pub(crate) fn param(message: impl Into<String>) -> Self {
        DetectError::InvalidParameter(message.into())
    }
    pub(crate) fn input(message: impl Into<String>) -> Self {
        DetectError::InvalidInput(message.into())
    }
}

pub type Result<T, E = DetectError> = std::result::Result<T, E>;

/// One poisoned-data detector with checked parameters.
///
/// Implementations score every sample of `ctx.data()` (higher = more suspicious), flag a subset
/// and give a verdict per class. Deterministic in `(data, model, parameters, ctx seed)`.
pub trait Detector: Send + Sync {
    /// Registry name, e.g. `spectral`.
    fn name(&self) -> &'static str;
    /// The checked parameters, as written into `flags.json`.
    fn parameters(&self) -> serde_json::Value;
    /// Scans the training set of `ctx`.
    fn scan(&self, ctx: &ScanContext) -> Result<Detection>;
}

/// Checks the flagging budget of detectors that flag `removal_factor x expected_rate`: the
/// expected poison share in `(0, 1]` and a positive, finite removal factor.
pub(crate) fn check_flag_budget(expected_rate: f64, removal_factor: f64) -> Result<()> {
    check_share("expected rate", expected_rate)?;
    if !(removal_factor.is_finite() && removal_factor > 0.0) {
        return Err(DetectError::param(format!(
            "removal factor must be positive, got {removal_factor}"
        )));
    }
    Ok(())
}

/// Checks a share in `(0, 1]` (poison rates, quantiles) once, with a named error.
pub(crate) fn check_share(name: &str, value: f64) -> Result<f64> {
    if !(value.is_finite() && value > 0.0 && value <= 1.0) {
        return Err(DetectError::param(format!(
            "{name} must be in (0, 1], got {value}"
        )));
    }
    Ok(value)
}
