//! Reports over an assessment's cell records: one self-contained HTML file (verdicts, risk
//! summary, inline SVG plots, full tables), Markdown for pull-request comments, CSV (one row
//! per record) and JSON (the aggregated report).
//!
//! # Success thresholds
//!
//! * Backdoor, targeted and instance attacks **succeed** when the mean success rate over seeds
//!   (ASR, targeted misclassification rate, victim hit) is at least
//!   [`SUCCESS_RATE_THRESHOLD`] (90%); they **fail** (a defence *disarms* them) at or below
//!   [`RESIDUAL_SUCCESS_RATE`] (10%); in between they succeed *partially*.
//! * Availability attacks are measured by the accuracy drop against the clean baseline of the
//!   same dataset, model and seed; they succeed at a drop of at least
//!   [`ACCURACY_DROP_THRESHOLD`] (10 points) and fail at or below [`RESIDUAL_ACCURACY_DROP`].
//! * Federated update attacks: the drop of final accuracy against the `none`-attack run with
//!   the same rule and seed, or the final ASR for backdoor attacks, whichever is stronger.
//! * Continual-retraining campaigns: the highest attack success of any *deployed* model (mean
//!   over seeds) against the backdoor thresholds. They are reported apart (their own table,
//!   verdict lines and timeline plots), never mixed into the attack or risk tables: their
//!   budget is per batch and their defence is the loop's screen and gate.
//! * Retrieval (RAG) poisoning: the attack success at top 5 ([`HEADLINE_K`]: the share of
//!   target questions with one of their poisoned passages among the 5 retrieved, mean over
//!   seeds) against the success-rate thresholds, per number of poisons per target and defence
//!   setting. Reported apart too: their budget is passages per question and their defences
//!   act on the index and the retrieved list; a setting's cost is the drop of *clean* recall
//!   (the same retriever and defences over the corpus without the attack).
//! * Privacy blocks: per deployment and attack, the same levels as federated runs, with the
//!   damage read against *that deployment's* no-attack run (DP noise's own accuracy cost is its
//!   clean accuracy, not damage). Reported apart, with epsilon, the noise curve and DPA's
//!   certified accuracy by radius (a certificate, not a measured attack: no level).
//! * Text-classifier backdoors (`[text]`): the poisoned head's ASR (mean over seeds) against
//!   the success-rate thresholds per rate, and each defence's ASR after; the clean head's ASR
//!   is shown as the floor. Generative-model backdoors (`[lm]`): the attack success of the
//!   poisoned model (mithridate-lm's measure: generations after the trigger judged gibberish by
//!   perplexity for `dos`, the exact continuation for `completion`) against the same
//!   thresholds, per corpus size and poisoned-document count, with the smallest count that
//!   succeeds per size. Both are reported apart, with their taxonomy rows.
//!
//! # Risk
//!
//! Per attack (and per family: the cheapest attack in it), the smallest tested budget at which
//! the attack succeeds on the undefended model, and the smallest budget at which it also
//! still succeeds after *every* configured defence (the retrained model): the budget that an
//! attacker needs to get through undetected.
//!
//! ```
//! use mithridate_assess::report::{Report, ReportError};
//! assert!(matches!(Report::new(&[]), Err(ReportError::NoRecords)));
//! ```

mod csv;
mod html;
mod language_tables;
mod markdown;
mod model_tables;
mod plots;
mod privacy_tables;
mod shared_tables;
mod summary;
mod table;

pub(crate) use plots::MAX_TIMELINES;
pub use plots::{Plot, PlotKind};
pub use summary::{
    AttackEffect, AttackGroup, Budget, CleanDefence, CleanRow, ContinualRow, ContinualRun,
    DefenceRow, DefenceVerdict, DeploymentRow, DpaRow, FamilyRisk, FederatedRisk, FederatedRow,
    LanguageSummary, LmDefenceRow, LmGroup, LmReliable, LmRow, ModelDefenceRow, PrivacyAttack,
    PrivacyGroup, PrivacySummary, RadiusStat, RagGroup, RagRow, RateRow, RiskRow, RoundStat, Stat,
    TextDefenceRow, TextGroup, TextRow, Verdict, HEADLINE_K,
};

use crate::record::{CellRecord, Family};
use serde::Serialize;

/// Mean success rate at or above which a backdoor/targeted/instance attack succeeds.
pub const SUCCESS_RATE_THRESHOLD: f64 = 0.90;
/// Mean success rate at or below which such an attack failed (a defence disarmed it).
pub const RESIDUAL_SUCCESS_RATE: f64 = 0.10;
/// Accuracy drop (vs the same-seed clean baseline) at or above which an availability or
/// model-poisoning attack succeeds.
pub const ACCURACY_DROP_THRESHOLD: f64 = 0.10;
/// Accuracy drop at or below which it failed.
pub const RESIDUAL_ACCURACY_DROP: f64 = 0.02;

