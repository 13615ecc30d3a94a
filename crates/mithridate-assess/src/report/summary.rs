//! Aggregation of cell records over seeds: attack rows with their defences, federated rows,
//! clean baselines, verdicts and the risk summary.

use super::{
    format_rate, format_success, Level, ACCURACY_DROP_THRESHOLD, RESIDUAL_ACCURACY_DROP,
    RESIDUAL_SUCCESS_RATE, SUCCESS_RATE_THRESHOLD,
};
use crate::record::{CellRecord, CentralizedOutcome, Family, FederatedOutcome, TaxonomyRefs};
use serde::Serialize;
use std::collections::BTreeMap;

/// Mean and sample standard deviation of one quantity over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    /// Sample standard deviation (n - 1 denominator); 0 for a single seed.
    pub sd: f64,
    /// Number of finite values it summarises.
    pub n: usize,
}

impl Stat {
    /// Summary of the finite values; `None` when there are none.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Stat> {
        let finite: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return None;
        }
        let n = finite.len();
        let mean = finite.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Stat { mean, sd, n })
    }
}

/// The success level of a success value for an attack family (see the module constants).
pub fn level_of(family: Family, success: f64) -> Level {
    let (threshold, residual) = match family {
        Family::Availability | Family::ModelPoisoning => {
            (ACCURACY_DROP_THRESHOLD, RESIDUAL_ACCURACY_DROP)
        }
        Family::Targeted | Family::Backdoor | Family::Instance => {
            (SUCCESS_RATE_THRESHOLD, RESIDUAL_SUCCESS_RATE)
        }
    };
    if success >= threshold {
        Level::Succeeds
    } else if success <= residual {
        Level::Fails
    } else {
        Level::Partial
    }
}

/// One defence (detector + sanitize + retrain) against one attack at one budget, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct DefenceRow {
    pub detector: String,
    /// MITRE ATLAS mitigation id.
    pub mitigation: String,
    pub seeds: usize,
    pub flagged: Option<Stat>,
    pub removed: Option<Stat>,
    pub relabelled: Option<Stat>,
    pub precision: Option<Stat>,
    pub recall: Option<Stat>,
    pub f1: Option<Stat>,
    pub auroc: Option<Stat>,
    /// Clean accuracy of the model retrained on the sanitized set.
    pub accuracy: Option<Stat>,
    /// The attack's success after the defence (same measure as the undefended success).
    pub success: Option<Stat>,
    pub level: Option<Level>,
    /// Whether the defence lowered the mean success at all (`None` without both numbers):
    /// a sanitizer can also make things worse, e.g. by removing clean samples.
    pub reduces: Option<bool>,
    /// ROC curve of the lowest seed, `[fpr, tpr]` points.
    pub roc: Vec<[f64; 2]>,
}

/// One attack at one budget on one dataset and model, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct RateRow {
    pub rate: f64,
    pub seeds: Vec<u64>,
    pub poisoned: Option<Stat>,
    /// Clean accuracy of the unattacked model for the same seeds.
    pub baseline_accuracy: Option<Stat>,
    /// Clean accuracy of the model trained on the poisoned set.
    pub accuracy: Option<Stat>,
    /// ASR / targeted rate / victim hit, or the accuracy drop for availability attacks.
    pub success: Option<Stat>,
    pub level: Option<Level>,
    pub defences: Vec<DefenceRow>,
}

/// One attack on one dataset and model, with every tested budget.
#[derive(Debug, Clone, Serialize)]
pub struct AttackGroup {
    pub dataset: String,
    pub model: String,
    pub attack: String,
    pub family: Family,
    pub taxonomy: TaxonomyRefs,
    /// Budgets in increasing order.
    pub rates: Vec<RateRow>,
}

/// A defence run on clean data: what sanitizing costs when there is nothing to find.
#[derive(Debug, Clone, Serialize)]
pub struct CleanDefence {
    pub detector: String,
    pub flagged: Option<Stat>,
    pub accuracy: Option<Stat>,
}

