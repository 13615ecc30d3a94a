//! Hand-built cell records for the report's tests (unit tests and the browser test, which
//! includes this file by path with `crate::record` re-exported at its root).

use crate::record::{
    AtK, AttackInfo, CellRecord, CentralizedOutcome, ContinualOutcome, ContinualPoint,
    DefenceOutcome, Family, FederatedOutcome, ModelScore, Outcome, RagOutcome, RoundPoint,
    TaxonomyRefs,
};

pub fn taxonomy(atlas: &str, ml: &str, nist: &str) -> TaxonomyRefs {
    TaxonomyRefs {
        mitre_atlas: vec![atlas.to_string()],
        owasp_ml: vec![ml.to_string()],
        owasp_llm: vec!["LLM04".to_string()],
        nist_ai_100_2: nist.to_string(),
    }
}

/// The attack of a centralized cell.
pub struct Attack {
    pub name: &'static str,
    pub family: Family,
    pub rate: f64,
}

/// A defence's measured outcome.
pub struct Defence {
    pub detector: &'static str,
    pub accuracy: f64,
    pub success: Option<f64>,
    pub auroc: f64,
}

/// A centralized cell; the id is derived from its fields, `seconds` is 1.
pub fn centralized(
    index: usize,
    dataset: &str,
    seed: u64,
    attack: Option<Attack>,
    score: (f64, Option<f64>),
    defence: Option<Defence>,
) -> CellRecord {
    let id = format!(
        "{dataset}/{}/{}/{}/s{seed}",
        attack.as_ref().map_or("clean", |a| a.name),
        attack.as_ref().map_or(0.0, |a| a.rate),
        defence.as_ref().map_or("none", |d| d.detector),
    );
    let attack = attack.map(|a| AttackInfo {
        name: a.name.to_string(),
        family: a.family,
        rate: a.rate,
        parameters: serde_json::json!({}),
        poisoned: (a.rate * 1000.0).round() as usize,
        taxonomy: match a.family {
            Family::Backdoor => taxonomy("AML.T0020", "ML10", "2.3.2"),
            _ => taxonomy("AML.T0020", "ML02", "2.3.1"),
        },
    });
    let defence = defence.map(|d| DefenceOutcome {
        detector: d.detector.to_string(),
        mitigation: "AML.M0007".to_string(),
        flagged: 12,
        removed: 12,
        relabelled: 0,
        precision: 0.8,
        recall: 0.9,
        f1: 0.847,
        auroc: Some(d.auroc),
        recall_relabelled: None,
        // A concave curve whose area grows with the AUROC.
        roc: (0..=20)
            .map(|i| {
                let fpr = i as f64 / 20.0;
                let power = (1.0 - d.auroc).max(0.01) / d.auroc.max(0.01);
                [fpr, fpr.powf(power)]
            })
            .collect(),
        retrained: ModelScore {
            clean_accuracy: d.accuracy,
            success_rate: d.success,
        },
    });
    CellRecord {
        id,
        index,
        dataset: dataset.to_string(),
        seed,
        outcome: Outcome::Centralized(CentralizedOutcome {
            model: "mlp".to_string(),
            train_samples: 1000,
            test_samples: 200,
            attack,
            undefended: ModelScore {
                clean_accuracy: score.0,
                success_rate: score.1,
            },
            success_rate_floor: None,
            defence,
        }),
        seconds: 1.0,
    }
}

/// A federated cell with five rounds converging linearly to `final_accuracy` (and `final_asr`).
pub fn federated(
    index: usize,
    seed: u64,
    attack: &str,
    rule: &str,
    final_accuracy: f64,
    final_asr: Option<f64>,
) -> CellRecord {
    let family = if final_asr.is_some() {
        Family::Backdoor
    } else {
        Family::ModelPoisoning
    };
    let rounds = (1..=5)
        .map(|round| {
            let t = round as f64 / 5.0;
            RoundPoint {
                round,
                accuracy: 0.1 + (final_accuracy - 0.1) * t,
                asr: final_asr.map(|a| a * t),
            }
        })
        .collect();
    CellRecord {
        id: format!("fl/{attack}/{rule}/s{seed}"),
        index,
        dataset: "mnist".to_string(),
        seed,
        outcome: Outcome::Federated(FederatedOutcome {
            model: "mlp".to_string(),
            clients: 20,
            participants_per_round: 10,
            malicious_per_round: if attack == "none" { 0 } else { 2 },
            byzantine: 0.2,
            rule: rule.to_string(),
            attack: attack.to_string(),
            family,
            taxonomy: taxonomy("AML.T0019", "ML10", "2.3.4"),
            rounds,
            final_accuracy,
            final_asr,
            anomaly_precision: (attack != "none").then_some(0.5),
            anomaly_recall: (attack != "none").then_some(1.0),
        }),
        seconds: 2.0,
    }
}

