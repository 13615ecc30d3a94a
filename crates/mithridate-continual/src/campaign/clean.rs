//! `clean`: no attacker. The baseline stream every false-alarm bar is measured on.

use super::{Campaign, CampaignInput, Injection};
use crate::Result;
use mithridate_core::taxonomy::Ids;

#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CleanParams {}

/// No poisoning at any step.
#[derive(Debug, Clone, Copy)]
pub struct Clean;

impl Campaign for Clean {
    fn name(&self) -> &'static str {
        "clean"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn first_poisoned_batch(&self, _batches: usize) -> Option<usize> {
        None
    }
    fn inject(&self, input: &CampaignInput) -> Result<Injection> {
        Ok(Injection::clean(input.batch))
    }
}

pub const ENTRY: super::CampaignEntry = super::CampaignEntry {
    name: "clean",
    role: mithridate_core::Role::Campaign,
    modalities: &["image"],
    summary: "no attacker: the feed delivers the drifting clean stream (false-alarm baseline)",
    paper: "none",
    taxonomy: Ids::NONE,
    requires: &[],
    provides: &[],
    build: |p| {
        super::checked::<CleanParams>("clean", p)?;
        Ok(Box::new(Clean))
    },
};
