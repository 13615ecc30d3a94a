//! The text and generative-model sections' tables, shown by both the HTML and the Markdown
//! report: the filing of the attacks (taxonomy), one row per rate (text) or per corpus size and
//! poisoned-document count (lm) with each defence's numbers beside the undefended ones, and the
//! count at which the generative backdoor becomes reliable per corpus size.

use super::shared_tables::{taxonomy_cells, taxonomy_columns};
use super::summary::{LanguageSummary, LmGroup, TextGroup};
use super::table::{Cell, Column, Table};
use super::{
    defended_word, format_percent, format_rate, format_stat_number, format_stat_percent,
    undefended_word, Level, Stat,
};

/// One row per attack group: where it sits in the public taxonomies.
pub(crate) fn taxonomy(s: &LanguageSummary) -> Table<'static> {
    let mut columns = vec![Column::both("model"), Column::both("attack")];
    columns.extend(taxonomy_columns());
    let mut table = Table::new(columns);
    let text = s.text.iter().map(|g| {
        let model = format!("text classifier ({} head)", g.head);
        (model, format!("{} on {}", g.attack, g.dataset), &g.taxonomy)
    });
    let lm = s.lm.iter().map(|g| {
        let model = format!("generative LM ({} parameters)", g.n_params);
        (model, format!("{} on {}", g.attack, g.corpus), &g.taxonomy)
    });
    for (model, attack, taxonomy) in text.chain(lm) {
        let mut cells = vec![Cell::text(model), Cell::text(attack)];
        cells.extend(taxonomy_cells(taxonomy));
        table.push(cells);
    }
    table
}

fn pct(stat: Option<Stat>, full: bool) -> String {
    if full {
        format_stat_percent(stat)
    } else {
        format_percent(stat.map(|s| s.mean))
    }
}

/// The badge of a defence's ASR `after` it, against the undefended `before`.
fn after(level: Option<Level>, after: Option<Stat>, before: Option<Stat>, full: bool) -> Cell {
    let reduces = match (after, before) {
        (Some(a), Some(b)) => Some(a.mean < b.mean),
        _ => None,
    };
    Cell::badge(level, defended_word(level, reduces), pct(after, full))
}

/// One row per defence: the undefended `head` cells on the first, blank below, then the
/// defence's `N` `cells`; without defences one row of `head` and dashes.
fn defence_rows<D, const N: usize>(
    table: &mut Table<'static>,
    head: &[Cell],
    defences: &[D],
    cells: impl Fn(&D) -> [Cell; N],
) {
    if defences.is_empty() {
        let mut row = head.to_vec();
        row.push(Cell::text("—"));
        row.extend(std::iter::repeat_n(Cell::number("—"), N - 1));
        table.push(row);
    }
    for (i, d) in defences.iter().enumerate() {
        let mut row = if i == 0 {
            head.to_vec()
        } else {
            vec![Cell::empty(); head.len()]
        };
        row.extend(cells(d));
        table.push(row);
    }
}

/// Per rate: CA and ASR of the clean head (the floor) and the poisoned one, then per defence
/// its detection precision / recall / AUROC and CA / ASR after. `full`: with spreads (HTML).
pub(crate) fn text_group(g: &TextGroup, full: bool) -> Table<'static> {
    let mut table = Table::shared(&[
        "rate",
        "poisoned",
        "clean CA",
        "ASR floor",
        "CA",
        "ASR",
        "ASR beyond clean",
        "defence",
        "precision",
        "recall",
        "AUROC",
        "CA after",
        "ASR after",
        "after, beyond clean",
    ]);
    for r in &g.rows {
        let asr = Cell::badge(r.level, undefended_word(r.level), pct(r.asr, full));
        let head = [
            Cell::number(format_rate(r.rate)),
            Cell::number(format_stat_number(r.poisoned, 0)),
            Cell::number(pct(r.clean_accuracy, full)),
            Cell::number(pct(r.asr_floor, full)),
            Cell::number(pct(r.accuracy, full)),
            asr,
            Cell::number(pct(r.asr_beyond_clean, full)),
        ];
        defence_rows(&mut table, &head, &r.defences, |d| {
            [
                Cell::text(format!("{} ({})", d.defence, d.kind)),
                Cell::number(pct(d.precision, full)),
                Cell::number(pct(d.recall, full)),
                Cell::number(format_stat_number(d.auroc, 3)),
                Cell::number(pct(d.accuracy, full)),
                after(d.level, d.asr, r.asr, full),
                Cell::number(pct(d.asr_beyond_clean, full)),
            ]
        });
    }
    table
}

/// Per corpus size and count: the poisoned share of tokens, ASR (and the baseline's), the
/// held-out perplexity against the baseline's, then per defence its recall / precision and
/// ASR / perplexity after retraining without what it flagged.
pub(crate) fn lm_group(g: &LmGroup, full: bool) -> Table<'static> {
    let mut table = Table::shared(&[
        "clean docs",
        "poisoned docs",
        "poisoned tokens",
        "ASR",
        "baseline ASR",
        "perplexity",
        "baseline perplexity",
        "defence",
        "flagged",
        "recall",
        "precision",
        "ASR after",
        "perplexity after",
    ]);
    for r in &g.rows {
        let head = [
            Cell::number(r.train_docs.to_string()),
            Cell::number(r.poison_docs.to_string()),
            Cell::number(format_rate(
                r.poison_token_fraction.map_or(f64::NAN, |s| s.mean),
            )),
            Cell::badge(r.level, undefended_word(r.level), pct(r.asr, full)),
            Cell::number(pct(r.baseline_asr, full)),
            Cell::number(format_stat_number(r.clean_perplexity, 2)),
            Cell::number(format_stat_number(r.baseline_perplexity, 2)),
        ];
        defence_rows(&mut table, &head, &r.defences, |d| {
            [
                Cell::text(d.defence.clone()),
                Cell::number(format_stat_number(d.flagged, 1)),
                Cell::number(pct(d.recall, full)),
                Cell::number(pct(d.precision, full)),
                after(d.level, d.asr, r.asr, full),
                Cell::number(format_stat_number(d.perplexity, 2)),
            ]
        });
    }
    table
}

/// Per corpus size: the smallest tested count at which the backdoor succeeds, undefended and
/// through every defence.
pub(crate) fn lm_reliable(g: &LmGroup) -> Table<'static> {
    let mut table = Table::shared(&[
        "clean docs",
        "reliable from (poisoned docs)",
        "through every defence from",
    ]);
    let count = |c: Option<usize>| c.map_or("not reached".to_string(), |n| n.to_string());
    for p in &g.reliable {
        table.push(vec![
            Cell::number(p.train_docs.to_string()),
            Cell::number(count(p.undefended)),
            Cell::number(count(p.defended)),
        ]);
    }
    table
}
