//! Retrieval-poisoning runs reduced over seeds: top-k attack success by poisons per target and
//! defence setting, what each setting costs on clean retrieval, and the smallest number of
//! poisons per target that gets through.
//!
//! A RAG run is not a training-set attack at a poison rate: its budget is passages per target
//! question and its defences act on the index and the retrieved list, so it gets groups,
//! verdicts and risk rows of its own instead of joining the attack groups.

use super::{level_of, Stat};
use crate::record::{AtK, CellRecord, Family, Outcome, RagOutcome, TaxonomyRefs};
use crate::report::{format_percent, Level};
use serde::Serialize;
use std::collections::BTreeMap;

/// (corpus, retriever, attack, attack parameters, targets): one table, one plot, one verdict.
/// Runs over different target sets are never averaged as if they were seeds.
pub(super) type RagKey = (String, String, String, serde_json::Value, usize);

/// The cut-off verdicts, plots and the risk summary read: the top-5.
pub const HEADLINE_K: &str = "5";

/// One defence setting at one number of poisons per target, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct RagRow {
    /// The defences in the order applied (`name` or `name:key=value`); empty: undefended.
    pub defences: Vec<String>,
    pub poisons_per_target: usize,
    pub seeds: Vec<u64>,
    pub targets: Option<Stat>,
    pub injected: Option<Stat>,
    pub refused_at_index: Option<Stat>,
    pub refused_poisons: Option<Stat>,
    pub asr_at_k: BTreeMap<String, Stat>,
    pub clean_recall_at_k: BTreeMap<String, Stat>,
    /// The undefended run's clean recall minus this one's, per seed (same poisons): what the
    /// setting costs on clean retrieval. Empty for the undefended row.
    pub clean_recall_cost_at_k: BTreeMap<String, Stat>,
    pub recall_under_attack_at_k: BTreeMap<String, Stat>,
    pub poison_precision_at_k: BTreeMap<String, Stat>,
    pub poison_recall_at_k: BTreeMap<String, Stat>,
    pub poison_f1_at_k: BTreeMap<String, Stat>,
    /// ASR at the group's headline k against the success thresholds.
    pub level: Option<Level>,
    /// Whether the setting lowered that ASR against the undefended run with the same poisons
    /// (`None` for the undefended row or without both numbers).
    pub reduces: Option<bool>,
}

impl RagRow {
    /// `none`, `query-echo`, `perplexity + two-means:threshold=0.8`.
    pub fn setting(&self) -> String {
        setting_label(&self.defences)
    }

    /// The mean of `map` at `k`.
    pub fn mean(map: &BTreeMap<String, Stat>, k: &str) -> Option<f64> {
        map.get(k).map(|s| s.mean)
    }
}

/// `none` for the undefended setting, else its defences joined in order.
pub fn setting_label(defences: &[String]) -> String {
    if defences.is_empty() {
        "none".to_string()
    } else {
        defences.join(" + ")
    }
}

/// One attack on one corpus and retriever: every poisons-per-target x defence-setting cell.
#[derive(Debug, Clone, Serialize)]
pub struct RagGroup {
    pub corpus: String,
    pub retriever: String,
    pub attack: String,
    /// The attack's checked parameters.
    pub parameters: serde_json::Value,
    /// Target questions per run.
    pub targets: usize,
    /// Another group has the same corpus, retriever and attack with other parameters: labels
    /// then carry the parameters.
    pub several_parameterisations: bool,
    /// Another group has the same corpus, retriever and attack over another number of
    /// targets: titles then carry it.
    pub several_target_sets: bool,
    pub taxonomy: TaxonomyRefs,
    /// The measured cut-offs, in increasing order.
    pub cutoffs: Vec<String>,
    /// The cut-off of the verdict, plot and risk: [`HEADLINE_K`] when measured, else the
    /// smallest.
    pub k: String,
    /// Tested poisons per target, increasing.
    pub poisons: Vec<usize>,
    /// Defence settings in plan order, the undefended one (empty) first when it ran.
    pub settings: Vec<Vec<String>>,
    /// Rows by setting (in `settings` order), then by poisons per target.
    pub rows: Vec<RagRow>,
    /// The smallest poisons per target at which the attack succeeds undefended.
    pub succeeds_undefended_at: Option<usize>,
    /// The smallest at which it succeeds undefended *and* behind every configured setting
    /// (the undefended budget when none is configured).
    pub succeeds_through_every_defence_at: Option<usize>,
    /// The undefended level at the verdict's poisons per target.
    pub level: Option<Level>,
    /// One plain-words sentence, as the summary lists it.
    pub verdict: String,
}

