//! DP-FedAvg and secure aggregation inside the simulation (digits, 20 clients, logistic
//! regression): the secure sum gives plain FedAvg's model up to quantisation, with and without
//! dropouts; rules that need individual updates are refused; too many dropouts name the round;
//! dp-fedavg reports a user-level epsilon that matches the accountant.

use mithridate_aggregate::RuleSpec;
use mithridate_data::{load, DataHome, Dataset, Split};
use mithridate_engine::Architecture;
use mithridate_fl::{AttackSpec, FlParams, FlReport, SecAggParams};
use std::sync::OnceLock;

fn digits() -> &'static (Dataset, Dataset) {
    static DATA: OnceLock<(Dataset, Dataset)> = OnceLock::new();
    DATA.get_or_init(|| {
        let home = DataHome::for_workspace_tests();
        (
            load(&home, "digits", Split::Train).unwrap(),
            load(&home, "digits", Split::Test).unwrap(),
        )
    })
}

fn small(rule: &str, secagg: Option<SecAggParams>, dropout: f64) -> FlParams {
    let mut p = FlParams::with_rule(
        rule.parse::<RuleSpec>().unwrap(),
        "none".parse::<AttackSpec>().unwrap(),
    );
    p.clients = 20;
    p.per_round = 0.5;
    p.rounds = 5;
    p.architecture = Architecture::LogReg;
    p.local_epochs = 1;
    p.batch_size = 16;
    p.lr = 0.2;
    p.secure_aggregation = secagg;
    p.dropout = dropout;
    p
}

fn run(p: &FlParams) -> FlReport {
    let (train, test) = digits();
    p.check().unwrap().run(train, test, &mut |_| {}).unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn secure_fedavg_is_plain_fedavg_up_to_quantisation() {
    let plain = run(&small("fedavg", None, 0.0));
    for neighbours in [None, Some(4)] {
        let secagg = SecAggParams {
            neighbours,
            ..SecAggParams::default()
        };
        let secure = run(&small("fedavg", Some(secagg), 0.0));
        // 5 rounds, each within half a step 2^-17 per coordinate of the mean.
        let diff = max_diff(&plain.final_parameters, &secure.final_parameters);
        assert!(diff < 1e-3, "graph {neighbours:?}: {diff}");
        assert!((plain.final_accuracy - secure.final_accuracy).abs() < 0.01);
        let cost = secure.rounds[0].secure_aggregation.as_ref().unwrap();
        assert_eq!(cost.clients, 10);
        assert!(cost.client_sent_bytes > 4.0 * plain.final_parameters.len() as f64);
    }
    // With 10% and 30% dropouts the model still trains (the survivors' mean).
    for dropout in [0.1, 0.3] {
        let r = run(&small("fedavg", Some(SecAggParams::default()), dropout));
        let dropped = (dropout * 10.0_f64).round() as usize;
        assert!(r.rounds.iter().all(|m| m.dropped.len() == dropped));
        assert!(r.final_accuracy > 0.8, "{dropout}: {}", r.final_accuracy);
    }
}

#[test]
fn secure_dp_fedavg_matches_the_clear_rule_without_dropouts() {
    let rule = "dp-fedavg:clip=0.5,noise-multiplier=0.1,adaptive=true";
    let plain = run(&small(rule, None, 0.0));
    let secure = run(&small(rule, Some(SecAggParams::default()), 0.0));
    let diff = max_diff(&plain.final_parameters, &secure.final_parameters);
    assert!(diff < 1e-3, "{diff}");
    let privacy = plain.privacy.as_ref().unwrap();
    assert_eq!(privacy.sampling_rate, 0.5);
    let expected = mithridate_privacy::epsilon_for_poisson_gaussian(0.1, 0.5, 5, 1e-5)
        .unwrap()
        .epsilon;
    assert_eq!(privacy.epsilon, Some(expected));
}

#[test]
fn rules_that_need_individual_updates_are_refused() {
    for rule in [
        "median",
        "krum",
        "norm-bound",
        "flame",
        "nnm+fedavg",
        "trimmed-mean",
    ] {
        let err = small(rule, Some(SecAggParams::default()), 0.0)
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cannot run under secure aggregation"),
            "{rule}: {err}"
        );
    }
    for rule in ["fedavg", "norm-bound:bound=1", "dp-fedavg:clip=1"] {
        assert!(small(rule, Some(SecAggParams::default()), 0.0)
            .check()
            .is_ok());
    }
    // Dropouts need secure aggregation; bad values are errors.
    assert!(small("fedavg", None, 0.1).check().is_err());
    assert!(small("fedavg", Some(SecAggParams::default()), 1.0)
        .check()
        .is_err());
}

#[test]
fn too_many_dropouts_fail_naming_the_round() {
    // 10 per round, complete graph: t = 5 of 9; 60% dropouts leave 4.
    let p = small("fedavg", Some(SecAggParams::default()), 0.6);
    let (train, test) = digits();
    let err = p
        .check()
        .unwrap()
        .run(train, test, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("secure aggregation round 1: too many dropouts (6 of 10 clients)"),
        "{err}"
    );
}
