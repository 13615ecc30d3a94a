//! The tables only the HTML report shows: the verdict matrices of the summary (attacks by
//! defence, update attacks by rule, continual campaigns' and RAG attacks' verdict lines,
//! privacy deployments side by side),
//! clean baselines, defence details and every cell.

use super::escape;
use crate::record::{Family, Outcome};
use crate::report::privacy_tables::{self, PrivacyHeadings};
use crate::report::shared_tables::success_text;
use crate::report::summary::{setting_label, AttackGroup, ContinualRow, FederatedRow, RagGroup};
use crate::report::table::{badge_html, Cell, Column, Table};
use crate::report::{
    defended_word, format_percent, format_percent_with_floor, format_rate, format_stat_number,
    format_stat_percent, format_success, metric_name, undefended_word, Report,
};
use std::fmt::Write as _;

/// Distinct (dataset, model) pairs of the attack groups, in order.
fn models(groups: &[AttackGroup]) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for g in groups {
        let key = (g.dataset.as_str(), g.model.as_str());
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

/// Appends `item` unless present (keeps first-appearance order).
fn push_unique<'a>(list: &mut Vec<&'a str>, item: &'a str) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// Summary section: per dataset and model, attacks by budget against every defence, with the
/// plain-words verdicts; then update attacks against every aggregation rule; then one line per
/// continual-retraining campaign.
pub(super) fn summary(out: &mut String, report: &Report) {
    out.push_str("<section id=\"summary\"><h2>Summary verdicts</h2>\n");
    if report.attacks().is_empty()
        && report.federated().is_empty()
        && report.continual().is_empty()
        && report.rag().is_empty()
        && report.privacy().is_empty()
        && report.language().is_empty()
    {
        out.push_str("<p class=\"note\">No attacks were run: only clean baselines.</p>");
    }
    for (dataset, model) in models(report.attacks()) {
        let groups: Vec<&AttackGroup> = report
            .attacks()
            .iter()
            .filter(|g| g.dataset == dataset && g.model == model)
            .collect();
        let mut detectors: Vec<&str> = Vec::new();
        for d in groups
            .iter()
            .flat_map(|g| &g.rates)
            .flat_map(|r| &r.defences)
        {
            push_unique(&mut detectors, &d.detector);
        }
        let _ = write!(out, "<h3>{} · {}</h3>", escape(dataset), escape(model));
        if detectors.is_empty() {
            out.push_str("<p class=\"note\">No defences configured: verdicts are for the undefended model only.</p>");
        }
        let headings = ["attack", "family", "budget", "undefended"];
        let mut table = Table::new(
            headings
                .into_iter()
                .chain(detectors.iter().copied())
                .map(Column::html)
                .collect(),
        );
        for g in &groups {
            for r in &g.rates {
                let mut cells = vec![
                    Cell::Strong(g.attack.clone()),
                    Cell::text(g.family.name()),
                    Cell::number(format_rate(r.rate)),
                    Cell::badge(
                        r.level,
                        undefended_word(r.level),
                        format!(
                            "{} {}",
                            metric_name(g.family),
                            format_success(g.family, r.success.map(|s| s.mean))
                        ),
                    ),
                ];
                for det in &detectors {
                    cells.push(match r.defences.iter().find(|d| d.detector == *det) {
                        Some(d) => Cell::badge(
                            d.level,
                            defended_word(d.level, d.reduces),
                            format_success(g.family, d.success.map(|s| s.mean)),
                        ),
                        None => Cell::text("—"),
                    });
                }
                table.push(cells);
            }
        }
        table.write_html(out);
        out.push_str("<ul class=\"verdicts\">");
        for v in report
            .verdicts()
            .iter()
            .filter(|v| v.dataset == dataset && v.model == model)
        {
            let _ = write!(
                out,
                "<li>{}</li>",
                badge_html(v.level, undefended_word(v.level), &v.text)
            );
        }
        out.push_str("</ul>\n");
    }
    federated_summary(out, report.federated());
    continual_summary(out, report.continual());
    rag_summary(out, report.rag());
    privacy_summary(out, report);
    language_summary(out, report);
    out.push_str("</section>\n");
}

/// One verdict line per text-classifier and generative-model attack.
fn language_summary(out: &mut String, report: &Report) {
    let verdicts = report.language().verdicts();
    if verdicts.is_empty() {
        return;
    }
    out.push_str("<h3>Language models: text-classifier and generative backdoors</h3>");
    out.push_str("<ul class=\"verdicts\">");
    for (level, verdict) in verdicts {
        let _ = write!(
            out,
            "<li>{}</li>",
            badge_html(level, undefended_word(level), verdict)
        );
    }
    out.push_str("</ul>\n");
}

/// Per privacy federation, its deployments side by side: epsilon, clean accuracy, and each
/// attack's ASR or damage with its verdict.
fn privacy_summary(out: &mut String, report: &Report) {
    let groups = &report.privacy().groups;
    if groups.is_empty() {
        return;
    }
    out.push_str(
        "<h3>Privacy-preserving deployments: update attacks side by side</h3><p class=\"note\">\
         Per deployment, over seeds: the user-level ε of DP rules, the clean accuracy of the \
         no-attack run, each backdoor's final ASR and each untargeted attack's damage (the \
         accuracy drop against the same deployment's no-attack run).</p>",
    );
    for g in groups {
        let _ = write!(out, "<h4>{}</h4>", escape(&g.title()));
        let headings = PrivacyHeadings::of(g);
        privacy_tables::deployments(g, false, &headings).write_html(out);
    }
}

/// One verdict line per RAG attack on a corpus and retriever: the fewest poisons per target
/// that reach the success threshold, and each defence setting there.
fn rag_summary(out: &mut String, groups: &[RagGroup]) {
    if groups.is_empty() {
        return;
    }
    out.push_str("<h3>Retrieval (RAG) poisoning: top-k attack success</h3>");
    out.push_str("<ul class=\"verdicts\">");
    for g in groups {
        let badge = badge_html(g.level, undefended_word(g.level), &g.verdict);
        let _ = write!(out, "<li>{badge}</li>");
    }
    out.push_str("</ul>\n");
}

/// One verdict line per continual configuration: blocked how soon on how many seeds, and the
/// highest attack success that reached production (or, for a clean stream, what it cost).
fn continual_summary(out: &mut String, rows: &[ContinualRow]) {
    if rows.is_empty() {
        return;
    }
    out.push_str("<h3>Continual retraining: campaigns against the retraining loop</h3>");
    out.push_str("<ul class=\"verdicts\">");
    for row in rows {
        let badge = if row.poisoned_seeds == 0 {
            badge_html(None, "clean stream", &row.verdict)
        } else {
            badge_html(row.level, undefended_word(row.level), &row.verdict)
        };
        let _ = write!(out, "<li>{badge}</li>");
    }
    out.push_str("</ul>\n");
}

fn federated_summary(out: &mut String, rows: &[FederatedRow]) {
    let attacked: Vec<&FederatedRow> = rows.iter().filter(|r| r.attack != "none").collect();
    if rows.is_empty() {
        return;
    }
    out.push_str("<h3>Federated learning: update attacks against aggregation rules</h3>");
    if attacked.is_empty() {
        out.push_str(
            "<p class=\"note\">Only benign federated runs: no update attack configured.</p>",
        );
        return;
    }
    let mut rules: Vec<&str> = Vec::new();
    for r in rows {
        push_unique(&mut rules, &r.rule);
    }
    let mut keys: Vec<(&str, &str, &str, u64)> = Vec::new();
    for r in &attacked {
        let key = (
            r.dataset.as_str(),
            r.model.as_str(),
            r.attack.as_str(),
            r.byzantine.to_bits(),
        );
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut table = Table::new(
        ["dataset", "attack", "byzantine"]
            .into_iter()
            .chain(rules.iter().copied())
            .map(Column::html)
            .collect(),
    );
    for &(dataset, model, attack, byz) in &keys {
        let mut cells = vec![
            Cell::text(format!("{dataset} · {model}")),
            Cell::Strong(attack.to_string()),
            Cell::number(format_rate(f64::from_bits(byz))),
        ];
        for rule in &rules {
            let run = attacked.iter().find(|r| {
                r.dataset == dataset
                    && r.model == model
                    && r.attack == attack
                    && r.byzantine.to_bits() == byz
                    && r.rule == *rule
            });
            cells.push(match run {
                Some(r) => Cell::badge(r.level, undefended_word(r.level), federated_effect(r)),
                None => Cell::text("—"),
            });
        }
        table.push(cells);
    }
    table.write_html(out);
}

/// `drop 12.0 pts, ASR 98.0%` for a federated row.
fn federated_effect(row: &FederatedRow) -> String {
    let mut parts = Vec::new();
    if let Some(d) = row.accuracy_drop {
        parts.push(format!(
            "drop {}",
            format_success(Family::ModelPoisoning, Some(d.mean))
        ));
    }
    if let Some(a) = row.final_asr {
        parts.push(format!("ASR {}", format_percent(Some(a.mean))));
    }
    if parts.is_empty() {
        parts.push(format!(
            "accuracy {}",
            format_percent(row.final_accuracy.map(|s| s.mean))
        ));
    }
    parts.join(", ")
}

/// Clean accuracy per dataset and model, and what each defence costs on clean data.
pub(super) fn clean(report: &Report) -> Table<'static> {
    let mut table = Table::new(
        [
            "dataset",
            "model",
            "seeds",
            "clean accuracy",
            "defences on clean data",
        ]
        .into_iter()
        .map(Column::html)
        .collect(),
    );
    for c in report.clean() {
        table.push(vec![
            Cell::text(&c.dataset),
            Cell::text(&c.model),
            Cell::number(c.seeds.len().to_string()),
            Cell::number(format_stat_percent(c.accuracy)),
            if c.defences.is_empty() {
                Cell::text("—")
            } else {
                Cell::Lines(
                    c.defences
                        .iter()
                        .map(|d| {
                            format!(
                                "{}: flags {}, accuracy {}",
                                d.detector,
                                format_stat_number(d.flagged, 0),
                                format_stat_percent(d.accuracy)
                            )
                        })
                        .collect(),
                )
            },
        ]);
    }
    table
}

/// Every defence against every attack and budget: detection quality and the attack after it.
pub(super) fn defences(report: &Report) -> Table<'static> {
    let mut table = Table::new(
        [
            "dataset",
            "attack",
            "budget",
            "detector",
            "mitigation",
            "flagged",
            "removed",
            "relabelled",
            "precision",
            "recall",
            "F1",
            "AUROC",
            "accuracy after",
            "success after",
            "verdict",
        ]
        .into_iter()
        .map(Column::html)
        .collect(),
    );
    for g in report.attacks() {
        for r in &g.rates {
            for d in &r.defences {
                table.push(vec![
                    Cell::text(&g.dataset),
                    Cell::Strong(g.attack.clone()),
                    Cell::number(format_rate(r.rate)),
                    Cell::text(&d.detector),
                    Cell::Code(d.mitigation.clone()),
                    Cell::number(format_stat_number(d.flagged, 0)),
                    Cell::number(format_stat_number(d.removed, 0)),
                    Cell::number(format_stat_number(d.relabelled, 0)),
                    Cell::number(format_stat_number(d.precision, 3)),
                    Cell::number(format_stat_number(d.recall, 3)),
                    Cell::number(format_stat_number(d.f1, 3)),
                    Cell::number(format_stat_number(d.auroc, 3)),
                    Cell::number(format_stat_percent(d.accuracy)),
                    Cell::number(success_text(g.family, d.success)),
                    Cell::badge(d.level, defended_word(d.level, d.reduces), ""),
                ]);
            }
        }
    }
    table
}

