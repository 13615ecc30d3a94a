//! The self-contained HTML report: inline CSS and SVG, no script, and a Content Security
//! Policy that forbids every network request.

use super::summary::{AttackGroup, FederatedRow, Stat};
use super::{
    defended_word, format_percent, format_rate, format_stat_number, format_stat_percent,
    format_success, metric_name, undefended_word, Level, PlotKind, Report, ACCURACY_DROP_THRESHOLD,
    RESIDUAL_ACCURACY_DROP, RESIDUAL_SUCCESS_RATE, SUCCESS_RATE_THRESHOLD,
};
use crate::record::{Outcome, TaxonomyRefs};
use std::fmt::Write as _;

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --fg:#1d2330; --muted:#5b6474; --line:#e3e6ec; --bg:#ffffff; --head:#f5f7fa;
  --red:#b71c1c; --red-bg:#fdecea; --amber:#8a5300; --amber-bg:#fff4d6; --green:#1b5e20; --green-bg:#e7f5e9; }
* { box-sizing: border-box; }
body { margin:0; background:#f0f2f5; color:var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1440px; margin: 0 auto; padding: 24px 20px 48px; }
header, section { background: var(--bg); border-radius: 10px; padding: 18px 24px; margin: 0 0 18px;
  box-shadow: 0 1px 3px rgba(0,0,0,.08); }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 0 0 12px; font-size: 20px; border-bottom: 1px solid var(--line); padding-bottom: 6px; }
h3 { margin: 18px 0 8px; font-size: 16px; }
p.meta, .note { color: var(--muted); margin: 4px 0; }
nav a { margin-right: 14px; color: #1a5fb4; text-decoration: none; }
.table-wrap { overflow-x: auto; margin: 8px 0 14px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th, td { text-align: left; padding: 5px 9px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.family td { background: #fafbfc; font-weight: 600; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12.5px; font-weight: 600;
  white-space: nowrap; }
.badge.succeeds { color: var(--red); background: var(--red-bg); }
.badge.partial { color: var(--amber); background: var(--amber-bg); }
.badge.fails { color: var(--green); background: var(--green-bg); }
.badge.unknown { color: var(--muted); background: var(--head); }
ul.verdicts { padding-left: 20px; margin: 6px 0; }
ul.verdicts li { margin: 3px 0; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 620px), 1fr)); gap: 14px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 8px; background: #fff; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
footer { color: var(--muted); font-size: 13px; }
"#;

fn level_class(level: Option<Level>) -> &'static str {
    match level {
        Some(Level::Succeeds) => "succeeds",
        Some(Level::Partial) => "partial",
        Some(Level::Fails) => "fails",
        None => "unknown",
    }
}

fn badge(level: Option<Level>, word: &str, value: &str) -> String {
    format!(
        "<span class=\"badge {}\">{}</span> {}",
        level_class(level),
        escape(word),
        escape(value)
    )
}

/// Writes a table: header cells and rows of already-escaped HTML cells. Cells starting with
/// `#` are right-aligned numbers (the marker is stripped).
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<(bool, &Vec<String>)> = rows.iter().map(|r| (false, r)).collect();
    table_marked(out, header, &rows);
}

