//! CSV with one row per record, for spreadsheets and dataframes.

use super::{Report, ReportError};
use crate::record::{CellRecord, Outcome, TaxonomyRefs};

/// Columns of [`Report::to_csv`]: one row per record; fields that do not apply are empty.
/// Lists (taxonomy ids) are joined with `;`. Rates and accuracies are fractions in `[0, 1]`.
///
/// Continual rows (`kind` = `continual`) fill the shared columns with their closest meaning:
/// `attack` is the campaign, `rate` its per-batch rate, `poisoned` the poisoned or tampered
/// samples of the whole stream, `rounds` the batches, `clean_accuracy` and `final_accuracy`
/// the deployed model's accuracy at the last step, `success_rate` the highest attack success
/// of any deployed model and `final_asr` the last step's; the columns after `seconds` are
/// theirs (`parameters` also holds a centralized attack's parameters, as JSON).
///
/// RAG rows (`kind` = `rag`) put the corpus in `dataset`, the attack in `attack` (its
/// parameters in `parameters`), the poisoned passages in `poisoned` and ASR@5 in
/// `success_rate`; the columns from `retriever` on are theirs: the defence setting
/// (`;`-joined in the order applied, empty when undefended) and each retrieval metric at
/// k = 1, 5, 20 (`asr_at_5`, ...).
///
/// Privacy rows (`kind` = `privacy`) fill the federated columns (the rule is the deployment's
/// rule) and `deployment` (rule and protocol), `curve` (a noise-curve point), `epsilon`
/// (empty without DP or when unbounded), `delta`, `noise_multiplier`, `secure_aggregation` and
/// `dropout`. DPA rows (`kind` = `dpa`) put the base classifier in `model`, the vote's accuracy
/// in `clean_accuracy`, and their own columns from `partitions` on; `certified_accuracy` is
/// `radius:accuracy` pairs joined with `;`.
///
/// Centralized rows put the clean baseline's success rate under the attack's trigger (the
/// floor) in `success_rate_floor`.
///
/// Text rows (`kind` = `text`) put the head in `head` (and `model`), the poisoned head's clean
/// accuracy and ASR in `clean_accuracy` and `success_rate`, the clean head's in
/// `baseline_accuracy` and `asr_floor`, the ASR over the triggered texts the clean head keeps
/// off the target in `asr_beyond_clean` (empty for records without it). LM rows (`kind` = `lm`) put the corpus in `dataset`,
/// the poisoned documents in `poisoned` and `poison_docs`, the corpus size in `train_docs`
/// and the attack success in `success_rate`. Both list their defences in `defences` (`;`) and
/// each defence's numbers in the `defence_*` columns as `name:value` pairs joined with `;`.
///
/// Model-defence rows (`kind` = `model_defence`) fill the centralized columns: the inspector
/// or repair in `detector`, the poisoned model's numbers on the evaluated part of the test set
/// in `clean_accuracy` / `success_rate` (that part's size in `test_samples`), a repair's
/// model in `defended_*`, the method's parameters in `parameters`, and their own columns
/// `verdict`, `target_classes` (`;`), `true_target` and `trusted_samples`.
pub const CSV_HEADER: [&str; 118] = [
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
    "success_rate_floor",
    "detector",
    "mitigation",
    "flagged",
    "removed",
    "relabelled",
    "precision",
    "recall",
    "recall_relabelled",
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
    "parameters",
    "retrain",
    "batch_size",
    "first_poisoned_batch",
    "blocked_at",
    "false_blocks",
    "named_samples",
    "named_recall",
    "deployments",
    "alerts",
    "false_alerts",
    "retriever",
    "defences",
    "poisons_per_target",
    "targets",
    "passages",
    "injected",
    "refused_at_index",
    "refused_poisons",
    "asr_at_1",
    "asr_at_5",
    "asr_at_20",
    "clean_recall_at_1",
    "clean_recall_at_5",
    "clean_recall_at_20",
    "recall_under_attack_at_1",
    "recall_under_attack_at_5",
    "recall_under_attack_at_20",
    "poison_precision_at_1",
    "poison_precision_at_5",
    "poison_precision_at_20",
    "poison_recall_at_1",
    "poison_recall_at_5",
    "poison_recall_at_20",
    "poison_f1_at_1",
    "poison_f1_at_5",
    "poison_f1_at_20",
    "deployment",
    "curve",
    "epsilon",
    "delta",
    "noise_multiplier",
    "secure_aggregation",
    "dropout",
    "partitions",
    "steps",
    "shift",
    "features",
    "base_accuracy",
    "median_radius",
    "certified_accuracy",
    "head",
    "target",
    "clean_label",
    "baseline_accuracy",
    "asr_floor",
    "asr_beyond_clean",
    "train_docs",
    "poison_docs",
    "poison_token_fraction",
    "n_params",
    "baseline_asr",
    "clean_perplexity",
    "baseline_perplexity",
    "defence_flagged",
    "defence_precision",
    "defence_recall",
    "defence_auroc",
    "defence_clean_accuracy",
    "defence_asr",
    "defence_asr_beyond_clean",
    "defence_perplexity",
    "verdict",
    "target_classes",
    "true_target",
    "trusted_samples",
];

