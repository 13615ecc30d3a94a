//! Grouping cell records (clean baselines, attacks by budget, federated runs, continual runs,
//! retrieval-poisoning runs, privacy runs) and reducing each group over seeds.

use super::continual::{continual_rows, ContinualKey};
use super::language::language_summary;
use super::privacy::privacy_summary;
use super::rag::{rag_groups, RagKey};
use super::risk::{family_risk, federated_risk, risk_of, verdicts_of};
use super::{
    federated_level, level_of, Aggregate, AttackGroup, CleanDefence, CleanRow, DefenceRow,
    FederatedRow, RateRow, RiskRow, RoundStat, Stat,
};
use crate::record::{CellRecord, CentralizedOutcome, Family, FederatedOutcome, Outcome};
use crate::report::Level;
use std::collections::BTreeMap;

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
    let mut continual_groups: Vec<(ContinualKey, Vec<&CellRecord>)> = Vec::new();
    let mut rag_records: Vec<(RagKey, Vec<&CellRecord>)> = Vec::new();

    for record in &sorted {
        match &record.outcome {
            Outcome::Centralized(c) => match &c.attack {
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
            Outcome::Federated(f) => {
                let key = (
                    record.dataset.clone(),
                    f.model.clone(),
                    f.attack.clone(),
                    f.rule.clone(),
                    f.byzantine.to_bits(),
                );
                push_group(&mut federated_groups, key, record);
            }
            // Not an attack at a budget: continual runs never join the attack groups, the
            // verdicts or the risk summary (see `continual`).
            Outcome::Continual(c) => {
                let key = (
                    record.dataset.clone(),
                    c.campaign.clone(),
                    c.parameters.clone(),
                    c.retrain.clone(),
                    c.model.clone(),
                );
                push_group(&mut continual_groups, key, record);
            }
            // Likewise: a budget of poisons per target, defences on the index (see `rag`).
            Outcome::Rag(r) => {
                let key = (
                    record.dataset.clone(),
                    r.retriever.clone(),
                    r.attack.clone(),
                    r.parameters.clone(),
                    r.targets,
                );
                push_group(&mut rag_records, key, record);
            }
            // Likewise: deployments side by side and certificates (see `privacy`).
            Outcome::Privacy(_) | Outcome::Dpa(_) => {}
            // Likewise: text and generative-model runs (see `language`).
            Outcome::Text(_) | Outcome::Lm(_) => {}
            // Likewise: model inspections and repairs (see `model_defence`).
            Outcome::ModelDefence(_) => {}
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
    let continual = continual_rows(&continual_groups);
    let rag = rag_groups(&rag_records);
    let privacy = privacy_summary(&sorted);
    let language = language_summary(&sorted);
    let model_defences = super::model_defence_rows(&sorted);
    Aggregate {
        clean,
        attacks,
        federated,
        verdicts,
        risk,
        family_risk,
        federated_risk,
        continual,
        rag,
        privacy,
        language,
        model_defences,
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
        Outcome::Centralized(c) => Some(c),
        _ => None,
    }
}

fn federated(record: &CellRecord) -> Option<&FederatedOutcome> {
    match &record.outcome {
        Outcome::Federated(f) => Some(f),
        _ => None,
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
