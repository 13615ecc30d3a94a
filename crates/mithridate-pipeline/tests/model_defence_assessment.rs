//! Model-level defences as assessment defences (issue 15), from the library on the real
//! `digits` dataset (8x8 images): an MLP backdoored by a 3x3 BadNets patch on 5% of the
//! training set (target 0), inspected by Neural Cleanse and MM-BD and repaired by Neural
//! Cleanse unlearning, each with 170 trusted test samples (of 359). Asserts that Neural Cleanse names the
//! target's trigger as the smallest, that the repair lowers the ASR measured on the samples it did
//! not see, the report section and CSV rows, and that mistakes name their line before anything
//! runs. Data from `MITHRIDATE_HOME` (default `<workspace>/target/mithridate-home`).

use mithridate_assess::config::Config;
use mithridate_assess::plan::Shard;
use mithridate_assess::record::{ModelDefenceOutcome, Outcome};
use mithridate_assess::report::Report;
use mithridate_assess::store::Store;
use mithridate_data::DataHome;
use mithridate_pipeline::assessment::{Assessment, CellKinds, Executor};
use mithridate_pipeline::data::DataCache;
use mithridate_pipeline::PipelineError;

fn home() -> DataHome {
    DataHome::for_workspace_tests()
}

const CONFIG: &str = r#"
[[centralized]]
dataset = "digits"
model = "mlp"
defences = ["neural-cleanse", "max-margin", "nc-unlearning"]
defence_params = { neural-cleanse = { trusted = 170, samples = 160, batch-size = 64 }, max-margin = { trusted = 170, steps = 100, starts = 4 }, nc-unlearning = { trusted = 170, samples = 160, scan-batch-size = 64 } }
[[centralized.attacks]]
name = "badnets"
rates = [0.05]
params = { target = 0, size = 3, pattern = "white", margin = 0 }
"#;

fn prepare(text: &str) -> Result<Assessment, PipelineError> {
    let config = Config::parse(text).unwrap();
    Assessment::prepare(&config, 1, 1, &DataCache::new(home()), &CellKinds::none())
}

