//! `attack-sweep` and `defend-sweep` on real `digits` (8x8 images, MLP, few epochs): the
//! numbers must say what the attack and the defence did, and bad input exits 2 on one line.

use crate::common;

use common::{assert_one_line_error, json, mithridate};

const DATA: [&str; 6] = ["--data", "digits", "--model", "mlp", "--epochs", "30"];

#[test]
fn attack_sweep_reports_a_backdoor_that_grows_with_the_rate() {
    let mut args = vec!["--json", "attack-sweep"];
    args.extend(DATA);
    args.extend([
        "--attack",
        "badnets",
        "--target",
        "0",
        "-p",
        "size=3",
        "-p",
        "pattern=white",
        "--rates",
        "0,0.05",
        "--seeds",
        "1",
    ]);
    let v = json(&mithridate(&args));
    assert_eq!(v["attack"], "badnets");
    assert_eq!(v["success_metric"], "ASR");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "clean baseline + two rates: {v}");
    let asr = |i: usize| rows[i]["success"]["mean"].as_f64().unwrap();
    let ca = |i: usize| rows[i]["clean_accuracy"]["mean"].as_f64().unwrap();
    assert!(asr(0) < 0.2, "clean model ASR {}", asr(0));
    assert!(asr(1) < 0.2, "rate 0 ASR {}", asr(1));
    assert!(asr(2) > 0.8, "rate 0.05 ASR {}", asr(2));
    assert!(ca(2) > 0.85, "clean accuracy under the backdoor {}", ca(2));
    assert_eq!(rows[1]["poisoned_samples"]["mean"], 0.0);
}

#[test]
fn defend_sweep_removes_a_backdoor_its_detector_catches() {
    let mut args = vec!["--json", "defend-sweep"];
    args.extend(DATA);
    args.extend([
        "--attack",
        "badnets",
        "--target",
        "0",
        "-p",
        "size=3",
        "-p",
        "pattern=white",
        "--rate",
        "0.03",
        "--detector",
        "activation-clustering",
        "--expected-rate",
        "0.2",
        "-P",
        "activation-clustering.size-rule-outlier=0",
        "--action",
        "drop",
        "--seeds",
        "1",
    ]);
    let v = json(&mithridate(&args));
    let mean = |k: &str| v["results"][k]["mean"].as_f64().unwrap();
    assert!(mean("before_success") > 0.8, "{v}");
    assert!(mean("recall") > 0.8, "{v}");
    assert!(mean("after_success") < 0.3, "{v}");
    assert!(mean("after_ca") > 0.85, "{v}");
}

#[test]
fn sweeps_refuse_impossible_parameters_on_one_line() {
    let mut rate = vec!["attack-sweep"];
    rate.extend(DATA);
    rate.extend(["--attack", "label-flip", "--rates", "1.5"]);
    assert_one_line_error(&mithridate(&rate), 2, "1.5");
    let mut seeds = vec!["defend-sweep"];
    seeds.extend(DATA);
    seeds.extend([
        "--attack",
        "label-flip",
        "--rate",
        "0.1",
        "--detector",
        "knn",
        "--seeds",
        "0",
    ]);
    assert_one_line_error(&mithridate(&seeds), 2, "seeds");
    let mut param = vec!["defend-sweep"];
    param.extend(DATA);
    param.extend([
        "--attack",
        "label-flip",
        "--rate",
        "0.1",
        "--detector",
        "knn",
        "-P",
        "knn.k=0",
    ]);
    assert_one_line_error(&mithridate(&param), 2, "k");
    let mut attack = vec!["attack-sweep"];
    attack.extend(DATA);
    attack.extend(["--attack", "badnets", "-p", "size=99", "--target", "0"]);
    assert_one_line_error(&mithridate(&attack), 2, "99");
}
