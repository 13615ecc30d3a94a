//! The language plots: a text attack's ASR against the poison rate (the poisoned head solid,
//! the clean head's floor dashed grey, each defence's ASR after dashed), and a generative
//! backdoor's attack success against the poisoned-document count, one solid line per corpus
//! size (each defence's ASR after, dashed in the size's colour).

use super::HouseStyle;
use super::{color, err, integer_label, render, short, LegendEntry, Plot, PlotKind, Swatch};
use crate::report::summary::{LmGroup, TextGroup};
use crate::report::{format_rate, ReportError, Stat};
use plotters::prelude::*;

type Series = Vec<(f64, f64)>;

/// Draws `solid` and `dashed` series (label, colour, points) on a 0-100% chart over `x0..x1`.
fn curves(
    root: &super::Area<'_>,
    (x0, x1): (f64, f64),
    x_desc: &str,
    x_label: &dyn Fn(&f64) -> String,
    solid: Vec<(String, RGBColor, Series)>,
    dashed: Vec<(String, RGBColor, Series)>,
) -> Result<Vec<LegendEntry>, String> {
    let mut chart = ChartBuilder::on(root)
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, 0.0..105.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("attack success (%)")
        .x_label_formatter(x_label)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .house_style()
        .draw()
        .map_err(err)?;
    let mut entries = Vec::new();
    for (label, c, points) in solid {
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
            .map_err(err)?;
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(err)?;
        entries.push((label, Swatch::Line(c)));
    }
    for (label, c, points) in dashed {
        chart
            .draw_series(DashedLineSeries::new(points, 6, 4, c.stroke_width(2)))
            .map_err(err)?;
        entries.push((label, Swatch::Dashed(c)));
    }
    Ok(entries)
}

fn point(x: f64, stat: Option<Stat>) -> Option<(f64, f64)> {
    let y = stat?.mean * 100.0;
    y.is_finite().then_some((x, y))
}

/// A margin so the end points' dots are not cut in half by the axes.
fn range(xs: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let lo = xs.clone().fold(f64::INFINITY, f64::min);
    let hi = xs.fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.05).max(if hi > 1.0 { 0.5 } else { 0.002 });
    (lo - pad, hi + pad)
}

/// The distinct `names` in first-appearance order.
fn first_seen<'a>(names: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for name in names {
        if !out.contains(&name.as_str()) {
            out.push(name);
        }
    }
    out
}

pub(super) fn text_curve(g: &TextGroup) -> Result<Plot, ReportError> {
    let title = format!("Text, {}: ASR vs poison rate", short(&g.title(), 60));
    render(PlotKind::TextPoisonRate, title, |root| {
        let undefended: Series = g.rows.iter().filter_map(|r| point(r.rate, r.asr)).collect();
        let floor: Series = g
            .rows
            .iter()
            .filter_map(|r| point(r.rate, r.asr_floor))
            .collect();
        let names = first_seen(g.rows.iter().flat_map(|r| &r.defences).map(|d| &d.defence));
        let mut dashed = vec![(
            "clean head (floor)".to_string(),
            RGBColor(127, 127, 127),
            floor,
        )];
        for (i, name) in names.iter().enumerate() {
            let points = g
                .rows
                .iter()
                .filter_map(|r| {
                    let d = r.defences.iter().find(|d| d.defence == *name)?;
                    point(r.rate, d.asr)
                })
                .collect();
            dashed.push((format!("after {name}"), color(i + 1), points));
        }
        curves(
            root,
            range(g.rows.iter().map(|r| r.rate)),
            "poison rate (share of training texts)",
            &|x| format_rate(*x),
            vec![("poisoned head".to_string(), color(0), undefended)],
            dashed,
        )
    })
}

pub(super) fn lm_curve(g: &LmGroup) -> Result<Plot, ReportError> {
    let title = format!(
        "LM, {} on {}: attack success vs poisoned documents",
        g.attack,
        short(&g.corpus, 24)
    );
    render(PlotKind::LmPoisonCount, title, |root| {
        let mut solid = Vec::new();
        let mut dashed = Vec::new();
        for (i, size) in g.sizes().into_iter().enumerate() {
            let rows: Vec<_> = g.rows.iter().filter(|r| r.train_docs == size).collect();
            let points = rows
                .iter()
                .filter_map(|r| point(r.poison_docs as f64, r.asr))
                .collect();
            solid.push((format!("{size} clean docs"), color(i), points));
            let names = first_seen(rows.iter().flat_map(|r| &r.defences).map(|d| &d.defence));
            for name in names {
                let points = rows
                    .iter()
                    .filter_map(|r| {
                        let d = r.defences.iter().find(|d| d.defence == name)?;
                        point(r.poison_docs as f64, d.asr)
                    })
                    .collect();
                dashed.push((format!("{size} docs, after {name}"), color(i), points));
            }
        }
        curves(
            root,
            range(g.rows.iter().map(|r| r.poison_docs as f64)),
            "poisoned documents",
            &integer_label,
            solid,
            dashed,
        )
    })
}
