//! # mithridate-attack
//!
//! The *attack* stage of Mithridate's data flow (dataset -> **attack** -> train -> detect ->
//! evaluate -> report): data-poisoning attacks on centralized training, each behind the one
//! [`Attack`] trait, each returning the poisoned training set together with a [`GroundTruth`]
//! record that names every sample it added or modified, how, and the test-time trigger.
//!
//! | attack | module | goal |
//! |---|---|---|
//! | random label flipping | [`attacks::label_flip_random`] | availability |
//! | targeted label flipping (source -> target) | [`attacks::label_flip_targeted`] | targeted misclassification |
//! | greedy label flipping (surrogate margin) | [`attacks::label_flip_greedy`] | availability |
//! | BadNets patch (Gu et al. 2017) | [`attacks::badnets`] | backdoor |
//! | Blended (Chen et al. 2017) | [`attacks::blend`] | backdoor |
//! | clean-label / label-consistent (Turner et al. 2019) | [`attacks::clean_label`] | backdoor |
//! | Narcissus, a clean-label trigger synthesised toward the target class (Zeng et al. 2023) | [`attacks::narcissus`] | backdoor (clean label) |
//! | SIG sinusoidal signal (Barni, Kallas & Tondi 2019) | [`attacks::sig`] | backdoor (clean or dirty label) |
//! | WaNet warping (Nguyen & Tran 2021) | [`attacks::wanet`] | backdoor |
//! | feature collision / Poison Frogs (Shafahi et al. 2018) | [`attacks::feature_collision`] | one test instance |
//! | text trigger (Kurita et al. 2020; Chen et al. 2021, BadNL) | [`attacks::text_trigger`] | backdoor |
//! | tabular trigger | [`attacks::tabular_trigger`] | backdoor |
//!
//! Conventions shared by every attack:
//! - **Budget** ([`Budget`]): a rate in `[0, 1]` or an absolute count, resolved against the
//!   attack's *pool* (documented per attack: the whole training set, the source class, or the
//!   target class). Budget 0 returns the input unchanged with an empty change list.
//! - **Ids are stable**: modified samples keep their id; added samples get fresh ids above the
//!   largest existing id.
//! - **Determinism**: the same input, parameters and seed give the same poisoned set bit for bit.
//!   Per-sample randomness (e.g. a random trigger position) is derived from `(seed, id)`, so a
//!   trigger applied at test time lands where it would have landed at training time.
//! - **Ground truth is measured, not promised**: the change list is the diff between input and
//!   output, so it names exactly the samples that differ.
//!
//! Adding an attack: one module under `attacks/` declaring its `ENTRY`, one line in
//! [`registry::ATTACKS`].
//!
//! ```
//! use mithridate_attack::{registry, AttackInput, Budget};
//! use mithridate_data::{Dataset, Features, Modality};
//!
//! let data = Dataset::new(
//!     Modality::Tabular { features: 2 },
//!     Features::Dense(vec![0.0; 8]),
//!     vec![0, 1, 0, 1],
//!     vec![10, 11, 12, 13],
//!     2,
//!     vec![],
//! )?;
//! let attack = registry::build("label-flip", &serde_json::json!({}))?;
//! let poisoned = attack.poison(&AttackInput::new(&data, Budget::Count(2), 7))?;
//! assert_eq!(poisoned.truth.changes.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod assess;
pub mod attacks;
mod budget;
mod edit;
pub mod registry;
mod rng;
pub mod surrogate;
pub mod taxonomy;
pub mod trigger;
mod truth;
mod warp;

pub use assess::{assess, Assessment};
pub use budget::Budget;
pub use mithridate_core::ParamGuard;
pub use surrogate::Surrogate;
pub use taxonomy::Taxonomy;
pub use trigger::{apply_trigger, Mapping, Trigger};
pub use truth::{BudgetRecord, ChangeKind, Goal, GroundTruth, SampleChange};

use mithridate_data::{DataError, Dataset};

