//! The tables both the HTML and the Markdown report show, each built once from the aggregated
//! report. The HTML report shows more columns (spreads, seed counts, anomaly scores); the
//! Markdown one is the compact pull-request view, with means only.

use super::summary::{Budget, ContinualRow, RagGroup};
use super::table::{Cell, Column, Table};
use super::{
    defended_word, format_percent, format_rate, format_stat_number, format_stat_percent,
    format_success, metric_name, undefended_word, Report, Stat,
};
use crate::record::{Family, TaxonomyRefs};
use std::collections::BTreeMap;

const TAXONOMY_HEADER: [&str; 4] = ["MITRE ATLAS", "OWASP ML", "OWASP LLM", "NIST AI 100-2"];

pub(crate) fn taxonomy_columns() -> impl Iterator<Item = Column<'static>> {
    TAXONOMY_HEADER.into_iter().map(Column::both)
}

pub(crate) fn taxonomy_cells(t: &TaxonomyRefs) -> [Cell; 4] {
    let ids = |v: &[String]| {
        Cell::Code(if v.is_empty() {
            "—".to_string()
        } else {
            v.join(", ")
        })
    };
    [
        ids(&t.mitre_atlas),
        ids(&t.owasp_ml),
        ids(&t.owasp_llm),
        if t.nist_ai_100_2.is_empty() {
            Cell::text("—")
        } else {
            Cell::Code(t.nist_ai_100_2.clone())
        },
    ]
}

fn budget_text(rate: Option<f64>) -> String {
    rate.map_or("none within the tested budgets".to_string(), format_rate)
}

/// `a, b` or `—` for an empty list.
pub(crate) fn list_text(items: &[String]) -> String {
    if items.is_empty() {
        "—".to_string()
    } else {
        items.join(", ")
    }
}

/// Mean ± sd of a success value in its family's unit (points of drop or percent).
pub(crate) fn success_text(family: Family, stat: Option<Stat>) -> String {
    match (family, stat) {
        (Family::Availability | Family::ModelPoisoning, Some(s))
            if s.n > 1 && s.sd.is_finite() && s.mean.is_finite() =>
        {
            format!("{:.1} ± {:.1} pts", s.mean * 100.0, s.sd * 100.0)
        }
        (Family::Availability | Family::ModelPoisoning, stat) => {
            format_success(family, stat.map(|s| s.mean))
        }
        (_, stat) => format_stat_percent(stat),
    }
}

/// Per family, the cheapest attack's budgets (a summary row), then each of its attacks.
pub(crate) fn risk(report: &Report) -> Table<'static> {
    let mut table = Table::shared(&[
        "dataset · model",
        "family / attack",
        "tested budgets",
        "succeeds undefended at",
        "succeeds through every defence at",
        "defences",
    ]);
    table.columns.extend(taxonomy_columns());
    let pick = |v: &Option<Budget>| match v {
        Some(b) => format!("{} ({})", format_rate(b.rate), b.attack),
        None => budget_text(None),
    };
    for family in report.family_risk() {
        let mut cells = vec![
            Cell::text(format!("{} · {}", family.dataset, family.model)),
            Cell::Family(family.family.name().to_string()),
            Cell::empty(),
            Cell::text(pick(&family.undefended)),
            Cell::text(pick(&family.defended)),
        ];
        cells.resize(table.columns.len(), Cell::empty());
        table.push_row(true, cells);
        for r in report.risk_summary().iter().filter(|r| {
            r.dataset == family.dataset && r.model == family.model && r.family == family.family
        }) {
            let tested: Vec<String> = r.tested_rates.iter().map(|&x| format_rate(x)).collect();
            let mut cells = vec![
                Cell::empty(),
                Cell::text(&r.attack),
                Cell::text(tested.join(", ")),
                Cell::text(budget_text(r.undefended)),
                Cell::text(budget_text(r.defended)),
                Cell::text(if r.defences.is_empty() {
                    "no defences configured".to_string()
                } else {
                    r.defences.join(", ")
                }),
            ];
            cells.extend(taxonomy_cells(&r.taxonomy));
            table.push(cells);
        }
    }
    table
}

/// Per federated update attack: the rules it beats, partially beats, and those that resist.
pub(crate) fn federated_risk(report: &Report) -> Table<'static> {
    let mut table = Table::new(vec![
        Column::both("dataset · model"),
        Column {
            html: Some("attack"),
            markdown: Some("update attack"),
        },
        Column::html("family"),
        Column::both("succeeds under"),
        Column::both("partially under"),
        Column::both("resisted by"),
    ]);
    for r in report.federated_risk() {
        table.push(vec![
            Cell::text(format!("{} · {}", r.dataset, r.model)),
            Cell::text(&r.attack),
            Cell::text(r.family.name()),
            Cell::text(list_text(&r.succeeds_under)),
            Cell::text(list_text(&r.partial_under)),
            Cell::text(list_text(&r.resisted_by)),
        ]);
    }
    table
}

