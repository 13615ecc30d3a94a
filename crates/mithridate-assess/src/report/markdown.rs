//! GitHub-flavoured Markdown for pull-request comments: verdicts, risk summary and the
//! compact tables (means only, no plots), continual-retraining, RAG, privacy, text and
//! generative-model runs last.

use super::table::markdown_escape as md;
use super::{language_tables, privacy_tables, shared_tables, undefended_word, Report};
use std::fmt::Write as _;

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
    let risk = shared_tables::risk(report);
    if !risk.is_empty() {
        risk.write_markdown(&mut out);
    }
    if !report.federated_risk().is_empty() {
        shared_tables::federated_risk(report).write_markdown(&mut out);
    }
    if !report.attacks().is_empty() {
        out.push_str("### Attacks and defences\n\n");
        shared_tables::attacks(report).write_markdown(&mut out);
    }
    if !report.federated().is_empty() {
        out.push_str("### Federated learning\n\n");
        shared_tables::federated(report).write_markdown(&mut out);
    }
    if !report.continual().is_empty() {
        out.push_str("### Continual retraining\n\n");
        for row in report.continual() {
            let word = if row.poisoned_seeds == 0 {
                "clean stream"
            } else {
                undefended_word(row.level)
            };
            let _ = writeln!(out, "- **{word}**: {}", md(&row.verdict));
        }
        out.push('\n');
        shared_tables::continual(report).write_markdown(&mut out);
    }
    if !report.rag().is_empty() {
        out.push_str("### Retrieval (RAG) poisoning\n\n");
        for g in report.rag() {
            let _ = writeln!(
                out,
                "- **{}**: {}",
                undefended_word(g.level),
                md(&g.verdict)
            );
        }
        out.push('\n');
        shared_tables::rag_risk(report).write_markdown(&mut out);
        for g in report.rag() {
            let _ = writeln!(out, "#### {}\n", md(&g.title()));
            shared_tables::rag_group(g, &shared_tables::RagHeadings::of(g))
                .write_markdown(&mut out);
        }
    }
    let privacy = report.privacy();
    if !privacy.is_empty() {
        out.push_str("### Privacy and certified defences\n\n");
    }
    for g in &privacy.groups {
        let _ = writeln!(out, "#### {}\n", md(&g.title()));
        let headings = privacy_tables::PrivacyHeadings::of(g);
        privacy_tables::deployments(g, false, &headings).write_markdown(&mut out);
        if !g.curve.is_empty() {
            out.push_str("Noise curve (DP-FedAvg):\n\n");
            privacy_tables::deployments(g, true, &headings).write_markdown(&mut out);
        }
        if !g.attacks.is_empty() {
            privacy_tables::attacks(g).write_markdown(&mut out);
        }
    }
    if !privacy.dpa.is_empty() {
        out.push_str("#### Deep Partition Aggregation (certified)\n\n");
        let headings = privacy_tables::DpaHeadings::of(&privacy.dpa);
        privacy_tables::dpa(&privacy.dpa, &headings).write_markdown(&mut out);
    }
    language(&mut out, report);
    super::model_tables::markdown(&mut out, report);
    out
}

/// Text-classifier and generative-model backdoors: verdicts, filing, per-attack tables.
fn language(out: &mut String, report: &Report) {
    let s = report.language();
    if s.is_empty() {
        return;
    }
    out.push_str("### Language models: text-classifier and generative backdoors\n\n");
    for (level, verdict) in s.verdicts() {
        let _ = writeln!(out, "- **{}**: {}", undefended_word(level), md(verdict));
    }
    out.push('\n');
    language_tables::taxonomy(s).write_markdown(out);
    for g in &s.text {
        let _ = writeln!(out, "#### Text: {}\n", md(&g.title()));
        language_tables::text_group(g, false).write_markdown(out);
    }
    for g in &s.lm {
        let _ = writeln!(out, "#### LM: {}\n", md(&g.title()));
        language_tables::lm_reliable(g).write_markdown(out);
        language_tables::lm_group(g, false).write_markdown(out);
    }
}
