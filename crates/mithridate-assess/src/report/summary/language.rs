//! Text-classifier backdoor runs and generative-model poisoning runs reduced over seeds.
//!
//! Text rows: per attack (with its parameters) on a text set and head, by poison rate, the
//! clean head's accuracy and ASR floor, the poisoned head's, and each defence's detection and
//! ASR after. LM rows: per attack on a corpus, by corpus size and poisoned-document count, the
//! attack success and the perplexity cost, each defence's recall and ASR after, and per corpus
//! size the smallest count at which the backdoor succeeds (the curve's knee, which Souly et al.
//! 2025 found near-constant in the count rather than the fraction).

use super::privacy::{push, seeds};
use super::{level_of, Stat};
use crate::record::{CellRecord, Family, LmOutcome, Outcome, TaxonomyRefs, TextOutcome};
use crate::report::{format_percent, format_rate, Level};
use serde::Serialize;

/// One text defence at one rate, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct TextDefenceRow {
    pub defence: String,
    /// `training` or `inference`.
    pub kind: String,
    pub precision: Option<Stat>,
    pub recall: Option<Stat>,
    pub auroc: Option<Stat>,
    pub accuracy: Option<Stat>,
    pub asr: Option<Stat>,
    /// ASR after the defence over the triggered texts the clean head keeps off the target
    /// (records written before it existed have none).
    pub asr_beyond_clean: Option<Stat>,
    pub level: Option<Level>,
}

/// One text attack at one rate, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct TextRow {
    pub rate: f64,
    pub seeds: Vec<u64>,
    pub poisoned: Option<Stat>,
    /// The head trained without poison: clean accuracy and the ASR floor.
    pub clean_accuracy: Option<Stat>,
    pub asr_floor: Option<Stat>,
    /// The poisoned head.
    pub accuracy: Option<Stat>,
    pub asr: Option<Stat>,
    /// ASR over the triggered texts the clean head keeps off the target.
    pub asr_beyond_clean: Option<Stat>,
    pub level: Option<Level>,
    pub defences: Vec<TextDefenceRow>,
}

/// One text attack (with its parameters) on one text set and head.
#[derive(Debug, Clone, Serialize)]
pub struct TextGroup {
    pub dataset: String,
    pub head: String,
    pub attack: String,
    pub parameters: serde_json::Value,
    pub clean_label: bool,
    pub taxonomy: TaxonomyRefs,
    /// Rates in increasing order.
    pub rows: Vec<TextRow>,
    /// The smallest rate at which the attack succeeds undefended, and through every defence.
    pub undefended_rate: Option<f64>,
    pub defended_rate: Option<f64>,
    pub verdict: String,
}

impl TextGroup {
    pub fn title(&self) -> String {
        let label = if self.clean_label {
            ", clean-label"
        } else {
            ""
        };
        format!(
            "{} on {} ({} head{label})",
            self.attack, self.dataset, self.head
        )
    }
}

/// One generative-model defence at one count and size, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct LmDefenceRow {
    pub defence: String,
    pub flagged: Option<Stat>,
    pub recall: Option<Stat>,
    pub precision: Option<Stat>,
    pub asr: Option<Stat>,
    pub perplexity: Option<Stat>,
    pub level: Option<Level>,
}

/// One poisoned-document count at one corpus size, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct LmRow {
    pub train_docs: usize,
    pub poison_docs: usize,
    pub seeds: Vec<u64>,
    pub poison_token_fraction: Option<Stat>,
    pub asr: Option<Stat>,
    pub baseline_asr: Option<Stat>,
    pub clean_perplexity: Option<Stat>,
    pub baseline_perplexity: Option<Stat>,
    pub level: Option<Level>,
    pub defences: Vec<LmDefenceRow>,
}

/// Per corpus size, the smallest tested count at which the backdoor succeeds (mean ASR at the
/// success threshold), undefended and through every defence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LmReliable {
    pub train_docs: usize,
    pub undefended: Option<usize>,
    pub defended: Option<usize>,
}

