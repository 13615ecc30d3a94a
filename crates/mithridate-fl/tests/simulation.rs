//! End-to-end simulations on the digits dataset (1,438 training rows, 8x8 images): small,
//! fast, real. Datasets are fetched into `MITHRIDATE_HOME`, by default
//! `<workspace>/target/mithridate-home`, and cached.

use mithridate_aggregate::Rule;
use mithridate_data::{load, DataHome, Dataset, Split};
use mithridate_engine::Architecture;
use mithridate_fl::{AttackSpec, FlError, FlParams, FlReport};
use std::sync::OnceLock;

fn home() -> DataHome {
    DataHome::for_workspace_tests()
}

fn digits() -> &'static (Dataset, Dataset) {
    static DATA: OnceLock<(Dataset, Dataset)> = OnceLock::new();
    DATA.get_or_init(|| {
        (
            load(&home(), "digits", Split::Train).unwrap(),
            load(&home(), "digits", Split::Test).unwrap(),
        )
    })
}

/// 20 clients, 10 per round, logistic regression, 2 local epochs: a round takes milliseconds.
fn small(rule: Rule, attack: &str, byzantine: f64, seed: u64) -> FlParams {
    let mut p = FlParams::new(rule, attack.parse::<AttackSpec>().unwrap());
    p.clients = 20;
    p.per_round = 0.5;
    p.rounds = 10;
    p.byzantine = byzantine;
    p.architecture = Architecture::LogReg;
    p.local_epochs = 2;
    p.batch_size = 16;
    p.lr = 0.2;
    p.seed = seed;
    p
}

fn run(p: &FlParams) -> FlReport {
    let (train, test) = digits();
    p.check().unwrap().run(train, test, &mut |_| {}).unwrap()
}

/// A configuration that passes `check` but fails once the data is known.
fn run_err(p: &FlParams) -> FlError {
    let (train, test) = digits();
    p.check()
        .unwrap()
        .run(train, test, &mut |_| {})
        .unwrap_err()
}

#[test]
fn same_seed_gives_identical_parameters_and_another_seed_does_not() {
    let p = small(Rule::Median, "alie", 0.2, 3);
    let a = run(&p);
    let b = run(&p);
    assert_eq!(a.final_parameters, b.final_parameters);
    assert_eq!(a.byzantine_ids, b.byzantine_ids);
    let c = run(&small(Rule::Median, "alie", 0.2, 4));
    assert_ne!(a.final_parameters, c.final_parameters);
}

#[test]
fn fedavg_without_attack_learns() {
    let report = run(&small(Rule::FedAvg, "none", 0.0, 0));
    // 10 classes: chance is 10%.
    assert!(report.final_accuracy > 0.85, "{}", report.final_accuracy);
    assert_eq!(report.rounds.len(), 10);
    assert!(report.byzantine_ids.is_empty());
}

#[test]
fn sign_flip_breaks_fedavg_but_not_median_or_trimmed_mean() {
    // 30% attackers boosting the flipped update 4x: FedAvg's step is (0.7 - 1.2) g.
    let attack = "sign-flip:4";
    let fedavg = run(&small(Rule::FedAvg, attack, 0.3, 1));
    let median = run(&small(Rule::Median, attack, 0.3, 1));
    let trimmed = run(&small(Rule::TrimmedMean, attack, 0.3, 1));
    assert!(
        fedavg.final_accuracy < 0.3,
        "fedavg {}",
        fedavg.final_accuracy
    );
    assert!(
        median.final_accuracy > 0.8,
        "median {}",
        median.final_accuracy
    );
    assert!(
        trimmed.final_accuracy > 0.8,
        "trimmed {}",
        trimmed.final_accuracy
    );
    // The trimmed mean drops exactly the 3 flipped updates' extreme coordinates; the anomaly
    // scores flag the flippers.
    let last = trimmed.rounds.last().unwrap();
    assert_eq!(last.attackers.len(), 3);
    assert!(
        last.anomaly_detection.recall.unwrap() >= 2.0 / 3.0,
        "{:?}",
        last.anomaly_detection
    );
}

