//! Machine formats: Markdown for pull-request comments and CSV with one row per record.

use super::{
    defended_word, format_percent, format_rate, format_stat_number, format_stat_percent,
    format_success, metric_name, undefended_word, Report, ReportError,
};
use crate::record::{Outcome, TaxonomyRefs};
use std::fmt::Write as _;

/// Columns of [`Report::to_csv`]: one row per record; fields that do not apply are empty.
/// Lists (taxonomy ids) are joined with `;`. Rates and accuracies are fractions in `[0, 1]`.
pub const CSV_HEADER: [&str; 40] = [
    "index",
    "id",
    "kind",
    "dataset",
    "seed",
    "model",
    "attack",
    "family",
    "rate",
    "poisoned",
    "mitre_atlas",
    "owasp_ml",
    "owasp_llm",
    "nist_ai_100_2",
    "train_samples",
    "test_samples",
    "clean_accuracy",
    "success_rate",
    "detector",
    "mitigation",
    "flagged",
    "removed",
    "relabelled",
    "precision",
    "recall",
    "f1",
    "auroc",
    "defended_clean_accuracy",
    "defended_success_rate",
    "rule",
    "byzantine",
    "clients",
    "participants_per_round",
    "malicious_per_round",
    "rounds",
    "final_accuracy",
    "final_asr",
    "anomaly_precision",
    "anomaly_recall",
    "seconds",
];

fn opt_num(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => v.to_string(),
        _ => String::new(),
    }
}

fn taxonomy_fields(t: &TaxonomyRefs) -> [String; 4] {
    [
        t.mitre_atlas.join(";"),
        t.owasp_ml.join(";"),
        t.owasp_llm.join(";"),
        t.nist_ai_100_2.clone(),
    ]
}

pub fn csv(report: &Report) -> Result<String, ReportError> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    let fail = |e: ::csv::Error| ReportError::Csv(e.to_string());
    writer.write_record(CSV_HEADER).map_err(fail)?;
    for r in report.records() {
        let mut row: Vec<String> = vec![
            r.index.to_string(),
            r.id.clone(),
            String::new(),
            r.dataset.clone(),
            r.seed.to_string(),
        ];
        match &r.outcome {
            Outcome::Centralized(c) => {
                row[2] = "centralized".to_string();
                let attack = c.attack.as_ref();
                row.push(c.model.clone());
                row.push(attack.map_or("clean".to_string(), |a| a.name.clone()));
                row.push(attack.map_or(String::new(), |a| a.family.name().to_string()));
                row.push(opt_num(attack.map(|a| a.rate)));
                row.push(attack.map_or(String::new(), |a| a.poisoned.to_string()));
                match attack {
                    Some(a) => row.extend(taxonomy_fields(&a.taxonomy)),
                    None => row.extend(std::iter::repeat_n(String::new(), 4)),
                }
                row.push(c.train_samples.to_string());
                row.push(c.test_samples.to_string());
                row.push(opt_num(Some(c.undefended.clean_accuracy)));
                row.push(opt_num(c.undefended.success_rate));
                match &c.defence {
                    Some(d) => row.extend([
                        d.detector.clone(),
                        d.mitigation.clone(),
                        d.flagged.to_string(),
                        d.removed.to_string(),
                        d.relabelled.to_string(),
                        opt_num(Some(d.precision)),
                        opt_num(Some(d.recall)),
                        opt_num(Some(d.f1)),
                        opt_num(d.auroc),
                        opt_num(Some(d.retrained.clean_accuracy)),
                        opt_num(d.retrained.success_rate),
                    ]),
                    None => row.extend(std::iter::repeat_n(String::new(), 11)),
                }
                row.extend(std::iter::repeat_n(String::new(), 10));
            }
            Outcome::Federated(f) => {
                row[2] = "federated".to_string();
                row.push(f.model.clone());
                row.push(f.attack.clone());
                row.push(f.family.name().to_string());
                row.extend([String::new(), String::new()]);
                row.extend(taxonomy_fields(&f.taxonomy));
                row.extend(std::iter::repeat_n(String::new(), 4 + 11));
                row.extend([
                    f.rule.clone(),
                    opt_num(Some(f.byzantine)),
                    f.clients.to_string(),
                    f.participants_per_round.to_string(),
                    f.malicious_per_round.to_string(),
                    f.rounds.len().to_string(),
                    opt_num(Some(f.final_accuracy)),
                    opt_num(f.final_asr),
                    opt_num(f.anomaly_precision),
                    opt_num(f.anomaly_recall),
                ]);
            }
        }
        row.push(opt_num(Some(r.seconds)));
        debug_assert_eq!(row.len(), CSV_HEADER.len());
        writer.write_record(&row).map_err(fail)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| ReportError::Csv(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ReportError::Csv(e.to_string()))
}

