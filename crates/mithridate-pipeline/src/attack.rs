//! Running a data attack from a checked spec: the *attack* stage as experiments use it.

use crate::error::{PipelineError, Result};
use mithridate_attack::registry::{self, AttackEntry};
use mithridate_attack::{Assessment, Attack, AttackInput, Budget, GroundTruth, Poisoned};
use mithridate_core::Requirement;
use mithridate_data::Dataset;
use mithridate_engine::Classifier;
use std::sync::Arc;

/// An attack validated once: its registry entry, its parameters and the checked attack.
///
/// ```
/// use mithridate_pipeline::attack::AttackSpec;
/// let spec = AttackSpec::new("badnets", &serde_json::json!({"target": 0}))?;
/// assert!(spec.plants_trigger() && spec.entry().applies_to("image"));
/// assert!(AttackSpec::new("badnets", &serde_json::json!({"size": 0})).is_err());
/// assert!(AttackSpec::new("nope", &serde_json::json!({})).is_err());
/// # Ok::<(), mithridate_pipeline::PipelineError>(())
/// ```
#[derive(Clone)]
pub struct AttackSpec {
    entry: &'static AttackEntry,
    params: serde_json::Value,
    attack: Arc<dyn Attack>,
}

impl std::fmt::Debug for AttackSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AttackSpec({} {})", self.entry.name, self.params)
    }
}

impl AttackSpec {
    /// Looks `name` up and builds it from `params` (`{}` or `null`: defaults).
    pub fn new(name: &str, params: &serde_json::Value) -> Result<AttackSpec> {
        let entry = registry::entry(name)?;
        let attack: Arc<dyn Attack> = Arc::from((entry.build)(params)?);
        Ok(AttackSpec {
            entry,
            params: params.clone(),
            attack,
        })
    }

    pub fn name(&self) -> &'static str {
        self.entry.name
    }

    pub fn entry(&self) -> &'static AttackEntry {
        self.entry
    }

    /// The parameters as given (the cell's identity); [`Attack::parameters`] has the checked ones.
    pub fn params(&self) -> &serde_json::Value {
        &self.params
    }

    pub fn attack(&self) -> &dyn Attack {
        self.attack.as_ref()
    }

    pub fn needs_surrogate(&self) -> bool {
        self.entry.requires(Requirement::Surrogate)
    }

    pub fn needs_victims(&self) -> bool {
        self.entry.requires(Requirement::Victims)
    }

    /// Whether the poisoned model answers to a test-time trigger (what input filters catch).
    pub fn plants_trigger(&self) -> bool {
        self.entry.provides(Requirement::Trigger)
    }

    /// Refuses data of a modality the attack cannot poison, naming both.
    pub fn check_modality(&self, modality: &str, source: &str) -> Result<()> {
        if self.entry.applies_to(modality) {
            return Ok(());
        }
        Err(PipelineError::invalid(format!(
            "{} does not apply to {modality} data ({source}); it poisons {} data",
            self.name(),
            self.entry.modalities.join(" or ")
        )))
    }

    /// Poisons `train` within `budget`, giving the attack `surrogate` / `victims` when its
    /// entry requires them.
    pub fn run(
        &self,
        train: &Dataset,
        budget: Budget,
        seed: u64,
        surrogate: Option<&Classifier>,
        victims: Option<&Dataset>,
    ) -> Result<Poisoned> {
        let mut input = AttackInput::new(train, budget, seed);
        if self.needs_surrogate() {
            let model = surrogate.ok_or_else(|| {
                PipelineError::invalid(format!("{} needs a surrogate model", self.name()))
            })?;
            input = input.with_surrogate(model);
        }
        if self.needs_victims() {
            let v = victims.ok_or_else(|| {
                PipelineError::invalid(format!("{} needs a victim set", self.name()))
            })?;
            input = input.with_victims(v);
        }
        Ok(self.attack.poison(&input)?)
    }
}

/// The attack goal measured on `model` with the clean `test` set.
pub fn assess_model(truth: &GroundTruth, model: &Classifier, test: &Dataset) -> Result<Assessment> {
    Ok(mithridate_attack::assess(truth, test, |d| {
        model
            .predict(d)
            .map_err(|e| mithridate_attack::AttackError::Model(e.to_string()))
    })?)
}

/// Clean accuracy of `model` on `test`.
pub fn accuracy(model: &Classifier, test: &Dataset) -> Result<f64> {
    let predicted = model.predict(test)?;
    Ok(
        mithridate_engine::metrics::evaluate(&predicted, test.labels(), test.num_classes())?
            .accuracy,
    )
}
