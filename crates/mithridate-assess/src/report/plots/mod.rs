//! The report's plots, drawn with `plotters` into SVG strings (text uses font-family names
//! only, so no font files or fontconfig are needed).
//!
//! This module holds the plot types, the order they are drawn in and what every plot shares
//! (canvas, palette, side legend); the plots of one attack group are in `attack`, the
//! federated one in `federated`, the continual timelines in `continual`, the RAG one in
//! `rag`, the noise curve and certified accuracy in `privacy`, the text and generative-model
//! curves in `language`.

mod attack;
mod continual;
mod federated;
mod language;
mod privacy;
mod rag;

use super::summary::{Aggregate, FederatedRow};
use super::ReportError;
use crate::record::CellRecord;
use attack::{attack_curve, defence_effect, roc};
use continual::continual_timelines;
pub(crate) use continual::MAX_TIMELINES;
use federated::federated_rounds;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use rag::rag_poisons;
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
    /// One continual-retraining run per batch: deployed accuracy and ASR, poisoned, blocked
    /// and alerting steps.
    ContinualTimeline,
    /// Top-k attack success and clean recall vs poisons per target, per defence setting, for
    /// one RAG attack on one corpus and retriever.
    RagPoisons,
    /// A federation's clean accuracy, backdoor ASR and accuracy under attack vs the DP-FedAvg
    /// noise multiplier.
    PrivacyNoise,
    /// DPA's certified accuracy vs radius, one line per setting of a dataset.
    DpaCertified,
    /// A text attack's ASR vs poison rate: the poisoned head, the clean head's floor, each
    /// defence's ASR after.
    TextPoisonRate,
    /// A generative backdoor's attack success vs poisoned-document count, one line per corpus
    /// size (and per defence after).
    LmPoisonCount,
}

impl PlotKind {
    /// Section heading in the HTML report.
    pub fn heading(self) -> &'static str {
        match self {
            PlotKind::AttackCurve => "Attack success and clean accuracy vs poison rate",
            PlotKind::DefenceEffect => "Defence effect: attack success before and after",
            PlotKind::Roc => "Detection ROC curves",
            PlotKind::FederatedRounds => "Federated accuracy per round per rule",
            PlotKind::ContinualTimeline => "Continual retraining timeline",
            PlotKind::RagPoisons => {
                "RAG poisoning: top-k attack success and clean recall vs poisons per target"
            }
            PlotKind::PrivacyNoise => {
                "DP-FedAvg: clean accuracy and attack success vs noise multiplier"
            }
            PlotKind::DpaCertified => "Deep Partition Aggregation: certified accuracy vs radius",
            PlotKind::TextPoisonRate => "Text classifier: ASR vs poison rate",
            PlotKind::LmPoisonCount => {
                "Generative model: attack success vs poisoned-document count"
            }
        }
    }

    pub const ALL: [PlotKind; 10] = [
        PlotKind::AttackCurve,
        PlotKind::DefenceEffect,
        PlotKind::Roc,
        PlotKind::FederatedRounds,
        PlotKind::ContinualTimeline,
        PlotKind::RagPoisons,
        PlotKind::PrivacyNoise,
        PlotKind::DpaCertified,
        PlotKind::TextPoisonRate,
        PlotKind::LmPoisonCount,
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

/// The mesh style every plot shares: label and axis fonts, faint grid lines.
trait HouseStyle {
    fn house_style(&mut self) -> &mut Self;
}

impl<X: Ranged, Y: Ranged, DB: DrawingBackend> HouseStyle
    for plotters::chart::MeshStyle<'_, '_, X, Y, DB>
{
    fn house_style(&mut self) -> &mut Self {
        self.label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .light_line_style(BLACK.mix(0.05))
            .bold_line_style(BLACK.mix(0.12))
    }
}

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

/// Draws all plots in section order: attack curves, defence effects, ROC, federated, continual
/// timelines (drawn from the `records` themselves: a timeline is one seed's, not a mean), RAG
/// attack success by poisons per target, privacy noise curves, DPA certified accuracy, text ASR
/// by poison rate, generative attack success by poisoned-document count.
pub fn draw_all(aggregate: &Aggregate, records: &[CellRecord]) -> Result<Vec<Plot>, ReportError> {
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
    plots.extend(continual_timelines(&aggregate.continual, records)?);
    for group in &aggregate.rag {
        plots.push(rag_poisons(group)?);
    }
    for group in aggregate
        .privacy
        .groups
        .iter()
        .filter(|g| !g.curve.is_empty())
    {
        plots.push(privacy::noise_curve(group)?);
    }
    let dpa = &aggregate.privacy.dpa;
    let mut datasets: Vec<&str> = Vec::new();
    for row in dpa {
        if !datasets.contains(&row.dataset.as_str()) {
            datasets.push(&row.dataset);
        }
    }
    for dataset in datasets {
        let rows: Vec<_> = dpa.iter().filter(|r| r.dataset == dataset).collect();
        plots.push(privacy::dpa_certified(dataset, &rows)?);
    }
    for group in &aggregate.language.text {
        plots.push(language::text_curve(group)?);
    }
    for group in &aggregate.language.lm {
        plots.push(language::lm_curve(group)?);
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
    /// A point marker: a cross (blocked steps).
    Cross(RGBColor),
    /// A point marker: a triangle (alerting steps).
    Triangle(RGBColor),
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
            Swatch::Cross(c) => area
                .draw(&Cross::new((18, y), 6, c.stroke_width(2)))
                .map_err(err)?,
            Swatch::Triangle(c) => area
                .draw(&TriangleMarker::new((18, y), 6, c.filled()))
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

/// An axis label for whole-numbered axes (rounds, batches): the integer ticks only.
fn integer_label(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-6 {
        // `+ 0.0` turns a rounded -0 into 0.
        format!("{}", x.round() + 0.0)
    } else {
        String::new()
    }
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
