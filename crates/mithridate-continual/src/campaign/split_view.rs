//! `split-view`: the attacker changes data *after* it was manifested. At step `start` it
//! rewrites `count` samples of the most recently accepted batch in storage (BadNets trigger
//! and `target` label, the same ids), so the next retrain would read different bytes than
//! the ones that were signed and screened: the split-view poisoning of Carlini et al., 2024
//! ("Poisoning Web-Scale Training Datasets is Practical", IEEE S&P). The batches themselves
//! are clean.

use super::{with_target, Campaign, CampaignInput, Injection};
use crate::{ContinualError, Result};
use mithridate_attack::{Budget, Poisoned};
use mithridate_data::Dataset;
use mithridate_pipeline::attack::AttackSpec;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SplitViewParams {
    /// The step at which storage is altered (needs an accepted batch before it).
    #[serde(default = "default_start")]
    start: usize,
    /// Stored samples rewritten.
    #[serde(default = "default_count")]
    count: usize,
    #[serde(default)]
    target: u32,
}

fn default_start() -> usize {
    3
}
fn default_count() -> usize {
    20
}

/// The checked split-view campaign.
#[derive(Debug, Clone)]
pub struct SplitView {
    params: SplitViewParams,
}

impl Campaign for SplitView {
    fn name(&self) -> &'static str {
        "split-view"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn first_poisoned_batch(&self, batches: usize) -> Option<usize> {
        (self.params.start < batches).then_some(self.params.start)
    }
    fn inject(&self, input: &CampaignInput) -> Result<Injection> {
        Ok(Injection::clean(input.batch))
    }
    fn tamper(&self, step: usize, stored: &Dataset, seed: u64) -> Result<Option<Poisoned>> {
        if step != self.params.start {
            return Ok(None);
        }
        let spec = AttackSpec::new(
            "badnets",
            &with_target(&serde_json::Value::Null, self.params.target)?,
        )?;
        let count = self.params.count.min(stored.len());
        Ok(Some(spec.run(
            stored,
            Budget::Count(count),
            seed,
            None,
            None,
        )?))
    }
}

pub const ENTRY: super::CampaignEntry = super::CampaignEntry {
    name: "split-view",
    role: mithridate_core::Role::Campaign,
    modalities: &["image"],
    summary: "rewrite already-manifested samples of the last accepted batch in storage at step `start` (BadNets trigger, same ids); start (3), count (20), target (0)",
    paper: "Carlini et al. 2024 (split-view poisoning)",
    taxonomy: mithridate_attack::taxonomy::BACKDOOR,
    requires: &[],
    provides: &[mithridate_core::Requirement::Trigger],
    build: |p| {
        let params: SplitViewParams = super::checked("split-view", p)?;
        if params.start == 0 {
            return Err(ContinualError::invalid(
                "split-view: start must be at least 1 (a batch must be accepted before storage can be altered)",
            ));
        }
        if params.count == 0 {
            return Err(ContinualError::invalid("split-view: count must be at least 1"));
        }
        Ok(Box::new(SplitView { params }))
    },
};
