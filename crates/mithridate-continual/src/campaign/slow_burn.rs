//! `slow-burn`: a backdoor planted a little at a time. From batch `start` on, every batch
//! carries `rate` of its samples poisoned by a trigger attack of `mithridate-attack`
//! (default BadNets: Gu, Dolan-Gavitt & Garg, 2017), so no single batch looks much
//! different while the poison accumulates in the retraining set.

use super::{
    check_attack, check_rate, run_attack, with_target, Campaign, CampaignInput, Injection,
};
use crate::Result;
use mithridate_attack::Budget;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct SlowBurnParams {
    /// First poisoned batch (0-based).
    #[serde(default = "default_start")]
    pub start: usize,
    /// Share of every batch poisoned from `start` on.
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// The backdoor's target class.
    #[serde(default)]
    pub target: u32,
    /// The data attack each batch gets (a registry name of `mithridate-attack`).
    #[serde(default = "default_attack")]
    pub attack: String,
    /// The attack's own parameters (trigger size, pattern, ...), `target` excluded.
    #[serde(default)]
    pub trigger: serde_json::Value,
}

pub(super) fn default_start() -> usize {
    2
}
fn default_rate() -> f64 {
    0.005
}
pub(super) fn default_attack() -> String {
    "badnets".into()
}

/// The checked slow-burn campaign.
#[derive(Debug, Clone)]
pub struct SlowBurn {
    params: SlowBurnParams,
    attack_params: serde_json::Value,
}

impl SlowBurn {
    fn build(p: &serde_json::Value) -> Result<SlowBurn> {
        let params: SlowBurnParams = super::checked("slow-burn", p)?;
        check_rate("slow-burn", params.rate)?;
        let attack_params = with_target(&params.trigger, params.target)?;
        check_attack("slow-burn", &params.attack, &attack_params)?;
        Ok(SlowBurn {
            params,
            attack_params,
        })
    }
}

impl Campaign for SlowBurn {
    fn name(&self) -> &'static str {
        "slow-burn"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn first_poisoned_batch(&self, batches: usize) -> Option<usize> {
        (self.params.start < batches).then_some(self.params.start)
    }
    fn inject(&self, input: &CampaignInput) -> Result<Injection> {
        if input.step < self.params.start {
            return Ok(Injection::clean(input.batch));
        }
        run_attack(
            &self.params.attack,
            &self.attack_params,
            Budget::Rate(self.params.rate),
            input,
        )
    }
}

pub const ENTRY: super::CampaignEntry = super::CampaignEntry {
    name: "slow-burn",
    role: mithridate_core::Role::Campaign,
    modalities: &["image"],
    summary: "a trigger attack at a small rate in every batch from `start` on; start (2), rate (0.005), target (0), attack (badnets), trigger (attack parameters)",
    paper: "Gu, Dolan-Gavitt & Garg 2017 (BadNets) per batch",
    taxonomy: mithridate_attack::taxonomy::BACKDOOR,
    requires: &[],
    provides: &[mithridate_core::Requirement::Trigger],
    build: |p| Ok(Box::new(SlowBurn::build(p)?)),
};
