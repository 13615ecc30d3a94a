//! The RAG plot: top-k attack success (solid) and clean recall (dashed) against poisons per
//! target, one colour per defence setting, for one attack on one corpus and retriever.
//!
//! Clean recall does not depend on the attack's budget; drawing it beside the attack success
//! shows at a glance what a defence that flattens the solid line costs the dashed one.

use super::HouseStyle;
use super::{color, err, integer_label, render, short, LegendEntry, Plot, PlotKind, Swatch};
use crate::report::summary::{setting_label, RagGroup, RagRow};
use crate::report::ReportError;
use plotters::prelude::*;

pub(super) fn rag_poisons(g: &RagGroup) -> Result<Plot, ReportError> {
    let k = g.k.as_str();
    let title = format!(
        "RAG, {} on {} ({}): ASR@{k} vs poisons per target",
        g.label(),
        short(&g.corpus, 24),
        g.retriever
    );
    render(PlotKind::RagPoisons, title, |root| {
        let mut entries: Vec<LegendEntry> = Vec::new();
        let lo = g.poisons.first().copied().unwrap_or(1) as f64;
        let hi = g.poisons.last().copied().unwrap_or(1) as f64;
        // A margin so the end points' dots are not cut in half by the axes.
        let pad = ((hi - lo) * 0.05).max(0.5);
        let (x0, x1) = (lo - pad, hi + pad);
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, 0.0..105.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("poisoned passages per target question")
            .y_desc(format!("ASR@{k}, clean recall@{k} dashed (%)"))
            .x_labels(((x1 - x0) as usize + 1).clamp(2, 12))
            .x_label_formatter(&integer_label)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .house_style()
            .draw()
            .map_err(err)?;
        for (i, setting) in g.settings.iter().enumerate() {
            let c = color(i);
            let rows: Vec<&RagRow> = g.rows.iter().filter(|r| &r.defences == setting).collect();
            let series = |map: fn(&RagRow) -> &std::collections::BTreeMap<String, _>| {
                rows.iter()
                    .filter_map(|r| {
                        let y = RagRow::mean(map(r), k)? * 100.0;
                        y.is_finite().then_some((r.poisons_per_target as f64, y))
                    })
                    .collect::<Vec<(f64, f64)>>()
            };
            let label = if setting.is_empty() {
                "undefended".to_string()
            } else {
                setting_label(setting)
            };
            let asr = series(|r| &r.asr_at_k);
            chart
                .draw_series(LineSeries::new(asr.iter().copied(), c.stroke_width(2)))
                .map_err(err)?;
            chart
                .draw_series(asr.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(err)?;
            entries.push((format!("{label} ASR@{k}"), Swatch::Line(c)));
            let recall = series(|r| &r.clean_recall_at_k);
            if !recall.is_empty() {
                chart
                    .draw_series(DashedLineSeries::new(recall, 6, 4, c.stroke_width(2)))
                    .map_err(err)?;
                entries.push((format!("{label} clean recall@{k}"), Swatch::Dashed(c)));
            }
        }
        Ok(entries)
    })
}
