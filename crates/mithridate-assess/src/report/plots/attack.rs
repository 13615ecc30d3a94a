//! The three plots of one attack group: (a) the attack curve, (b) the defence effect and
//! (c) the detection ROC curves, with the axis ranges and labels only they use.

use super::HouseStyle;
use super::{color, err, render, short, LegendEntry, Plot, PlotKind, Swatch, FONT};
use crate::record::Family;
use crate::report::summary::{AttackGroup, Stat};
use crate::report::{format_rate, metric_name, ReportError};
use plotters::prelude::*;

fn subject(group: &AttackGroup) -> String {
    format!(
        "{} on {} ({})",
        group.attack,
        short(&group.dataset, 32),
        group.model
    )
}

/// An x range around the given values with a margin, never empty.
fn padded_range(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let pad = if lo.abs() > 1e-12 {
            lo.abs() * 0.5
        } else {
            1.0
        };
        (lo - pad, hi + pad)
    } else {
        let pad = (hi - lo) * 0.08;
        (lo - pad, hi + pad)
    }
}

/// The y range of percentages: 0..100, widened for negative drops or sd whiskers beyond 100.
fn percent_range(stats: &[Stat]) -> (f64, f64) {
    let lo = stats
        .iter()
        .map(|s| (s.mean - s.sd) * 100.0)
        .fold(0.0_f64, f64::min);
    let hi = stats
        .iter()
        .map(|s| (s.mean + s.sd) * 100.0)
        .fold(100.0_f64, f64::max);
    (lo - if lo < 0.0 { 5.0 } else { 0.0 }, hi + 5.0)
}

/// (a) Clean accuracy and success vs poison rate, undefended, mean with ±sd whiskers.
pub(super) fn attack_curve(group: &AttackGroup) -> Result<Plot, ReportError> {
    let metric = metric_name(group.family);
    let title = format!("{}: accuracy and {metric} vs rate", subject(group));
    render(PlotKind::AttackCurve, title, |root| {
        let mut entries: Vec<LegendEntry> = Vec::new();
        // A non-finite budget cannot be placed on the axis (its row stays in the tables).
        let rates = group.rates.iter().filter(|r| r.rate.is_finite());
        let xs: Vec<f64> = rates.clone().map(|r| r.rate * 100.0).collect();
        let accuracy: Vec<(f64, Stat)> = rates
            .clone()
            .filter_map(|r| Some((r.rate * 100.0, r.accuracy?)))
            .collect();
        let success: Vec<(f64, Stat)> = rates
            .filter_map(|r| Some((r.rate * 100.0, r.success?)))
            .collect();
        let all: Vec<Stat> = accuracy.iter().chain(&success).map(|(_, s)| *s).collect();
        let (x0, x1) = padded_range(&xs);
        let (y0, y1) = percent_range(&all);
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("poison rate (%)")
            .y_desc("%")
            .x_label_formatter(&|x| trim_number(*x))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .house_style()
            .draw()
            .map_err(err)?;
        if let Some(baseline) = group.rates.iter().find_map(|r| r.baseline_accuracy) {
            let y = baseline.mean * 100.0;
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x0, y), (x1, y)],
                    6,
                    4,
                    color(7).stroke_width(2),
                ))
                .map_err(err)?;
            entries.push((
                "clean baseline accuracy".to_string(),
                Swatch::Dashed(color(7)),
            ));
        }
        let success_label = match group.family {
            Family::Availability => "accuracy drop (pts)".to_string(),
            _ => metric.to_string(),
        };
        for (i, (label, series)) in [
            ("clean accuracy".to_string(), &accuracy),
            (success_label, &success),
        ]
        .into_iter()
        .enumerate()
        {
            let c = color(i);
            chart
                .draw_series(LineSeries::new(
                    series.iter().map(|(x, s)| (*x, s.mean * 100.0)),
                    c.stroke_width(2),
                ))
                .map_err(err)?;
            entries.push((label, Swatch::Line(c)));
            chart
                .draw_series(
                    series
                        .iter()
                        .map(|(x, s)| Circle::new((*x, s.mean * 100.0), 4, c.filled())),
                )
                .map_err(err)?;
            chart
                .draw_series(series.iter().filter(|(_, s)| s.sd > 0.0).map(|(x, s)| {
                    PathElement::new(
                        vec![(*x, (s.mean - s.sd) * 100.0), (*x, (s.mean + s.sd) * 100.0)],
                        c.stroke_width(1),
                    )
                }))
                .map_err(err)?;
        }
        Ok(entries)
    })
}