/// Why a report cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no results to report: the results file holds no records")]
    NoRecords,
    #[error("drawing plot '{title}': {message}")]
    Plot { title: String, message: String },
    #[error("writing CSV: {0}")]
    Csv(String),
}

/// How an attack fared: against the undefended model, or after a defence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// At or below the residual level: failed, or disarmed by the defence.
    Fails,
    /// Between the residual level and the success threshold.
    Partial,
    /// At or above the success threshold.
    Succeeds,
}

/// An assessment report aggregated over seeds, with its plots drawn.
#[derive(Debug, Clone)]
pub struct Report {
    records: Vec<CellRecord>,
    aggregate: summary::Aggregate,
    plots: Vec<Plot>,
}

impl Report {
    /// Aggregates the records (any order; sorted by cell index) and draws the plots.
    pub fn new(records: &[CellRecord]) -> Result<Report, ReportError> {
        if records.is_empty() {
            return Err(ReportError::NoRecords);
        }
        let mut records = records.to_vec();
        records.sort_by_key(|r| r.index);
        let aggregate = summary::aggregate(&records);
        let plots = plots::draw_all(&aggregate, &records)?;
        Ok(Report {
            records,
            aggregate,
            plots,
        })
    }

    /// The records, sorted by cell index.
    pub fn records(&self) -> &[CellRecord] {
        &self.records
    }

    /// Clean baselines per dataset and model.
    pub fn clean(&self) -> &[CleanRow] {
        &self.aggregate.clean
    }

    /// Centralized attacks with every budget and defence.
    pub fn attacks(&self) -> &[AttackGroup] {
        &self.aggregate.attacks
    }

    /// Federated runs per attack, rule and Byzantine fraction.
    pub fn federated(&self) -> &[FederatedRow] {
        &self.aggregate.federated
    }

    /// Continual-retraining runs per dataset, campaign (with its parameters), retrain mode and
    /// model, over seeds.
    pub fn continual(&self) -> &[ContinualRow] {
        &self.aggregate.continual
    }

    /// Retrieval-poisoning runs per corpus, retriever and attack (with its parameters): rows by
    /// defence setting and poisons per target, over seeds.
    pub fn rag(&self) -> &[RagGroup] {
        &self.aggregate.rag
    }

    /// Privacy blocks: per federation, its deployments side by side (epsilon, clean accuracy,
    /// ASR and damage per attack) and its noise curve; DPA settings with certified accuracy.
    pub fn privacy(&self) -> &PrivacySummary {
        &self.aggregate.privacy
    }

    /// Text-classifier backdoors (per attack by rate) and generative-model poisoning (per
    /// attack by corpus size and poisoned-document count), over seeds.
    pub fn language(&self) -> &LanguageSummary {
        &self.aggregate.language
    }

    /// Model inspections and repairs: per attack setting and method, over seeds.
    pub fn model_defences(&self) -> &[ModelDefenceRow] {
        &self.aggregate.model_defences
    }

    /// One plain-words verdict per attack and budget.
    pub fn verdicts(&self) -> &[Verdict] {
        &self.aggregate.verdicts
    }

    /// Per attack: the smallest budget at which it succeeds, undefended and through every defence.
    pub fn risk_summary(&self) -> &[RiskRow] {
        &self.aggregate.risk
    }

    /// Per attack family: the cheapest attack's budgets.
    pub fn family_risk(&self) -> &[FamilyRisk] {
        &self.aggregate.family_risk
    }

    /// Per federated update attack: the rules it beats.
    pub fn federated_risk(&self) -> &[FederatedRisk] {
        &self.aggregate.federated_risk
    }

    /// The plots, in the order the HTML shows them.
    pub fn plots(&self) -> &[Plot] {
        &self.plots
    }

    /// How many plots (inline `<svg>` elements) the HTML holds.
    pub fn plot_count(&self) -> usize {
        self.plots.len()
    }

    /// The self-contained HTML report.
    pub fn to_html(&self) -> String {
        html::render(self)
    }

    /// GitHub-flavoured Markdown: verdicts, risk summary and tables, no plots.
    pub fn to_markdown(&self) -> String {
        markdown::markdown(self)
    }

    /// One CSV row per record with the header [`CSV_HEADER`].
    pub fn to_csv(&self) -> Result<String, ReportError> {
        csv::csv(self)
    }

