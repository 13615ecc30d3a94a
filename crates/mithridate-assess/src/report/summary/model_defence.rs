//! Model-level defences reduced over seeds: per (dataset, model, attack, rate, method) how
//! often the inspector (or the repair's own scan) called the poisoned model trojaned and named
//! the attack's target, and clean accuracy and ASR before and after a repair.
//!
//! Like RAG and language runs, these stay out of the attack groups, verdicts and risk: a
//! centralized group's defences are data detectors scored against the poisoned ids, while an
//! inspection is scored against the model (is it trojaned, toward which class).

use super::Stat;
use crate::record::{CellRecord, ModelDefenceOutcome, Outcome, TriggerPicture};
use serde::Serialize;

/// (dataset, model, attack, rate bits, method).
type Key = (String, String, String, Option<u64>, String);

/// One method against one poisoned (or clean) model setting, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct ModelDefenceRow {
    pub dataset: String,
    pub model: String,
    /// Attack name, `clean` for an unpoisoned model (a false-positive check).
    pub attack: String,
    pub rate: Option<f64>,
    pub method: String,
    /// `inspection` or `repair`.
    pub kind: String,
    pub mitigation: String,
    pub seeds: usize,
    /// Seeds with a verdict, and those whose verdict was `trojaned`.
    pub verdicts: usize,
    pub flagged: usize,
    /// Seeds whose flagged classes include the attack's true target.
    pub right_class: usize,
    pub true_target: Option<usize>,
    pub trusted_samples: usize,
    pub accuracy_before: Option<Stat>,
    pub asr_before: Option<Stat>,
    pub accuracy_after: Option<Stat>,
    pub asr_after: Option<Stat>,
    /// The first seed's reverse-engineered triggers.
    pub triggers: Vec<TriggerPicture>,
}

/// Groups the model-defence records (in record order) into rows.
pub fn model_defence_rows(records: &[&CellRecord]) -> Vec<ModelDefenceRow> {
    let mut groups: Vec<(Key, Vec<&ModelDefenceOutcome>)> = Vec::new();
    for r in records {
        let Outcome::ModelDefence(m) = &r.outcome else {
            continue;
        };
        let key = (
            r.dataset.clone(),
            m.model.clone(),
            m.attack.as_ref().map_or("clean".into(), |a| a.name.clone()),
            m.attack.as_ref().map(|a| a.rate.to_bits()),
            m.method.clone(),
        );
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(m),
            None => groups.push((key, vec![m])),
        }
    }
    groups
        .into_iter()
        .map(|((dataset, model, attack, rate, method), runs)| {
            let first = runs[0];
            let stat = |f: &dyn Fn(&ModelDefenceOutcome) -> Option<f64>| {
                Stat::of(runs.iter().filter_map(|m| f(m)))
            };
            ModelDefenceRow {
                dataset,
                model,
                attack,
                rate: rate.map(f64::from_bits),
                method,
                kind: first.role.clone(),
                mitigation: first.mitigation.clone(),
                seeds: runs.len(),
                verdicts: runs.iter().filter(|m| m.verdict.is_some()).count(),
                flagged: runs
                    .iter()
                    .filter(|m| m.verdict.as_deref() == Some("trojaned"))
                    .count(),
                right_class: runs
                    .iter()
                    .filter(|m| m.true_target.is_some_and(|t| m.target_classes.contains(&t)))
                    .count(),
                true_target: first.true_target,
                trusted_samples: first.trusted_samples,
                accuracy_before: stat(&|m| Some(m.before.clean_accuracy)),
                asr_before: stat(&|m| m.before.success_rate),
                accuracy_after: stat(&|m| m.after.map(|a| a.clean_accuracy)),
                asr_after: stat(&|m| m.after.and_then(|a| a.success_rate)),
                triggers: first.triggers.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ModelScore;

    fn record(seed: u64, verdict: &str, targets: Vec<usize>, asr_after: f64) -> CellRecord {
        CellRecord {
            id: format!("nc-unlearning-{seed}"),
            index: seed as usize,
            dataset: "digits".into(),
            seed,
            seconds: 1.0,
            outcome: Outcome::ModelDefence(ModelDefenceOutcome {
                model: "mlp".into(),
                train_samples: 100,
                attack: None,
                method: "nc-unlearning".into(),
                role: "repair".into(),
                mitigation: "AML.M0003".into(),
                parameters: serde_json::json!({}),
                trusted_samples: 50,
                evaluated_samples: 50,
                verdict: Some(verdict.into()),
                target_classes: targets,
                true_target: Some(0),
                before: ModelScore {
                    clean_accuracy: 0.9,
                    success_rate: Some(1.0),
                },
                after: Some(ModelScore {
                    clean_accuracy: 0.8,
                    success_rate: Some(asr_after),
                }),
                triggers: vec![],
                details: serde_json::Value::Null,
            }),
        }
    }

    #[test]
    fn seeds_are_counted_and_averaged_by_hand() {
        let records = [
            record(0, "trojaned", vec![0], 0.1),
            record(1, "trojaned", vec![3], 0.3),
            record(2, "clean", vec![], 0.5),
        ];
        let refs: Vec<&CellRecord> = records.iter().collect();
        let rows = model_defence_rows(&refs);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(
            (r.seeds, r.verdicts, r.flagged, r.right_class),
            (3, 3, 2, 1)
        );
        assert_eq!((r.attack.as_str(), r.rate), ("clean", None));
        let after = r.asr_after.unwrap();
        assert!((after.mean - 0.3).abs() < 1e-12 && (after.sd - 0.2).abs() < 1e-12);
        assert_eq!(r.accuracy_before.unwrap().n, 3);
        // The report shows the row in both documents.
        let report = crate::report::Report::new(&records).unwrap();
        let markdown = report.to_markdown();
        assert!(
            markdown.contains("### Model inspection and repair"),
            "{markdown}"
        );
        assert!(markdown.contains("2 / 3"), "{markdown}");
        assert!(report.to_html().contains("1 / 3 (class 0)"));
    }
}
