//! Aggregation of cell records over seeds: attack rows with their defences, federated rows,
//! continual-retraining rows, retrieval-poisoning groups, privacy deployments and certified
//! defences, clean baselines, verdicts and the risk summary.

mod aggregate;
mod continual;
mod language;
mod model_defence;
mod privacy;
mod rag;
mod risk;

pub use aggregate::aggregate;
pub use continual::{ContinualRow, ContinualRun};
pub use language::{
    LanguageSummary, LmDefenceRow, LmGroup, LmReliable, LmRow, TextDefenceRow, TextGroup, TextRow,
};
pub use model_defence::{model_defence_rows, ModelDefenceRow};
pub use privacy::{
    AttackEffect, DeploymentRow, DpaRow, PrivacyAttack, PrivacyGroup, PrivacySummary, RadiusStat,
};
pub use rag::{setting_label, RagGroup, RagRow, HEADLINE_K};

use super::{
    format_rate, Level, ACCURACY_DROP_THRESHOLD, RESIDUAL_ACCURACY_DROP, RESIDUAL_SUCCESS_RATE,
    SUCCESS_RATE_THRESHOLD,
};
use crate::record::{Family, TaxonomyRefs};
use serde::Serialize;

/// Mean and sample standard deviation of one quantity over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    /// Sample standard deviation (n - 1 denominator); 0 for a single seed.
    pub sd: f64,
    /// Number of finite values it summarises.
    pub n: usize,
}

impl Stat {
    /// Summary of the finite values; `None` when there are none.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Stat> {
        let finite: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return None;
        }
        let n = finite.len();
        let mean = finite.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Stat { mean, sd, n })
    }
}

/// The success level of a success value for an attack family (see the module constants).
pub fn level_of(family: Family, success: f64) -> Level {
    let (threshold, residual) = match family {
        Family::Availability | Family::ModelPoisoning => {
            (ACCURACY_DROP_THRESHOLD, RESIDUAL_ACCURACY_DROP)
        }
        Family::Targeted | Family::Backdoor | Family::Instance => {
            (SUCCESS_RATE_THRESHOLD, RESIDUAL_SUCCESS_RATE)
        }
    };
    if success >= threshold {
        Level::Succeeds
    } else if success <= residual {
        Level::Fails
    } else {
        Level::Partial
    }
}

/// One defence (detector + sanitize + retrain) against one attack at one budget, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct DefenceRow {
    pub detector: String,
    /// MITRE ATLAS mitigation id.
    pub mitigation: String,
    pub seeds: usize,
    pub flagged: Option<Stat>,
    pub removed: Option<Stat>,
    pub relabelled: Option<Stat>,
    pub precision: Option<Stat>,
    pub recall: Option<Stat>,
    pub f1: Option<Stat>,
    pub auroc: Option<Stat>,
    /// Clean accuracy of the model retrained on the sanitized set.
    pub accuracy: Option<Stat>,
    /// The attack's success after the defence (same measure as the undefended success).
    pub success: Option<Stat>,
    pub level: Option<Level>,
    /// Whether the defence lowered the mean success at all (`None` without both numbers):
    /// a sanitizer can also make things worse, e.g. by removing clean samples.
    pub reduces: Option<bool>,
    /// ROC curve of the lowest seed, `[fpr, tpr]` points.
    pub roc: Vec<[f64; 2]>,
}

/// One attack at one budget on one dataset and model, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct RateRow {
    pub rate: f64,
    pub seeds: Vec<u64>,
    pub poisoned: Option<Stat>,
    /// Clean accuracy of the unattacked model for the same seeds.
    pub baseline_accuracy: Option<Stat>,
    /// Clean accuracy of the model trained on the poisoned set.
    pub accuracy: Option<Stat>,
    /// ASR / targeted rate / victim hit, or the accuracy drop for availability attacks.
    pub success: Option<Stat>,
    pub level: Option<Level>,
    pub defences: Vec<DefenceRow>,
}

/// One attack on one dataset and model, with every tested budget.
#[derive(Debug, Clone, Serialize)]
pub struct AttackGroup {
    pub dataset: String,
    pub model: String,
    pub attack: String,
    pub family: Family,
    pub taxonomy: TaxonomyRefs,
    /// Budgets in increasing order.
    pub rates: Vec<RateRow>,
}

/// A defence run on clean data: what sanitizing costs when there is nothing to find.
#[derive(Debug, Clone, Serialize)]
pub struct CleanDefence {
    pub detector: String,
    pub flagged: Option<Stat>,
    pub accuracy: Option<Stat>,
}

/// The unattacked model of one dataset and architecture.
#[derive(Debug, Clone, Serialize)]
pub struct CleanRow {
    pub dataset: String,
    pub model: String,
    pub seeds: Vec<u64>,
    pub accuracy: Option<Stat>,
    pub defences: Vec<CleanDefence>,
}