/// [`table`] whose rows flagged `true` are summary rows (bold, shaded).
fn table_marked(out: &mut String, header: &[&str], rows: &[(bool, &Vec<String>)]) {
    out.push_str("<div class=\"table-wrap\"><table><thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for (summary_row, row) in rows {
        out.push_str(if *summary_row {
            "<tr class=\"family\">"
        } else {
            "<tr>"
        });
        for cell in row.iter() {
            match cell.strip_prefix('#') {
                Some(number) => {
                    let _ = write!(out, "<td class=\"num\">{number}</td>");
                }
                None => {
                    let _ = write!(out, "<td>{cell}</td>");
                }
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
}

fn num(text: String) -> String {
    format!("#{}", escape(&text))
}

fn taxonomy_cells(t: &TaxonomyRefs) -> Vec<String> {
    let join = |v: &[String]| {
        if v.is_empty() {
            "—".to_string()
        } else {
            escape(&v.join(", "))
        }
    };
    vec![
        format!("<span class=\"mono\">{}</span>", join(&t.mitre_atlas)),
        format!("<span class=\"mono\">{}</span>", join(&t.owasp_ml)),
        format!("<span class=\"mono\">{}</span>", join(&t.owasp_llm)),
        if t.nist_ai_100_2.is_empty() {
            "—".to_string()
        } else {
            format!("<span class=\"mono\">{}</span>", escape(&t.nist_ai_100_2))
        },
    ]
}

const TAXONOMY_HEADER: [&str; 4] = ["MITRE ATLAS", "OWASP ML", "OWASP LLM", "NIST AI 100-2"];

fn budget_text(rate: Option<f64>) -> String {
    match rate {
        Some(r) => format_rate(r),
        None => "none within the tested budgets".to_string(),
    }
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<title>Mithridate assessment report</title>\n<style>");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n<main>\n");
    header(&mut out, report);
    out.push('\n');
    summary(&mut out, report);
    risk(&mut out, report);
    plots(&mut out, report);
    tables(&mut out, report);
    cells(&mut out, report);
    let _ = write!(
        out,
        "<footer><p>Thresholds: backdoor, targeted and instance attacks succeed at a mean success rate \
         ≥ {}, and are disarmed at ≤ {}; availability and federated attacks succeed at an accuracy \
         drop ≥ {:.0} points against the same-seed clean (or no-attack) run and fail at ≤ {:.0} points. \
         Values are means over seeds (± sample standard deviation). Generated by mithridate.</p></footer>",
        format_percent(Some(SUCCESS_RATE_THRESHOLD)),
        format_percent(Some(RESIDUAL_SUCCESS_RATE)),
        ACCURACY_DROP_THRESHOLD * 100.0,
        RESIDUAL_ACCURACY_DROP * 100.0,
    );
    out.push_str("\n</main>\n</body>\n</html>\n");
    out
}

fn header(out: &mut String, report: &Report) {
    let records = report.records();
    let mut datasets: Vec<&str> = records.iter().map(|r| r.dataset.as_str()).collect();
    datasets.sort_unstable();
    datasets.dedup();
    let mut seeds: Vec<u64> = records.iter().map(|r| r.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let federated = records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Federated(_)))
        .count();
    let _ = write!(
        out,
        "<header><h1>Mithridate assessment report</h1>\
         <p class=\"meta\">{} cells ({} centralized, {} federated) · datasets: {} · seeds: {}</p>\
         <nav><a href=\"#summary\">Summary</a><a href=\"#risk\">Risk</a><a href=\"#plots\">Plots</a>\
         <a href=\"#tables\">Tables</a><a href=\"#cells\">All cells</a></nav></header>",
        records.len(),
        records.len() - federated,
        federated,
        escape(&datasets.join(", ")),
        escape(
            &seeds
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
}

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

fn summary(out: &mut String, report: &Report) {
    out.push_str("<section id=\"summary\"><h2>Summary verdicts</h2>\n");
    if report.attacks().is_empty() && report.federated().is_empty() {
        out.push_str("<p class=\"note\">No attacks were run: only clean baselines.</p>");
    }
    for (dataset, model) in models(report.attacks()) {
        let groups: Vec<&AttackGroup> = report
            .attacks()
            .iter()
            .filter(|g| g.dataset == dataset && g.model == model)
            .collect();
        let mut detectors: Vec<&str> = Vec::new();
        for g in &groups {
            for r in &g.rates {
                for d in &r.defences {
                    if !detectors.contains(&d.detector.as_str()) {
                        detectors.push(&d.detector);
                    }
                }
            }
        }
        let _ = write!(out, "<h3>{} · {}</h3>", escape(dataset), escape(model));
        if detectors.is_empty() {
            out.push_str("<p class=\"note\">No defences configured: verdicts are for the undefended model only.</p>");
        }
        let mut header = vec!["attack", "family", "budget", "undefended"];
        header.extend(detectors.iter().copied());
        let mut rows = Vec::new();
        for g in &groups {
            for r in &g.rates {
                let mut row = vec![
                    format!("<strong>{}</strong>", escape(&g.attack)),
                    escape(g.family.name()),
                    num(format_rate(r.rate)),
                    badge(
                        r.level,
                        undefended_word(r.level),
                        &format!(
                            "{} {}",
                            metric_name(g.family),
                            format_success(g.family, r.success.map(|s| s.mean))
                        ),
                    ),
                ];
                for det in &detectors {
                    row.push(match r.defences.iter().find(|d| d.detector == *det) {
                        Some(d) => badge(
                            d.level,
                            defended_word(d.level, d.reduces),
                            &format_success(g.family, d.success.map(|s| s.mean)),
                        ),
                        None => "—".to_string(),
                    });
                }
                rows.push(row);
            }
        }
        table(out, &header, &rows);
        out.push_str("<ul class=\"verdicts\">");
        for v in report
            .verdicts()
            .iter()
            .filter(|v| v.dataset == dataset && v.model == model)
        {
            let _ = write!(
                out,
                "<li><span class=\"badge {}\">{}</span> {}</li>",
                level_class(v.level),
                undefended_word(v.level),
                escape(&v.text)
            );
        }
        out.push_str("</ul>\n");
    }
    federated_summary(out, report.federated());
    out.push_str("</section>\n");
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
        if !rules.contains(&r.rule.as_str()) {
            rules.push(&r.rule);
        }
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
    let mut header = vec!["dataset", "attack", "byzantine"];
    header.extend(rules.iter().copied());
    let rows_html: Vec<Vec<String>> = keys
        .iter()
        .map(|&(dataset, model, attack, byz)| {
            let byzantine = f64::from_bits(byz);
            let mut row = vec![
                format!("{} · {}", escape(dataset), escape(model)),
                format!("<strong>{}</strong>", escape(attack)),
                num(format_rate(byzantine)),
            ];
            for rule in &rules {
                let cell = attacked.iter().find(|r| {
                    r.dataset == dataset
                        && r.model == model
                        && r.attack == attack
                        && r.byzantine.to_bits() == byz
                        && r.rule == *rule
                });
                row.push(match cell {
                    Some(r) => badge(r.level, undefended_word(r.level), &federated_effect(r)),
                    None => "—".to_string(),
                });
            }
            row
        })
        .collect();
    table(out, &header, &rows_html);
}

/// `drop 12.0 pts, ASR 98.0%` for a federated row.
fn federated_effect(row: &FederatedRow) -> String {
    let mut parts = Vec::new();
    if let Some(d) = row.accuracy_drop {
        parts.push(format!(
            "drop {}",
            format_success(crate::record::Family::ModelPoisoning, Some(d.mean))
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

fn risk(out: &mut String, report: &Report) {
    out.push_str("<section id=\"risk\"><h2>Risk summary</h2>\n<p class=\"note\">Per attack family, \
        the smallest tested budget (poison rate) at which an attack succeeds on the undefended model, \
        and the smallest at which it still succeeds after every configured defence (sanitize and \
        retrain): the budget an attacker needs to get through undetected.</p>\n");
    if report.risk_summary().is_empty() {
        out.push_str("<p class=\"note\">No centralized attacks were run.</p>");
    } else {
        let mut rows = Vec::new();
        for family in report.family_risk() {
            let pick = |v: &Option<super::Budget>| match v {
                Some(b) => format!("{} ({})", escape(&format_rate(b.rate)), escape(&b.attack)),
                None => escape(&budget_text(None)),
            };
            rows.push((
                true,
                vec![
                    format!("{} · {}", escape(&family.dataset), escape(&family.model)),
                    format!("{} (cheapest attack)", escape(family.family.name())),
                    String::new(),
                    pick(&family.undefended),
                    pick(&family.defended),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
            ));
            for r in report.risk_summary().iter().filter(|r| {
                r.dataset == family.dataset && r.model == family.model && r.family == family.family
            }) {
                let mut row = vec![
                    String::new(),
                    escape(&r.attack),
                    escape(
                        &r.tested_rates
                            .iter()
                            .map(|&x| format_rate(x))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    escape(&budget_text(r.undefended)),
                    escape(&budget_text(r.defended)),
                    if r.defences.is_empty() {
                        "no defences configured".to_string()
                    } else {
                        escape(&r.defences.join(", "))
                    },
                ];
                row.extend(taxonomy_cells(&r.taxonomy));
                rows.push((false, row));
            }
        }
        let mut header = vec![
            "dataset · model",
            "family / attack",
            "tested budgets",
            "succeeds undefended at",
            "succeeds through every defence at",
            "defences",
        ];
        header.extend(TAXONOMY_HEADER);
        let marked: Vec<(bool, &Vec<String>)> = rows.iter().map(|(f, r)| (*f, r)).collect();
        table_marked(out, &header, &marked);
    }
    if !report.federated_risk().is_empty() {
        out.push_str("<h3>Federated update attacks</h3>");
        let list = |v: &[String]| {
            if v.is_empty() {
                "—".to_string()
            } else {
                escape(&v.join(", "))
            }
        };
        let rows: Vec<Vec<String>> = report
            .federated_risk()
            .iter()
            .map(|r| {
                vec![
                    format!("{} · {}", escape(&r.dataset), escape(&r.model)),
                    escape(&r.attack),
                    escape(r.family.name()),
                    list(&r.succeeds_under),
                    list(&r.partial_under),
                    list(&r.resisted_by),
                ]
            })
            .collect();
        table(
            out,
            &[
                "dataset · model",
                "attack",
                "family",
                "succeeds under",
                "partially under",
                "resisted by",
            ],
            &rows,
        );
    }
    out.push_str("</section>\n");
}

fn plots(out: &mut String, report: &Report) {
    out.push_str("<section id=\"plots\"><h2>Plots</h2>\n");
    if !report
        .attacks()
        .iter()
        .any(|g| g.rates.iter().any(|r| !r.defences.is_empty()))
    {
        out.push_str(
            "<p class=\"note\">No defences configured: no defence-effect or ROC plots.</p>",
        );
    }
    for kind in PlotKind::ALL {
        let plots: Vec<_> = report.plots().iter().filter(|p| p.kind == kind).collect();
        if plots.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "<h3>{}</h3><div class=\"plots\">",
            escape(kind.heading())
        );
        for plot in plots {
            let _ = write!(
                out,
                // The title is drawn inside the SVG; the label is for screen readers.
                "<figure aria-label=\"{}\">{}</figure>",
                escape(&plot.title),
                plot.svg
            );
        }
        out.push_str("</div>\n");
    }
    out.push_str("</section>\n");
}

fn stat_pct(stat: Option<Stat>) -> String {
    num(format_stat_percent(stat))
}

/// Mean ± sd of a success value in its family's unit (points of drop or percent).
fn success_text(family: crate::record::Family, stat: Option<Stat>) -> String {
    match (family, stat) {
        (crate::record::Family::Availability | crate::record::Family::ModelPoisoning, Some(s))
            if s.n > 1 && s.sd.is_finite() && s.mean.is_finite() =>
        {
            format!("{:.1} ± {:.1} pts", s.mean * 100.0, s.sd * 100.0)
        }
        (crate::record::Family::Availability | crate::record::Family::ModelPoisoning, stat) => {
            format_success(family, stat.map(|s| s.mean))
        }
        (_, stat) => format_stat_percent(stat),
    }
}

fn stat_success(family: crate::record::Family, stat: Option<Stat>) -> String {
    num(success_text(family, stat))
}

fn tables(out: &mut String, report: &Report) {
    out.push_str("<section id=\"tables\"><h2>Tables</h2>\n");
    if !report.clean().is_empty() {
        out.push_str("<h3>Clean baselines</h3>");
        let rows: Vec<Vec<String>> = report
            .clean()
            .iter()
            .map(|c| {
                vec![
                    escape(&c.dataset),
                    escape(&c.model),
                    num(c.seeds.len().to_string()),
                    stat_pct(c.accuracy),
                    if c.defences.is_empty() {
                        "—".to_string()
                    } else {
                        c.defences
                            .iter()
                            .map(|d| {
                                format!(
                                    "{}: flags {}, accuracy {}",
                                    escape(&d.detector),
                                    escape(&format_stat_number(d.flagged, 0)),
                                    escape(&format_stat_percent(d.accuracy))
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("<br>")
                    },
                ]
            })
            .collect();
        table(
            out,
            &[
                "dataset",
                "model",
                "seeds",
                "clean accuracy",
                "defences on clean data",
            ],
            &rows,
        );
    }
    if !report.attacks().is_empty() {
        out.push_str("<h3>Attacks (undefended)</h3>");
        let mut rows = Vec::new();
        for g in report.attacks() {
            for r in &g.rates {
                let mut row = vec![
                    escape(&g.dataset),
                    escape(&g.model),
                    format!("<strong>{}</strong>", escape(&g.attack)),
                    escape(g.family.name()),
                    num(format_rate(r.rate)),
                    num(r.seeds.len().to_string()),
                    num(format_stat_number(r.poisoned, 0)),
                    stat_pct(r.baseline_accuracy),
                    stat_pct(r.accuracy),
                    num(format!(
                        "{} {}",
                        metric_name(g.family),
                        success_text(g.family, r.success)
                    )),
                    badge(r.level, undefended_word(r.level), ""),
                ];
                row.extend(taxonomy_cells(&g.taxonomy));
                rows.push(row);
            }
        }
        let mut header = vec![
            "dataset",
            "model",
            "attack",
            "family",
            "budget",
            "seeds",
            "poisoned",
            "baseline accuracy",
            "accuracy",
            "success",
            "verdict",
        ];
        header.extend(TAXONOMY_HEADER);
        table(out, &header, &rows);

        out.push_str("<h3>Defences</h3>");
        let mut rows = Vec::new();
        for g in report.attacks() {
            for r in &g.rates {
                for d in &r.defences {
                    rows.push(vec![
                        escape(&g.dataset),
                        format!("<strong>{}</strong>", escape(&g.attack)),
                        num(format_rate(r.rate)),
                        escape(&d.detector),
                        format!("<span class=\"mono\">{}</span>", escape(&d.mitigation)),
                        num(format_stat_number(d.flagged, 0)),
                        num(format_stat_number(d.removed, 0)),
                        num(format_stat_number(d.relabelled, 0)),
                        num(format_stat_number(d.precision, 3)),
                        num(format_stat_number(d.recall, 3)),
                        num(format_stat_number(d.f1, 3)),
                        num(format_stat_number(d.auroc, 3)),
                        stat_pct(d.accuracy),
                        stat_success(g.family, d.success),
                        badge(d.level, defended_word(d.level, d.reduces), ""),
                    ]);
                }
            }
        }
        if rows.is_empty() {
            out.push_str("<p class=\"note\">No defences configured.</p>");
        } else {
            table(
                out,
                &[
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
                ],
                &rows,
            );
        }
    }
    if !report.federated().is_empty() {
        out.push_str("<h3>Federated learning</h3>");
        let rows: Vec<Vec<String>> = report
            .federated()
            .iter()
            .map(|r| {
                let mut row = vec![
                    escape(&r.dataset),
                    escape(&r.model),
                    format!("<strong>{}</strong>", escape(&r.attack)),
                    escape(r.family.name()),
                    escape(&r.rule),
                    num(format_rate(r.byzantine)),
                    num(format!("{} / {}", r.malicious_per_round, r.clients)),
                    num(r.seeds.len().to_string()),
                    stat_pct(r.final_accuracy),
                    stat_pct(r.baseline_accuracy),
                    stat_success(crate::record::Family::ModelPoisoning, r.accuracy_drop),
                    stat_pct(r.final_asr),
                    num(format_stat_number(r.anomaly_precision, 3)),
                    num(format_stat_number(r.anomaly_recall, 3)),
                    if r.attack == "none" {
                        "benign".to_string()
                    } else {
                        badge(r.level, undefended_word(r.level), "")
                    },
                ];
                row.extend(taxonomy_cells(&r.taxonomy));
                row
            })
            .collect();
        let mut header = vec![
            "dataset",
            "model",
            "attack",
            "family",
            "rule",
            "byzantine",
            "malicious / clients",
            "seeds",
            "final accuracy",
            "no-attack accuracy",
            "accuracy drop",
            "final ASR",
            "anomaly precision",
            "anomaly recall",
            "verdict",
        ];
        header.extend(TAXONOMY_HEADER);
        table(out, &header, &rows);
    }
    out.push_str("</section>\n");
}

fn cells(out: &mut String, report: &Report) {
    let _ = write!(
        out,
        "<section id=\"cells\"><h2>All cells ({})</h2>",
        report.records().len()
    );
    let rows: Vec<Vec<String>> = report
        .records()
        .iter()
        .map(|r| {
            let mut row = vec![
                num(r.index.to_string()),
                format!("<span class=\"mono\">{}</span>", escape(&r.id)),
                escape(&r.dataset),
                num(r.seed.to_string()),
            ];
            match &r.outcome {
                Outcome::Centralized(c) => {
                    row.extend([
                        escape(&c.model),
                        escape(c.attack.as_ref().map_or("clean", |a| a.name.as_str())),
                        num(c
                            .attack
                            .as_ref()
                            .map_or("—".to_string(), |a| format_rate(a.rate))),
                        escape(c.defence.as_ref().map_or("—", |d| d.detector.as_str())),
                        num(format_percent(Some(c.undefended.clean_accuracy))),
                        num(format_percent(c.undefended.success_rate)),
                        num(format_percent(
                            c.defence.as_ref().map(|d| d.retrained.clean_accuracy),
                        )),
                        num(format_percent(
                            c.defence.as_ref().and_then(|d| d.retrained.success_rate),
                        )),
                    ]);
                }
                Outcome::Federated(f) => {
                    row.extend([
                        escape(&f.model),
                        escape(&f.attack),
                        num(format_rate(f.byzantine)),
                        escape(&format!("rule {}", f.rule)),
                        num(format_percent(Some(f.final_accuracy))),
                        num(format_percent(f.final_asr)),
                        num("—".to_string()),
                        num("—".to_string()),
                    ]);
                }
            }
            row.push(num(if r.seconds.is_finite() {
                format!("{:.1}", r.seconds)
            } else {
                "—".to_string()
            }));
            row
        })
        .collect();
    table(
        out,
        &[
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
        ],
        &rows,
    );
    out.push_str("</section>\n");
}