/// The unattacked model of one dataset and architecture.
#[derive(Debug, Clone, Serialize)]
pub struct CleanRow {
    pub dataset: String,
    pub model: String,
    pub seeds: Vec<u64>,
    pub accuracy: Option<Stat>,
    pub defences: Vec<CleanDefence>,
}

/// Mean accuracy (and ASR) after one federated round.
#[derive(Debug, Clone, Serialize)]
pub struct RoundStat {
    pub round: usize,
    pub accuracy: Option<Stat>,
    pub asr: Option<Stat>,
}

/// One update attack under one aggregation rule and Byzantine fraction, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct FederatedRow {
    pub dataset: String,
    pub model: String,
    pub attack: String,
    pub family: Family,
    pub taxonomy: TaxonomyRefs,
    pub rule: String,
    pub byzantine: f64,
    pub clients: usize,
    pub malicious_per_round: usize,
    pub seeds: Vec<u64>,
    pub final_accuracy: Option<Stat>,
    pub final_asr: Option<Stat>,
    /// Final accuracy of the no-attack run with the same rule and seed.
    pub baseline_accuracy: Option<Stat>,
    /// Baseline minus attacked final accuracy, per seed.
    pub accuracy_drop: Option<Stat>,
    pub anomaly_precision: Option<Stat>,
    pub anomaly_recall: Option<Stat>,
    /// `None` for the benign (`none`) run.
    pub level: Option<Level>,
    pub rounds: Vec<RoundStat>,
}

impl FederatedRow {
    /// `rule` or `rule @ 20%` when the assessment varies the Byzantine fraction.
    pub fn rule_label(&self, several_fractions: bool) -> String {
        if several_fractions {
            format!("{} @ {}", self.rule, format_rate(self.byzantine))
        } else {
            self.rule.clone()
        }
    }
}

/// One plain-words verdict: an attack at one budget, undefended and after each defence.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub dataset: String,
    pub model: String,
    pub attack: String,
    pub family: Family,
    pub rate: f64,
    pub level: Option<Level>,
    /// The level after every configured defence.
    pub defences: Vec<DefenceVerdict>,
    pub text: String,
}

/// How an attack fared after one defence.
#[derive(Debug, Clone, Serialize)]
pub struct DefenceVerdict {
    pub detector: String,
    pub level: Option<Level>,
}

/// A budget and the attack that needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    pub rate: f64,
    pub attack: String,
}

/// The number a risk register wants, per attack.
#[derive(Debug, Clone, Serialize)]
pub struct RiskRow {
    pub dataset: String,
    pub model: String,
    pub family: Family,
    pub attack: String,
    pub taxonomy: TaxonomyRefs,
    pub tested_rates: Vec<f64>,
    /// Every detector configured against this attack.
    pub defences: Vec<String>,
    /// Smallest budget at which the attack succeeds on the undefended model.
    pub undefended: Option<f64>,
    /// Smallest budget at which it succeeds on the undefended model *and* still succeeds after
    /// every configured defence (vacuously the undefended budget when none is configured).
    pub defended: Option<f64>,
}

/// The smallest budgets over all attacks of one family.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyRisk {
    pub dataset: String,
    pub model: String,
    pub family: Family,
    /// The cheapest undefended success.
    pub undefended: Option<Budget>,
    /// The cheapest success that survives every configured defence.
    pub defended: Option<Budget>,
}

/// Per federated update attack: the rules it beats and those that hold.
#[derive(Debug, Clone, Serialize)]
pub struct FederatedRisk {
    pub dataset: String,
    pub model: String,
    pub attack: String,
    pub family: Family,
    pub succeeds_under: Vec<String>,
    pub partial_under: Vec<String>,
    pub resisted_by: Vec<String>,
}

/// Everything aggregated from the records.
#[derive(Debug, Clone, Serialize)]
pub struct Aggregate {
    pub clean: Vec<CleanRow>,
    pub attacks: Vec<AttackGroup>,
    pub federated: Vec<FederatedRow>,
    pub verdicts: Vec<Verdict>,
    pub risk: Vec<RiskRow>,
    pub family_risk: Vec<FamilyRisk>,
    pub federated_risk: Vec<FederatedRisk>,
}