/// The cut-offs RAG rows have columns for (mithridate-rag's default cut-offs).
const RAG_CUTOFFS: [&str; 3] = ["1", "5", "20"];

fn opt_num(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => v.to_string(),
        _ => String::new(),
    }
}

/// One row being filled by column name, so a kind sets only the columns it has and the
/// others stay empty.
struct Row(Vec<String>);

impl Row {
    fn new() -> Row {
        Row(vec![String::new(); CSV_HEADER.len()])
    }

    fn set(&mut self, column: &str, value: impl Into<String>) {
        let position = CSV_HEADER.iter().position(|c| *c == column);
        debug_assert!(position.is_some(), "no CSV column {column}");
        if let Some(i) = position {
            self.0[i] = value.into();
        }
    }

    fn set_all<const N: usize>(&mut self, columns: [(&str, String); N]) {
        for (column, value) in columns {
            self.set(column, value);
        }
    }

    fn taxonomy(&mut self, t: &TaxonomyRefs) {
        self.set_all([
            ("mitre_atlas", t.mitre_atlas.join(";")),
            ("owasp_ml", t.owasp_ml.join(";")),
            ("owasp_llm", t.owasp_llm.join(";")),
            ("nist_ai_100_2", t.nist_ai_100_2.clone()),
        ]);
    }
}

fn opt_count(value: Option<usize>) -> String {
    value.map_or(String::new(), |v| v.to_string())
}