/// One attack (with its trigger) on one corpus.
#[derive(Debug, Clone, Serialize)]
pub struct LmGroup {
    pub corpus: String,
    pub attack: String,
    pub trigger: String,
    pub taxonomy: TaxonomyRefs,
    pub n_params: usize,
    /// By corpus size, then count, increasing.
    pub rows: Vec<LmRow>,
    pub reliable: Vec<LmReliable>,
    pub verdict: String,
}

impl LmGroup {
    pub fn title(&self) -> String {
        format!(
            "{} backdoor on {} (trigger {:?}, {} parameters)",
            self.attack, self.corpus, self.trigger, self.n_params
        )
    }

    /// The corpus sizes, increasing.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self.rows.iter().map(|r| r.train_docs).collect();
        sizes.dedup();
        sizes
    }
}

/// The text and lm groups.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LanguageSummary {
    pub text: Vec<TextGroup>,
    pub lm: Vec<LmGroup>,
}

fn stat<T>(runs: &[(&CellRecord, &T)], f: impl Fn(&T) -> f64) -> Option<Stat> {
    Stat::of(runs.iter().map(|(_, o)| f(o)))
}

/// A defence's numbers over seeds.
fn over<D>(ds: &[&D], f: impl Fn(&D) -> f64) -> Option<Stat> {
    Stat::of(ds.iter().map(|d| f(d)))
}

fn succeeds(level: Option<Level>) -> bool {
    level == Some(Level::Succeeds)
}

/// A row of a curve (text by rate, lm by count): its undefended level and its defences'.
trait CurveRow {
    fn level(&self) -> Option<Level>;
    fn defence_levels(&self) -> impl Iterator<Item = Option<Level>>;
}

impl CurveRow for TextRow {
    fn level(&self) -> Option<Level> {
        self.level
    }
    fn defence_levels(&self) -> impl Iterator<Item = Option<Level>> {
        self.defences.iter().map(|d| d.level)
    }
}

impl CurveRow for LmRow {
    fn level(&self) -> Option<Level> {
        self.level
    }
    fn defence_levels(&self) -> impl Iterator<Item = Option<Level>> {
        self.defences.iter().map(|d| d.level)
    }
}

/// The `budget` of the first of `rows` (in increasing budget) at which the attack succeeds
/// undefended, and of the first at which it also succeeds through every defence.
fn first_successes<'a, R: CurveRow + 'a, K>(
    rows: impl Iterator<Item = &'a R>,
    budget: impl Fn(&R) -> K,
) -> (Option<K>, Option<K>) {
    let (mut undefended, mut defended) = (None, None);
    for r in rows {
        if succeeds(r.level()) {
            undefended = undefended.or_else(|| Some(budget(r)));
            if r.defence_levels().all(succeeds) {
                defended = Some(budget(r));
                break;
            }
        }
    }
    (undefended, defended)
}

/// The highest undefended level a curve reached.
fn max_level<R: CurveRow>(rows: &[R]) -> Option<Level> {
    rows.iter().filter_map(|r| r.level()).max()
}

fn level(asr: Option<Stat>) -> Option<Level> {
    asr.map(|s| level_of(Family::Backdoor, s.mean))
}

