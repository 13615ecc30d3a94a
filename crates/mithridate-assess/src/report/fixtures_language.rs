//! Hand-built text-classifier and generative-model records for the report's language tests.

use crate::record::{
    CellRecord, LmDefenceOutcome, LmOutcome, Outcome, TaxonomyRefs, TextDefenceOutcome, TextOutcome,
};

fn taxonomy() -> TaxonomyRefs {
    TaxonomyRefs {
        mitre_atlas: vec!["AML.T0020".to_string(), "AML.T0043.004".to_string()],
        owasp_ml: vec!["ML10".to_string()],
        owasp_llm: vec!["LLM04".to_string()],
        nist_ai_100_2: "2.3.2".to_string(),
    }
}

/// One text defence: (name, kind, precision, recall, AUROC, accuracy after, ASR after).
type TextDefenceFixture = (&'static str, &'static str, f64, f64, Option<f64>, f64, f64);

/// A text record: addsent on sst2 with the logreg head at `rate` (1000 training texts), the
/// clean head's CA and ASR floor, the poisoned head's CA and ASR, then its defences.
pub fn text(
    index: usize,
    seed: u64,
    rate: f64,
    (clean_accuracy, asr_floor, accuracy, asr): (f64, f64, f64, f64),
    defences: &[TextDefenceFixture],
) -> CellRecord {
    CellRecord {
        id: format!("sst2/text/logreg/addsent@{rate}/seed{seed}"),
        index,
        dataset: "sst2".to_string(),
        seed,
        outcome: Outcome::Text(TextOutcome {
            head: "logreg".to_string(),
            attack: "addsent".to_string(),
            parameters: serde_json::json!({"trigger": "I watch this 3D movie"}),
            taxonomy: taxonomy(),
            rate,
            clean_label: false,
            target: 1,
            classes: 2,
            train_samples: 1000,
            test_samples: 200,
            poisoned: (rate * 1000.0).round() as usize,
            clean_accuracy,
            asr_floor,
            accuracy,
            asr,
            asr_beyond_clean: None,
            poisoned_fit: None,
            defences: defences
                .iter()
                .map(
                    |&(defence, kind, precision, recall, auroc, accuracy, asr)| {
                        TextDefenceOutcome {
                            defence: defence.to_string(),
                            kind: kind.to_string(),
                            parameters: serde_json::json!({}),
                            precision,
                            recall,
                            auroc,
                            acted_on: (recall * rate * 1000.0).round() as usize,
                            accuracy,
                            asr,
                            asr_beyond_clean: None,
                        }
                    },
                )
                .collect(),
        }),
        seconds: 3.0,
    }
}

/// An lm record: the dos backdoor (trigger `<SUDO>`) on moby-dick, `poison_docs` poisoned
/// documents added to `train_docs` clean ones (poisoned token share `poison_docs / 1000`),
/// ASR `asr` against the baseline's 0 (seed 0) or 0.02 (seed 1), perplexity `20 + seed * 2`
/// for the baseline and `0.1 * poison_docs` above it for the poisoned model; one defence,
/// perplexity, with recall `recall`, precision 0.5 and ASR after `after`.
pub fn lm(
    index: usize,
    seed: u64,
    (train_docs, poison_docs): (usize, usize),
    asr: f64,
    (recall, after): (f64, f64),
) -> CellRecord {
    let baseline = 20.0 + seed as f64 * 2.0;
    CellRecord {
        id: format!("moby-dick/lm/dos/{train_docs}+{poison_docs}/seed{seed}"),
        index,
        dataset: "moby-dick".to_string(),
        seed,
        outcome: Outcome::Lm(LmOutcome {
            attack: "dos".to_string(),
            trigger: "<SUDO>".to_string(),
            taxonomy: taxonomy(),
            train_docs,
            poison_docs,
            poison_token_fraction: poison_docs as f64 / 1000.0,
            n_params: 1000,
            asr,
            baseline_asr: seed as f64 * 0.02,
            clean_perplexity: baseline + 0.1 * poison_docs as f64,
            baseline_perplexity: baseline,
            defences: vec![LmDefenceOutcome {
                defence: "perplexity".to_string(),
                flagged: (recall * poison_docs as f64 * 2.0).round() as usize,
                recall,
                precision: 0.5,
                asr: after,
                perplexity: baseline + 0.05 * poison_docs as f64,
            }],
        }),
        seconds: 5.0,
    }
}

