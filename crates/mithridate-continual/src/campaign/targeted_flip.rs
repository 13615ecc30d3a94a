//! `targeted-flip`: from batch `start` on, `rate` of every batch's `source`-class samples
//! are relabelled `target` (targeted label flipping, `label-flip-targeted` of
//! `mithridate-attack`), pulling the retrained model's `source` inputs towards `target`.

use super::slow_burn::default_start;
use super::{check_rate, run_attack, Campaign, CampaignInput, Injection};
use crate::{ContinualError, Result};
use mithridate_attack::Budget;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TargetedFlipParams {
    #[serde(default = "default_start")]
    start: usize,
    /// Share of the source class relabelled in every batch.
    #[serde(default = "default_rate")]
    rate: f64,
    #[serde(default = "default_source")]
    source: u32,
    #[serde(default)]
    target: u32,
}

fn default_rate() -> f64 {
    0.1
}
fn default_source() -> u32 {
    1
}

/// The checked targeted-flip campaign.
#[derive(Debug, Clone)]
pub struct TargetedFlip {
    params: TargetedFlipParams,
}

impl Campaign for TargetedFlip {
    fn name(&self) -> &'static str {
        "targeted-flip"
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
        let params =
            serde_json::json!({"source": self.params.source, "target": self.params.target});
        run_attack(
            "label-flip-targeted",
            &params,
            Budget::Rate(self.params.rate),
            input,
        )
    }
}

pub const ENTRY: super::CampaignEntry = super::CampaignEntry {
    name: "targeted-flip",
    role: mithridate_core::Role::Campaign,
    modalities: &["image"],
    summary: "relabel a share of the source class as target in every batch from `start` on; start (2), rate (0.1 of the source class), source (1), target (0)",
    paper: "targeted label flipping (Biggio, Nelson & Laskov 2012 threat model) per batch",
    taxonomy: mithridate_attack::taxonomy::TARGETED,
    requires: &[],
    provides: &[],
    build: |p| {
        let params: TargetedFlipParams = super::checked("targeted-flip", p)?;
        check_rate("targeted-flip", params.rate)?;
        if params.source == params.target {
            return Err(ContinualError::invalid(format!(
                "targeted-flip: source and target are both class {}",
                params.source
            )));
        }
        Ok(Box::new(TargetedFlip { params }))
    },
};
