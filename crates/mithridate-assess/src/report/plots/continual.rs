//! The continual-retraining timeline: one run's deployed model batch by batch, with the
//! campaign's poisoned batches, the loop's blocks and the serving monitors' alerts.
//!
//! A timeline is one seed's run, not a mean over seeds: averaging would blur the one thing it
//! is there to show, the batch at which the poison was (or was not) stopped.

use super::HouseStyle;
use super::{color, err, integer_label, render, short, LegendEntry, Plot, PlotKind, Swatch};
use crate::record::{CellRecord, ContinualOutcome, Outcome};
use crate::report::summary::ContinualRow;
use crate::report::ReportError;
use plotters::prelude::*;

/// At most this many timelines: beyond it the HTML would be mostly timelines.
pub(crate) const MAX_TIMELINES: usize = 12;

/// Background of the batches that carried poison.
const POISON_SHADE: RGBColor = RGBColor(251, 224, 222);
/// The cross of a blocked batch (the report's "succeeds" red).
const BLOCK: RGBColor = RGBColor(183, 28, 28);
/// Markers sit in a lane above 100%, where no percentage can hide them.
const BLOCK_Y: f64 = 108.0;
const ALERT_Y: f64 = 103.0;
const Y_MAX: f64 = 112.0;

/// The runs that get a timeline: every seed while there are at most [`MAX_TIMELINES`] runs,
/// else the lowest seed of each configuration (the first [`MAX_TIMELINES`] of them).
fn timeline_runs(rows: &[ContinualRow]) -> Vec<(&ContinualRow, u64, &str)> {
    let every_seed = rows.iter().map(|r| r.runs.len()).sum::<usize>() <= MAX_TIMELINES;
    rows.iter()
        .flat_map(|row| {
            let runs = if every_seed {
                &row.runs[..]
            } else {
                &row.runs[..row.runs.len().min(1)]
            };
            runs.iter()
                .map(move |run| (row, run.seed, run.cell.as_str()))
        })
        .take(MAX_TIMELINES)
        .collect()
}

/// One timeline per run of [`timeline_runs`] whose record is among `records`.
pub(super) fn continual_timelines(
    rows: &[ContinualRow],
    records: &[CellRecord],
) -> Result<Vec<Plot>, ReportError> {
    timeline_runs(rows)
        .into_iter()
        .filter_map(|(row, seed, cell)| {
            records
                .iter()
                .find(|r| r.id == cell && r.seed == seed && r.dataset == row.dataset)
                .and_then(|r| match &r.outcome {
                    Outcome::Continual(c) => Some((row, seed, c)),
                    _ => None,
                })
        })
        .map(|(row, seed, outcome)| timeline(row, seed, outcome))
        .collect()
}

/// Deployed accuracy (solid) and ASR (dashed) per batch; poisoned batches shaded, the first
/// one marked by a dashed vertical line; crosses over blocked batches, triangles over batches
/// with a monitor alert.
fn timeline(row: &ContinualRow, seed: u64, c: &ContinualOutcome) -> Result<Plot, ReportError> {
    let title = format!(
        "{} on {} ({}, {} retrain), seed {seed}",
        row.label(),
        short(&row.dataset, 24),
        row.model,
        row.retrain
    );
    render(PlotKind::ContinualTimeline, title, |root| {
        let mut entries: Vec<LegendEntry> = Vec::new();
        let steps = c
            .timeline
            .iter()
            .map(|p| p.step + 1)
            .max()
            .unwrap_or(0)
            .max(c.batches)
            .max(1);
        let (x0, x1) = (-0.5, steps as f64 - 0.5);
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, 0.0..Y_MAX)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("batch (one retrain each)")
            .y_desc("deployed model (%)")
            .x_labels(steps.clamp(2, 12))
            .x_label_formatter(&integer_label)
            // The lane above 100% holds markers, not values.
            .y_label_formatter(&|y| {
                if *y <= 100.0 + 1e-9 {
                    format!("{y:.0}")
                } else {
                    String::new()
                }
            })
            .house_style()
            .draw()
            .map_err(err)?;

        let poisoned: Vec<f64> = c
            .timeline
            .iter()
            .filter(|p| p.poisoned > 0)
            .map(|p| p.step as f64)
            .collect();
        if !poisoned.is_empty() {
            chart
                .draw_series(poisoned.iter().map(|&x| {
                    Rectangle::new([(x - 0.5, 0.0), (x + 0.5, 100.0)], POISON_SHADE.filled())
                }))
                .map_err(err)?;
            entries.push(("poisoned batch".to_string(), Swatch::Bar(POISON_SHADE)));
        }
        if let Some(first) = c.first_poisoned_batch {
            let x = first as f64;
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x, 0.0), (x, 100.0)],
                    5,
                    4,
                    color(7).stroke_width(2),
                ))
                .map_err(err)?;
            entries.push((
                format!("first poison (batch {first})"),
                Swatch::Dashed(color(7)),
            ));
        }

        let accuracy: Vec<(f64, f64)> = c
            .timeline
            .iter()
            .map(|p| (p.step as f64, p.accuracy * 100.0))
            .filter(|(_, y)| y.is_finite())
            .collect();
        draw_line(&mut chart, &accuracy, color(0), false)?;
        entries.push(("deployed accuracy".to_string(), Swatch::Line(color(0))));
        let asr: Vec<(f64, f64)> = c
            .timeline
            .iter()
            .filter_map(|p| Some((p.step as f64, p.asr? * 100.0)))
            .filter(|(_, y)| y.is_finite())
            .collect();
        if !asr.is_empty() {
            draw_line(&mut chart, &asr, color(1), true)?;
            entries.push(("deployed ASR".to_string(), Swatch::Dashed(color(1))));
        }

        let blocked = c.timeline.iter().filter(|p| p.blocked);
        if blocked.clone().next().is_some() {
            chart
                .draw_series(
                    blocked.map(|p| Cross::new((p.step as f64, BLOCK_Y), 7, BLOCK.stroke_width(3))),
                )
                .map_err(err)?;
            entries.push((
                "blocked (deployed model kept)".to_string(),
                Swatch::Cross(BLOCK),
            ));
        }
        let alerts = c.timeline.iter().filter(|p| !p.alerts.is_empty());
        if alerts.clone().next().is_some() {
            chart
                .draw_series(
                    alerts.map(|p| {
                        TriangleMarker::new((p.step as f64, ALERT_Y), 7, color(3).filled())
                    }),
                )
                .map_err(err)?;
            entries.push(("monitor alert".to_string(), Swatch::Triangle(color(3))));
        }
        Ok(entries)
    })
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A series as a solid or dashed line with a dot on every point (so a single point shows).
fn draw_line(
    chart: &mut Chart<'_, '_>,
    points: &[(f64, f64)],
    c: RGBColor,
    dashed: bool,
) -> Result<(), String> {
    if dashed {
        chart
            .draw_series(DashedLineSeries::new(
                points.iter().copied(),
                6,
                4,
                c.stroke_width(2),
            ))
            .map_err(err)?;
    } else {
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
            .map_err(err)?;
    }
    chart
        .draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
        .map_err(err)?;
    Ok(())
}