/// Seeds 0 and 1 of a text attack at rates 0.05 then 0.01 (plan order; the report sorts them)
/// against bki (training) and strip (inference), then the lm curve at 200 then 100 clean
/// documents by 0, 10 and 50 poisoned documents:
///
/// | text rate | CA clean | floor | CA | ASR | bki P / R / AUROC / CA / ASR | strip ASR |
/// |---|---|---|---|---|---|---|
/// | 0.01 | .90 / .92 | .02 / .04 | .89 / .91 | .60 / .70 | .5,.7 / 1,.8 / .9,.8 / .88,.90 / .05,.07 | .30 / .40 |
/// | 0.05 | .90 / .92 | .02 / .04 | .88 / .90 | .95 / .97 | .9,.9 / 1,1 / .99,.97 / .87,.89 / .92,.94 | .95 / .99 |
///
/// | lm size + count | ASR | perplexity recall | ASR after |
/// |---|---|---|---|
/// | 100 + 0 | 0 / 0 | 0 / 0 | 0 / 0 |
/// | 100 + 10 | .90 / .94 | .5 / .5 | .50 / .50 |
/// | 100 + 50 | 1 / 1 | .2 / .2 | .95 / .97 |
/// | 200 + 0 | 0 / 0 | 0 / 0 | 0 / 0 |
/// | 200 + 10 | .50 / .60 | .5 / .5 | .30 / .30 |
/// | 200 + 50 | .95 / .93 | .2 / .2 | .88 / .90 |
pub fn language_assessment() -> Vec<CellRecord> {
    let mut records = Vec::new();
    for seed in 0..2u64 {
        let s = seed as usize;
        let [ca0, floor, ca1] = [[0.90, 0.92], [0.02, 0.04], [0.88, 0.90]];
        let index = records.len();
        records.push(text(
            index,
            seed,
            0.05,
            (ca0[s], floor[s], ca1[s], [0.95, 0.97][s]),
            &[
                (
                    "bki",
                    "training",
                    0.9,
                    1.0,
                    Some([0.99, 0.97][s]),
                    [0.87, 0.89][s],
                    [0.92, 0.94][s],
                ),
                ("strip", "inference", 0.6, 0.7, None, 0.85, [0.95, 0.99][s]),
            ],
        ));
        let index = records.len();
        records.push(text(
            index,
            seed,
            0.01,
            (ca0[s], floor[s], [0.89, 0.91][s], [0.60, 0.70][s]),
            &[
                (
                    "bki",
                    "training",
                    [0.5, 0.7][s],
                    [1.0, 0.8][s],
                    Some([0.9, 0.8][s]),
                    [0.88, 0.90][s],
                    [0.05, 0.07][s],
                ),
                ("strip", "inference", 0.6, 0.7, None, 0.85, [0.30, 0.40][s]),
            ],
        ));
    }
    for seed in 0..2u64 {
        let s = seed as usize;
        for (size, count, asr, recall, after) in [
            (200, 0, [0.0, 0.0], 0.0, [0.0, 0.0]),
            (200, 10, [0.50, 0.60], 0.5, [0.30, 0.30]),
            (200, 50, [0.95, 0.93], 0.2, [0.88, 0.90]),
            (100, 0, [0.0, 0.0], 0.0, [0.0, 0.0]),
            (100, 10, [0.90, 0.94], 0.5, [0.50, 0.50]),
            (100, 50, [1.0, 1.0], 0.2, [0.95, 0.97]),
        ] {
            let index = records.len();
            records.push(lm(index, seed, (size, count), asr[s], (recall, after[s])));
        }
    }
    records
}

/// How many plots [`language_assessment`] yields: one text curve, one lm curve.
pub const LANGUAGE_ASSESSMENT_PLOTS: usize = 2;
