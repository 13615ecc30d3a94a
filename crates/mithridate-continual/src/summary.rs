//! The outcome of a run: the bars' numbers and a readable timeline.

use crate::state::{Decision, RunState, StepRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What a run measured (the `mithridate continual --json` object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub data: String,
    pub campaign: String,
    pub seed: u64,
    pub batches: usize,
    /// Steps completed so far.
    pub steps_done: usize,
    /// The campaign's first poisoned batch (null for a clean stream).
    pub first_poisoned_batch: Option<usize>,
    /// The first blocked step (null: every batch was deployed).
    pub blocked_at: Option<usize>,
    /// Highest attack success of any deployed model (null when the campaign has no goal yet).
    pub max_deployed_asr: Option<f64>,
    /// Blocks of batches that were neither poisoned nor accompanied by tampering.
    pub false_blocks: usize,
    /// Share of every poisoned or tampered id that some step named (null without poison).
    pub named_poison_ids_recall: Option<f64>,
    pub poisoned_samples: usize,
    /// Poisoned or tampered ids some step named.
    pub named_poisoned: usize,
    /// Every id some step named (suspects, changed stored samples, untrusted batches).
    pub named_samples: usize,
    pub deployments: usize,
    /// Monitor alerts (one per monitor and step).
    pub alerts: usize,
    /// Alerts before the campaign's first move (clean traffic, no poisoned model).
    pub false_alerts: usize,
    pub final_accuracy: Option<f64>,
    pub final_model_hash: String,
    pub timeline: Vec<StepRecord>,
}

fn poisoned_step(s: &StepRecord) -> bool {
    !s.poisoned_ids.is_empty() || !s.tampered_ids.is_empty()
}

impl Outcome {
    pub fn of(state: &RunState, batches: usize, first_poisoned_batch: Option<usize>) -> Outcome {
        let steps = &state.steps;
        let blocked_at = steps
            .iter()
            .find(|s| s.decision == Decision::Block)
            .map(|s| s.step);
        let max_deployed_asr = steps.iter().filter_map(|s| s.deployed_asr).reduce(f64::max);
        let false_blocks = steps
            .iter()
            .filter(|s| s.decision == Decision::Block && !poisoned_step(s))
            .count();
        let poison: BTreeSet<u64> = steps
            .iter()
            .flat_map(|s| s.poisoned_ids.iter().chain(&s.tampered_ids))
            .copied()
            .collect();
        let named: BTreeSet<u64> = steps
            .iter()
            .flat_map(|s| s.named_ids.iter())
            .copied()
            .collect();
        let recall = (!poison.is_empty())
            .then(|| poison.intersection(&named).count() as f64 / poison.len() as f64);
        // An alert is false when nothing was wrong yet: before the campaign's first move
        // (clean traffic, models trained on clean data). From then on, serving traffic carries
        // the trigger, and an alert on it is the monitor seeing the attacker use it, whether
        // or not a poisoned model was deployed.
        let mut alerts = 0;
        let mut false_alerts = 0;
        for s in steps {
            alerts += s.monitors.alerts.len();
            if first_poisoned_batch.is_none_or(|first| s.step < first) {
                false_alerts += s.monitors.alerts.len();
            }
        }
        Outcome {
            data: state.identity.data.clone(),
            campaign: state.identity.campaign.clone(),
            seed: state.identity.seed,
            batches,
            steps_done: steps.len(),
            first_poisoned_batch,
            blocked_at,
            max_deployed_asr,
            false_blocks,
            named_poison_ids_recall: recall,
            poisoned_samples: poison.len(),
            named_poisoned: poison.intersection(&named).count(),
            named_samples: named.len(),
            deployments: state.deployments.len(),
            alerts,
            false_alerts,
            final_accuracy: steps.last().map(|s| s.deployed_accuracy),
            final_model_hash: state.deployed.model_hash.clone(),
            timeline: steps.clone(),
        }
    }

    /// The readable table: one line per step, then the bars' numbers.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:>4}  {:>6}  {:>6}  {:<7}  {:>8}  {:>7}  {:<14}  {}\n",
            "step", "poison", "named", "action", "accuracy", "ASR", "alerts", "why"
        );
        for s in &self.timeline {
            let why = if s.block_reasons.is_empty() {
                "-".to_string()
            } else {
                s.block_reasons.join(" | ")
            };
            out.push_str(&format!(
                "{:>4}  {:>6}  {:>6}  {:<7}  {:>7.2}%  {:>7}  {:<14}  {}\n",
                s.step,
                s.poisoned_ids.len() + s.tampered_ids.len(),
                s.named_ids.len(),
                match s.decision {
                    Decision::Deploy => "deploy",
                    Decision::Block => "BLOCK",
                },
                100.0 * s.deployed_accuracy,
                s.deployed_asr
                    .map_or("-".into(), |a| format!("{:.2}%", 100.0 * a)),
                if s.monitors.alerts.is_empty() {
                    "-".to_string()
                } else {
                    s.monitors.alerts.join(",")
                },
                why
            ));
        }
        let opt = |v: Option<usize>| v.map_or("null".to_string(), |v| v.to_string());
        out.push_str(&format!(
            "\ncampaign {} on {} (seed {}): first poisoned batch {}, blocked at {}, max deployed ASR {}, \
             false blocks {}, poison ids named {}, alerts {} ({} false), {} deployments\n",
            self.campaign,
            self.data,
            self.seed,
            opt(self.first_poisoned_batch),
            opt(self.blocked_at),
            self.max_deployed_asr.map_or("null".into(), |a| format!("{:.2}%", 100.0 * a)),
            self.false_blocks,
            self.named_poison_ids_recall
                .map_or("n/a".into(), |r| format!("{}/{} ({:.1}%)", self.named_poisoned, self.poisoned_samples, 100.0 * r)),
            self.alerts,
            self.false_alerts,
            self.deployments
        ));
        out
    }
}
