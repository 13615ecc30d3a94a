//! Continual-retraining runs reduced over seeds: how soon the campaign was caught, what got
//! deployed meanwhile, and what the defences cost on clean batches.
//!
//! A continual run is not a centralized attack at a budget: its success is the attack success
//! of the *deployed* model while the poison streams in, and its defence is the loop's screen
//! and gate, so it gets rows of its own instead of joining the attack groups.

use super::{level_of, Stat};
use crate::record::{CellRecord, ContinualOutcome, Family, Outcome};
use crate::report::{format_percent, format_rate, Level};
use serde::Serialize;

/// (dataset, campaign, campaign parameters, retrain mode, model): what seeds are averaged over.
pub(super) type ContinualKey = (String, String, serde_json::Value, String, String);

/// One seed of a continual configuration: the numbers a per-seed column lists.
#[derive(Debug, Clone, Serialize)]
pub struct ContinualRun {
    pub seed: u64,
    /// The record's cell id (its timeline plot is drawn from that record).
    pub cell: String,
    pub first_poisoned_batch: Option<usize>,
    /// The first blocked batch, poisoned or not.
    pub blocked_at: Option<usize>,
    /// The first blocked batch that carried poison (or tampering): when the campaign was
    /// caught. It differs from `blocked_at` when a clean batch was blocked first, a false
    /// block that says nothing about the poison.
    pub caught_at: Option<usize>,
    pub max_deployed_asr: Option<f64>,
}

impl ContinualRun {
    /// Poisoned retrains before the block: 0 when the first poisoned batch itself was blocked.
    pub fn retrains_to_block(&self) -> Option<usize> {
        Some(self.caught_at?.saturating_sub(self.first_poisoned_batch?))
    }

    /// Whether the first block hit a batch without poison (a false block).
    pub fn first_block_false(&self) -> bool {
        self.blocked_at.is_some() && self.caught_at != self.blocked_at
    }
}

/// One campaign (with its parameters) on one dataset, retrain mode and model, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct ContinualRow {
    pub dataset: String,
    pub model: String,
    pub campaign: String,
    /// The campaign's checked parameters.
    pub parameters: serde_json::Value,
    /// The campaign's per-batch poison rate (`parameters.rate`), when it has one.
    pub rate: Option<f64>,
    /// `scratch` or `finetune`.
    pub retrain: String,
    pub batches: usize,
    pub seeds: Vec<u64>,
    /// One entry per seed, in seed order.
    pub runs: Vec<ContinualRun>,
    /// Seeds whose stream carried poison (none for the `clean` campaign).
    pub poisoned_seeds: usize,
    /// Of those, the seeds on which a poisoned batch was blocked.
    pub caught_seeds: usize,
    /// Poisoned retrains before the block, over the caught seeds.
    pub retrains_to_block: Option<Stat>,
    pub max_retrains_to_block: Option<usize>,
    /// Per seed, the highest attack success of any deployed model.
    pub max_deployed_asr: Option<Stat>,
    /// The highest of those over seeds: what the worst seed had in production.
    pub worst_deployed_asr: Option<f64>,
    /// Blocks of clean batches, summed over seeds.
    pub false_blocks: usize,
    pub false_blocks_per_seed: Option<Stat>,
    /// Share of the poisoned ids some step named.
    pub named_recall: Option<Stat>,
    /// Monitor alerts, summed over seeds.
    pub alerts: usize,
    /// Alerts before the campaign's first move, summed over seeds.
    pub false_alerts: usize,
    /// Clean accuracy of the model deployed at the last step.
    pub final_accuracy: Option<Stat>,
    /// The attack's success on the deployed model (mean over seeds of the maximum deployed
    /// ASR, at the backdoor thresholds); `None` for clean streams.
    pub level: Option<Level>,
    /// One plain-words sentence, as the summary lists it.
    pub verdict: String,
}

impl ContinualRow {
    /// `slow-burn 0.5%`: the campaign and its per-batch rate.
    pub fn label(&self) -> String {
        match self.rate {
            Some(rate) => format!("{} {}", self.campaign, format_rate(rate)),
            None => self.campaign.clone(),
        }
    }

    /// The parameters other than the rate, `start 2, target 0`; `—` when there are none.
    pub fn parameters_text(&self) -> String {
        let Some(map) = self.parameters.as_object() else {
            return "—".to_string();
        };
        let parts: Vec<String> = map
            .iter()
            .filter(|(key, _)| key.as_str() != "rate")
            .map(|(key, value)| match value {
                serde_json::Value::String(s) => format!("{key} {s}"),
                other => format!("{key} {other}"),
            })
            .collect();
        if parts.is_empty() {
            "—".to_string()
        } else {
            parts.join(", ")
        }
    }
}

fn continual(record: &CellRecord) -> Option<&ContinualOutcome> {
    match &record.outcome {
        Outcome::Continual(c) => Some(c),
        _ => None,
    }
}

/// The first blocked batch that carried poison. The timeline knows which batches did; a
/// record without one falls back to `blocked_at` when it is not before the first poison.
fn caught_at(c: &ContinualOutcome) -> Option<usize> {
    let first = c.first_poisoned_batch?;
    if c.timeline.is_empty() {
        return c.blocked_at.filter(|&b| b >= first);
    }
    c.timeline
        .iter()
        .filter(|p| p.blocked && p.poisoned > 0 && p.step >= first)
        .map(|p| p.step)
        .min()
}