fn row_of(r: &CellRecord) -> Row {
    let mut row = Row::new();
    row.set_all([
        ("index", r.index.to_string()),
        ("id", r.id.clone()),
        ("dataset", r.dataset.clone()),
        ("seed", r.seed.to_string()),
        ("seconds", opt_num(Some(r.seconds))),
    ]);
    match &r.outcome {
        Outcome::Centralized(c) => {
            let attack = c.attack.as_ref();
            row.set_all([
                ("kind", "centralized".to_string()),
                ("model", c.model.clone()),
                (
                    "attack",
                    attack.map_or("clean".to_string(), |a| a.name.clone()),
                ),
                ("train_samples", c.train_samples.to_string()),
                ("test_samples", c.test_samples.to_string()),
                ("clean_accuracy", opt_num(Some(c.undefended.clean_accuracy))),
                ("success_rate", opt_num(c.undefended.success_rate)),
                ("success_rate_floor", opt_num(c.success_rate_floor)),
            ]);
            if let Some(a) = attack {
                row.set_all([
                    ("family", a.family.name().to_string()),
                    ("rate", opt_num(Some(a.rate))),
                    ("poisoned", a.poisoned.to_string()),
                    ("parameters", a.parameters.to_string()),
                ]);
                row.taxonomy(&a.taxonomy);
            }
            if let Some(d) = &c.defence {
                row.set_all([
                    ("detector", d.detector.clone()),
                    ("mitigation", d.mitigation.clone()),
                    ("flagged", d.flagged.to_string()),
                    ("removed", d.removed.to_string()),
                    ("relabelled", d.relabelled.to_string()),
                    ("precision", opt_num(Some(d.precision))),
                    ("recall", opt_num(Some(d.recall))),
                    ("recall_relabelled", opt_num(d.recall_relabelled)),
                    ("f1", opt_num(Some(d.f1))),
                    ("auroc", opt_num(d.auroc)),
                    (
                        "defended_clean_accuracy",
                        opt_num(Some(d.retrained.clean_accuracy)),
                    ),
                    ("defended_success_rate", opt_num(d.retrained.success_rate)),
                ]);
            }
        }
        Outcome::ModelDefence(m) => model_defence_row(&mut row, m),
        Outcome::Federated(f) => federated(&mut row, f),
        Outcome::Privacy(p) => {
            federated(&mut row, &p.federated);
            row.set_all([
                ("kind", "privacy".to_string()),
                ("deployment", p.deployment.clone()),
                ("curve", p.curve.to_string()),
                ("epsilon", opt_num(p.epsilon)),
                ("delta", opt_num(Some(p.delta))),
                ("noise_multiplier", opt_num(p.noise_multiplier)),
                (
                    "secure_aggregation",
                    p.secure_aggregation.clone().unwrap_or_default(),
                ),
                ("dropout", opt_num(Some(p.dropout))),
            ]);
        }
        Outcome::Dpa(d) => {
            let certified: Vec<String> = d
                .certified_accuracy
                .iter()
                .map(|p| format!("{}:{}", p.radius, p.accuracy))
                .collect();
            row.set_all([
                ("kind", "dpa".to_string()),
                ("model", d.model.clone()),
                ("train_samples", d.train_samples.to_string()),
                ("test_samples", d.test_samples.to_string()),
                ("clean_accuracy", opt_num(Some(d.vote_accuracy))),
                ("partitions", d.partitions.to_string()),
                ("steps", d.steps.to_string()),
                ("shift", d.shift.to_string()),
                ("features", d.features.clone()),
                ("base_accuracy", opt_num(Some(d.base_accuracy))),
                ("median_radius", opt_num(Some(d.median_radius))),
                ("certified_accuracy", certified.join(";")),
            ]);
        }
        Outcome::Continual(c) => {
            let rate = c.parameters.get("rate").and_then(serde_json::Value::as_f64);
            let last_asr = c.timeline.last().and_then(|p| p.asr);
            row.set_all([
                ("kind", "continual".to_string()),
                ("model", c.model.clone()),
                ("attack", c.campaign.clone()),
                ("rate", opt_num(rate)),
                ("poisoned", c.poisoned_samples.to_string()),
                ("clean_accuracy", opt_num(c.final_accuracy)),
                ("success_rate", opt_num(c.max_deployed_asr)),
                ("rounds", c.batches.to_string()),
                ("final_accuracy", opt_num(c.final_accuracy)),
                ("final_asr", opt_num(last_asr)),
                ("parameters", c.parameters.to_string()),
                ("retrain", c.retrain.clone()),
                ("batch_size", c.batch_size.to_string()),
                ("first_poisoned_batch", opt_count(c.first_poisoned_batch)),
                ("blocked_at", opt_count(c.blocked_at)),
                ("false_blocks", c.false_blocks.to_string()),
                ("named_samples", c.named_samples.to_string()),
                ("named_recall", opt_num(c.named_poison_ids_recall)),
                ("deployments", c.deployments.to_string()),
                ("alerts", c.alerts.to_string()),
                ("false_alerts", c.false_alerts.to_string()),
            ]);
        }
        Outcome::Text(t) => text_row(&mut row, t),
        Outcome::Lm(l) => lm_row(&mut row, l),
        Outcome::Rag(g) => {
            row.set_all([
                ("kind", "rag".to_string()),
                ("attack", g.attack.clone()),
                ("poisoned", g.injected.to_string()),
                ("success_rate", opt_num(g.asr_at_k.get("5").copied())),
                ("parameters", g.parameters.to_string()),
                ("retriever", g.retriever.clone()),
                ("defences", g.defences.join(";")),
                ("poisons_per_target", g.poisons_per_target.to_string()),
                ("targets", g.targets.to_string()),
                ("passages", g.passages.to_string()),
                ("injected", g.injected.to_string()),
                ("refused_at_index", g.refused_at_index.to_string()),
                ("refused_poisons", g.refused_poisons.to_string()),
            ]);
            row.taxonomy(&g.taxonomy);
            let metrics = [
                ("asr", Some(&g.asr_at_k)),
                ("clean_recall", g.clean_recall_at_k.as_ref()),
                ("recall_under_attack", g.recall_under_attack_at_k.as_ref()),
                ("poison_precision", Some(&g.poison_precision_at_k)),
                ("poison_recall", Some(&g.poison_recall_at_k)),
                ("poison_f1", Some(&g.poison_f1_at_k)),
            ];
            for (metric, map) in metrics {
                for k in RAG_CUTOFFS {
                    let value = map.and_then(|m| m.get(k)).copied();
                    row.set(&format!("{metric}_at_{k}"), opt_num(value));
                }
            }
        }
    }
    row
}