impl RagGroup {
    /// The attack, with its parameters when another group runs it with others.
    pub fn label(&self) -> String {
        match self.parameters.as_object() {
            Some(map) if self.several_parameterisations && !map.is_empty() => {
                let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k} {v}")).collect();
                format!("{} ({})", self.attack, pairs.join(", "))
            }
            _ => self.attack.clone(),
        }
    }

    /// `poisoned-rag on sotu (minilm)`, `... (minilm, 12 targets)` when that tells groups apart.
    pub fn title(&self) -> String {
        let targets = if self.several_target_sets {
            format!(", {} targets", self.targets)
        } else {
            String::new()
        };
        format!(
            "{} on {} ({}{targets})",
            self.label(),
            self.corpus,
            self.retriever
        )
    }

    /// The row of `setting` at `poisons`.
    pub fn row(&self, setting: &[String], poisons: usize) -> Option<&RagRow> {
        self.rows
            .iter()
            .find(|r| r.defences == setting && r.poisons_per_target == poisons)
    }
}

fn rag(record: &CellRecord) -> Option<&RagOutcome> {
    match &record.outcome {
        Outcome::Rag(r) => Some(r),
        _ => None,
    }
}

/// Mean and sd per k over the maps (a k missing from one map is averaged over the others).
fn stat_map<'a>(maps: impl Iterator<Item = &'a AtK> + Clone) -> BTreeMap<String, Stat> {
    let mut keys: Vec<&String> = maps.clone().flat_map(|m| m.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            Some((
                k.clone(),
                Stat::of(maps.clone().filter_map(|m| m.get(k).copied()))?,
            ))
        })
        .collect()
}

/// Cut-offs in numeric order (`"1" < "5" < "20"`; the maps sort them as text).
fn numeric_order(keys: impl Iterator<Item = String>) -> Vec<String> {
    let mut keys: Vec<String> = keys.collect();
    keys.sort_by_key(|k| (k.parse::<u64>().unwrap_or(u64::MAX), k.clone()));
    keys.dedup();
    keys
}

pub(super) fn rag_groups(groups: &[(RagKey, Vec<&CellRecord>)]) -> Vec<RagGroup> {
    let mut out: Vec<RagGroup> = groups
        .iter()
        .filter_map(|(key, records)| {
            let runs: Vec<(&CellRecord, &RagOutcome)> =
                records.iter().filter_map(|r| Some((*r, rag(r)?))).collect();
            (!runs.is_empty()).then(|| rag_group(key, &runs))
        })
        .collect();
    let same_attack = |a: &RagGroup, b: &RagGroup| {
        (&a.corpus, &a.retriever, &a.attack) == (&b.corpus, &b.retriever, &b.attack)
    };
    for i in 0..out.len() {
        let peers = || out.iter().filter(|g| same_attack(g, &out[i]));
        let parameters = peers().any(|g| g.parameters != out[i].parameters);
        let targets = peers().any(|g| g.targets != out[i].targets);
        out[i].several_parameterisations = parameters;
        out[i].several_target_sets = targets;
        out[i].verdict = verdict_text(&out[i]);
    }
    out
}