/// `0.5`, `1`, `12.5`: an axis number without trailing zeros.
fn trim_number(x: f64) -> String {
    let text = format!("{x:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// (b) Success undefended and after each detector, grouped bars per budget.
pub(super) fn defence_effect(group: &AttackGroup) -> Result<Plot, ReportError> {
    let metric = metric_name(group.family);
    let title = format!("{}: {metric} before / after defence", subject(group));
    render(PlotKind::DefenceEffect, title, |root| {
        let mut entries: Vec<LegendEntry> = Vec::new();
        let rates: Vec<_> = group
            .rates
            .iter()
            .filter(|r| !r.defences.is_empty())
            .collect();
        let mut series_names: Vec<String> = vec!["undefended".to_string()];
        for row in &rates {
            for d in &row.defences {
                if !series_names.contains(&d.detector) {
                    series_names.push(d.detector.clone());
                }
            }
        }
        // bars[series][category]
        let bars: Vec<Vec<Option<f64>>> = series_names
            .iter()
            .enumerate()
            .map(|(j, name)| {
                rates
                    .iter()
                    .map(|row| {
                        let stat = if j == 0 {
                            row.success
                        } else {
                            row.defences.iter().find(|d| &d.detector == name)?.success
                        };
                        stat.map(|s| s.mean * 100.0).filter(|v| v.is_finite())
                    })
                    .collect()
            })
            .collect();
        let values: Vec<f64> = bars.iter().flatten().flatten().copied().collect();
        let lo = values.iter().copied().fold(0.0_f64, f64::min);
        let hi = match group.family {
            Family::Availability => values.iter().copied().fold(20.0_f64, f64::max) * 1.15,
            _ => 110.0,
        };
        let n = rates.len();
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(
                -0.5..(n as f64 - 0.5),
                (lo - if lo < 0.0 { 5.0 } else { 0.0 })..hi,
            )
            .map_err(err)?;
        let labels: Vec<String> = rates.iter().map(|r| format_rate(r.rate)).collect();
        let x_formatter = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        };
        let y_desc = match group.family {
            Family::Availability => "accuracy drop (pts)".to_string(),
            _ => format!("{metric} (%)"),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.max(1))
            .x_desc("poison rate")
            .y_desc(y_desc)
            .x_label_formatter(&x_formatter)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .house_style()
            .draw()
            .map_err(err)?;
        let threshold = match group.family {
            Family::Availability => crate::report::ACCURACY_DROP_THRESHOLD,
            _ => crate::report::SUCCESS_RATE_THRESHOLD,
        } * 100.0;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(-0.5, threshold), (n as f64 - 0.5, threshold)],
                6,
                4,
                BLACK.mix(0.6).stroke_width(1),
            ))
            .map_err(err)?;
        entries.push((
            "success threshold".to_string(),
            Swatch::Dashed(RGBColor(90, 90, 90)),
        ));
        let k = series_names.len() as f64;
        let width = 0.8 / k;
        for (j, (name, values)) in series_names.iter().zip(&bars).enumerate() {
            let c = if j == 0 { color(1) } else { color(j - 1 + 2) };
            let left = |i: usize| i as f64 - 0.4 + j as f64 * width;
            chart
                .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                    v.map(|v| {
                        Rectangle::new(
                            [(left(i) + 0.01, 0.0), (left(i) + width - 0.01, v)],
                            c.filled(),
                        )
                    })
                }))
                .map_err(err)?;
            entries.push((name.clone(), Swatch::Bar(c)));
            chart
                .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                    v.map(|v| {
                        Text::new(
                            format!("{v:.0}"),
                            (left(i) + width / 2.0, v.max(0.0)),
                            (FONT, 13).into_font().color(&BLACK).pos(
                                plotters::style::text_anchor::Pos::new(
                                    plotters::style::text_anchor::HPos::Center,
                                    plotters::style::text_anchor::VPos::Bottom,
                                ),
                            ),
                        )
                    })
                }))
                .map_err(err)?;
        }
        Ok(entries)
    })
}

/// (c) ROC curves of every detector at the smallest budget that has one, with the chance line.
pub(super) fn roc(group: &AttackGroup) -> Result<Option<Plot>, ReportError> {
    let Some(row) = group
        .rates
        .iter()
        .find(|r| r.defences.iter().any(|d| !d.roc.is_empty()))
    else {
        return Ok(None);
    };
    let title = format!(
        "{} at {}: detection ROC",
        subject(group),
        format_rate(row.rate)
    );
    let plot = render(PlotKind::Roc, title, |root| {
        let mut entries: Vec<LegendEntry> = Vec::new();
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..1.0, 0.0..1.02)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("false positive rate")
            .y_desc("true positive rate")
            .house_style()
            .draw()
            .map_err(err)?;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, 0.0), (1.0, 1.0)],
                5,
                5,
                color(7).stroke_width(1),
            ))
            .map_err(err)?;
        entries.push(("chance".to_string(), Swatch::Dashed(color(7))));
        for (i, d) in row
            .defences
            .iter()
            .filter(|d| !d.roc.is_empty())
            .enumerate()
        {
            let c = color(i);
            let auroc = match d.auroc {
                Some(s) if s.mean.is_finite() => format!("AUROC {:.3}", s.mean),
                _ => "AUROC —".to_string(),
            };
            chart
                .draw_series(LineSeries::new(
                    d.roc
                        .iter()
                        .filter(|p| p[0].is_finite() && p[1].is_finite())
                        .map(|p| (p[0], p[1])),
                    c.stroke_width(2),
                ))
                .map_err(err)?;
            entries.push((format!("{} ({auroc})", d.detector), Swatch::Line(c)));
        }
        Ok(entries)
    })?;
    Ok(Some(plot))
}
