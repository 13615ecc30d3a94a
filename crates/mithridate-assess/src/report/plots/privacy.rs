//! The privacy plots: a federation's DP-FedAvg noise curve (clean accuracy, each backdoor's ASR
//! and the accuracy under each untargeted attack against the noise multiplier, on a log axis
//! since multipliers are chosen by factors), and DPA's certified accuracy against the poison
//! budget, one line per setting of a dataset.

use super::HouseStyle;
use super::{color, err, render, short, LegendEntry, Plot, PlotKind, Swatch};
use crate::record::Family;
use crate::report::privacy_tables::curve_points;
use crate::report::summary::{DpaRow, PrivacyGroup};
use crate::report::ReportError;
use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;

pub(super) fn noise_curve(g: &PrivacyGroup) -> Result<Plot, ReportError> {
    let title = format!(
        "DP-FedAvg on {} ({}, {} malicious / round): vs noise multiplier",
        short(&g.dataset, 24),
        g.model,
        g.malicious_per_round
    );
    render(PlotKind::PrivacyNoise, title, |root| {
        let points = curve_points(g);
        let lo = points.iter().map(|(z, _)| *z).fold(f64::INFINITY, f64::min);
        let hi = points.iter().map(|(z, _)| *z).fold(0.0, f64::max);
        let (x0, x1) = if points.is_empty() {
            (0.1, 10.0)
        } else {
            (lo / 1.25, hi * 1.25)
        };
        let ticks: Vec<f64> = points.iter().map(|(z, _)| *z).collect();
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            // Ticks at the curve's own multipliers: a log axis's 1..9 x 10^k ticks would miss
            // most of them and label the rest with floating-point noise.
            .build_cartesian_2d((x0..x1).log_scale().with_key_points(ticks), 0.0..105.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("noise multiplier z (log scale)")
            .y_desc("accuracy, ASR dashed (%)")
            .x_label_formatter(&|z| format!("{z}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .house_style()
            .draw()
            .map_err(err)?;
        let mut entries: Vec<LegendEntry> = Vec::new();
        let mut line = |i: usize, label: String, ys: Vec<(f64, f64)>, dashed: bool| {
            let c = color(i);
            if ys.is_empty() {
                return Ok::<(), String>(());
            }
            if dashed {
                chart
                    .draw_series(DashedLineSeries::new(ys.clone(), 6, 4, c.stroke_width(2)))
                    .map_err(err)?;
                entries.push((label, Swatch::Dashed(c)));
            } else {
                chart
                    .draw_series(LineSeries::new(ys.clone(), c.stroke_width(2)))
                    .map_err(err)?;
                entries.push((label, Swatch::Line(c)));
            }
            chart
                .draw_series(ys.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(err)?;
            Ok(())
        };
        let percent = |v: Option<f64>| v.map(|v| v * 100.0).filter(|v| v.is_finite());
        let clean = points
            .iter()
            .filter_map(|(z, r)| Some((*z, percent(r.clean_accuracy.map(|s| s.mean))?)))
            .collect();
        line(0, "no-attack accuracy".to_string(), clean, false)?;
        for (i, a) in g.attacks.iter().enumerate() {
            let backdoor = a.family == Family::Backdoor;
            let ys = points
                .iter()
                .filter_map(|(z, r)| {
                    let e = r.effects.get(i)?;
                    let v = if backdoor { e.asr } else { e.accuracy };
                    Some((*z, percent(v.map(|s| s.mean))?))
                })
                .collect();
            let label = if backdoor {
                format!("ASR under {}", a.attack)
            } else {
                format!("accuracy under {}", a.attack)
            };
            line(i + 1, label, ys, backdoor)?;
        }
        Ok(entries)
    })
}

/// Certified accuracy against the radius, one line per DPA setting of `dataset`.
pub(super) fn dpa_certified(dataset: &str, rows: &[&DpaRow]) -> Result<Plot, ReportError> {
    let title = format!(
        "DPA on {}: certified accuracy vs poisoned samples",
        short(dataset, 28)
    );
    render(PlotKind::DpaCertified, title, |root| {
        let hi = rows
            .iter()
            .flat_map(|r| r.certified.iter().map(|c| c.radius))
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..hi * 1.03, 0.0..105.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("radius: inserted or deleted training samples")
            .y_desc("certified accuracy (%)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .house_style()
            .draw()
            .map_err(err)?;
        let mut entries: Vec<LegendEntry> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let c = color(i);
            let ys: Vec<(f64, f64)> = row
                .certified
                .iter()
                .filter_map(|p| Some((p.radius as f64, p.accuracy?.mean * 100.0)))
                .filter(|(_, y)| y.is_finite())
                .collect();
            chart
                .draw_series(LineSeries::new(ys.clone(), c.stroke_width(2)))
                .map_err(err)?;
            chart
                .draw_series(ys.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(err)?;
            entries.push((row.label(), Swatch::Line(c)));
        }
        Ok(entries)
    })
}