/// Everything that can go wrong while poisoning. Messages are one line and name the value at fault.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// A parameter is out of range or inconsistent (rate outside `[0, 1]`, unknown field, ...).
    #[error("invalid attack parameter: {0}")]
    InvalidParameter(String),
    /// The attack cannot run on this data (a text attack on images, target not a class, ...).
    #[error("attack not applicable: {0}")]
    Incompatible(String),
    /// The attack needs an input the caller did not give (surrogate model, victim set).
    #[error("missing input: {0}")]
    MissingInput(String),
    /// The surrogate model failed.
    #[error("surrogate model: {0}")]
    Surrogate(String),
    /// The model under assessment failed.
    #[error("model: {0}")]
    Model(String),
    /// Building the poisoned dataset failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Reading or writing a ground-truth file failed.
    #[error("{path}: {message}")]
    File {
        path: std::path::PathBuf,
        message: String,
    },
}

impl AttackError {
    pub(crate) fn param(message: impl Into<String>) -> Self {
        AttackError::InvalidParameter(message.into())
    }
    pub(crate) fn incompatible(message: impl Into<String>) -> Self {
        AttackError::Incompatible(message.into())
    }
}

pub type Result<T, E = AttackError> = std::result::Result<T, E>;

/// What an attack needs besides the training set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Requirements {
    /// A model trained on (clean) data of the same modality, for gradients or margins.
    pub surrogate: bool,
    /// A held-out set to pick the attacked instance from (feature collision).
    pub victims: bool,
}

/// Everything an attack reads: the clean training set, the budget, the seed and, where
/// [`Attack::requirements`] asks for them, a surrogate model and a victim set.
pub struct AttackInput<'a> {
    pub train: &'a Dataset,
    pub budget: Budget,
    pub seed: u64,
    pub surrogate: Option<&'a dyn Surrogate>,
    pub victims: Option<&'a Dataset>,
}

impl<'a> AttackInput<'a> {
    /// Input without surrogate or victim set.
    pub fn new(train: &'a Dataset, budget: Budget, seed: u64) -> Self {
        AttackInput {
            train,
            budget,
            seed,
            surrogate: None,
            victims: None,
        }
    }

    /// Adds a surrogate model.
    pub fn with_surrogate(mut self, surrogate: &'a dyn Surrogate) -> Self {
        self.surrogate = Some(surrogate);
        self
    }

    /// Adds the set victims are chosen from (usually the test split).
    pub fn with_victims(mut self, victims: &'a Dataset) -> Self {
        self.victims = Some(victims);
        self
    }

    pub(crate) fn require_surrogate(&self, attack: &str) -> Result<&'a dyn Surrogate> {
        self.surrogate
            .ok_or_else(|| AttackError::MissingInput(format!("{attack} needs a surrogate model")))
    }
}

/// The output of an attack: the poisoned training set and what was done to it.
#[derive(Debug, Clone)]
pub struct Poisoned {
    pub data: Dataset,
    pub truth: GroundTruth,
}

/// One data-poisoning attack with checked parameters.
///
/// Implementations validate their parameters when built (see [`registry::build`]) and
/// validate data-dependent constraints (target class exists, patch fits the image,
/// modality matches) at the start of [`Attack::poison`].
pub trait Attack: Send + Sync {
    /// Registry name, e.g. `badnets`.
    fn name(&self) -> &'static str;
    /// Where the attack sits in MITRE ATLAS, OWASP ML Top 10 and NIST AI 100-2.
    fn taxonomy(&self) -> Taxonomy;
    /// Inputs the attack needs besides the training set.
    fn requirements(&self) -> Requirements {
        Requirements::default()
    }
    /// The checked parameters, as recorded in the ground truth.
    fn parameters(&self) -> serde_json::Value;
    /// Poisons `input.train`; deterministic in `(input, parameters, seed)`.
    fn poison(&self, input: &AttackInput) -> Result<Poisoned>;
}

/// Checks that `class` is a class of `data`.
pub(crate) fn check_class(data: &Dataset, class: u32, what: &str) -> Result<()> {
    if class as usize >= data.num_classes() {
        return Err(AttackError::incompatible(format!(
            "{what} class {class} is not a class of this dataset (classes 0..{})",
            data.num_classes()
        )));
    }
    Ok(())
}