/// Every centralized attack at every budget, undefended (Markdown adds the defences' outcome
/// in one cell; HTML has a table of its own for them).
pub(crate) fn attacks(report: &Report) -> Table<'static> {
    let mut table = Table::new(vec![
        Column::html("dataset"),
        Column::html("model"),
        Column::markdown("dataset · model"),
        Column::both("attack"),
        Column::both("family"),
        Column::both("budget"),
        Column::html("seeds"),
        Column::html("poisoned"),
        Column::html("baseline accuracy"),
        Column::both("accuracy"),
        Column::html("success"),
        Column::markdown("success"),
        Column::both("verdict"),
        Column::markdown("after defences"),
    ]);
    table.columns.extend(taxonomy_columns());
    for g in report.attacks() {
        let metric = metric_name(g.family);
        for r in &g.rates {
            let after_defences = if r.defences.is_empty() {
                Cell::text("no defences configured")
            } else {
                Cell::Lines(
                    r.defences
                        .iter()
                        .map(|d| {
                            format!(
                                "{}: {} {} (F1 {})",
                                d.detector,
                                super::defended_word(d.level, d.reduces),
                                format_success(g.family, d.success.map(|s| s.mean)),
                                format_stat_number(d.f1, 2)
                            )
                        })
                        .collect(),
                )
            };
            let mut cells = vec![
                Cell::text(&g.dataset),
                Cell::text(&g.model),
                Cell::text(format!("{} · {}", g.dataset, g.model)),
                Cell::Strong(g.attack.clone()),
                Cell::text(g.family.name()),
                Cell::number(format_rate(r.rate)),
                Cell::number(r.seeds.len().to_string()),
                Cell::number(format_stat_number(r.poisoned, 0)),
                Cell::number(format_stat_percent(r.baseline_accuracy)),
                Cell::number(format_stat_percent(r.accuracy)),
                Cell::number(format!("{metric} {}", success_text(g.family, r.success))),
                Cell::text(format!(
                    "{metric} {}",
                    format_success(g.family, r.success.map(|s| s.mean))
                )),
                Cell::badge(r.level, undefended_word(r.level), ""),
                after_defences,
            ];
            cells.extend(taxonomy_cells(&g.taxonomy));
            table.push(cells);
        }
    }
    table
}

/// Every federated run: attack, rule and Byzantine fraction, over seeds.
pub(crate) fn federated(report: &Report) -> Table<'static> {
    let mut table = Table::new(vec![
        Column::html("dataset"),
        Column::html("model"),
        Column::markdown("dataset · model"),
        Column::both("attack"),
        Column::html("family"),
        Column::both("rule"),
        Column::both("byzantine"),
        Column::html("malicious / clients"),
        Column::html("seeds"),
        Column::both("final accuracy"),
        Column::html("no-attack accuracy"),
        Column::html("accuracy drop"),
        Column::markdown("accuracy drop"),
        Column::html("final ASR"),
        Column::markdown("final ASR"),
        Column::html("anomaly precision"),
        Column::html("anomaly recall"),
        Column::both("verdict"),
    ]);
    table.columns.extend(taxonomy_columns());
    for r in report.federated() {
        let mut cells = vec![
            Cell::text(&r.dataset),
            Cell::text(&r.model),
            Cell::text(format!("{} · {}", r.dataset, r.model)),
            Cell::Strong(r.attack.clone()),
            Cell::text(r.family.name()),
            Cell::text(&r.rule),
            Cell::number(format_rate(r.byzantine)),
            Cell::number(format!("{} / {}", r.malicious_per_round, r.clients)),
            Cell::number(r.seeds.len().to_string()),
            Cell::number(format_stat_percent(r.final_accuracy)),
            Cell::number(format_stat_percent(r.baseline_accuracy)),
            Cell::number(success_text(Family::ModelPoisoning, r.accuracy_drop)),
            Cell::text(format_success(
                Family::ModelPoisoning,
                r.accuracy_drop.map(|s| s.mean),
            )),
            Cell::number(format_stat_percent(r.final_asr)),
            Cell::text(format_percent(r.final_asr.map(|s| s.mean))),
            Cell::number(format_stat_number(r.anomaly_precision, 3)),
            Cell::number(format_stat_number(r.anomaly_recall, 3)),
            if r.attack == "none" {
                Cell::text("benign")
            } else {
                Cell::badge(r.level, undefended_word(r.level), "")
            },
        ];
        cells.extend(taxonomy_cells(&r.taxonomy));
        table.push(cells);
    }
    table
}

