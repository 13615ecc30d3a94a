//! `mithridate fl` and `fl-sweep` end to end on digits: JSON lines, the summary, exit codes.
//! Uses `MITHRIDATE_HOME` if set, else `<workspace>/target/mithridate-home`.

use crate::common;
use common::*;

const SMALL: [&str; 14] = [
    "--data",
    "digits",
    "--model",
    "logreg",
    "--clients",
    "20",
    "--per-round",
    "0.5",
    "--rounds",
    "3",
    "--local-epochs",
    "2",
    "--lr",
    "0.2",
];

#[test]
fn fl_writes_one_json_line_per_round_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("run.jsonl");
    let mut args = vec!["--json", "--seed", "5", "fl"];
    args.extend(SMALL);
    args.extend([
        "--byzantine",
        "0.2",
        "--attack",
        "ipm",
        "--rule",
        "trimmed-mean",
        "-o",
    ]);
    args.push(out_path.to_str().unwrap());
    let out = mithridate(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["malicious_per_round"], 2);
    assert_eq!(v["summary"]["byzantine_ids"].as_array().unwrap().len(), 4);
    let text = std::fs::read_to_string(&out_path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[2]["round"], 3);
    assert_eq!(lines[3]["summary"]["final_accuracy"], lines[2]["accuracy"]);
}

#[test]
fn fl_rejects_bad_arguments_with_exit_code_2() {
    for bad in [
        vec!["--rule", "krum", "--byzantine", "0.45"],
        vec!["--clients", "0"],
        vec!["--per-round", "0"],
        vec!["--attack", "nonsense"],
        vec!["--partition", "dirichlet:-1"],
    ] {
        let mut args = vec!["fl", "--data", "digits"];
        args.extend(&bad);
        let out = mithridate(&args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: ") && err.lines().count() == 1,
            "{err}"
        );
    }
}

#[test]
fn fl_sweep_reports_every_cell_and_refuses_untolerated_ones() {
    let mut args = vec!["--json", "fl-sweep"];
    args.extend(SMALL);
    args.extend([
        "--rules",
        "fedavg,median,bulyan",
        "--attacks",
        "none,sign-flip",
        "--byzantine",
        "0.2",
    ]);
    let out = mithridate(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    // Bulyan needs n >= 4f + 3: 10 participants with 2 malicious is refused, not run.
    let bulyan: Vec<_> = results.iter().filter(|r| r["rule"] == "bulyan").collect();
    assert!(bulyan
        .iter()
        .all(|r| r["refused"].as_str().unwrap().contains("tolerates")));
    let median_none = results
        .iter()
        .find(|r| r["rule"] == "median" && r["attack"] == "none")
        .unwrap();
    assert!(median_none["accuracy_mean"].as_f64().unwrap() > 0.5);
}