pub(super) fn continual_rows(groups: &[(ContinualKey, Vec<&CellRecord>)]) -> Vec<ContinualRow> {
    groups
        .iter()
        .filter_map(|(key, records)| {
            let mut runs: Vec<(&CellRecord, &ContinualOutcome)> = records
                .iter()
                .filter_map(|r| Some((*r, continual(r)?)))
                .collect();
            runs.sort_by_key(|(r, _)| (r.seed, r.index));
            (!runs.is_empty()).then(|| continual_row(key, &runs))
        })
        .collect()
}

/// Reduces one group's runs (non-empty, sorted by seed).
fn continual_row(key: &ContinualKey, runs: &[(&CellRecord, &ContinualOutcome)]) -> ContinualRow {
    let (dataset, campaign, parameters, retrain, model) = key;
    let per_seed: Vec<ContinualRun> = runs
        .iter()
        .map(|(r, c)| ContinualRun {
            seed: r.seed,
            cell: r.id.clone(),
            first_poisoned_batch: c.first_poisoned_batch,
            blocked_at: c.blocked_at,
            caught_at: caught_at(c),
            max_deployed_asr: c.max_deployed_asr,
        })
        .collect();
    let mut seeds: Vec<u64> = per_seed.iter().map(|r| r.seed).collect();
    seeds.dedup();
    let poisoned_seeds = per_seed
        .iter()
        .filter(|r| r.first_poisoned_batch.is_some())
        .count();
    let retrains: Vec<usize> = per_seed
        .iter()
        .filter_map(ContinualRun::retrains_to_block)
        .collect();
    let asr = || runs.iter().filter_map(|(_, c)| c.max_deployed_asr);
    let max_deployed_asr = Stat::of(asr());
    let mut row = ContinualRow {
        dataset: dataset.clone(),
        model: model.clone(),
        campaign: campaign.clone(),
        parameters: parameters.clone(),
        rate: parameters.get("rate").and_then(serde_json::Value::as_f64),
        retrain: retrain.clone(),
        batches: runs[0].1.batches,
        seeds,
        runs: per_seed,
        poisoned_seeds,
        caught_seeds: retrains.len(),
        retrains_to_block: Stat::of(retrains.iter().map(|&n| n as f64)),
        max_retrains_to_block: retrains.iter().copied().max(),
        max_deployed_asr,
        worst_deployed_asr: asr().filter(|v| v.is_finite()).reduce(f64::max),
        false_blocks: runs.iter().map(|(_, c)| c.false_blocks).sum(),
        false_blocks_per_seed: Stat::of(runs.iter().map(|(_, c)| c.false_blocks as f64)),
        named_recall: Stat::of(runs.iter().filter_map(|(_, c)| c.named_poison_ids_recall)),
        alerts: runs.iter().map(|(_, c)| c.alerts).sum(),
        false_alerts: runs.iter().map(|(_, c)| c.false_alerts).sum(),
        final_accuracy: Stat::of(runs.iter().filter_map(|(_, c)| c.final_accuracy)),
        level: if poisoned_seeds == 0 {
            None
        } else {
            max_deployed_asr.map(|s| level_of(Family::Backdoor, s.mean))
        },
        verdict: String::new(),
    };
    row.verdict = verdict_text(&row);
    row
}

/// `1 false block`, `2 false alerts`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// The sentence of a row: whether (and how soon) the campaign was blocked on how many seeds,
/// and how high the deployed model's attack success went; for a clean stream, what the
/// defences cost.
fn verdict_text(row: &ContinualRow) -> String {
    let subject = format!(
        "{} on {} ({}, {} retrain)",
        row.label(),
        row.dataset,
        row.model,
        row.retrain
    );
    let seeds = row.runs.len();
    if row.poisoned_seeds == 0 {
        return format!(
            "{subject}: no poison; {} and {} over {}; final accuracy {}.",
            count(row.false_blocks, "false block"),
            count(row.false_alerts, "false alert"),
            count(seeds, "seed"),
            format_percent(row.final_accuracy.map(|s| s.mean)),
        );
    }
    let (caught, poisoned) = (row.caught_seeds, row.poisoned_seeds);
    let within = match row.max_retrains_to_block {
        Some(0) => "at the first poisoned batch".to_string(),
        Some(n) => format!("within {} of the first poison", count(n, "retrain")),
        None => String::new(),
    };
    let blocked = if caught == 0 {
        format!("never blocked on {}", count(poisoned, "seed"))
    } else if caught == poisoned {
        format!("blocked {within} on {caught}/{poisoned} seeds")
    } else {
        format!("blocked {within} on {caught}/{poisoned} seeds, never on the others")
    };
    let worst = format_percent(row.worst_deployed_asr);
    let asr = match row.worst_deployed_asr {
        None => "deployed ASR not measured".to_string(),
        Some(_) if caught == poisoned => format!("deployed ASR never above {worst}"),
        Some(_) => format!("deployed ASR reached {worst}"),
    };
    let mut text = format!("{subject}: {blocked}; {asr}");
    if row.false_blocks > 0 {
        text.push_str(&format!("; {}", count(row.false_blocks, "false block")));
    }
    text.push('.');
    text
}