/// Reduces one group's runs (records in plan order).
fn rag_group(key: &RagKey, runs: &[(&CellRecord, &RagOutcome)]) -> RagGroup {
    let (corpus, retriever, attack, parameters, targets) = key;
    let mut settings: Vec<Vec<String>> = Vec::new();
    for (_, r) in runs {
        if !settings.contains(&r.defences) {
            settings.push(r.defences.clone());
        }
    }
    // The undefended setting first: every other row is read against it.
    settings.sort_by_key(|s| !s.is_empty());
    let mut poisons: Vec<usize> = runs.iter().map(|(_, r)| r.poisons_per_target).collect();
    poisons.sort_unstable();
    poisons.dedup();
    let cutoffs = numeric_order(runs.iter().flat_map(|(_, r)| r.asr_at_k.keys().cloned()));
    let k = if cutoffs.iter().any(|c| c == HEADLINE_K) {
        HEADLINE_K.to_string()
    } else {
        cutoffs
            .first()
            .cloned()
            .unwrap_or_else(|| HEADLINE_K.to_string())
    };
    // Undefended clean recall per (poisons, seed): the reference of every setting's cost.
    let undefended_recall: BTreeMap<(usize, u64), &AtK> = runs
        .iter()
        .filter(|(_, r)| r.defences.is_empty())
        .filter_map(|(c, r)| {
            Some((
                (r.poisons_per_target, c.seed),
                r.clean_recall_at_k.as_ref()?,
            ))
        })
        .collect();
    let mut rows: Vec<RagRow> = Vec::new();
    for setting in &settings {
        for &p in &poisons {
            let cell: Vec<(&CellRecord, &RagOutcome)> = runs
                .iter()
                .filter(|(_, r)| &r.defences == setting && r.poisons_per_target == p)
                .copied()
                .collect();
            if !cell.is_empty() {
                rows.push(rag_row(setting, p, &cell, &k, &undefended_recall));
            }
        }
    }
    for i in 0..rows.len() {
        if rows[i].defences.is_empty() {
            continue;
        }
        let before = rows
            .iter()
            .find(|u| u.defences.is_empty() && u.poisons_per_target == rows[i].poisons_per_target)
            .and_then(|u| RagRow::mean(&u.asr_at_k, &k));
        let after = RagRow::mean(&rows[i].asr_at_k, &k);
        rows[i].reduces = before.zip(after).map(|(b, a)| a < b);
    }
    let mut group = RagGroup {
        corpus: corpus.clone(),
        retriever: retriever.clone(),
        attack: attack.clone(),
        parameters: parameters.clone(),
        targets: *targets,
        several_parameterisations: false,
        several_target_sets: false,
        taxonomy: runs[0].1.taxonomy.clone(),
        cutoffs,
        k,
        poisons,
        settings,
        rows,
        succeeds_undefended_at: None,
        succeeds_through_every_defence_at: None,
        level: None,
        verdict: String::new(),
    };
    risk(&mut group);
    group
}