type ModelKey = (String, String);
/// (dataset, model, attack name).
type AttackKey = (String, String, String);
/// (dataset, model, update attack, rule, Byzantine fraction bits).
type FederatedKey = (String, String, String, String, u64);
/// (dataset, model, rule, seed) of a benign federated run.
type BenignKey = (String, String, String, u64);
/// Records of one attack by budget (rate bits, which sort like the rates).
type ByRate<'a> = BTreeMap<u64, Vec<&'a CellRecord>>;

/// The success value of one score: the accuracy drop against the same-seed clean baseline for
/// availability attacks, the goal-specific rate otherwise.
fn success_of(
    family: Family,
    accuracy: f64,
    success_rate: Option<f64>,
    baseline: Option<f64>,
) -> Option<f64> {
    match family {
        Family::Availability | Family::ModelPoisoning => baseline.map(|b| b - accuracy),
        _ => success_rate,
    }
}

fn level_of_stat(family: Family, stat: Option<Stat>) -> Option<Level> {
    stat.map(|s| level_of(family, s.mean))
}

pub fn aggregate(records: &[CellRecord]) -> Aggregate {
    let mut sorted: Vec<&CellRecord> = records.iter().collect();
    sorted.sort_by_key(|r| r.index);

    // Clean baselines: (dataset, model, seed) -> clean accuracy of the undefended clean run.
    let mut baselines: BTreeMap<(String, String, u64), f64> = BTreeMap::new();
    let mut clean_rows: Vec<(ModelKey, Vec<&CellRecord>)> = Vec::new();
    // (dataset, model, attack) in first-appearance order -> rate bits -> records.
    let mut attack_groups: Vec<(AttackKey, ByRate)> = Vec::new();
    let mut federated_groups: Vec<(FederatedKey, Vec<&CellRecord>)> = Vec::new();

    for record in &sorted {
        match &record.outcome {
            crate::record::Outcome::Centralized(c) => match &c.attack {
                None => {
                    if c.defence.is_none() {
                        baselines
                            .entry((record.dataset.clone(), c.model.clone(), record.seed))
                            .or_insert(c.undefended.clean_accuracy);
                    }
                    let key = (record.dataset.clone(), c.model.clone());
                    push_group(&mut clean_rows, key, record);
                }
                Some(attack) => {
                    let key = (record.dataset.clone(), c.model.clone(), attack.name.clone());
                    let position = match attack_groups.iter().position(|(k, _)| *k == key) {
                        Some(p) => p,
                        None => {
                            attack_groups.push((key, BTreeMap::new()));
                            attack_groups.len() - 1
                        }
                    };
                    attack_groups[position]
                        .1
                        .entry(rate_key(attack.rate))
                        .or_default()
                        .push(record);
                }
            },
            crate::record::Outcome::Federated(f) => {
                let key = (
                    record.dataset.clone(),
                    f.model.clone(),
                    f.attack.clone(),
                    f.rule.clone(),
                    f.byzantine.to_bits(),
                );
                push_group(&mut federated_groups, key, record);
            }
        }
    }

    let clean = clean_rows
        .iter()
        .map(|((dataset, model), records)| clean_row(dataset, model, records))
        .collect();
    let attacks: Vec<AttackGroup> = attack_groups
        .iter()
        .filter_map(|((dataset, model, _), by_rate)| {
            attack_group(dataset, model, by_rate, &baselines)
        })
        .collect();
    let federated = federated_rows(&federated_groups);
    let verdicts = attacks.iter().flat_map(verdicts_of).collect();
    let risk: Vec<RiskRow> = attacks.iter().map(risk_of).collect();
    let family_risk = family_risk(&risk);
    let federated_risk = federated_risk(&federated);
    Aggregate {
        clean,
        attacks,
        federated,
        verdicts,
        risk,
        family_risk,
        federated_risk,
    }
}

fn push_group<'a, K: PartialEq>(
    groups: &mut Vec<(K, Vec<&'a CellRecord>)>,
    key: K,
    record: &'a CellRecord,
) {
    match groups.iter_mut().find(|(k, _)| *k == key) {
        Some((_, list)) => list.push(record),
        None => groups.push((key, vec![record])),
    }
}