/// Per defence name in first-appearance order, the defences' outcomes of `runs`.
fn by_defence<'a, T, D>(
    runs: &[(&CellRecord, &'a T)],
    list: impl Fn(&'a T) -> &'a [D],
    name: impl Fn(&D) -> &str,
) -> Vec<(String, Vec<&'a D>)> {
    let mut out: Vec<(String, Vec<&D>)> = Vec::new();
    for (_, o) in runs {
        for d in list(o) {
            push(&mut out, name(d).to_string(), d);
        }
    }
    out
}

type TextKey = (String, String, String, String, bool);
type LmKey = (String, String, String);
/// Runs of one lm group keyed by (corpus size, poisoned-document count).
type LmCells<'a> = Vec<((usize, usize), Vec<(&'a CellRecord, &'a LmOutcome)>)>;

/// Reduces the text and lm records (in plan order) over seeds.
pub(super) fn language_summary(records: &[&CellRecord]) -> LanguageSummary {
    let mut text: Vec<(TextKey, Vec<(&CellRecord, &TextOutcome)>)> = Vec::new();
    let mut lm: Vec<(LmKey, Vec<(&CellRecord, &LmOutcome)>)> = Vec::new();
    for r in records {
        match &r.outcome {
            Outcome::Text(t) => {
                let key = (
                    r.dataset.clone(),
                    t.head.clone(),
                    t.attack.clone(),
                    t.parameters.to_string(),
                    t.clean_label,
                );
                push(&mut text, key, (*r, t));
            }
            Outcome::Lm(l) => {
                let key = (r.dataset.clone(), l.attack.clone(), l.trigger.clone());
                push(&mut lm, key, (*r, l));
            }
            _ => {}
        }
    }
    LanguageSummary {
        text: text.iter().map(|(_, runs)| text_group(runs)).collect(),
        lm: lm.iter().map(|(_, runs)| lm_group(runs)).collect(),
    }
}

fn text_group(runs: &[(&CellRecord, &TextOutcome)]) -> TextGroup {
    let (first_record, first) = runs[0];
    let mut by_rate: Vec<(u64, Vec<(&CellRecord, &TextOutcome)>)> = Vec::new();
    for &(r, t) in runs {
        push(&mut by_rate, t.rate.to_bits(), (r, t));
    }
    by_rate.sort_by(|a, b| f64::from_bits(a.0).total_cmp(&f64::from_bits(b.0)));
    let rows: Vec<TextRow> = by_rate.iter().map(|(_, runs)| text_row(runs)).collect();
    let (undefended_rate, defended_rate) = first_successes(rows.iter(), |r| r.rate);
    let mut group = TextGroup {
        dataset: first_record.dataset.clone(),
        head: first.head.clone(),
        attack: first.attack.clone(),
        parameters: first.parameters.clone(),
        clean_label: first.clean_label,
        taxonomy: first.taxonomy.clone(),
        rows,
        undefended_rate,
        defended_rate,
        verdict: String::new(),
    };
    group.verdict = text_verdict(&group);
    group
}

fn text_row(runs: &[(&CellRecord, &TextOutcome)]) -> TextRow {
    let asr = stat(runs, |t| t.asr);
    let defences = by_defence(runs, |t| &t.defences, |d| &d.defence)
        .into_iter()
        .map(|(defence, ds)| {
            let asr = over(&ds, |d| d.asr);
            TextDefenceRow {
                kind: ds[0].kind.clone(),
                precision: over(&ds, |d| d.precision),
                recall: over(&ds, |d| d.recall),
                auroc: Stat::of(ds.iter().filter_map(|d| d.auroc)),
                accuracy: over(&ds, |d| d.accuracy),
                asr_beyond_clean: Stat::of(ds.iter().filter_map(|d| d.asr_beyond_clean)),
                level: level(asr),
                asr,
                defence,
            }
        })
        .collect();
    TextRow {
        rate: runs[0].1.rate,
        seeds: seeds(runs),
        poisoned: stat(runs, |t| t.poisoned as f64),
        clean_accuracy: stat(runs, |t| t.clean_accuracy),
        asr_floor: stat(runs, |t| t.asr_floor),
        accuracy: stat(runs, |t| t.accuracy),
        asr_beyond_clean: Stat::of(runs.iter().filter_map(|(_, t)| t.asr_beyond_clean)),
        level: level(asr),
        asr,
        defences,
    }
}

fn text_verdict(g: &TextGroup) -> String {
    let best = g
        .rows
        .iter()
        .filter_map(|r| r.asr.map(|s| (r.rate, s.mean)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let mut text = match (g.undefended_rate, best) {
        (Some(rate), _) => format!(
            "{} reaches the ASR threshold from a poison rate of {}",
            g.title(),
            format_rate(rate)
        ),
        (None, Some((rate, asr))) => format!(
            "{} stays below the ASR threshold (at most {} at {})",
            g.title(),
            format_percent(Some(asr)),
            format_rate(rate)
        ),
        (None, None) => format!("{}: no ASR measured", g.title()),
    };
    if g.undefended_rate.is_some() && g.rows.iter().any(|r| !r.defences.is_empty()) {
        text.push_str(&match g.defended_rate {
            Some(rate) => format!("; through every defence from {}", format_rate(rate)),
            None => "; some defence holds it below the threshold at every tested rate".into(),
        });
    }
    text + "."
}

fn lm_group(runs: &[(&CellRecord, &LmOutcome)]) -> LmGroup {
    let (first_record, first) = runs[0];
    let mut cells: LmCells = Vec::new();
    for &(r, l) in runs {
        push(&mut cells, (l.train_docs, l.poison_docs), (r, l));
    }
    cells.sort_by_key(|(k, _)| *k);
    let rows: Vec<LmRow> = cells.iter().map(|(_, runs)| lm_row(runs)).collect();
    let mut group = LmGroup {
        corpus: first_record.dataset.clone(),
        attack: first.attack.clone(),
        trigger: first.trigger.clone(),
        taxonomy: first.taxonomy.clone(),
        n_params: first.n_params,
        rows,
        reliable: Vec::new(),
        verdict: String::new(),
    };
    group.reliable = group
        .sizes()
        .into_iter()
        .map(|train_docs| {
            let rows = group.rows.iter().filter(|r| r.train_docs == train_docs);
            let (undefended, defended) = first_successes(rows, |r| r.poison_docs);
            LmReliable {
                train_docs,
                undefended,
                defended,
            }
        })
        .collect();
    group.verdict = lm_verdict(&group);
    group
}

fn lm_row(runs: &[(&CellRecord, &LmOutcome)]) -> LmRow {
    let asr = stat(runs, |l| l.asr);
    let defences = by_defence(runs, |l| &l.defences, |d| &d.defence)
        .into_iter()
        .map(|(defence, ds)| {
            let asr = over(&ds, |d| d.asr);
            LmDefenceRow {
                flagged: over(&ds, |d| d.flagged as f64),
                recall: over(&ds, |d| d.recall),
                precision: over(&ds, |d| d.precision),
                perplexity: over(&ds, |d| d.perplexity),
                level: level(asr),
                asr,
                defence,
            }
        })
        .collect();
    LmRow {
        train_docs: runs[0].1.train_docs,
        poison_docs: runs[0].1.poison_docs,
        seeds: seeds(runs),
        poison_token_fraction: stat(runs, |l| l.poison_token_fraction),
        baseline_asr: stat(runs, |l| l.baseline_asr),
        clean_perplexity: stat(runs, |l| l.clean_perplexity),
        baseline_perplexity: stat(runs, |l| l.baseline_perplexity),
        level: level(asr),
        asr,
        defences,
    }
}

fn lm_verdict(g: &LmGroup) -> String {
    let parts: Vec<String> = g
        .reliable
        .iter()
        .map(|p| match p.undefended {
            Some(n) => format!("from {n} poisoned documents at {} clean", p.train_docs),
            None => {
                let best = g
                    .rows
                    .iter()
                    .filter(|r| r.train_docs == p.train_docs)
                    .filter_map(|r| r.asr.map(|s| s.mean))
                    .fold(f64::NAN, f64::max);
                format!(
                    "never at {} clean (at most {})",
                    p.train_docs,
                    format_percent(Some(best))
                )
            }
        })
        .collect();
    format!(
        "{} reaches the ASR threshold {}.",
        g.title(),
        parts.join("; ")
    )
}

impl LanguageSummary {
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.lm.is_empty()
    }

    /// One verdict line per group (text first), with the highest undefended level it reached.
    pub fn verdicts(&self) -> Vec<(Option<Level>, &str)> {
        let text = self
            .text
            .iter()
            .map(|g| (max_level(&g.rows), g.verdict.as_str()));
        let lm = self
            .lm
            .iter()
            .map(|g| (max_level(&g.rows), g.verdict.as_str()));
        text.chain(lm).collect()
    }
}
