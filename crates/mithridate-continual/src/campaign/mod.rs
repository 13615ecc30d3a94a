//! Poisoning campaigns over time: what an attacker who controls part of the data feed (or
//! the storage behind it) does at each step of the loop. A campaign decides, per batch,
//! which existing data attack of `mithridate-attack` to run and at what budget (it never
//! re-implements one), whether the batch's manifest is signed with the feed's key, and
//! whether already-manifested data in storage is altered.
//!
//! Every campaign is a registry entry: one file declaring its `ENTRY` plus one line in
//! [`CAMPAIGNS`] (the pattern of `mithridate_core::registry`). Parameters are a JSON object
//! with kebab-case keys, checked once into the campaign's typed parameters.

mod burst;
mod clean;
mod clean_label;
mod forged_manifest;
mod refresh;
mod slow_burn;
mod split_view;
mod targeted_flip;

use crate::{ContinualError, Result};
use mithridate_attack::{Budget, GroundTruth, Poisoned};
use mithridate_core::registry::{Entry, Registry, Role};
use mithridate_data::Dataset;
use mithridate_engine::Classifier;
use mithridate_pipeline::attack::AttackSpec;

/// Builds a checked campaign from its parameters.
pub type CampaignBuilder = fn(&serde_json::Value) -> Result<Box<dyn Campaign>>;
/// One registered campaign.
pub type CampaignEntry = Entry<CampaignBuilder>;

/// Every campaign Mithridate ships.
pub static CAMPAIGNS: Registry<CampaignBuilder> = Registry::new(
    Role::Campaign,
    &[
        clean::ENTRY,
        slow_burn::ENTRY,
        burst::ENTRY,
        targeted_flip::ENTRY,
        clean_label::ENTRY,
        split_view::ENTRY,
        forged_manifest::ENTRY,
        refresh::ENTRY,
    ],
);

/// Looks `name` up and builds it from `params` (`{}` or `null`: defaults).
///
/// ```
/// let c = mithridate_continual::campaign::build("slow-burn", &serde_json::json!({"rate": 0.01}))?;
/// assert_eq!(c.name(), "slow-burn");
/// assert_eq!(c.first_poisoned_batch(10), Some(2));
/// assert!(mithridate_continual::campaign::build("slow-burn", &serde_json::json!({"rate": 2.0})).is_err());
/// assert!(mithridate_continual::campaign::build("nope", &serde_json::json!({})).is_err());
/// # Ok::<(), mithridate_continual::ContinualError>(())
/// ```
pub fn build(name: &str, params: &serde_json::Value) -> Result<Box<dyn Campaign>> {
    let entry = CAMPAIGNS
        .get(name)
        .map_err(|e| ContinualError::invalid(e.to_string()))?;
    (entry.build)(params)
}

/// Who signed a batch's manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// The data feed's key, the one the loop trusts.
    Feed,
    /// A key the attacker made (the manifest was replaced in transit).
    Attacker,
}

/// What a campaign sees when it poisons batch `step`.
pub struct CampaignInput<'a> {
    pub step: usize,
    /// The clean batch as the feed produced it.
    pub batch: &'a Dataset,
    /// The deployed model, the attacker's surrogate where an attack needs one (a feed
    /// attacker can query the deployed model).
    pub deployed: &'a Classifier,
    pub seed: u64,
}

/// One batch after the campaign: the data the loop ingests and the ground truth (evaluation only).
#[derive(Debug, Clone)]
pub struct Injection {
    pub data: Dataset,
    pub truth: Option<GroundTruth>,
}

impl Injection {
    pub fn clean(batch: &Dataset) -> Injection {
        Injection {
            data: batch.clone(),
            truth: None,
        }
    }
}

/// A poisoning campaign with checked parameters.
pub trait Campaign: Send + Sync + std::fmt::Debug {
    /// Registry name.
    fn name(&self) -> &'static str;
    /// The checked parameters (recorded in the run's state).
    fn parameters(&self) -> serde_json::Value;
    /// The first batch (0-based) the campaign touches, if any within `batches`.
    fn first_poisoned_batch(&self, batches: usize) -> Option<usize>;
    /// Poisons (or not) batch `input.step`.
    fn inject(&self, input: &CampaignInput) -> Result<Injection>;
    /// Who signs batch `step`'s manifest.
    fn signer(&self, _step: usize) -> Signer {
        Signer::Feed
    }
    /// Alters samples of `stored` (an accepted batch as it sits in storage, already
    /// manifested) at step `step`: a split-view change. `None`: storage is left alone.
    fn tamper(&self, _step: usize, _stored: &Dataset, _seed: u64) -> Result<Option<Poisoned>> {
        Ok(None)
    }
}

/// Runs the data attack `attack` (with `params`, target merged in) on `batch` at `budget`:
/// the one way campaigns poison, so every campaign reuses the attack registry.
pub(crate) fn run_attack(
    attack: &str,
    params: &serde_json::Value,
    budget: Budget,
    input: &CampaignInput,
) -> Result<Injection> {
    let spec = AttackSpec::new(attack, params)?;
    let poisoned = spec.run(input.batch, budget, input.seed, Some(input.deployed), None)?;
    Ok(Injection {
        data: poisoned.data,
        truth: Some(poisoned.truth),
    })
}

/// The attack parameters `extra` (an object or null) with `target` set.
pub(crate) fn with_target(extra: &serde_json::Value, target: u32) -> Result<serde_json::Value> {
    let mut map = match extra {
        serde_json::Value::Null => serde_json::Map::new(),
        serde_json::Value::Object(m) => m.clone(),
        other => {
            return Err(ContinualError::invalid(format!(
                "campaign attack parameters must be an object, got {other}"
            )))
        }
    };
    map.insert("target".into(), serde_json::json!(target));
    Ok(serde_json::Value::Object(map))
}

/// Deserializes and checks a campaign's parameters, naming the campaign on error.
pub(crate) fn checked<P>(name: &str, params: &serde_json::Value) -> Result<P>
where
    P: serde::de::DeserializeOwned,
{
    mithridate_core::registry::params::<P>(name, params).map_err(ContinualError::invalid)
}

/// Checks a per-batch rate.
pub(crate) fn check_rate(name: &str, rate: f64) -> Result<()> {
    if !(rate.is_finite() && rate > 0.0 && rate <= 1.0) {
        return Err(ContinualError::invalid(format!(
            "{name}: rate must lie in (0, 1], got {rate}"
        )));
    }
    Ok(())
}

/// Builds the attack once with a trial target so bad attack names or parameters fail when
/// the campaign is built, not at its first poisoned batch.
pub(crate) fn check_attack(name: &str, attack: &str, params: &serde_json::Value) -> Result<()> {
    AttackSpec::new(attack, params)
        .map(|_| ())
        .map_err(|e| ContinualError::invalid(format!("{name}: attack '{attack}': {e}")))
}
