//! The report's plots, drawn with `plotters` into SVG strings (text uses font-family names
//! only, so no font files or fontconfig are needed).

use super::summary::{Aggregate, AttackGroup, FederatedRow, Stat};
use super::{format_rate, metric_name, ReportError};
use crate::record::Family;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use serde::Serialize;

/// What a plot shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlotKind {
    /// Clean accuracy and attack success vs poison rate, undefended.
    AttackCurve,
    /// Attack success before and after each defence, per budget.
    DefenceEffect,
    /// Detection ROC curves per detector at one budget.
    Roc,
    /// Federated accuracy (and ASR) per round per aggregation rule under one update attack.
    FederatedRounds,
}

impl PlotKind {
    /// Section heading in the HTML report.
    pub fn heading(self) -> &'static str {
        match self {
            PlotKind::AttackCurve => "Attack success and clean accuracy vs poison rate",
            PlotKind::DefenceEffect => "Defence effect: attack success before and after",
            PlotKind::Roc => "Detection ROC curves",
            PlotKind::FederatedRounds => "Federated accuracy per round per rule",
        }
    }

    pub const ALL: [PlotKind; 4] = [
        PlotKind::AttackCurve,
        PlotKind::DefenceEffect,
        PlotKind::Roc,
        PlotKind::FederatedRounds,
    ];
}

/// One drawn plot.
#[derive(Debug, Clone)]
pub struct Plot {
    pub kind: PlotKind,
    pub title: String,
    /// A complete `<svg>` element.
    pub svg: String,
}

const WIDTH: u32 = 900;
/// The legend column right of the chart.
const LEGEND_WIDTH: u32 = 220;
const HEIGHT: u32 = 430;
const FONT: &str = "sans-serif";

/// Tableau 10: distinguishable, colour-blind friendlier than the default palette.
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Draws all plots in section order: attack curves, defence effects, ROC, federated.
pub fn draw_all(aggregate: &Aggregate) -> Result<Vec<Plot>, ReportError> {
    let mut plots = Vec::new();
    for group in &aggregate.attacks {
        plots.push(attack_curve(group)?);
    }
    for group in &aggregate.attacks {
        if group.rates.iter().any(|r| !r.defences.is_empty()) {
            plots.push(defence_effect(group)?);
        }
    }
    for group in &aggregate.attacks {
        if let Some(plot) = roc(group)? {
            plots.push(plot);
        }
    }
    let several = super::several_fractions(&aggregate.federated);
    let mut keys: Vec<(&str, &str, &str)> = Vec::new();
    for row in &aggregate.federated {
        let key = (
            row.dataset.as_str(),
            row.model.as_str(),
            row.attack.as_str(),
        );
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for (dataset, model, attack) in keys {
        let rows: Vec<&FederatedRow> = aggregate
            .federated
            .iter()
            .filter(|r| r.dataset == dataset && r.model == model && r.attack == attack)
            .collect();
        plots.push(federated_rounds(&rows, several)?);
    }
    Ok(plots)
}

fn render(
    kind: PlotKind,
    title: String,
    body: impl FnOnce(&Area<'_>) -> Result<Vec<LegendEntry>, String>,
) -> Result<Plot, ReportError> {
    let mut svg = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err).and_then(|()| {
            let inner = root.titled(&title, (FONT, 20)).map_err(err)?;
            let (chart, side) = inner.split_horizontally(WIDTH - LEGEND_WIDTH);
            let entries = body(&chart)?;
            side_legend(&side, &entries)?;
            root.present().map_err(err)
        })
    };
    result.map_err(|message| ReportError::Plot {
        title: title.clone(),
        message,
    })?;
    Ok(Plot { kind, title, svg })
}

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
enum Swatch {
    Line(RGBColor),
    Dashed(RGBColor),
    Bar(RGBColor),
}

type LegendEntry = (String, Swatch);

/// Splits a legend label into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// The legend in its own column right of the chart, so it never covers data.
fn side_legend(area: &Area<'_>, entries: &[LegendEntry]) -> Result<(), String> {
    const LINE: i32 = 17;
    let mut y = 24;
    for (label, swatch) in entries {
        match *swatch {
            Swatch::Line(c) => area
                .draw(&PathElement::new(vec![(6, y), (30, y)], c.stroke_width(2)))
                .map_err(err)?,
            Swatch::Dashed(c) => area
                .draw(&DashedPathElement::new(
                    vec![(6, y), (30, y)],
                    5,
                    3,
                    c.stroke_width(2),
                ))
                .map_err(err)?,
            Swatch::Bar(c) => area
                .draw(&Rectangle::new([(10, y - 6), (26, y + 6)], c.filled()))
                .map_err(err)?,
        }
        let lines = wrap(label, 22);
        for (i, line) in lines.iter().enumerate() {
            area.draw(&Text::new(
                line.clone(),
                (38, y - 7 + i as i32 * LINE),
                (FONT, 14).into_font().color(&BLACK),
            ))
            .map_err(err)?;
        }
        y += LINE * lines.len() as i32 + 8;
    }
    Ok(())
}

/// Long dataset paths would run off the plot: keep the end, which names the file.
fn short(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        text.to_string()
    } else {
        let tail: String = text.chars().skip(count - (max - 1)).collect();
        format!("…{tail}")
    }
}

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
fn attack_curve(group: &AttackGroup) -> Result<Plot, ReportError> {
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
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .light_line_style(BLACK.mix(0.05))
            .bold_line_style(BLACK.mix(0.12))
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
fn defence_effect(group: &AttackGroup) -> Result<Plot, ReportError> {
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
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .light_line_style(BLACK.mix(0.05))
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .map_err(err)?;
        let threshold = match group.family {
            Family::Availability => super::ACCURACY_DROP_THRESHOLD,
            _ => super::SUCCESS_RATE_THRESHOLD,
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
fn roc(group: &AttackGroup) -> Result<Option<Plot>, ReportError> {
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
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .light_line_style(BLACK.mix(0.05))
            .bold_line_style(BLACK.mix(0.12))
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

/// (d) Mean accuracy per round per rule (solid) and ASR where measured (dashed).
fn federated_rounds(rows: &[&FederatedRow], several: bool) -> Result<Plot, ReportError> {
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
            .x_label_formatter(&|x| {
                if (x - x.round()).abs() < 1e-6 {
                    format!("{}", x.round())
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .light_line_style(BLACK.mix(0.05))
            .bold_line_style(BLACK.mix(0.12))
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