/// `2` or `2, 3` (distinct per-seed values); `—` for a clean stream.
fn first_poisoned_text(row: &ContinualRow) -> String {
    let mut batches: Vec<usize> = row
        .runs
        .iter()
        .filter_map(|r| r.first_poisoned_batch)
        .collect();
    batches.sort_unstable();
    batches.dedup();
    let batches: Vec<String> = batches.iter().map(usize::to_string).collect();
    if batches.is_empty() {
        "—".to_string()
    } else {
        batches.join(", ")
    }
}

/// Per seed: `2`, `never`, or `1 (false)` when the first block hit a clean batch.
fn blocked_at_text(row: &ContinualRow) -> String {
    let per_seed: Vec<String> = row
        .runs
        .iter()
        .map(|r| match r.blocked_at {
            None => "never".to_string(),
            Some(b) if r.first_block_false() => format!("{b} (false)"),
            Some(b) => b.to_string(),
        })
        .collect();
    per_seed.join(", ")
}

/// `0 (3/3 seeds)`, `0.5 ± 0.7, max 1 (2/2 seeds)`, `never (0/2 seeds)`; `—` for a clean stream.
fn retrains_text(row: &ContinualRow) -> String {
    if row.poisoned_seeds == 0 {
        return "—".to_string();
    }
    let seeds = format!("({}/{} seeds)", row.caught_seeds, row.poisoned_seeds);
    match (row.retrains_to_block, row.max_retrains_to_block) {
        (Some(stat), Some(max)) if stat.sd > 0.0 => {
            format!("{}, max {max} {seeds}", format_stat_number(Some(stat), 1))
        }
        (Some(_), Some(max)) => format!("{max} {seeds}"),
        _ => format!("never {seeds}"),
    }
}

/// Every continual-retraining configuration over seeds: when its campaign was blocked, what
/// was deployed meanwhile, and what the loop's defences cost (false blocks and alerts).
pub(crate) fn continual(report: &Report) -> Table<'static> {
    let mut table = Table::new(vec![
        Column::html("dataset"),
        Column::html("model"),
        Column::markdown("dataset · model"),
        Column::both("campaign"),
        Column::both("parameters"),
        Column::both("retrain"),
        Column::html("seeds"),
        Column::both("first poisoned batch"),
        Column::both("blocked at"),
        Column::both("retrains to block"),
        Column::html("max deployed ASR"),
        Column {
            html: Some("worst seed"),
            markdown: Some("max deployed ASR (worst seed)"),
        },
        Column::both("false blocks"),
        Column::html("named poison recall"),
        Column::markdown("named poison recall"),
        Column::both("alerts (false)"),
        Column::html("final accuracy"),
        Column::markdown("final accuracy"),
        Column::both("verdict"),
    ]);
    for r in report.continual() {
        table.push(vec![
            Cell::text(&r.dataset),
            Cell::text(&r.model),
            Cell::text(format!("{} · {}", r.dataset, r.model)),
            Cell::Strong(r.label()),
            Cell::text(r.parameters_text()),
            Cell::text(&r.retrain),
            Cell::number(r.seeds.len().to_string()),
            Cell::number(first_poisoned_text(r)),
            Cell::number(blocked_at_text(r)),
            Cell::number(retrains_text(r)),
            Cell::number(format_stat_percent(r.max_deployed_asr)),
            Cell::number(format_percent(r.worst_deployed_asr)),
            Cell::number(r.false_blocks.to_string()),
            Cell::number(format_stat_percent(r.named_recall)),
            Cell::text(format_percent(r.named_recall.map(|s| s.mean))),
            Cell::number(format!("{} ({})", r.alerts, r.false_alerts)),
            Cell::number(format_stat_percent(r.final_accuracy)),
            Cell::text(format_percent(r.final_accuracy.map(|s| s.mean))),
            if r.poisoned_seeds == 0 {
                Cell::text("clean stream")
            } else {
                Cell::badge(r.level, undefended_word(r.level), "")
            },
        ]);
    }
    table
}

/// `1 per target`, or the phrase for a budget no tested number reached.
fn poisons_budget(p: Option<usize>) -> String {
    p.map_or(budget_text(None), |p| format!("{p} per target"))
}