/// A full assessment on "mnist"/"mlp" over seeds 0 and 1: clean baselines (with and without
/// spectral), BadNets at 1% and 5% (spectral and activation clustering), random label flipping
/// at 10% and 40% (confident learning), and federated none / sign flip / model replacement
/// under FedAvg and median.
pub fn full_assessment() -> Vec<CellRecord> {
    let mut records = Vec::new();
    let mut index = 0;
    let mut push = |record: CellRecord| {
        records.push(record);
    };
    let mut next = || {
        index += 1;
        index - 1
    };
    for seed in 0..2u64 {
        let s = seed as f64;
        push(centralized(
            next(),
            "mnist",
            seed,
            None,
            (0.97 - 0.01 * s, None),
            None,
        ));
        push(centralized(
            next(),
            "mnist",
            seed,
            None,
            (0.97 - 0.01 * s, None),
            Some(Defence {
                detector: "spectral",
                accuracy: 0.965 - 0.01 * s,
                success: None,
                auroc: 0.5,
            }),
        ));
        // BadNets: (rate, undefended ASR, spectral ASR after, activation clustering ASR after).
        for (rate, asr, spectral, ac) in [
            (0.01, 0.95 + 0.02 * s, 0.02 + 0.01 * s, 0.93 + 0.02 * s),
            (0.05, 0.99 + 0.01 * s, 0.5, 0.01),
        ] {
            let badnets = || {
                Some(Attack {
                    name: "badnets",
                    family: Family::Backdoor,
                    rate,
                })
            };
            push(centralized(
                next(),
                "mnist",
                seed,
                badnets(),
                (0.965, Some(asr)),
                None,
            ));
            push(centralized(
                next(),
                "mnist",
                seed,
                badnets(),
                (0.965, Some(asr)),
                Some(Defence {
                    detector: "spectral",
                    accuracy: 0.96,
                    success: Some(spectral),
                    auroc: 0.9,
                }),
            ));
            push(centralized(
                next(),
                "mnist",
                seed,
                badnets(),
                (0.965, Some(asr)),
                Some(Defence {
                    detector: "activation_clustering",
                    accuracy: 0.955,
                    success: Some(ac),
                    auroc: 0.7,
                }),
            ));
        }
        // Label flipping: (rate, accuracy, accuracy after confident learning).
        for (rate, accuracy, after) in [
            (0.1, 0.95 - 0.01 * s, 0.96 - 0.01 * s),
            (0.4, 0.80 - 0.01 * s, 0.90 - 0.01 * s),
        ] {
            let flip = || {
                Some(Attack {
                    name: "label_flip_random",
                    family: Family::Availability,
                    rate,
                })
            };
            push(centralized(
                next(),
                "mnist",
                seed,
                flip(),
                (accuracy, None),
                None,
            ));
            push(centralized(
                next(),
                "mnist",
                seed,
                flip(),
                (accuracy, None),
                Some(Defence {
                    detector: "confident_learning",
                    accuracy: after,
                    success: None,
                    auroc: 0.95,
                }),
            ));
        }
        for rule in ["fedavg", "median"] {
            push(federated(next(), seed, "none", rule, 0.9, None));
            let (flip, replacement) = if rule == "fedavg" {
                (0.1, 0.97)
            } else {
                (0.89, 0.02)
            };
            push(federated(next(), seed, "sign_flip", rule, flip, None));
            push(federated(
                next(),
                seed,
                "model_replacement",
                rule,
                0.89,
                Some(replacement),
            ));
        }
    }
    records
}

/// How many plots [`full_assessment`] yields: an attack curve, a defence effect and a ROC plot
/// for each of the 2 attacks, and one federated plot for each of the 3 update attacks.
pub const FULL_ASSESSMENT_PLOTS: usize = 2 + 2 + 2 + 3;