/// One row per record, in cell order.
pub(super) fn cells(report: &Report) -> Table<'static> {
    let mut table = Table::new(
        [
            "#",
            "cell",
            "dataset",
            "seed",
            "model",
            "attack",
            "budget / byzantine",
            "defence / rule",
            "accuracy",
            "success",
            "accuracy after defence",
            "success after defence",
            "seconds",
        ]
        .into_iter()
        .map(Column::html)
        .collect(),
    );
    for r in report.records() {
        let mut cells = vec![
            Cell::number(r.index.to_string()),
            Cell::Code(r.id.clone()),
            Cell::text(&r.dataset),
            Cell::number(r.seed.to_string()),
        ];
        match &r.outcome {
            Outcome::Centralized(c) => {
                let defence = c.defence.as_ref();
                cells.extend([
                    Cell::text(&c.model),
                    Cell::text(c.attack.as_ref().map_or("clean", |a| a.name.as_str())),
                    Cell::number(
                        c.attack
                            .as_ref()
                            .map_or("—".to_string(), |a| format_rate(a.rate)),
                    ),
                    Cell::text(defence.map_or("—", |d| d.detector.as_str())),
                    Cell::number(format_percent(Some(c.undefended.clean_accuracy))),
                    Cell::number(format_percent_with_floor(
                        c.undefended.success_rate,
                        c.success_rate_floor,
                    )),
                    Cell::number(format_percent(defence.map(|d| d.retrained.clean_accuracy))),
                    Cell::number(format_percent(
                        defence.and_then(|d| d.retrained.success_rate),
                    )),
                ]);
            }
            Outcome::Federated(f) => {
                cells.extend([
                    Cell::text(&f.model),
                    Cell::text(&f.attack),
                    Cell::number(format_rate(f.byzantine)),
                    Cell::text(format!("rule {}", f.rule)),
                    Cell::number(format_percent(Some(f.final_accuracy))),
                    Cell::number(format_percent(f.final_asr)),
                    Cell::number("—"),
                    Cell::number("—"),
                ]);
            }
            // The final deployed model's accuracy, and the highest attack success any deployed
            // model had: the loop is the defence, so there is no separate "after defence".
            Outcome::Continual(c) => {
                let rate = c.parameters.get("rate").and_then(serde_json::Value::as_f64);
                cells.extend([
                    Cell::text(&c.model),
                    Cell::text(format!("continual {}", c.campaign)),
                    Cell::number(rate.map_or("—".to_string(), format_rate)),
                    Cell::text(match c.blocked_at {
                        Some(b) => format!("{} retrain, blocked at {b}", c.retrain),
                        None => format!("{} retrain, never blocked", c.retrain),
                    }),
                    Cell::number(format_percent(c.final_accuracy)),
                    Cell::number(format_percent(c.max_deployed_asr)),
                    Cell::number("—"),
                    Cell::number("—"),
                ]);
            }
            // Top-5 attack success; a defended cell's goes in the "after defence" column.
            Outcome::Rag(g) => {
                let asr = format_percent(g.asr_at_k.get(crate::report::HEADLINE_K).copied());
                let (before, after) = if g.defences.is_empty() {
                    (asr, "—".to_string())
                } else {
                    ("—".to_string(), asr)
                };
                cells.extend([
                    Cell::text(&g.retriever),
                    Cell::text(format!("rag {}", g.attack)),
                    Cell::number(format!("{} per target", g.poisons_per_target)),
                    Cell::text(if g.defences.is_empty() {
                        "—".to_string()
                    } else {
                        setting_label(&g.defences)
                    }),
                    Cell::number("—"),
                    Cell::number(before),
                    Cell::number("—"),
                    Cell::number(after),
                ]);
            }
            Outcome::Privacy(p) => {
                let f = &p.federated;
                let epsilon = p.epsilon.map_or(String::new(), |e| format!(", ε {e:.2}"));
                cells.extend([
                    Cell::text(&f.model),
                    Cell::text(&f.attack),
                    Cell::number(format_rate(f.byzantine)),
                    Cell::text(format!("{}{epsilon}", p.deployment)),
                    Cell::number(format_percent(Some(f.final_accuracy))),
                    Cell::number(format_percent(f.final_asr)),
                    Cell::number("—"),
                    Cell::number("—"),
                ]);
            }
            // The poisoned head's CA and ASR; the defences' lowest ASR after.
            Outcome::Text(t) => {
                let after = t.defences.iter().map(|d| d.asr).fold(f64::NAN, f64::min);
                cells.extend([
                    Cell::text(format!("text {}", t.head)),
                    Cell::text(&t.attack),
                    Cell::number(format_rate(t.rate)),
                    Cell::text(defence_names(t.defences.iter().map(|d| &d.defence))),
                    Cell::number(format_percent(Some(t.accuracy))),
                    Cell::number(format_percent(Some(t.asr))),
                    Cell::number("—"),
                    Cell::number(format_percent(Some(after))),
                ]);
            }
            // The poisoned model's ASR at its count; the defences' lowest ASR after.
            Outcome::Lm(l) => {
                let after = l.defences.iter().map(|d| d.asr).fold(f64::NAN, f64::min);
                cells.extend([
                    Cell::text(format!("lm, {} docs", l.train_docs)),
                    Cell::text(format!("lm {}", l.attack)),
                    Cell::number(format!("{} docs", l.poison_docs)),
                    Cell::text(defence_names(l.defences.iter().map(|d| &d.defence))),
                    Cell::number("—"),
                    Cell::number(format_percent(Some(l.asr))),
                    Cell::number("—"),
                    Cell::number(format_percent(Some(after))),
                ]);
            }
            // The poisoned model on the evaluated part of the test set; a repair's model after.
            Outcome::ModelDefence(m) => {
                let verdict = m
                    .verdict
                    .as_deref()
                    .map_or(String::new(), |v| format!(": {v}"));
                cells.extend([
                    Cell::text(&m.model),
                    Cell::text(m.attack.as_ref().map_or("clean", |a| a.name.as_str())),
                    Cell::number(
                        m.attack
                            .as_ref()
                            .map_or("—".to_string(), |a| format_rate(a.rate)),
                    ),
                    Cell::text(format!("{}{verdict}", m.method)),
                    Cell::number(format_percent(Some(m.before.clean_accuracy))),
                    Cell::number(format_percent(m.before.success_rate)),
                    Cell::number(format_percent(m.after.map(|a| a.clean_accuracy))),
                    Cell::number(format_percent(m.after.and_then(|a| a.success_rate))),
                ]);
            }
            // The vote's accuracy, and the certified accuracy at the largest radius.
            Outcome::Dpa(d) => {
                let last = d.certified_accuracy.last();
                cells.extend([
                    Cell::text(&d.model),
                    Cell::text(format!("DPA, {} partitions", d.partitions)),
                    Cell::number("—"),
                    Cell::text(last.map_or("—".to_string(), |p| {
                        format!("certified at radius {}", p.radius)
                    })),
                    Cell::number(format_percent(Some(d.vote_accuracy))),
                    Cell::number("—"),
                    Cell::number(format_percent(last.map(|p| p.accuracy))),
                    Cell::number("—"),
                ]);
            }
        }
        cells.push(Cell::number(if r.seconds.is_finite() {
            format!("{:.1}", r.seconds)
        } else {
            "—".to_string()
        }));
        table.push(cells);
    }
    table
}

/// `—`, or the defences' names joined (a cell that runs several defences at once).
fn defence_names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "—".to_string()
    } else {
        names.join(", ")
    }
}
