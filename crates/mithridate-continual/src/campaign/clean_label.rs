//! `clean-label`: from batch `start` on, `rate` of every batch's `target`-class samples are
//! hardened by PGD against the deployed model (the attacker's surrogate) and stamped with a
//! patch, labels kept (`clean-label` of `mithridate-attack`; Turner, Tsipras & Madry, 2019,
//! "Label-Consistent Backdoor Attacks").

use super::slow_burn::default_start;
use super::{
    check_attack, check_rate, run_attack, with_target, Campaign, CampaignInput, Injection,
};
use crate::Result;
use mithridate_attack::Budget;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct CleanLabelParams {
    #[serde(default = "default_start")]
    start: usize,
    /// Share of the target class poisoned in every batch.
    #[serde(default = "default_rate")]
    rate: f64,
    #[serde(default)]
    target: u32,
    /// The attack's own parameters (epsilon, steps, pattern, ...), `target` excluded.
    #[serde(default)]
    trigger: serde_json::Value,
}

fn default_rate() -> f64 {
    0.1
}

/// The checked clean-label campaign.
#[derive(Debug, Clone)]
pub struct CleanLabel {
    params: CleanLabelParams,
    attack_params: serde_json::Value,
}

impl Campaign for CleanLabel {
    fn name(&self) -> &'static str {
        "clean-label"
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
            "clean-label",
            &self.attack_params,
            Budget::Rate(self.params.rate),
            input,
        )
    }
}

pub const ENTRY: super::CampaignEntry = super::CampaignEntry {
    name: "clean-label",
    role: mithridate_core::Role::Campaign,
    modalities: &["image"],
    summary: "PGD-hardened target-class samples + patch, labels kept, in every batch from `start` on (deployed model as surrogate); start (2), rate (0.1 of the target class), target (0), trigger",
    paper: "Turner, Tsipras & Madry 2019 per batch",
    taxonomy: mithridate_attack::taxonomy::BACKDOOR,
    requires: &[],
    provides: &[mithridate_core::Requirement::Trigger],
    build: |p| {
        let params: CleanLabelParams = super::checked("clean-label", p)?;
        check_rate("clean-label", params.rate)?;
        let attack_params = with_target(&params.trigger, params.target)?;
        check_attack("clean-label", "clean-label", &attack_params)?;
        Ok(Box::new(CleanLabel {
            params,
            attack_params,
        }))
    },
};
