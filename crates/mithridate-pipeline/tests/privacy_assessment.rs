//! A `[privacy]` block run as an assessment from the library on the real `digits` dataset (8x8
//! images): 10 clients, 5 per round (1 malicious), 2 rounds, no attack and model replacement,
//! against FedAvg, DP-FedAvg and FedAvg under SecAgg with 20% dropouts, one noise-curve point,
//! and DPA with 20 partitions on 400 training rows (and ~200 test rows). Checks the records (epsilon only for DP,
//! the protocol and dropouts recorded, DPA's certificate consistent), that a rerun resumes, and
//! that mistakes name their lines before anything runs. Data from `MITHRIDATE_HOME` (default
//! `<workspace>/target/mithridate-home`), fetched on first use.

use mithridate_assess::config::Config;
use mithridate_assess::plan::Shard;
use mithridate_assess::record::{CellRecord, DpaOutcome, Outcome, PrivacyOutcome};
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
[privacy]
dataset = "digits"
clients = 10
per_round = 0.5
rounds = 2
byzantine = 0.2
max_train = 600
max_test = 300
attacks = ["none", "model-replacement"]
deployments = [
  "fedavg",
  "dp-fedavg:clip=1,noise-multiplier=1",
  { rule = "fedavg", secagg = "secagg", dropout = 0.2 },
]
noise_curve = { clip = 1.0, noise_multipliers = [3.0] }
dpa = { partitions = 20, steps = 20, max_train = 400, max_test = 200, radii = [0, 2, 5] }
"#;

fn run(text: &str, store: &Store) -> (usize, usize) {
    let config = Config::parse(text).unwrap();
    let data = DataCache::new(home());
    let assessment = Assessment::prepare(&config, 1, 0, &data, &CellKinds::none()).unwrap();
    let summary = assessment
        .run(&Executor::new(data), store, Shard::ALL, 2, &|_| {})
        .unwrap();
    (summary.ran, summary.skipped)
}

fn privacy(record: &CellRecord) -> &PrivacyOutcome {
    match &record.outcome {
        Outcome::Privacy(p) => p,
        other => panic!("not a privacy record: {other:?}"),
    }
}