/// Rates are compared exactly (they come from the same configured list); the key sorts like
/// the rate for the non-negative rates a budget can take.
fn rate_key(rate: f64) -> u64 {
    rate.max(0.0).to_bits()
}

fn centralized(record: &CellRecord) -> Option<&CentralizedOutcome> {
    match &record.outcome {
        crate::record::Outcome::Centralized(c) => Some(c),
        crate::record::Outcome::Federated(_) => None,
    }
}

fn federated(record: &CellRecord) -> Option<&FederatedOutcome> {
    match &record.outcome {
        crate::record::Outcome::Federated(f) => Some(f),
        crate::record::Outcome::Centralized(_) => None,
    }
}

fn seeds_of(records: &[&CellRecord]) -> Vec<u64> {
    let mut seeds: Vec<u64> = records.iter().map(|r| r.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    seeds
}

fn clean_row(dataset: &str, model: &str, records: &[&CellRecord]) -> CleanRow {
    let undefended: Vec<f64> = records
        .iter()
        .filter_map(|r| centralized(r))
        .filter(|c| c.defence.is_none())
        .map(|c| c.undefended.clean_accuracy)
        .collect();
    let mut detectors: Vec<String> = Vec::new();
    for c in records.iter().filter_map(|r| centralized(r)) {
        if let Some(d) = &c.defence {
            if !detectors.contains(&d.detector) {
                detectors.push(d.detector.clone());
            }
        }
    }
    let defences = detectors
        .into_iter()
        .map(|detector| {
            let runs: Vec<_> = records
                .iter()
                .filter_map(|r| centralized(r))
                .filter_map(|c| c.defence.as_ref())
                .filter(|d| d.detector == detector)
                .collect();
            CleanDefence {
                flagged: Stat::of(runs.iter().map(|d| d.flagged as f64)),
                accuracy: Stat::of(runs.iter().map(|d| d.retrained.clean_accuracy)),
                detector,
            }
        })
        .collect();
    CleanRow {
        dataset: dataset.to_string(),
        model: model.to_string(),
        seeds: seeds_of(records),
        accuracy: Stat::of(undefended),
        defences,
    }
}

fn attack_group(
    dataset: &str,
    model: &str,
    by_rate: &ByRate,
    baselines: &BTreeMap<(String, String, u64), f64>,
) -> Option<AttackGroup> {
    let first = by_rate.values().next()?.first()?;
    let info = centralized(first)?.attack.as_ref()?;
    let family = info.family;
    let baseline_of = |seed: u64| {
        baselines
            .get(&(dataset.to_string(), model.to_string(), seed))
            .copied()
    };
    let rates = by_rate
        .values()
        .filter_map(|records| {
            let rate = centralized(records.first()?)?.attack.as_ref()?.rate;
            let seeds = seeds_of(records);
            // One undefended model per seed: the no-defence cell if there is one, else the
            // first cell of that seed (every defence cell also measured the undefended model).
            let undefended: Vec<(&CellRecord, &CentralizedOutcome)> = seeds
                .iter()
                .filter_map(|&seed| {
                    let of_seed = records.iter().filter(|r| r.seed == seed);
                    let pick = of_seed
                        .clone()
                        .find(|r| centralized(r).is_some_and(|c| c.defence.is_none()))
                        .or_else(|| of_seed.clone().next())?;
                    Some((*pick, centralized(pick)?))
                })
                .collect();
            let success = Stat::of(undefended.iter().filter_map(|(r, c)| {
                success_of(
                    family,
                    c.undefended.clean_accuracy,
                    c.undefended.success_rate,
                    baseline_of(r.seed),
                )
            }));
            let mut detectors: Vec<String> = Vec::new();
            for r in records {
                if let Some(d) = centralized(r).and_then(|c| c.defence.as_ref()) {
                    if !detectors.contains(&d.detector) {
                        detectors.push(d.detector.clone());
                    }
                }
            }
            let defences = detectors
                .into_iter()
                .map(|detector| {
                    let mut row = defence_row(family, detector, records, &baseline_of);
                    row.reduces = match (success, row.success) {
                        (Some(before), Some(after)) => Some(after.mean < before.mean),
                        _ => None,
                    };
                    row
                })
                .collect();
            Some(RateRow {
                rate,
                seeds: seeds.clone(),
                poisoned: Stat::of(
                    undefended
                        .iter()
                        .filter_map(|(_, c)| c.attack.as_ref().map(|a| a.poisoned as f64)),
                ),
                baseline_accuracy: Stat::of(seeds.iter().filter_map(|&s| baseline_of(s))),
                accuracy: Stat::of(undefended.iter().map(|(_, c)| c.undefended.clean_accuracy)),
                level: level_of_stat(family, success),
                success,
                defences,
            })
        })
        .collect();
    Some(AttackGroup {
        dataset: dataset.to_string(),
        model: model.to_string(),
        attack: info.name.clone(),
        family,
        taxonomy: info.taxonomy.clone(),
        rates,
    })
}

fn defence_row(
    family: Family,
    detector: String,
    records: &[&CellRecord],
    baseline_of: &dyn Fn(u64) -> Option<f64>,
) -> DefenceRow {
    let mut runs: Vec<(u64, &crate::record::DefenceOutcome)> = records
        .iter()
        .filter_map(|r| {
            let d = centralized(r)?.defence.as_ref()?;
            (d.detector == detector).then_some((r.seed, d))
        })
        .collect();
    runs.sort_by_key(|(seed, _)| *seed);
    let stat = |f: &dyn Fn(&crate::record::DefenceOutcome) -> f64| {
        Stat::of(runs.iter().map(|(_, d)| f(d)))
    };
    let success = Stat::of(runs.iter().filter_map(|(seed, d)| {
        success_of(
            family,
            d.retrained.clean_accuracy,
            d.retrained.success_rate,
            baseline_of(*seed),
        )
    }));
    DefenceRow {
        mitigation: runs
            .first()
            .map(|(_, d)| d.mitigation.clone())
            .unwrap_or_default(),
        seeds: runs.len(),
        flagged: stat(&|d| d.flagged as f64),
        removed: stat(&|d| d.removed as f64),
        relabelled: stat(&|d| d.relabelled as f64),
        precision: stat(&|d| d.precision),
        recall: stat(&|d| d.recall),
        f1: stat(&|d| d.f1),
        auroc: Stat::of(runs.iter().filter_map(|(_, d)| d.auroc)),
        accuracy: stat(&|d| d.retrained.clean_accuracy),
        level: level_of_stat(family, success),
        success,
        reduces: None,
        roc: runs
            .iter()
            .find(|(_, d)| !d.roc.is_empty())
            .map(|(_, d)| d.roc.clone())
            .unwrap_or_default(),
        detector,
    }
}

fn federated_rows(groups: &[(FederatedKey, Vec<&CellRecord>)]) -> Vec<FederatedRow> {
    // Benign runs: (dataset, model, rule, seed) -> [(byzantine, final accuracy)].
    let mut benign: BTreeMap<BenignKey, Vec<(f64, f64)>> = BTreeMap::new();
    for (_, records) in groups {
        for r in records {
            if let Some(f) = federated(r).filter(|f| f.attack == "none") {
                benign
                    .entry((r.dataset.clone(), f.model.clone(), f.rule.clone(), r.seed))
                    .or_default()
                    .push((f.byzantine, f.final_accuracy));
            }
        }
    }
    groups
        .iter()
        .filter_map(|(_, records)| {
            let first = federated(records.first()?)?;
            let runs: Vec<(u64, &FederatedOutcome)> = records
                .iter()
                .filter_map(|r| Some((r.seed, federated(r)?)))
                .collect();
            let is_benign = first.attack == "none";
            // The benign run of the same seed and rule, preferring the same Byzantine fraction.
            let baseline_of = |seed: u64, f: &FederatedOutcome| -> Option<f64> {
                let candidates = benign.get(&(
                    records[0].dataset.clone(),
                    f.model.clone(),
                    f.rule.clone(),
                    seed,
                ))?;
                candidates
                    .iter()
                    .find(|(b, _)| *b == f.byzantine)
                    .or_else(|| candidates.first())
                    .map(|(_, acc)| *acc)
            };
            let baselines: Vec<(f64, f64)> = if is_benign {
                Vec::new()
            } else {
                runs.iter()
                    .filter_map(|(seed, f)| Some((baseline_of(*seed, f)?, f.final_accuracy)))
                    .collect()
            };
            let accuracy_drop = Stat::of(baselines.iter().map(|(b, a)| b - a));
            let final_asr = Stat::of(runs.iter().filter_map(|(_, f)| f.final_asr));
            let level = if is_benign {
                None
            } else {
                federated_level(accuracy_drop, final_asr)
            };
            let mut round_numbers: Vec<usize> = runs
                .iter()
                .flat_map(|(_, f)| f.rounds.iter().map(|p| p.round))
                .collect();
            round_numbers.sort_unstable();
            round_numbers.dedup();
            let rounds = round_numbers
                .into_iter()
                .map(|round| {
                    let points: Vec<_> = runs
                        .iter()
                        .flat_map(|(_, f)| f.rounds.iter().filter(|p| p.round == round))
                        .collect();
                    RoundStat {
                        round,
                        accuracy: Stat::of(points.iter().map(|p| p.accuracy)),
                        asr: Stat::of(points.iter().filter_map(|p| p.asr)),
                    }
                })
                .collect();
            Some(FederatedRow {
                dataset: records[0].dataset.clone(),
                model: first.model.clone(),
                attack: first.attack.clone(),
                family: first.family,
                taxonomy: first.taxonomy.clone(),
                rule: first.rule.clone(),
                byzantine: first.byzantine,
                clients: first.clients,
                malicious_per_round: first.malicious_per_round,
                seeds: seeds_of(records),
                final_accuracy: Stat::of(runs.iter().map(|(_, f)| f.final_accuracy)),
                final_asr,
                baseline_accuracy: Stat::of(baselines.iter().map(|(b, _)| *b)),
                accuracy_drop,
                anomaly_precision: Stat::of(runs.iter().filter_map(|(_, f)| f.anomaly_precision)),
                anomaly_recall: Stat::of(runs.iter().filter_map(|(_, f)| f.anomaly_recall)),
                level,
                rounds,
            })
        })
        .collect()
}

/// A federated attack succeeds when it drops accuracy by the availability threshold or
/// reaches the backdoor ASR threshold; the stronger of the two levels counts.
pub fn federated_level(accuracy_drop: Option<Stat>, final_asr: Option<Stat>) -> Option<Level> {
    let by_drop = accuracy_drop.map(|s| level_of(Family::ModelPoisoning, s.mean));
    let by_asr = final_asr.map(|s| level_of(Family::Backdoor, s.mean));
    match (by_drop, by_asr) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn verdicts_of(group: &AttackGroup) -> Vec<Verdict> {
    let metric = super::metric_name(group.family);
    group
        .rates
        .iter()
        .map(|row| {
            let mut text = format!(
                "{} at {}: {} {} undefended",
                group.attack,
                format_rate(row.rate),
                metric,
                format_success(group.family, row.success.map(|s| s.mean)),
            );
            text.push_str(match row.level {
                Some(Level::Succeeds) => " (succeeds)",
                Some(Level::Partial) => " (partial)",
                Some(Level::Fails) => " (fails)",
                None => " (no clean baseline to compare with)",
            });
            if row.defences.is_empty() {
                text.push_str("; no defences configured.");
            } else {
                let parts: Vec<String> = row
                    .defences
                    .iter()
                    .map(|d| {
                        let value = format!(
                            "{} {}",
                            metric,
                            format_success(group.family, d.success.map(|s| s.mean))
                        );
                        let phrase = match (row.level, d.level, d.reduces) {
                            (_, None, _) => return format!("{} (no measurement)", d.detector),
                            // Nothing to disarm: just report the number.
                            (Some(Level::Fails), _, _) => return format!("{} {value}", d.detector),
                            (_, Some(_), Some(false)) => "does not reduce it",
                            (_, Some(Level::Fails), _) => "disarms it",
                            (_, Some(Level::Partial), _) => "partially disarms it",
                            (_, Some(Level::Succeeds), _) => "does not stop it",
                        };
                        format!("{} {phrase} ({value})", d.detector)
                    })
                    .collect();
                text.push_str("; ");
                text.push_str(&parts.join(", "));
                text.push('.');
            }
            Verdict {
                dataset: group.dataset.clone(),
                model: group.model.clone(),
                attack: group.attack.clone(),
                family: group.family,
                rate: row.rate,
                level: row.level,
                defences: row
                    .defences
                    .iter()
                    .map(|d| DefenceVerdict {
                        detector: d.detector.clone(),
                        level: d.level,
                    })
                    .collect(),
                text,
            }
        })
        .collect()
}

fn risk_of(group: &AttackGroup) -> RiskRow {
    let mut defences: Vec<String> = Vec::new();
    for row in &group.rates {
        for d in &row.defences {
            if !defences.contains(&d.detector) {
                defences.push(d.detector.clone());
            }
        }
    }
    let succeeds = |row: &RateRow| row.level == Some(Level::Succeeds);
    // Rates are sorted ascending, so the first hit is the smallest budget.
    let undefended = group.rates.iter().find(|r| succeeds(r)).map(|r| r.rate);
    let defended = group
        .rates
        .iter()
        .find(|r| succeeds(r) && r.defences.iter().all(|d| d.level == Some(Level::Succeeds)))
        .map(|r| r.rate);
    RiskRow {
        dataset: group.dataset.clone(),
        model: group.model.clone(),
        family: group.family,
        attack: group.attack.clone(),
        taxonomy: group.taxonomy.clone(),
        tested_rates: group.rates.iter().map(|r| r.rate).collect(),
        defences,
        undefended,
        defended,
    }
}

fn family_risk(risk: &[RiskRow]) -> Vec<FamilyRisk> {
    let mut out: Vec<FamilyRisk> = Vec::new();
    for row in risk {
        let position = out.iter().position(|f| {
            f.dataset == row.dataset && f.model == row.model && f.family == row.family
        });
        let entry = match position {
            Some(p) => &mut out[p],
            None => {
                out.push(FamilyRisk {
                    dataset: row.dataset.clone(),
                    model: row.model.clone(),
                    family: row.family,
                    undefended: None,
                    defended: None,
                });
                out.last_mut().expect("just pushed")
            }
        };
        let cheaper = |current: &Option<Budget>, rate: Option<f64>| match (current, rate) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(best), Some(r)) => r < best.rate,
        };
        if cheaper(&entry.undefended, row.undefended) {
            entry.undefended = row.undefended.map(|rate| Budget {
                rate,
                attack: row.attack.clone(),
            });
        }
        if cheaper(&entry.defended, row.defended) {
            entry.defended = row.defended.map(|rate| Budget {
                rate,
                attack: row.attack.clone(),
            });
        }
    }
    out.sort_by(|a, b| (&a.dataset, &a.model, a.family).cmp(&(&b.dataset, &b.model, b.family)));
    out
}

fn federated_risk(rows: &[FederatedRow]) -> Vec<FederatedRisk> {
    let several = super::several_fractions(rows);
    let mut out: Vec<FederatedRisk> = Vec::new();
    for row in rows.iter().filter(|r| r.attack != "none") {
        let position = out.iter().position(|f| {
            f.dataset == row.dataset && f.model == row.model && f.attack == row.attack
        });
        let entry = match position {
            Some(p) => &mut out[p],
            None => {
                out.push(FederatedRisk {
                    dataset: row.dataset.clone(),
                    model: row.model.clone(),
                    attack: row.attack.clone(),
                    family: row.family,
                    succeeds_under: Vec::new(),
                    partial_under: Vec::new(),
                    resisted_by: Vec::new(),
                });
                out.last_mut().expect("just pushed")
            }
        };
        let label = row.rule_label(several);
        match row.level {
            Some(Level::Succeeds) => entry.succeeds_under.push(label),
            Some(Level::Partial) => entry.partial_under.push(label),
            Some(Level::Fails) => entry.resisted_by.push(label),
            None => {}
        }
    }
    out
}