/// A continual run on "mnist" (MLP, from-scratch retrains) over 6 batches of 2,000.
///
/// `campaign` "clean" poisons nothing; any other name is a slow-burn at 0.5% per batch from
/// batch 2 (10 poisons a batch, 40 in all). From `blocked_at` on, every poisoned batch is
/// blocked with its poisons (and 2 clean samples) named; batch `blocked_at` itself is blocked
/// even when clean (a false block). Poisoned batches that are not blocked get deployed and the
/// ASR climbs by 30 points per deployed poisoned batch (to at most 97%); while none is
/// deployed it stays at 0.4%. The confidence monitor alerts at batch 3.
pub fn continual(index: usize, seed: u64, campaign: &str, blocked_at: Option<usize>) -> CellRecord {
    const BATCHES: usize = 6;
    const FIRST: usize = 2;
    let clean = campaign == "clean";
    let mut timeline: Vec<ContinualPoint> = Vec::new();
    let mut deployed_poison = 0;
    let mut accuracy = 0.95;
    for step in 0..BATCHES {
        let poisoned = if !clean && step >= FIRST { 10 } else { 0 };
        let blocked = blocked_at.is_some_and(|b| step == b || (step >= b && poisoned > 0));
        if !blocked {
            // A deployed retrain on one more batch: slightly better on clean data.
            accuracy += 0.004;
            if poisoned > 0 {
                deployed_poison += 1;
            }
        }
        timeline.push(ContinualPoint {
            step,
            poisoned,
            named: if blocked && poisoned > 0 {
                poisoned + 2
            } else {
                0
            },
            blocked,
            reasons: if blocked {
                vec!["screen: cohesion test, class 0".to_string()]
            } else {
                Vec::new()
            },
            detector_flags: poisoned / 2,
            accuracy,
            asr: (!clean && step >= FIRST)
                .then(|| (0.3 * deployed_poison as f64).clamp(0.004, 0.97)),
            alerts: if step == 3 {
                vec!["confidence".to_string()]
            } else {
                Vec::new()
            },
        });
    }
    let first_poisoned_batch = (!clean).then_some(FIRST);
    let poisoned_samples: usize = timeline.iter().map(|p| p.poisoned).sum();
    let named_poisons: usize = timeline
        .iter()
        .filter(|p| p.blocked)
        .map(|p| p.poisoned)
        .sum();
    let alerting = |p: &&ContinualPoint| !p.alerts.is_empty();
    CellRecord {
        id: format!("mnist/continual/{campaign}/seed{seed}"),
        index,
        dataset: "mnist".to_string(),
        seed,
        outcome: Outcome::Continual(ContinualOutcome {
            campaign: campaign.to_string(),
            parameters: if clean {
                serde_json::json!({})
            } else {
                serde_json::json!({"start": FIRST, "rate": 0.005, "target": 0})
            },
            retrain: "scratch".to_string(),
            model: "mlp".to_string(),
            batches: BATCHES,
            batch_size: 2000,
            first_poisoned_batch,
            blocked_at: timeline.iter().find(|p| p.blocked).map(|p| p.step),
            // A blocked step's ASR is the kept model's: every step's model was deployed.
            max_deployed_asr: timeline.iter().filter_map(|p| p.asr).reduce(f64::max),
            false_blocks: timeline
                .iter()
                .filter(|p| p.blocked && p.poisoned == 0)
                .count(),
            named_poison_ids_recall: (poisoned_samples > 0)
                .then(|| named_poisons as f64 / poisoned_samples as f64),
            poisoned_samples,
            named_samples: timeline.iter().map(|p| p.named).sum(),
            deployments: timeline.iter().filter(|p| !p.blocked).count(),
            alerts: timeline.iter().filter(alerting).count(),
            false_alerts: timeline
                .iter()
                .filter(alerting)
                .filter(|p| first_poisoned_batch.is_none_or(|first| p.step < first))
                .count(),
            final_accuracy: timeline.last().map(|p| p.accuracy),
            timeline,
        }),
        seconds: 30.0,
    }
}

