//! The federated plot: accuracy (and ASR) per round per aggregation rule under one attack.

use super::HouseStyle;
use super::{color, err, integer_label, render, short, LegendEntry, Plot, PlotKind, Swatch};
use crate::report::summary::FederatedRow;
use crate::report::ReportError;
use plotters::prelude::*;

/// (d) Mean accuracy per round per rule (solid) and ASR where measured (dashed).
pub(super) fn federated_rounds(rows: &[&FederatedRow], several: bool) -> Result<Plot, ReportError> {
    let first = rows[0];
    let attack = if first.attack == "none" {
        "no attack (benign)".to_string()
    } else {
        first.attack.clone()
    };
    let title = format!(
        "Federated, {attack} on {} ({}): accuracy per round",
        short(&first.dataset, 28),
        first.model
    );
    render(PlotKind::FederatedRounds, title, |root| {
        let mut entries: Vec<LegendEntry> = Vec::new();
        let rounds: Vec<f64> = rows
            .iter()
            .flat_map(|r| r.rounds.iter().map(|p| p.round as f64))
            .collect();
        let (x0, x1) = if rounds.is_empty() {
            (0.0, 1.0)
        } else {
            let lo = rounds.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = rounds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if hi > lo {
                (lo, hi)
            } else {
                (lo - 0.5, hi + 0.5)
            }
        };
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, 0.0..105.0)
            .map_err(err)?;
        let has_asr = rows
            .iter()
            .any(|r| r.rounds.iter().any(|p| p.asr.is_some()));
        chart
            .configure_mesh()
            .x_desc("round")
            .y_desc(if has_asr {
                "accuracy, ASR dashed (%)"
            } else {
                "accuracy (%)"
            })
            .x_labels(((x1 - x0) as usize + 1).clamp(2, 12))
            // Rounds are whole numbers: label only the integer ticks.
            .x_label_formatter(&integer_label)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .house_style()
            .draw()
            .map_err(err)?;
        for (i, row) in rows.iter().enumerate() {
            let c = color(i);
            let label = row.rule_label(several);
            chart
                .draw_series(LineSeries::new(
                    row.rounds
                        .iter()
                        .filter_map(|p| Some((p.round as f64, p.accuracy?.mean * 100.0)))
                        .filter(|(_, y)| y.is_finite()),
                    c.stroke_width(2),
                ))
                .map_err(err)?;
            entries.push((label.clone(), Swatch::Line(c)));
            let asr: Vec<(f64, f64)> = row
                .rounds
                .iter()
                .filter_map(|p| Some((p.round as f64, p.asr?.mean * 100.0)))
                .filter(|(_, y)| y.is_finite())
                .collect();
            if !asr.is_empty() {
                chart
                    .draw_series(DashedLineSeries::new(asr, 6, 4, c.stroke_width(2)))
                    .map_err(err)?;
                entries.push((format!("{label} ASR"), Swatch::Dashed(c)));
            }
        }
        Ok(entries)
    })
}
