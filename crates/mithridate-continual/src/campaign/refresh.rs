//! `refresh`: a backdoor kept alive across fine-tuning retrains by re-insertion. Batch
//! `start` carries `rate` of its samples poisoned (default BadNets); from then on every
//! `period`-th batch carries a smaller `refresh-rate` of fresh poisons with the same trigger
//! and target.
//!
//! Why: a deployed model that is only fine-tuned on each new batch (`retrain = "finetune"`)
//! forgets what the new batches no longer show it: clean batches wear a planted backdoor down,
//! catastrophic forgetting (McCloskey & Cohen 1989; Kirkpatrick et al. 2017) working for the
//! defender. An attacker who controls part of the feed answers with a few fresh poisons now
//! and then, far fewer per batch than a slow burn needs, because each refresh only has to
//! restore what the last clean fine-tunes took away. Backdoor persistence under fine-tuning
//! is measured by Gu, Dolan-Gavitt & Garg (2017, transfer learning) and by the fine-tuning
//! defences it survives (BackdoorBench, Wu et al. 2022).

use super::slow_burn::{default_attack, default_start};
use super::{
    check_attack, check_rate, run_attack, with_target, Campaign, CampaignInput, Injection,
};
use crate::{ContinualError, Result};
use mithridate_attack::Budget;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RefreshParams {
    #[serde(default = "default_start")]
    start: usize,
    #[serde(default = "default_rate")]
    rate: f64,
    #[serde(default = "default_period")]
    period: usize,
    #[serde(default = "default_refresh_rate")]
    refresh_rate: f64,
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
fn default_period() -> usize {
    3
}
fn default_refresh_rate() -> f64 {
    0.01
}

/// The checked refresh campaign.
#[derive(Debug, Clone)]
pub struct Refresh {
    params: RefreshParams,
    attack_params: serde_json::Value,
}

impl Refresh {
    /// The poison rate of batch `step` (0 for a clean batch).
    fn rate_at(&self, step: usize) -> f64 {
        let p = &self.params;
        if step == p.start {
            p.rate
        } else if step > p.start && (step - p.start).is_multiple_of(p.period) {
            p.refresh_rate
        } else {
            0.0
        }
    }
}

impl Campaign for Refresh {
    fn name(&self) -> &'static str {
        "refresh"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn first_poisoned_batch(&self, batches: usize) -> Option<usize> {
        (self.params.start < batches).then_some(self.params.start)
    }
    fn inject(&self, input: &CampaignInput) -> Result<Injection> {
        let rate = self.rate_at(input.step);
        if rate == 0.0 {
            return Ok(Injection::clean(input.batch));
        }
        run_attack(
            &self.params.attack,
            &self.attack_params,
            Budget::Rate(rate),
            input,
        )
    }
}

pub const ENTRY: super::CampaignEntry = super::CampaignEntry {
    name: "refresh",
    role: mithridate_core::Role::Campaign,
    modalities: &["image"],
    summary: "a backdoor planted in batch `start` and refreshed with fresh poisons every `period` batches, against fine-tuning retrains that forget it; start (2), rate (0.05), period (3), refresh-rate (0.01), target (0), attack (badnets), trigger",
    paper: "re-insertion against catastrophic forgetting (McCloskey & Cohen 1989; Kirkpatrick et al. 2017) of a BadNets backdoor (Gu et al. 2017)",
    taxonomy: mithridate_attack::taxonomy::BACKDOOR,
    requires: &[],
    provides: &[mithridate_core::Requirement::Trigger],
    build: |p| {
        let params: RefreshParams = super::checked("refresh", p)?;
        check_rate("refresh", params.rate)?;
        check_rate("refresh", params.refresh_rate)?;
        if params.period == 0 {
            return Err(ContinualError::invalid(
                "campaign refresh: period must be at least 1 batch".to_string(),
            ));
        }
        let attack_params = with_target(&params.trigger, params.target)?;
        check_attack("refresh", &params.attack, &attack_params)?;
        Ok(Box::new(Refresh {
            params,
            attack_params,
        }))
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisons_at_start_then_every_period() {
        let campaign = super::super::build(
            "refresh",
            &serde_json::json!({"start": 2, "period": 3, "rate": 0.05, "refresh-rate": 0.01}),
        )
        .expect("valid");
        assert_eq!(campaign.first_poisoned_batch(10), Some(2));
        let refresh = Refresh {
            params: serde_json::from_value(campaign.parameters()).expect("round trip"),
            attack_params: serde_json::json!({"target": 0}),
        };
        let rates: Vec<f64> = (0..10).map(|t| refresh.rate_at(t)).collect();
        assert_eq!(
            rates,
            vec![0.0, 0.0, 0.05, 0.0, 0.0, 0.01, 0.0, 0.0, 0.01, 0.0]
        );
        assert!(super::super::build("refresh", &serde_json::json!({"period": 0})).is_err());
        assert!(super::super::build("refresh", &serde_json::json!({"refresh-rate": 1.5})).is_err());
    }
}