/// Escapes a Markdown table cell: pipes, newlines and HTML (GitHub renders inline HTML).
fn md(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn md_table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| md(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

fn budget(rate: Option<f64>) -> String {
    rate.map_or("none within the tested budgets".to_string(), format_rate)
}

fn taxonomy_md(t: &TaxonomyRefs) -> [String; 4] {
    let join = |v: &[String]| {
        if v.is_empty() {
            "—".to_string()
        } else {
            v.join(", ")
        }
    };
    [
        join(&t.mitre_atlas),
        join(&t.owasp_ml),
        join(&t.owasp_llm),
        if t.nist_ai_100_2.is_empty() {
            "—".to_string()
        } else {
            t.nist_ai_100_2.clone()
        },
    ]
}

pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Mithridate assessment report\n\n{} cells.\n",
        report.records().len()
    );
    out.push_str("### Summary verdicts\n\n");
    if report.verdicts().is_empty() {
        out.push_str("No centralized attacks were run.\n\n");
    }
    for v in report.verdicts() {
        let _ = writeln!(
            out,
            "- **{}** ({} · {}): {}",
            undefended_word(v.level),
            md(&v.dataset),
            md(&v.model),
            md(&v.text)
        );
    }
    out.push('\n');

    out.push_str("### Risk summary\n\nSmallest budget at which each attack succeeds undefended, and through every configured defence.\n\n");
    let mut rows = Vec::new();
    for f in report.family_risk() {
        let pick = |v: &Option<super::Budget>| match v {
            Some(b) => format!("{} ({})", format_rate(b.rate), b.attack),
            None => budget(None),
        };
        rows.push(vec![
            format!("{} · {}", f.dataset, f.model),
            format!("**{}**", f.family.name()),
            String::new(),
            pick(&f.undefended),
            pick(&f.defended),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
        for r in report
            .risk_summary()
            .iter()
            .filter(|r| r.dataset == f.dataset && r.model == f.model && r.family == f.family)
        {
            let mut row = vec![
                String::new(),
                r.attack.clone(),
                r.tested_rates
                    .iter()
                    .map(|&x| format_rate(x))
                    .collect::<Vec<_>>()
                    .join(", "),
                budget(r.undefended),
                budget(r.defended),
                if r.defences.is_empty() {
                    "no defences configured".to_string()
                } else {
                    r.defences.join(", ")
                },
            ];
            row.extend(taxonomy_md(&r.taxonomy));
            rows.push(row);
        }
    }
    if !rows.is_empty() {
        md_table(
            &mut out,
            &[
                "dataset · model",
                "family / attack",
                "tested budgets",
                "succeeds undefended at",
                "succeeds through every defence at",
                "defences",
                "MITRE ATLAS",
                "OWASP ML",
                "OWASP LLM",
                "NIST AI 100-2",
            ],
            &rows,
        );
    }
    if !report.federated_risk().is_empty() {
        let list = |v: &[String]| {
            if v.is_empty() {
                "—".to_string()
            } else {
                v.join(", ")
            }
        };
        let rows: Vec<Vec<String>> = report
            .federated_risk()
            .iter()
            .map(|r| {
                vec![
                    format!("{} · {}", r.dataset, r.model),
                    r.attack.clone(),
                    list(&r.succeeds_under),
                    list(&r.partial_under),
                    list(&r.resisted_by),
                ]
            })
            .collect();
        md_table(
            &mut out,
            &[
                "dataset · model",
                "update attack",
                "succeeds under",
                "partially under",
                "resisted by",
            ],
            &rows,
        );
    }

    if !report.attacks().is_empty() {
        out.push_str("### Attacks and defences\n\n");
        let mut rows = Vec::new();
        for g in report.attacks() {
            for r in &g.rates {
                let mut row = vec![
                    format!("{} · {}", g.dataset, g.model),
                    g.attack.clone(),
                    g.family.name().to_string(),
                    format_rate(r.rate),
                    format_stat_percent(r.accuracy),
                    format!(
                        "{} {}",
                        metric_name(g.family),
                        format_success(g.family, r.success.map(|s| s.mean))
                    ),
                    undefended_word(r.level).to_string(),
                    if r.defences.is_empty() {
                        "no defences configured".to_string()
                    } else {
                        r.defences
                            .iter()
                            .map(|d| {
                                format!(
                                    "{}: {} {} (F1 {})",
                                    d.detector,
                                    defended_word(d.level, d.reduces),
                                    format_success(g.family, d.success.map(|s| s.mean)),
                                    format_stat_number(d.f1, 2)
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    },
                ];
                row.extend(taxonomy_md(&g.taxonomy));
                rows.push(row);
            }
        }
        md_table(
            &mut out,
            &[
                "dataset · model",
                "attack",
                "family",
                "budget",
                "accuracy",
                "success",
                "verdict",
                "after defences",
                "MITRE ATLAS",
                "OWASP ML",
                "OWASP LLM",
                "NIST AI 100-2",
            ],
            &rows,
        );
    }
    if !report.federated().is_empty() {
        out.push_str("### Federated learning\n\n");
        let rows: Vec<Vec<String>> = report
            .federated()
            .iter()
            .map(|r| {
                let mut row = vec![
                    format!("{} · {}", r.dataset, r.model),
                    r.attack.clone(),
                    r.rule.clone(),
                    format_rate(r.byzantine),
                    format_stat_percent(r.final_accuracy),
                    format_success(
                        crate::record::Family::ModelPoisoning,
                        r.accuracy_drop.map(|s| s.mean),
                    ),
                    format_percent(r.final_asr.map(|s| s.mean)),
                    if r.attack == "none" {
                        "benign".to_string()
                    } else {
                        undefended_word(r.level).to_string()
                    },
                ];
                row.extend(taxonomy_md(&r.taxonomy));
                row
            })
            .collect();
        md_table(
            &mut out,
            &[
                "dataset · model",
                "attack",
                "rule",
                "byzantine",
                "final accuracy",
                "accuracy drop",
                "final ASR",
                "verdict",
                "MITRE ATLAS",
                "OWASP ML",
                "OWASP LLM",
                "NIST AI 100-2",
            ],
            &rows,
        );
    }
    out
}
