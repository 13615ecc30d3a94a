//! `forged-manifest`: the attacker replaces batch `start` in transit (BadNets at `rate`) and
//! re-signs its manifest with a key of its own. The loop trusts only the feed's key, so the
//! batch fails signature verification and is blocked, named by its manifest's key id.

use super::slow_burn::default_start;
use super::{check_rate, run_attack, with_target, Campaign, CampaignInput, Injection, Signer};
use crate::Result;
use mithridate_attack::Budget;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ForgedParams {
    #[serde(default = "default_start")]
    start: usize,
    #[serde(default = "default_rate")]
    rate: f64,
    #[serde(default)]
    target: u32,
}

fn default_rate() -> f64 {
    0.05
}

/// The checked forged-manifest campaign.
#[derive(Debug, Clone)]
pub struct ForgedManifest {
    params: ForgedParams,
}

impl Campaign for ForgedManifest {
    fn name(&self) -> &'static str {
        "forged-manifest"
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
        let params = with_target(&serde_json::Value::Null, self.params.target)?;
        run_attack("badnets", &params, Budget::Rate(self.params.rate), input)
    }
    fn signer(&self, step: usize) -> Signer {
        if step == self.params.start {
            Signer::Attacker
        } else {
            Signer::Feed
        }
    }
}

pub const ENTRY: super::CampaignEntry = super::CampaignEntry {
    name: "forged-manifest",
    role: mithridate_core::Role::Campaign,
    modalities: &["image"],
    summary: "replace batch `start` in transit (BadNets) and sign its manifest with the attacker's key; start (2), rate (0.05), target (0)",
    paper: "none (supply-chain tampering of a signed feed)",
    taxonomy: mithridate_attack::taxonomy::BACKDOOR,
    requires: &[],
    provides: &[mithridate_core::Requirement::Trigger],
    build: |p| {
        let params: ForgedParams = super::checked("forged-manifest", p)?;
        check_rate("forged-manifest", params.rate)?;
        Ok(Box::new(ForgedManifest { params }))
    },
};