fn rag_row(
    setting: &[String],
    poisons: usize,
    cell: &[(&CellRecord, &RagOutcome)],
    k: &str,
    undefended_recall: &BTreeMap<(usize, u64), &AtK>,
) -> RagRow {
    let count = |f: fn(&RagOutcome) -> usize| Stat::of(cell.iter().map(|(_, r)| f(r) as f64));
    let map = |f: fn(&RagOutcome) -> Option<&AtK>| stat_map(cell.iter().filter_map(|(_, r)| f(r)));
    let mut seeds: Vec<u64> = cell.iter().map(|(c, _)| c.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut cost: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    if !setting.is_empty() {
        for (c, r) in cell {
            let (Some(before), Some(after)) = (
                undefended_recall.get(&(poisons, c.seed)),
                r.clean_recall_at_k.as_ref(),
            ) else {
                continue;
            };
            for (key, a) in after {
                if let Some(b) = before.get(key) {
                    cost.entry(key.clone()).or_default().push(b - a);
                }
            }
        }
    }
    let asr_at_k = map(|r| Some(&r.asr_at_k));
    RagRow {
        defences: setting.to_vec(),
        poisons_per_target: poisons,
        seeds,
        targets: count(|r| r.targets),
        injected: count(|r| r.injected),
        refused_at_index: count(|r| r.refused_at_index),
        refused_poisons: count(|r| r.refused_poisons),
        level: RagRow::mean(&asr_at_k, k).map(|asr| level_of(Family::Targeted, asr)),
        asr_at_k,
        clean_recall_at_k: map(|r| r.clean_recall_at_k.as_ref()),
        clean_recall_cost_at_k: cost
            .into_iter()
            .filter_map(|(key, values)| Some((key, Stat::of(values)?)))
            .collect(),
        recall_under_attack_at_k: map(|r| r.recall_under_attack_at_k.as_ref()),
        poison_precision_at_k: map(|r| Some(&r.poison_precision_at_k)),
        poison_recall_at_k: map(|r| Some(&r.poison_recall_at_k)),
        poison_f1_at_k: map(|r| Some(&r.poison_f1_at_k)),
        reduces: None,
    }
}

/// The smallest poisons per target that succeed undefended, and through every setting; the
/// undefended level at the verdict's poisons per target.
fn risk(group: &mut RagGroup) {
    let g: &RagGroup = group;
    let succeeds = |setting: &[String], p: usize| {
        g.row(setting, p)
            .is_some_and(|r| r.level == Some(Level::Succeeds))
    };
    let undefended = g.poisons.iter().copied().find(|&p| succeeds(&[], p));
    let through = g
        .poisons
        .iter()
        .copied()
        .find(|&p| g.settings.iter().all(|s| succeeds(s, p)));
    let level = undefended
        .or_else(|| g.poisons.last().copied())
        .and_then(|p| g.row(&[], p))
        .and_then(|r| r.level);
    group.succeeds_undefended_at = undefended;
    group.succeeds_through_every_defence_at = through;
    group.level = level;
}

fn poisons_text(p: usize) -> String {
    format!("{p} poison{} per target", if p == 1 { "" } else { "s" })
}

/// The sentence of a group: the fewest poisons per target that reach the success threshold
/// undefended (or how far the most tested got), then each defence setting at that number,
/// with its cost on clean recall when it has one.
fn verdict_text(group: &RagGroup) -> String {
    let k = &group.k;
    let asr = |setting: &[String], p: usize| {
        format_percent(
            group
                .row(setting, p)
                .and_then(|r| RagRow::mean(&r.asr_at_k, k)),
        )
    };
    let Some(reference) = group
        .succeeds_undefended_at
        .or_else(|| group.poisons.last().copied())
    else {
        return format!("{}: no runs.", group.title());
    };
    let mut text = format!("{}: ", group.title());
    if group.row(&[], reference).is_none() {
        text.push_str(&format!("no undefended run at {}", poisons_text(reference)));
    } else if group.succeeds_undefended_at.is_some() {
        text.push_str(&format!(
            "{} reach{} ASR@{k} {} undefended",
            poisons_text(reference),
            if reference == 1 { "es" } else { "" },
            asr(&[], reference)
        ));
    } else {
        text.push_str(&format!(
            "ASR@{k} stays below the success threshold up to {} ({} undefended)",
            poisons_text(reference),
            asr(&[], reference)
        ));
    }
    let defended: Vec<String> = group
        .settings
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| {
            let row = group.row(s, reference)?;
            let mut part = format!("with {} {}", setting_label(s), asr(s, reference));
            if let Some(cost) = RagRow::mean(&row.clean_recall_cost_at_k, k).filter(|c| *c > 0.0) {
                part.push_str(&format!(
                    " (costs {:.1} pts of clean recall@{k})",
                    cost * 100.0
                ));
            }
            Some(part)
        })
        .collect();
    if defended.is_empty() {
        text.push_str("; no defences configured.");
    } else {
        text.push_str("; ");
        text.push_str(&defended.join(", "));
        text.push('.');
    }
    text
}
