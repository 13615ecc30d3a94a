//! Model repair: make a backdoored model safe with a small trusted clean set, for models the
//! engine can train (BackdoorBench's post-training defences that actually remove BadNets:
//! fine-tuning, fine-pruning and Neural Cleanse unlearning).
//!
//! Every method is a [`Repair`] registered in [`REPAIRS`] (one file + one line in the list),
//! built from kebab-case parameters checked once:
//!
//! ```
//! let repair = mithridate_repair::build("fine-pruning", &serde_json::json!({"epochs": 2})).unwrap();
//! assert_eq!(repair.name(), "fine-pruning");
//! assert!(mithridate_repair::build("fine-pruning", &serde_json::json!({"epochs": 0})).is_err());
//! assert!(mithridate_repair::build("prayer", &serde_json::Value::Null).is_err());
//! ```

pub mod fine_pruning;
pub mod fine_tuning;
pub mod nc_unlearning;
mod tuning;

use mithridate_core::registry::{Entry, Registry, Role};
use mithridate_core::taxonomy::Ids;
use mithridate_data::Dataset;
use mithridate_engine::Classifier;

pub use tuning::FineTune;

/// Why a repair could not run.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// Impossible parameters (named).
    #[error("invalid repair parameter: {0}")]
    InvalidParameter(String),
    /// The model or trusted data does not suit the method.
    #[error("{0}")]
    Incompatible(String),
    #[error(transparent)]
    Engine(#[from] mithridate_engine::EngineError),
    #[error(transparent)]
    Gate(#[from] mithridate_gate::GateError),
}

pub type Result<T, E = RepairError> = std::result::Result<T, E>;

/// A repaired model and what the method did (JSON, for reports).
pub struct Repaired {
    pub model: Classifier,
    pub details: serde_json::Value,
}

/// One repair method with checked parameters.
pub trait Repair: Send + Sync {
    /// Registry name, e.g. `fine-pruning`.
    fn name(&self) -> &'static str;
    /// The checked parameters, as reported.
    fn parameters(&self) -> serde_json::Value;
    /// Repairs a copy of `model` with the clean `trusted` set; deterministic in
    /// `(model, trusted, parameters, seed)`.
    fn repair(&self, model: &Classifier, trusted: &Dataset, seed: u64) -> Result<Repaired>;
}

/// Where repairs sit: MITRE ATLAS AML.M0003 (model hardening), OWASP ML02/ML10 (data and
/// model poisoning) and LLM04, NIST AI 100-2 section 2.3 (poisoning mitigations).
pub const MODEL_REPAIR: Ids = Ids {
    mitre_atlas: &["AML.M0003"],
    owasp_ml: &["ML02", "ML10"],
    owasp_llm: &["LLM04"],
    nist_ai_100_2: "2.3",
};

/// A repair's builder: parameters (JSON object, kebab-case keys) -> checked method.
pub type RepairBuild = fn(&serde_json::Value) -> Result<Box<dyn Repair>>;
pub type RepairEntry = Entry<RepairBuild>;

/// Every repair method.
pub static REPAIRS: Registry<RepairBuild> = Registry::new(
    Role::Repair,
    &[
        fine_tuning::ENTRY,
        fine_pruning::ENTRY,
        nc_unlearning::ENTRY,
    ],
);

/// Builds the repair `name` from its parameters (`null` = defaults).
pub fn build(name: &str, params: &serde_json::Value) -> Result<Box<dyn Repair>> {
    let entry = REPAIRS
        .get(name)
        .map_err(|e| RepairError::InvalidParameter(e.to_string()))?;
    (entry.build)(params)
}

/// Deserializes an entry's parameters (unknown keys are errors naming the entry).
pub(crate) fn params<P: serde::de::DeserializeOwned>(
    name: &str,
    value: &serde_json::Value,
) -> Result<P> {
    mithridate_core::registry::params(name, value).map_err(RepairError::InvalidParameter)
}

/// The trusted set must be non-empty and fit the model.
pub(crate) fn check_inputs(model: &Classifier, trusted: &Dataset) -> Result<()> {
    if trusted.is_empty() {
        return Err(RepairError::Incompatible(
            "the trusted set is empty: repair needs clean samples".into(),
        ));
    }
    model.check_compatible(trusted)?;
    Ok(())
}

/// Accuracy of `model` on `data`.
pub(crate) fn accuracy(model: &Classifier, data: &Dataset) -> Result<f64> {
    let predicted = model.predict(data)?;
    let correct = predicted
        .iter()
        .zip(data.labels())
        .filter(|(p, y)| p == y)
        .count();
    Ok(correct as f64 / data.len().max(1) as f64)
}
