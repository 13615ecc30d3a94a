//! The privacy section's tables, shown by both the HTML and the Markdown report: a federation's
//! deployments side by side (and its noise curve, the same columns by noise multiplier), the
//! filing of its attacks, and DPA's certified accuracy by radius.

use super::shared_tables::{success_text, taxonomy_cells, taxonomy_columns};
use super::summary::{AttackEffect, DeploymentRow, DpaRow, PrivacyGroup};
use super::table::{Cell, Column, Table};
use super::{
    format_percent, format_stat_number, format_stat_percent, format_success, undefended_word, Stat,
};
use crate::record::Family;

/// The headings of a group's tables, which name its attacks and delta.
pub(crate) struct PrivacyHeadings {
    epsilon: String,
    effects: Vec<String>,
}

impl PrivacyHeadings {
    pub fn of(g: &PrivacyGroup) -> PrivacyHeadings {
        PrivacyHeadings {
            epsilon: format!("ε (δ = {:e})", g.delta),
            effects: g
                .attacks
                .iter()
                .map(|a| match a.family {
                    Family::Backdoor => format!("ASR · {}", a.attack),
                    _ => format!("damage · {}", a.attack),
                })
                .collect(),
        }
    }
}

/// A backdoor's ASR, another attack's damage (accuracy drop against the deployment's own
/// no-attack run): with the spread and verdict (HTML), or the mean and verdict (Markdown).
fn effect_cells(e: &AttackEffect) -> [Cell; 2] {
    let (full, mean) = match e.family {
        Family::Backdoor => (
            format_stat_percent(e.asr),
            format_percent(e.asr.map(|s| s.mean)),
        ),
        _ => (
            success_text(Family::ModelPoisoning, e.damage),
            format_success(Family::ModelPoisoning, e.damage.map(|s| s.mean)),
        ),
    };
    let word = undefended_word(e.level);
    [
        Cell::badge(e.level, word, full),
        Cell::badge(e.level, word, mean),
    ]
}

/// One row per deployment (or per noise-curve point when `curve`): epsilon, clean accuracy,
/// and per attack the backdoor's ASR or the untargeted attack's damage.
pub(crate) fn deployments<'a>(g: &PrivacyGroup, curve: bool, h: &'a PrivacyHeadings) -> Table<'a> {
    let mut columns = vec![
        Column::both(if curve {
            "noise multiplier"
        } else {
            "deployment"
        }),
        Column::html("seeds"),
        Column::both(&h.epsilon),
        Column::html("clean accuracy"),
        Column::markdown("clean accuracy"),
    ];
    for heading in &h.effects {
        columns.extend([Column::html(heading), Column::markdown(heading)]);
    }
    let mut table = Table::new(columns);
    let rows = if curve { &g.curve } else { &g.deployments };
    for r in rows {
        let mut cells = vec![
            if curve {
                Cell::number(
                    r.noise_multiplier
                        .map_or("—".to_string(), |z| z.to_string()),
                )
            } else {
                Cell::Strong(r.deployment.clone())
            },
            Cell::number(r.seeds.len().to_string()),
            Cell::number(r.epsilon_text()),
            Cell::number(format_stat_percent(r.clean_accuracy)),
            Cell::text(format_percent(r.clean_accuracy.map(|s| s.mean))),
        ];
        cells.extend(r.effects.iter().flat_map(effect_cells));
        table.push(cells);
    }
    table
}

/// The group's attacks with what measures them and their taxonomy references.
pub(crate) fn attacks(g: &PrivacyGroup) -> Table<'static> {
    let mut table = Table::shared(&["update attack", "family", "measured as"]);
    table.columns.extend(taxonomy_columns());
    for a in &g.attacks {
        let measure = match a.family {
            Family::Backdoor => "final backdoor ASR",
            _ => "accuracy drop vs the deployment's no-attack run",
        };
        let mut cells = vec![
            Cell::Strong(a.attack.clone()),
            Cell::text(a.family.name()),
            Cell::text(measure),
        ];
        cells.extend(taxonomy_cells(&a.taxonomy));
        table.push(cells);
    }
    table
}

/// The radii of every DPA row, and their headings.
pub(crate) struct DpaHeadings {
    radii: Vec<u32>,
    names: Vec<String>,
}

impl DpaHeadings {
    pub fn of(rows: &[DpaRow]) -> DpaHeadings {
        let mut radii: Vec<u32> = rows
            .iter()
            .flat_map(|r| r.certified.iter().map(|c| c.radius))
            .collect();
        radii.sort_unstable();
        radii.dedup();
        let names = radii.iter().map(|r| format!("certified @ {r}")).collect();
        DpaHeadings { radii, names }
    }
}

/// One row per DPA setting: the vote's accuracy, the base classifiers', the median certified
/// radius and certified accuracy at every radius (poisoned training samples).
pub(crate) fn dpa<'a>(rows: &[DpaRow], h: &'a DpaHeadings) -> Table<'a> {
    let mut columns = vec![
        Column::both("dataset"),
        Column::both("setting"),
        Column::html("steps"),
        Column::html("train / test"),
        Column::html("partition sizes"),
        Column::html("seeds"),
        Column::html("vote accuracy"),
        Column::markdown("vote accuracy"),
        Column::html("base accuracy"),
        Column::html("median radius"),
        Column::markdown("median radius"),
    ];
    for name in &h.names {
        columns.extend([Column::html(name), Column::markdown(name)]);
    }
    columns.push(Column::html("seconds"));
    let mut table = Table::new(columns);
    for r in rows {
        let [low, median, high] = r.partition_sizes;
        let mut cells = vec![
            Cell::text(&r.dataset),
            Cell::Strong(r.label()),
            Cell::number(r.steps.to_string()),
            Cell::number(format!("{} / {}", r.train_samples, r.test_samples)),
            Cell::number(format!("{low}–{high} (median {median})")),
            Cell::number(r.seeds.len().to_string()),
            Cell::number(format_stat_percent(r.vote_accuracy)),
            Cell::text(format_percent(r.vote_accuracy.map(|s| s.mean))),
            Cell::number(format_stat_percent(r.base_accuracy)),
            Cell::number(format_stat_number(r.median_radius, 1)),
            Cell::text(format_stat_number(
                r.median_radius.map(|s| Stat { n: 1, ..s }),
                1,
            )),
        ];
        for radius in &h.radii {
            let stat = r
                .certified
                .iter()
                .find(|c| c.radius == *radius)
                .and_then(|c| c.accuracy);
            cells.extend([
                Cell::number(format_stat_percent(stat)),
                Cell::text(format_percent(stat.map(|s| s.mean))),
            ]);
        }
        cells.push(Cell::number(format_stat_number(r.seconds, 0)));
        table.push(cells);
    }
    table
}

/// The curve's points as `(noise multiplier, row)`, the rows a plot can place.
pub(crate) fn curve_points(g: &PrivacyGroup) -> Vec<(f64, &DeploymentRow)> {
    g.curve
        .iter()
        .filter_map(|r| Some((r.noise_multiplier?, r)))
        .filter(|(z, _)| *z > 0.0 && z.is_finite())
        .collect()
}