/// A RAG cell on "sotu" with 20 targets: `attack` with `poisons` passages per target behind
/// the `defences` (labels), measured at k = 1, 5, 20 from the two numbers that matter:
///
/// - ASR@5 = `asr5`, ASR@1 = half of it, ASR@20 = `asr5 + 0.05` (at most 1);
/// - clean recall@5 = `clean5`, @1 = half, @20 = `clean5 + 0.1`; recall under attack@5 =
///   `clean5 * (1 - asr5)`;
/// - poison precision@5 = `asr5 * min(P, 5) / 5`, recall@5 = `asr5 * min(1, 5 / P)`, F1 their
///   harmonic mean (@1 and @20 likewise with 1 and 20 in place of 5);
/// - `perplexity` refuses 98 clean passages at index time, nothing else refuses any.
pub fn rag(
    index: usize,
    seed: u64,
    (attack, retriever): (&str, &str),
    defences: &[&str],
    poisons: usize,
    (asr5, clean5): (f64, f64),
) -> CellRecord {
    let at = |one: f64, five: f64, twenty: f64| -> AtK {
        [("1", one), ("5", five), ("20", twenty)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    };
    let asr = [asr5 / 2.0, asr5, (asr5 + 0.05).min(1.0)];
    let p = poisons as f64;
    let share = |i: usize, k: f64| {
        let precision = asr[i] * p.min(k) / k;
        let recall = asr[i] * (k / p).min(1.0);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        (precision, recall, f1)
    };
    let shares = [share(0, 1.0), share(1, 5.0), share(2, 20.0)];
    let label = if defences.is_empty() {
        "none".to_string()
    } else {
        defences.join("+")
    };
    CellRecord {
        id: format!("sotu/rag/{retriever}/{attack}@{poisons}/{label}/seed{seed}"),
        index,
        dataset: "sotu".to_string(),
        seed,
        outcome: Outcome::Rag(RagOutcome {
            corpus: "sotu".to_string(),
            passages: 1727 + 20 * poisons,
            retriever: retriever.to_string(),
            attack: attack.to_string(),
            parameters: serde_json::json!({}),
            taxonomy: TaxonomyRefs {
                mitre_atlas: vec!["AML.T0070".to_string()],
                owasp_ml: Vec::new(),
                owasp_llm: vec!["LLM04".to_string(), "LLM08".to_string()],
                nist_ai_100_2: "3.4".to_string(),
            },
            defences: defences.iter().map(|d| d.to_string()).collect(),
            defence_parameters: defences
                .iter()
                .map(|d| serde_json::json!({"name": d, "parameters": {}}))
                .collect(),
            targets: 20,
            poisons_per_target: poisons,
            injected: 20 * poisons,
            refused_at_index: if defences.contains(&"perplexity") {
                98
            } else {
                0
            },
            refused_poisons: 0,
            truncated_passages: 1,
            asr_at_k: at(asr[0], asr[1], asr[2]),
            clean_recall_at_k: Some(at(clean5 / 2.0, clean5, clean5 + 0.1)),
            recall_under_attack_at_k: Some(at(0.0, clean5 * (1.0 - asr5), clean5)),
            poison_precision_at_k: at(shares[0].0, shares[1].0, shares[2].0),
            poison_recall_at_k: at(shares[0].1, shares[1].1, shares[2].1),
            poison_f1_at_k: at(shares[0].2, shares[1].2, shares[2].2),
        }),
        seconds: 12.0,
    }
}

/// PoisonedRAG on sotu with MiniLM over seeds 0 and 1 at 1 and 5 poisons per target,
/// undefended (ASR@5 0.8 / 0.9 at P = 1, 1.0 / 1.0 at P = 5; clean recall@5 0.22), behind
/// query-echo (ASR@5 0 at P = 1, 0.0 / 0.2 at P = 5; clean recall unchanged) and behind
/// perplexity (0.8 / 0.9, then 1.0 / 0.95; clean recall@5 0.20); and naive on sotu with BM25,
/// seed 0, undefended at P = 1 only (ASR@5 0.5, clean recall@5 0.10). In plan order.
pub fn rag_assessment() -> Vec<CellRecord> {
    let mut records = Vec::new();
    for seed in 0..2u64 {
        let s = seed as usize;
        for (p, undefended, echo, perplexity) in [
            (1, [0.8, 0.9], [0.0, 0.0], [0.8, 0.9]),
            (5, [1.0, 1.0], [0.0, 0.2], [1.0, 0.95]),
        ] {
            for (defences, asr, clean) in [
                (&[][..], undefended[s], 0.22),
                (&["query-echo"][..], echo[s], 0.22),
                (&["perplexity"][..], perplexity[s], 0.20),
            ] {
                let index = records.len();
                let cell = ("poisoned-rag", "minilm");
                records.push(rag(index, seed, cell, defences, p, (asr, clean)));
            }
        }
    }
    let index = records.len();
    records.push(rag(index, 0, ("naive", "bm25"), &[], 1, (0.5, 0.1)));
    records
}

/// How many plots [`rag_assessment`] yields: one per attack, corpus and retriever.
pub const RAG_ASSESSMENT_PLOTS: usize = 2;

/// `records` followed by `more`, re-indexed after them (as a later block of the plan).
pub fn followed_by(mut records: Vec<CellRecord>, more: Vec<CellRecord>) -> Vec<CellRecord> {
    let next = records.len();
    records.extend(more.into_iter().enumerate().map(|(i, mut r)| {
        r.index = next + i;
        r
    }));
    records
}
