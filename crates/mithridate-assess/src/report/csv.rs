//! CSV with one row per record, for spreadsheets and dataframes.

use super::{Report, ReportError};
use crate::record::{Outcome, TaxonomyRefs};

/// Columns of [`Report::to_csv`]: one row per record; fields that do not apply are empty.
/// Lists (taxonomy ids) are joined with `;`. Rates and accuracies are fractions in `[0, 1]`.
pub const CSV_HEADER: [&str; 40] = [
    "index",
    "id",
    "kind",
    "dataset",
    "seed",
    "model",
    "attack",
    "family",
    "rate",
    "poisoned",
    "mitre_atlas",
    "owasp_ml",
    "owasp_llm",
    "nist_ai_100_2",
    "train_samples",
    "test_samples",
    "clean_accuracy",
    "success_rate",
    "detector",
    "mitigation",
    "flagged",
    "removed",
    "relabelled",
    "precision",
    "recall",
    "f1",
    "auroc",
    "defended_clean_accuracy",
    "defended_success_rate",
    "rule",
    "byzantine",
    "clients",
    "participants_per_round",
    "malicious_per_round",
    "rounds",
    "final_accuracy",
    "final_asr",
    "anomaly_precision",
    "anomaly_recall",
    "seconds",
];

fn opt_num(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => v.to_string(),
        _ => String::new(),
    }
}

fn taxonomy_fields(t: &TaxonomyRefs) -> [String; 4] {
    [
        t.mitre_atlas.join(";"),
        t.owasp_ml.join(";"),
        t.owasp_llm.join(";"),
        t.nist_ai_100_2.clone(),
    ]
}

pub fn csv(report: &Report) -> Result<String, ReportError> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    let fail = |e: ::csv::Error| ReportError::Csv(e.to_string());
    writer.write_record(CSV_HEADER).map_err(fail)?;
    for r in report.records() {
        let mut row: Vec<String> = vec![
            r.index.to_string(),
            r.id.clone(),
            String::new(),
            r.dataset.clone(),
            r.seed.to_string(),
        ];
        match &r.outcome {
            Outcome::Centralized(c) => {
                row[2] = "centralized".to_string();
                let attack = c.attack.as_ref();
                row.push(c.model.clone());
                row.push(attack.map_or("clean".to_string(), |a| a.name.clone()));
                row.push(attack.map_or(String::new(), |a| a.family.name().to_string()));
                row.push(opt_num(attack.map(|a| a.rate)));
                row.push(attack.map_or(String::new(), |a| a.poisoned.to_string()));
                match attack {
                    Some(a) => row.extend(taxonomy_fields(&a.taxonomy)),
                    None => row.extend(std::iter::repeat_n(String::new(), 4)),
                }
                row.push(c.train_samples.to_string());
                row.push(c.test_samples.to_string());
                row.push(opt_num(Some(c.undefended.clean_accuracy)));
                row.push(opt_num(c.undefended.success_rate));
                match &c.defence {
                    Some(d) => row.extend([
                        d.detector.clone(),
                        d.mitigation.clone(),
                        d.flagged.to_string(),
                        d.removed.to_string(),
                        d.relabelled.to_string(),
                        opt_num(Some(d.precision)),
                        opt_num(Some(d.recall)),
                        opt_num(Some(d.f1)),
                        opt_num(d.auroc),
                        opt_num(Some(d.retrained.clean_accuracy)),
                        opt_num(d.retrained.success_rate),
                    ]),
                    None => row.extend(std::iter::repeat_n(String::new(), 11)),
                }
                row.extend(std::iter::repeat_n(String::new(), 10));
            }
            Outcome::Federated(f) => {
                row[2] = "federated".to_string();
                row.push(f.model.clone());
                row.push(f.attack.clone());
                row.push(f.family.name().to_string());
                row.extend([String::new(), String::new()]);
                row.extend(taxonomy_fields(&f.taxonomy));
                row.extend(std::iter::repeat_n(String::new(), 4 + 11));
                row.extend([
                    f.rule.clone(),
                    opt_num(Some(f.byzantine)),
                    f.clients.to_string(),
                    f.participants_per_round.to_string(),
                    f.malicious_per_round.to_string(),
                    f.rounds.len().to_string(),
                    opt_num(Some(f.final_accuracy)),
                    opt_num(f.final_asr),
                    opt_num(f.anomaly_precision),
                    opt_num(f.anomaly_recall),
                ]);
            }
        }
        row.push(opt_num(Some(r.seconds)));
        debug_assert_eq!(row.len(), CSV_HEADER.len());
        writer.write_record(&row).map_err(fail)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| ReportError::Csv(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ReportError::Csv(e.to_string()))
}