/// Mean accuracy (and ASR) after one federated round.
#[derive(Debug, Clone, Serialize)]
pub struct RoundStat {
    pub round: usize,
    pub accuracy: Option<Stat>,
    pub asr: Option<Stat>,
}

/// One update attack under one aggregation rule and Byzantine fraction, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct FederatedRow {
    pub dataset: String,
    pub model: String,
    pub attack: String,
    pub family: Family,
    pub taxonomy: TaxonomyRefs,
    pub rule: String,
    pub byzantine: f64,
    pub clients: usize,
    pub malicious_per_round: usize,
    pub seeds: Vec<u64>,
    pub final_accuracy: Option<Stat>,
    pub final_asr: Option<Stat>,
    /// Final accuracy of the no-attack run with the same rule and seed.
    pub baseline_accuracy: Option<Stat>,
    /// Baseline minus attacked final accuracy, per seed.
    pub accuracy_drop: Option<Stat>,
    pub anomaly_precision: Option<Stat>,
    pub anomaly_recall: Option<Stat>,
    /// `None` for the benign (`none`) run.
    pub level: Option<Level>,
    pub rounds: Vec<RoundStat>,
}

impl FederatedRow {
    /// `rule` or `rule @ 20%` when the assessment varies the Byzantine fraction.
    pub fn rule_label(&self, several_fractions: bool) -> String {
        if several_fractions {
            format!("{} @ {}", self.rule, format_rate(self.byzantine))
        } else {
            self.rule.clone()
        }
    }
}

/// One plain-words verdict: an attack at one budget, undefended and after each defence.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub dataset: String,
    pub model: String,
    pub attack: String,
    pub family: Family,
    pub rate: f64,
    pub level: Option<Level>,
    /// The level after every configured defence.
    pub defences: Vec<DefenceVerdict>,
    pub text: String,
}

/// How an attack fared after one defence.
#[derive(Debug, Clone, Serialize)]
pub struct DefenceVerdict {
    pub detector: String,
    pub level: Option<Level>,
}

/// A budget and the attack that needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    pub rate: f64,
    pub attack: String,
}

/// The number a risk register wants, per attack.
#[derive(Debug, Clone, Serialize)]
pub struct RiskRow {
    pub dataset: String,
    pub model: String,
    pub family: Family,
    pub attack: String,
    pub taxonomy: TaxonomyRefs,
    pub tested_rates: Vec<f64>,
    /// Every detector configured against this attack.
    pub defences: Vec<String>,
    /// Smallest budget at which the attack succeeds on the undefended model.
    pub undefended: Option<f64>,
    /// Smallest budget at which it succeeds on the undefended model *and* still succeeds after
    /// every configured defence (vacuously the undefended budget when none is configured).
    pub defended: Option<f64>,
}

/// The smallest budgets over all attacks of one family.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyRisk {
    pub dataset: String,
    pub model: String,
    pub family: Family,
    /// The cheapest undefended success.
    pub undefended: Option<Budget>,
    /// The cheapest success that survives every configured defence.
    pub defended: Option<Budget>,
}

/// Per federated update attack: the rules it beats and those that hold.
#[derive(Debug, Clone, Serialize)]
pub struct FederatedRisk {
    pub dataset: String,
    pub model: String,
    pub attack: String,
    pub family: Family,
    pub succeeds_under: Vec<String>,
    pub partial_under: Vec<String>,
    pub resisted_by: Vec<String>,
}

/// Everything aggregated from the records.
#[derive(Debug, Clone, Serialize)]
pub struct Aggregate {
    pub clean: Vec<CleanRow>,
    pub attacks: Vec<AttackGroup>,
    pub federated: Vec<FederatedRow>,
    pub verdicts: Vec<Verdict>,
    pub risk: Vec<RiskRow>,
    pub family_risk: Vec<FamilyRisk>,
    pub federated_risk: Vec<FederatedRisk>,
    /// Continual-retraining runs, kept apart from the centralized and federated attacks.
    pub continual: Vec<ContinualRow>,
    /// Retrieval-poisoning groups, kept apart likewise (their budget is poisons per target).
    pub rag: Vec<RagGroup>,
    /// Privacy blocks: deployments side by side, noise curves, certified defences.
    pub privacy: PrivacySummary,
    /// Text-classifier backdoors and generative-model poisoning, kept apart likewise.
    pub language: LanguageSummary,
    /// Model inspections and repairs of centralized cells' models, kept apart likewise.
    pub model_defences: Vec<ModelDefenceRow>,
}

/// A federated attack succeeds when it drops accuracy by the availability threshold or
/// reaches the backdoor ASR threshold; the stronger of the two levels counts.
pub fn federated_level(accuracy_drop: Option<Stat>, final_asr: Option<Stat>) -> Option<Level> {
    let by_drop = accuracy_drop.map(|s| level_of(Family::ModelPoisoning, s.mean));
    let by_asr = final_asr.map(|s| level_of(Family::Backdoor, s.mean));
    match (by_drop, by_asr) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