#[test]
fn model_replacement_plants_a_backdoor_under_fedavg() {
    let mut p = small(Rule::FedAvg, "model-replacement", 0.1, 2);
    p.rounds = 6;
    let report = run(&p);
    let asr = report.final_asr.expect("a backdoor attack reports ASR");
    assert!(asr > 0.5, "ASR {asr}");
}

#[test]
fn fedsgd_step_budget_is_deterministic_and_learns() {
    // One local step per round (FedSGD) on 16-row samples: 40 rounds of 10 clients.
    let mut p = small(Rule::FedAvg, "none", 0.0, 5);
    p.local_steps = Some(1);
    p.rounds = 40;
    let a = run(&p);
    assert_eq!(a.final_parameters, run(&p).final_parameters);
    assert!(a.final_accuracy > 0.7, "{}", a.final_accuracy);
    // A step budget is not a full epoch: the updates differ from the epoch run's.
    p.local_steps = None;
    assert_ne!(a.final_parameters, run(&p).final_parameters);
}

#[test]
fn fltrust_holds_against_boosted_sign_flip_with_its_root_set() {
    // Same 30% boosted flippers that break FedAvg above: the root update gives them trust 0.
    let mut p = small(Rule::FlTrust, "sign-flip:4", 0.3, 1);
    p.root_size = 50;
    let report = run(&p);
    assert!(
        report.final_accuracy > 0.8,
        "fltrust {}",
        report.final_accuracy
    );
    let last = report.rounds.last().unwrap();
    assert_eq!(
        last.rule_detection.recall,
        Some(1.0),
        "{:?}",
        last.rule_detection
    );
    // The root rows leave the clients' pool: too few rows left is an error, not a panic.
    p.root_size = 1430;
    let err = run_err(&p);
    assert!(err.to_string().contains("root"), "{err}");
}

#[test]
fn flame_cuts_the_model_replacement_backdoor() {
    let mut p = small(Rule::FedAvg, "model-replacement", 0.1, 2);
    p.rounds = 6;
    let fedavg = run(&p).final_asr.unwrap();
    p.rule = Rule::Flame.into();
    let flame = run(&p);
    let asr = flame.final_asr.unwrap();
    assert!(asr < fedavg / 2.0, "flame ASR {asr} vs fedavg {fedavg}");
    assert!(
        flame.final_accuracy > 0.8,
        "flame accuracy {}",
        flame.final_accuracy
    );
}

#[test]
fn invalid_parameters_are_errors_before_training() {
    let check = |edit: &dyn Fn(&mut FlParams), needle: &str| {
        let mut p = small(Rule::Krum, "sign-flip", 0.2, 0);
        edit(&mut p);
        let err = p.check().unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    };
    check(&|p| p.clients = 0, "clients");
    check(&|p| p.per_round = 0.0, "per-round");
    check(&|p| p.per_round = 1.5, "per-round");
    check(&|p| p.rounds = 0, "rounds");
    check(&|p| p.byzantine = 1.0, "byzantine");
    check(&|p| p.lr = -1.0, "lr");
    check(&|p| p.local_epochs = 0, "epochs");
    check(&|p| p.local_steps = Some(0), "local-steps");
    // Krum needs n >= 2f + 3: 10 participants with 4 malicious (40%) is refused.
    check(&|p| p.byzantine = 0.4, "tolerates at most");
    check(&|p| p.rule = Rule::Bulyan.into(), "tolerates at most");
    check(
        &|p| {
            p.rule = Rule::FlTrust.into();
            p.root_size = 0;
        },
        "root",
    );
    check(&|p| p.byzantine = 0.01, "0 malicious");
    // More clients than training rows is caught once the data is known.
    let mut p = small(Rule::Median, "none", 0.0, 0);
    p.clients = 5000;
    p.per_round = 0.01;
    let err = run_err(&p);
    assert!(
        matches!(
            err,
            FlError::Param {
                name: "clients",
                ..
            }
        ),
        "{err}"
    );
}