/// Per RAG attack on a corpus and retriever: the fewest poisons per target that succeed
/// undefended and through every defence setting, with the attack's taxonomy.
pub(crate) fn rag_risk(report: &Report) -> Table<'static> {
    let mut table = Table::shared(&[
        "corpus · retriever",
        "attack",
        "tested poisons per target",
        "succeeds undefended at",
        "succeeds through every defence at",
        "defence settings",
    ]);
    table.columns.extend(taxonomy_columns());
    for g in report.rag() {
        let tested: Vec<String> = g.poisons.iter().map(usize::to_string).collect();
        let settings: Vec<String> = g
            .settings
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| super::summary::setting_label(s))
            .collect();
        let mut cells = vec![
            Cell::text(format!("{} · {}", g.corpus, g.retriever)),
            Cell::Strong(g.label()),
            Cell::text(tested.join(", ")),
            Cell::text(poisons_budget(g.succeeds_undefended_at)),
            Cell::text(poisons_budget(g.succeeds_through_every_defence_at)),
            Cell::text(if settings.is_empty() {
                "no defences configured".to_string()
            } else {
                settings.join("; ")
            }),
        ];
        cells.extend(taxonomy_cells(&g.taxonomy));
        table.push(cells);
    }
    table
}

/// The headings of a RAG group's table, which name its cut-offs.
pub(crate) struct RagHeadings {
    asr: Vec<String>,
    clean: String,
    cost: String,
    under: String,
    precision: String,
    recall: String,
    f1: String,
}

impl RagHeadings {
    pub fn of(g: &RagGroup) -> RagHeadings {
        let k = &g.k;
        RagHeadings {
            asr: g.cutoffs.iter().map(|c| format!("ASR@{c}")).collect(),
            clean: format!("clean recall@{k}"),
            cost: format!("clean recall@{k} cost"),
            under: format!("recall under attack@{k}"),
            precision: format!("poison precision@{k}"),
            recall: format!("poison recall@{k}"),
            f1: format!("poison F1@{k}"),
        }
    }
}

/// `97.0 ± 1.2%` of `map` at `k` (HTML), or its mean alone (Markdown).
fn at_k(map: &BTreeMap<String, Stat>, k: &str) -> [Cell; 2] {
    let stat = map.get(k).copied();
    [
        Cell::number(format_stat_percent(stat)),
        Cell::text(format_percent(stat.map(|s| s.mean))),
    ]
}

/// One RAG group: a row per defence setting and poisons per target, with attack success at
/// every cut-off, clean recall and what the setting costs of it, poison precision / recall /
/// F1 of the top k, and the passages refused at index time.
pub(crate) fn rag_group<'a>(g: &RagGroup, h: &'a RagHeadings) -> Table<'a> {
    let mut columns = vec![
        Column::both("defences"),
        Column::both("poisons / target"),
        Column::html("seeds"),
    ];
    for heading in &h.asr {
        columns.extend([Column::html(heading), Column::markdown(heading)]);
    }
    for heading in [&h.clean, &h.cost, &h.under, &h.precision, &h.recall, &h.f1] {
        columns.extend([Column::html(heading), Column::markdown(heading)]);
    }
    columns.extend([Column::both("refused (poisons)"), Column::both("verdict")]);
    let mut table = Table::new(columns);
    let k = g.k.as_str();
    for r in &g.rows {
        let mut cells = vec![
            Cell::text(r.setting()),
            Cell::number(r.poisons_per_target.to_string()),
            Cell::number(r.seeds.len().to_string()),
        ];
        for c in &g.cutoffs {
            cells.extend(at_k(&r.asr_at_k, c));
        }
        cells.extend(at_k(&r.clean_recall_at_k, k));
        let cost = r.clean_recall_cost_at_k.get(k).copied();
        let cost_text = |sd: bool| match cost {
            None => "—".to_string(),
            Some(s) if sd && s.n > 1 => {
                format!("{:.1} ± {:.1} pts", s.mean * 100.0, s.sd * 100.0)
            }
            Some(s) => format!("{:.1} pts", s.mean * 100.0),
        };
        cells.extend([Cell::number(cost_text(true)), Cell::text(cost_text(false))]);
        for map in [
            &r.recall_under_attack_at_k,
            &r.poison_precision_at_k,
            &r.poison_recall_at_k,
            &r.poison_f1_at_k,
        ] {
            cells.extend(at_k(map, k));
        }
        cells.push(Cell::number(format!(
            "{} ({})",
            format_stat_number(r.refused_at_index, 0),
            format_stat_number(r.refused_poisons, 0)
        )));
        let word = if r.defences.is_empty() {
            undefended_word(r.level)
        } else {
            defended_word(r.level, r.reduces)
        };
        cells.push(Cell::badge(r.level, word, ""));
        table.push(cells);
    }
    table
}
