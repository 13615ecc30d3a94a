//! `burst`: the whole backdoor budget in one batch. Batch `start` carries `rate` of its
//! samples poisoned by a trigger attack (default BadNets); every other batch is clean.

use super::slow_burn::{default_attack, default_start};
use super::{
    check_attack, check_rate, run_attack, with_target, Campaign, CampaignInput, Injection,
};
use crate::Result;
use mithridate_attack::Budget;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct BurstParams {
    #[serde(default = "default_start")]
    start: usize,
    #[serde(default = "default_rate")]
    rate: f64,
    #[serde(default)]
    target: u32,
    #[serde(default = "default_attack")]
    attack: String,
    #[serde(default)]
    trigger: serde_json::Value,
}

fn default_rate() -> f64 {
    0.05
}

/// The checked burst campaign.
#[derive(Debug, Clone)]
pub struct Burst {
    params: BurstParams,
    attack_params: serde_json::Value,
}

impl Campaign for Burst {
    fn name(&self) -> &'static str {
        "burst"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn first_poisoned_batch(&self, batches: usize) -> Option<usize> {
        (self.params.start < batches).then_some(self.params.start)
    }
    fn inject(&self, input: &CampaignInput) -> Result<Injection> {
        if input.step != self.params.start {
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
    name: "burst",
    role: mithridate_core::Role::Campaign,
    modalities: &["image"],
    summary: "a trigger attack at a high rate in batch `start` only; start (2), rate (0.05), target (0), attack (badnets), trigger",
    paper: "Gu, Dolan-Gavitt & Garg 2017 (BadNets) in one batch",
    taxonomy: mithridate_attack::taxonomy::BACKDOOR,
    requires: &[],
    provides: &[mithridate_core::Requirement::Trigger],
    build: |p| {
        let params: BurstParams = super::checked("burst", p)?;
        check_rate("burst", params.rate)?;
        let attack_params = with_target(&params.trigger, params.target)?;
        check_attack("burst", &params.attack, &attack_params)?;
        Ok(Box::new(Burst {
            params,
            attack_params,
        }))
    },
};