#[test]
fn model_defences_inspect_and_repair_the_poisoned_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let data = DataCache::new(home());
    let summary = prepare(CONFIG)
        .unwrap()
        .run(&Executor::new(data), &store, Shard::ALL, 2, &|_| {})
        .unwrap();
    assert_eq!(
        summary.ran, 8,
        "baseline, undefended, three model defences of the clean model and three of the poisoned"
    );
    let records = store.records().unwrap();
    let of_model = |name: &str, poisoned: bool| -> ModelDefenceOutcome {
        records
            .iter()
            .find_map(|r| match &r.outcome {
                Outcome::ModelDefence(m) if m.method == name && m.attack.is_some() == poisoned => {
                    Some(m.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {name} record (poisoned {poisoned})"))
    };
    let by_method = |name: &str| of_model(name, true);
    // The clean baseline under each method: a false-positive check, no attack to score.
    let clean: Vec<ModelDefenceOutcome> = ["neural-cleanse", "max-margin", "nc-unlearning"]
        .iter()
        .map(|name| of_model(name, false))
        .collect();
    for m in &clean {
        assert!(m.verdict.is_some(), "{}: {m:?}", m.method);
        assert_eq!((m.true_target, m.before.success_rate), (None, None));
    }
    let clean_repair_after = clean[2]
        .after
        .expect("a repair of the clean model reports after");
    assert!(clean_repair_after.success_rate.is_none());
    let nc = by_method("neural-cleanse");
    eprintln!(
        "neural-cleanse: {:?} {:?} {} evaluated {}",
        nc.verdict, nc.target_classes, nc.details, nc.evaluated_samples
    );
    assert_eq!(nc.role, "inspection");
    assert_eq!(nc.mitigation, "AML.M0008");
    assert_eq!(nc.true_target, Some(0));
    assert!(
        (165..=175).contains(&nc.trusted_samples),
        "{}",
        nc.trusted_samples
    );
    assert!(nc.evaluated_samples > 0);
    assert!(nc.after.is_none());
    let asr_before = nc.before.success_rate.unwrap();
    assert!(asr_before > 0.9, "the backdoor must work: ASR {asr_before}");
    // The target's reversed trigger is the smallest (largest anomaly index), whether or not
    // it clears Neural Cleanse's threshold of 2 on 170 samples (it does not always here: the
    // MNIST CNN numbers are in the repair README).
    let index = |c: &serde_json::Value| c["anomaly_index"].as_f64().unwrap();
    let classes = nc.details["classes"].as_array().unwrap();
    let top = classes
        .iter()
        .max_by(|a, b| index(a).total_cmp(&index(b)))
        .unwrap();
    assert_eq!(top["class"], 0, "{}", nc.details);
    assert!(nc.verdict.is_some());
    // Pictures exactly for the flagged classes.
    assert_eq!(nc.triggers.len(), nc.target_classes.len());
    assert!(nc
        .triggers
        .iter()
        .all(|t| t.png_base64.starts_with("iVBORw0KGgo")));
    assert_eq!(nc.details["classes"].as_array().unwrap().len(), 10);

    let mm = by_method("max-margin");
    assert_eq!(mm.role, "inspection");
    assert!(mm.verdict.is_some());
    assert!(mm.details["p_value"].as_f64().is_some());
    // MM-BD decides with clean references; a flagged class's trigger is then reversed
    // for its picture, and only then.
    assert_eq!(
        mm.details["reference"]["per_model"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        mm.triggers.len(),
        mm.target_classes.len(),
        "{:?}",
        mm.details
    );

    let repair = by_method("nc-unlearning");
    eprintln!("nc-unlearning: {:?} -> {:?}", repair.before, repair.after);
    assert_eq!(repair.role, "repair");
    assert_eq!(repair.mitigation, "AML.M0003");
    // Same victim, same evaluated samples: the "before" numbers agree across methods.
    assert_eq!(repair.before, nc.before);
    let after = repair.after.unwrap();
    assert!(
        after.success_rate.unwrap() < 0.5 * asr_before,
        "nc-unlearning leaves ASR {:?}",
        after.success_rate
    );
    assert!(after.clean_accuracy > repair.before.clean_accuracy - 0.1);
    // nc-unlearning runs the same scan (same parameters, same trusted draw).
    assert_eq!(repair.verdict, nc.verdict);
    assert_eq!(repair.target_classes, nc.target_classes);

    // Report: the section, the trigger picture in HTML, one CSV row per method.
    let report = Report::new(&store.records().unwrap()).unwrap();
    let markdown = report.to_markdown();
    assert!(markdown.contains("### Model inspection and repair"));
    assert!(markdown.contains("nc-unlearning (repair)"));
    let html = report.to_html();
    assert!(html.contains("<h3>Model inspection and repair</h3>"));
    assert!(
        markdown.contains("| clean |"),
        "a row for the clean model:\n{markdown}"
    );
    assert_eq!(
        html.matches("data:image/png;base64,").count(),
        nc.triggers.len()
            + mm.triggers.len()
            + clean[0].triggers.len()
            + clean[1].triggers.len()
            + clean[2].triggers.len()
    );
    let csv = report.to_csv().unwrap();
    assert_eq!(csv.matches(",model_defence,").count(), 6);
}

#[test]
fn model_defence_mistakes_name_their_line() {
    let config_error = |text: &str| match prepare(text) {
        Err(PipelineError::Config(e)) => (e.line, e.message),
        Err(other) => panic!("not a config error: {other}"),
        Ok(_) => panic!("accepted:\n{text}"),
    };
    let (line, message) = config_error(&CONFIG.replacen("trusted = 170", "trusted = 0", 1));
    assert_eq!(line, Some(6));
    assert!(
        message.contains("trusted must be a whole number"),
        "{message}"
    );
    let (line, message) = config_error(&CONFIG.replace("starts = 4", "starts = 0"));
    assert_eq!(line, Some(6));
    assert!(message.contains("starts"), "{message}");
    let (line, message) = config_error(&CONFIG.replace("\"max-margin\",", "\"max-margn\","));
    assert_eq!(line, Some(5));
    assert!(
        message.contains("max-margn") && message.contains("nc-unlearning"),
        "{message}"
    );
}
