//! The model inspection and repair section, shown by both reports: one row per attack setting
//! and method (detections and right target over seeds, clean accuracy and ASR before and
//! after), and in HTML the reverse-engineered trigger pictures.

use super::html::escape;
use super::summary::ModelDefenceRow;
use super::table::{Cell, Column, Table};
use super::{format_rate, format_stat_percent, Report};
use std::fmt::Write as _;

/// One row per method and attack setting.
pub(crate) fn rows(rows: &[ModelDefenceRow]) -> Table<'static> {
    let mut table = Table::new(vec![
        Column::both("dataset"),
        Column::both("model"),
        Column::both("attack"),
        Column::both("rate"),
        Column::both("method"),
        Column::both("mitigation"),
        Column::both("trojaned"),
        Column::both("right target"),
        Column::both("trusted"),
        Column::both("accuracy before"),
        Column::both("ASR before"),
        Column::both("accuracy after"),
        Column::both("ASR after"),
    ]);
    for r in rows {
        let of = |count: usize, total: usize| {
            if total == 0 {
                "—".to_string()
            } else {
                format!("{count} / {total}")
            }
        };
        let right = match r.true_target {
            Some(t) => format!("{} (class {t})", of(r.right_class, r.verdicts)),
            None => "—".to_string(),
        };
        table.push(vec![
            Cell::text(&r.dataset),
            Cell::text(&r.model),
            Cell::Strong(r.attack.clone()),
            Cell::number(r.rate.map_or("—".to_string(), format_rate)),
            Cell::text(format!("{} ({})", r.method, r.kind)),
            Cell::Code(r.mitigation.clone()),
            Cell::number(of(r.flagged, r.verdicts)),
            Cell::number(right),
            Cell::number(r.trusted_samples.to_string()),
            Cell::number(format_stat_percent(r.accuracy_before)),
            Cell::number(format_stat_percent(r.asr_before)),
            Cell::number(format_stat_percent(r.accuracy_after)),
            Cell::number(format_stat_percent(r.asr_after)),
        ]);
    }
    table
}

const NOTE: &str = "The poisoned model inspected (is it trojaned, toward which class) or \
    repaired with a small trusted clean set drawn from the test split; accuracy and ASR are \
    measured on the rest of the test split, before and after a repair. \"trojaned\" counts the \
    seeds whose verdict flagged a class, \"right target\" those that named the attack's target.";

/// The Markdown section (the pictures are only in the HTML report).
pub(crate) fn markdown(out: &mut String, report: &Report) {
    let r = report.model_defences();
    if r.is_empty() {
        return;
    }
    let _ = write!(out, "### Model inspection and repair\n\n{NOTE}\n\n");
    rows(r).write_markdown(out);
    if r.iter().any(|r| !r.triggers.is_empty()) {
        out.push_str("Reverse-engineered trigger pictures are in the HTML report.\n\n");
    }
}

/// The HTML section with each row's first seed's reverse-engineered triggers.
pub(crate) fn html(out: &mut String, report: &Report) {
    let r = report.model_defences();
    if r.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<h3>Model inspection and repair</h3><p class=\"note\">{}</p>",
        escape(NOTE)
    );
    rows(r).write_html(out);
    for row in r.iter().filter(|r| !r.triggers.is_empty()) {
        let _ = write!(
            out,
            "<h4>Reversed triggers: {} against {} at {}</h4><div class=\"triggers\">",
            escape(&row.method),
            escape(&row.attack),
            row.rate.map_or("—".to_string(), format_rate)
        );
        for t in &row.triggers {
            // base64 never needs escaping inside an attribute.
            let _ = write!(
                out,
                "<figure><img alt=\"class {c} trigger\" src=\"data:image/png;base64,{}\">\
                 <figcaption>class {c}, mask L1 {:.1}</figcaption></figure>",
                t.png_base64,
                t.mask_norm,
                c = t.class,
            );
        }
        out.push_str("</div>");
    }
}