#[test]
fn privacy_block_runs_resumes_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // 2 attacks x (3 deployments + 1 curve point) + 1 DPA setting.
    assert_eq!(run(CONFIG, &store), (9, 0));
    let mut records = store.records().unwrap();
    records.sort_by_key(|r| r.index);
    let runs: Vec<&PrivacyOutcome> = records[..8].iter().map(privacy).collect();
    let labels: Vec<&str> = runs[..4].iter().map(|p| p.deployment.as_str()).collect();
    assert_eq!(
        labels,
        [
            "fedavg",
            "dp-fedavg:clip=1,noise-multiplier=1",
            "fedavg + secagg, dropout 20%",
            "dp-fedavg:clip=1,noise-multiplier=3",
        ]
    );
    for (i, p) in runs.iter().enumerate() {
        let f = &p.federated;
        assert_eq!((f.clients, f.participants_per_round), (10, 5));
        assert_eq!(f.malicious_per_round, 1);
        assert_eq!(f.rounds.len(), 2);
        assert!((0.0..=1.0).contains(&f.final_accuracy));
        let dp = i % 4 == 1 || i % 4 == 3;
        // Epsilon for DP-FedAvg only, finite, and smaller for more noise.
        assert_eq!(p.epsilon.is_some(), dp, "{}", p.deployment);
        assert!(p.epsilon.is_none_or(|e| e.is_finite() && e > 0.0));
        assert_eq!(p.noise_multiplier.is_some(), dp);
        assert_eq!(p.curve, i % 4 == 3);
        let secure = i % 4 == 2;
        assert_eq!(p.secure_aggregation.as_deref(), secure.then_some("secagg"));
        assert_eq!(p.dropout, if secure { 0.2 } else { 0.0 });
        assert_eq!(f.final_asr.is_some(), f.attack == "model-replacement");
    }
    assert!(runs[3].epsilon.unwrap() < runs[1].epsilon.unwrap());
    // Under SecAgg the server sums quantised (2^-16) updates of the 4 survivors of each
    // round instead of all 5: not the plain FedAvg run, though close on 300 test images.
    let [plain, secure] = [
        runs[0].federated.final_accuracy,
        runs[2].federated.final_accuracy,
    ];
    assert!(
        (plain - secure).abs() < 0.2,
        "fedavg {plain} vs secagg {secure}"
    );

    let Outcome::Dpa(DpaOutcome {
        partitions,
        train_samples,
        test_samples,
        vote_accuracy,
        certified_accuracy,
        partition_sizes,
        ..
    }) = &records[8].outcome
    else {
        panic!("not a DPA record: {:?}", records[8].outcome)
    };
    assert_eq!((*partitions, *train_samples), (20, 400));
    // The stratified subset rounds per class.
    assert!((195..=200).contains(test_samples), "{test_samples}");
    assert!(partition_sizes[2] >= partition_sizes[0] && partition_sizes[2] > 0);
    let radii: Vec<u32> = certified_accuracy.iter().map(|p| p.radius).collect();
    assert_eq!(radii, [0, 2, 5]);
    assert_eq!(certified_accuracy[0].accuracy, *vote_accuracy);
    assert!(*vote_accuracy > 0.3, "vote accuracy {vote_accuracy}");
    assert!(certified_accuracy
        .windows(2)
        .all(|w| w[1].accuracy <= w[0].accuracy));

    let report = Report::new(&records).unwrap();
    let g = &report.privacy().groups[0];
    assert_eq!((g.deployments.len(), g.curve.len()), (3, 1));
    assert_eq!(report.privacy().dpa.len(), 1);
    assert!(report.to_html().contains("Privacy-preserving deployments"));

    // A rerun finds every cell done.
    assert_eq!(run(CONFIG, &store), (0, 9));
}

#[test]
fn privacy_mistakes_name_their_line_before_anything_runs() {
    let prepare = |text: &str| {
        let config = Config::parse(text).unwrap();
        let data = DataCache::new(home());
        match Assessment::prepare(&config, 1, 0, &data, &CellKinds::none()) {
            Err(PipelineError::Config(e)) => (e.line, e.message),
            Err(other) => panic!("not a config error: {other}"),
            Ok(_) => panic!("accepted:\n{text}"),
        }
    };
    // Median needs the individual updates: SecAgg refuses it with the simulation's reason.
    let (line, message) = prepare(&CONFIG.replace(
        "{ rule = \"fedavg\", secagg = \"secagg\", dropout = 0.2 }",
        "{ rule = \"median\", secagg = \"secagg\" }",
    ));
    assert_eq!(line, Some(14));
    assert!(
        message.contains("median + secagg")
            && message.contains("cannot run under secure aggregation"),
        "{message}"
    );
    let (line, message) = prepare(&CONFIG.replace("\"fedavg\",\n", "\"fedvag\",\n"));
    assert_eq!(line, Some(12));
    assert!(message.contains("fedvag"), "{message}");
    let (line, message) = prepare(&CONFIG.replace("partitions = 20", "partitions = 401"));
    assert_eq!(line, Some(17));
    assert!(
        message.contains("401 partitions need at least as many training rows, have 400"),
        "{message}"
    );
    let (line, message) = prepare(&CONFIG.replace("steps = 20,", "features = \"hug\","));
    assert_eq!(line, Some(17));
    assert!(message.contains("unknown base features 'hug'"), "{message}");
    let (line, message) = prepare(&CONFIG.replace("steps = 20,", "model = \"text\","));
    assert_eq!(line, Some(17));
    assert!(message.contains("'text'"), "{message}");
}