/// `name:value;name:value` for the `defence_*` columns.
fn per_defence<D>(defences: &[D], name: fn(&D) -> &str, value: impl Fn(&D) -> String) -> String {
    let pairs: Vec<String> = defences
        .iter()
        .map(|d| format!("{}:{}", name(d), value(d)))
        .collect();
    pairs.join(";")
}

fn text_row(row: &mut Row, t: &crate::record::TextOutcome) {
    fn name(d: &crate::record::TextDefenceOutcome) -> &str {
        &d.defence
    }
    let names: Vec<&str> = t.defences.iter().map(name).collect();
    row.set_all([
        ("kind", "text".to_string()),
        ("model", t.head.clone()),
        ("attack", t.attack.clone()),
        ("family", crate::record::Family::Backdoor.name().to_string()),
        ("rate", opt_num(Some(t.rate))),
        ("poisoned", t.poisoned.to_string()),
        ("train_samples", t.train_samples.to_string()),
        ("test_samples", t.test_samples.to_string()),
        ("clean_accuracy", opt_num(Some(t.accuracy))),
        ("success_rate", opt_num(Some(t.asr))),
        ("parameters", t.parameters.to_string()),
        ("defences", names.join(";")),
        ("head", t.head.clone()),
        ("target", t.target.to_string()),
        ("clean_label", t.clean_label.to_string()),
        ("baseline_accuracy", opt_num(Some(t.clean_accuracy))),
        ("asr_floor", opt_num(Some(t.asr_floor))),
        ("asr_beyond_clean", opt_num(t.asr_beyond_clean)),
        (
            "defence_flagged",
            per_defence(&t.defences, name, |d| d.acted_on.to_string()),
        ),
        (
            "defence_precision",
            per_defence(&t.defences, name, |d| opt_num(Some(d.precision))),
        ),
        (
            "defence_recall",
            per_defence(&t.defences, name, |d| opt_num(Some(d.recall))),
        ),
        (
            "defence_auroc",
            per_defence(&t.defences, name, |d| opt_num(d.auroc)),
        ),
        (
            "defence_clean_accuracy",
            per_defence(&t.defences, name, |d| opt_num(Some(d.accuracy))),
        ),
        (
            "defence_asr",
            per_defence(&t.defences, name, |d| opt_num(Some(d.asr))),
        ),
        (
            "defence_asr_beyond_clean",
            per_defence(&t.defences, name, |d| opt_num(d.asr_beyond_clean)),
        ),
    ]);
    row.taxonomy(&t.taxonomy);
}