    /// The aggregated report as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "thresholds": {
                "success_rate": SUCCESS_RATE_THRESHOLD,
                "residual_success_rate": RESIDUAL_SUCCESS_RATE,
                "accuracy_drop": ACCURACY_DROP_THRESHOLD,
                "residual_accuracy_drop": RESIDUAL_ACCURACY_DROP,
            },
            "records": self.records.len(),
            "verdicts": self.aggregate.verdicts,
            "risk": self.aggregate.risk,
            "family_risk": self.aggregate.family_risk,
            "federated_risk": self.aggregate.federated_risk,
            "clean": self.aggregate.clean,
            "attacks": self.aggregate.attacks,
            "federated": self.aggregate.federated,
            "continual": self.aggregate.continual,
            "rag": self.aggregate.rag,
            "privacy": self.aggregate.privacy,
            "text": self.aggregate.language.text,
            "lm": self.aggregate.language.lm,
        })
    }
}

/// The column header of [`Report::to_csv`].
pub use csv::CSV_HEADER;

/// What "success" means for a family, as a table heading.
pub fn metric_name(family: Family) -> &'static str {
    match family {
        Family::Availability | Family::ModelPoisoning => "accuracy drop",
        Family::Targeted => "targeted rate",
        Family::Backdoor => "ASR",
        Family::Instance => "victim hit",
    }
}

/// `1%`, `0.5%`, `12.5%`: a budget or fraction as a percentage without trailing zeros.
pub fn format_rate(rate: f64) -> String {
    if !rate.is_finite() {
        return "—".to_string();
    }
    let text = format!("{:.3}", rate * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// A fraction as `97.0%`; `—` when missing or not finite.
pub fn format_percent(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{:.1}%", v * 100.0),
        _ => "—".to_string(),
    }
}

/// A success rate with, when known, its floor (the clean baseline's rate under the same
/// trigger), e.g. `73.6% (floor 39.6%)`.
///
/// ```
/// use mithridate_assess::report::format_percent_with_floor;
/// assert_eq!(format_percent_with_floor(Some(0.736), Some(0.396)), "73.6% (floor 39.6%)");
/// assert_eq!(format_percent_with_floor(Some(0.5), None), "50.0%");
/// ```
pub fn format_percent_with_floor(value: Option<f64>, floor: Option<f64>) -> String {
    match floor {
        Some(f) if f.is_finite() && value.is_some() => {
            format!(
                "{} (floor {})",
                format_percent(value),
                format_percent(Some(f))
            )
        }
        _ => format_percent(value),
    }
}

/// A success value in its family's unit: points of accuracy drop or a percentage.
pub fn format_success(family: Family, value: Option<f64>) -> String {
    match (family, value) {
        (Family::Availability | Family::ModelPoisoning, Some(v)) if v.is_finite() => {
            format!("{:.1} pts", v * 100.0)
        }
        _ => format_percent(value),
    }
}

/// `97.0 ± 1.2%` for a fraction's mean and sd over seeds (no ± for one seed).
pub fn format_stat_percent(stat: Option<Stat>) -> String {
    match stat {
        Some(s) if s.mean.is_finite() && s.n > 1 && s.sd.is_finite() => {
            format!("{:.1} ± {:.1}%", s.mean * 100.0, s.sd * 100.0)
        }
        Some(s) => format_percent(Some(s.mean)),
        None => "—".to_string(),
    }
}

/// A count or plain number's mean (± sd over seeds).
pub fn format_stat_number(stat: Option<Stat>, decimals: usize) -> String {
    match stat {
        Some(s) if s.mean.is_finite() && s.n > 1 && s.sd > 0.0 => {
            format!("{:.decimals$} ± {:.decimals$}", s.mean, s.sd)
        }
        Some(s) if s.mean.is_finite() => format!("{:.decimals$}", s.mean),
        _ => "—".to_string(),
    }
}

/// Whether federated rows vary the Byzantine fraction within one dataset (then rule labels
/// carry it).
pub(crate) fn several_fractions(rows: &[FederatedRow]) -> bool {
    rows.iter().any(|a| {
        rows.iter()
            .any(|b| a.dataset == b.dataset && a.byzantine != b.byzantine)
    })
}

/// Word for a level against the undefended model.
pub fn undefended_word(level: Option<Level>) -> &'static str {
    match level {
        Some(Level::Succeeds) => "succeeds",
        Some(Level::Partial) => "partial",
        Some(Level::Fails) => "fails",
        None => "unknown",
    }
}

/// Word for a level after a defence; `reduces == Some(false)`: the defence did not lower the
/// attack's success at all.
pub fn defended_word(level: Option<Level>, reduces: Option<bool>) -> &'static str {
    match (level, reduces) {
        (Some(Level::Succeeds), _) => "succeeds",
        (Some(Level::Partial), Some(false)) => "not reduced",
        (Some(Level::Partial), _) => "partially",
        (Some(Level::Fails), _) => "disarmed",
        (None, _) => "unknown",
    }
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod fixtures_language;
#[cfg(test)]
mod fixtures_privacy;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_continual;
#[cfg(test)]
mod tests_language;
#[cfg(test)]
mod tests_privacy;
#[cfg(test)]
mod tests_rag;