fn lm_row(row: &mut Row, l: &crate::record::LmOutcome) {
    fn name(d: &crate::record::LmDefenceOutcome) -> &str {
        &d.defence
    }
    let names: Vec<&str> = l.defences.iter().map(name).collect();
    row.set_all([
        ("kind", "lm".to_string()),
        ("attack", l.attack.clone()),
        ("family", crate::record::Family::Backdoor.name().to_string()),
        ("poisoned", l.poison_docs.to_string()),
        ("success_rate", opt_num(Some(l.asr))),
        (
            "parameters",
            serde_json::json!({ "trigger": l.trigger }).to_string(),
        ),
        ("defences", names.join(";")),
        ("train_docs", l.train_docs.to_string()),
        ("poison_docs", l.poison_docs.to_string()),
        (
            "poison_token_fraction",
            opt_num(Some(l.poison_token_fraction)),
        ),
        ("n_params", l.n_params.to_string()),
        ("baseline_asr", opt_num(Some(l.baseline_asr))),
        ("clean_perplexity", opt_num(Some(l.clean_perplexity))),
        ("baseline_perplexity", opt_num(Some(l.baseline_perplexity))),
        (
            "defence_flagged",
            per_defence(&l.defences, name, |d| d.flagged.to_string()),
        ),
        (
            "defence_precision",
            per_defence(&l.defences, name, |d| opt_num(Some(d.precision))),
        ),
        (
            "defence_recall",
            per_defence(&l.defences, name, |d| opt_num(Some(d.recall))),
        ),
        (
            "defence_asr",
            per_defence(&l.defences, name, |d| opt_num(Some(d.asr))),
        ),
        (
            "defence_perplexity",
            per_defence(&l.defences, name, |d| opt_num(Some(d.perplexity))),
        ),
    ]);
    row.taxonomy(&l.taxonomy);
}

/// The columns of a federated simulation (a federated cell's, or a privacy deployment's).
fn federated(row: &mut Row, f: &crate::record::FederatedOutcome) {
    row.set_all([
        ("kind", "federated".to_string()),
        ("model", f.model.clone()),
        ("attack", f.attack.clone()),
        ("family", f.family.name().to_string()),
        ("rule", f.rule.clone()),
        ("byzantine", opt_num(Some(f.byzantine))),
        ("clients", f.clients.to_string()),
        (
            "participants_per_round",
            f.participants_per_round.to_string(),
        ),
        ("malicious_per_round", f.malicious_per_round.to_string()),
        ("rounds", f.rounds.len().to_string()),
        ("final_accuracy", opt_num(Some(f.final_accuracy))),
        ("final_asr", opt_num(f.final_asr)),
        ("anomaly_precision", opt_num(f.anomaly_precision)),
        ("anomaly_recall", opt_num(f.anomaly_recall)),
    ]);
    row.taxonomy(&f.taxonomy);
}

pub fn csv(report: &Report) -> Result<String, ReportError> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    let fail = |e: ::csv::Error| ReportError::Csv(e.to_string());
    writer.write_record(CSV_HEADER).map_err(fail)?;
    for r in report.records() {
        writer.write_record(&row_of(r).0).map_err(fail)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| ReportError::Csv(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ReportError::Csv(e.to_string()))
}

fn model_defence_row(row: &mut Row, m: &crate::record::ModelDefenceOutcome) {
    let attack = m.attack.as_ref();
    let targets: Vec<String> = m.target_classes.iter().map(usize::to_string).collect();
    row.set_all([
        ("kind", "model_defence".to_string()),
        ("model", m.model.clone()),
        (
            "attack",
            attack.map_or("clean".to_string(), |a| a.name.clone()),
        ),
        ("train_samples", m.train_samples.to_string()),
        ("test_samples", m.evaluated_samples.to_string()),
        ("clean_accuracy", opt_num(Some(m.before.clean_accuracy))),
        ("success_rate", opt_num(m.before.success_rate)),
        ("detector", m.method.clone()),
        ("mitigation", m.mitigation.clone()),
        (
            "defended_clean_accuracy",
            opt_num(m.after.map(|a| a.clean_accuracy)),
        ),
        (
            "defended_success_rate",
            opt_num(m.after.and_then(|a| a.success_rate)),
        ),
        ("parameters", m.parameters.to_string()),
        ("verdict", m.verdict.clone().unwrap_or_default()),
        ("target_classes", targets.join(";")),
        ("true_target", opt_count(m.true_target)),
        ("trusted_samples", m.trusted_samples.to_string()),
    ]);
    if let Some(a) = attack {
        row.set_all([
            ("family", a.family.name().to_string()),
            ("rate", opt_num(Some(a.rate))),
            ("poisoned", a.poisoned.to_string()),
        ]);
        row.taxonomy(&a.taxonomy);
    }
}
