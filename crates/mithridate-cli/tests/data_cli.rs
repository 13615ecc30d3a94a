//! `mithridate data ...` end to end: JSON output, exports readable by the data crate, exit codes.
//! Uses `MITHRIDATE_HOME` if set, else `<workspace>/target/mithridate-home` (shared with the
//! data crate's tests, so the small datasets are downloaded at most once).

use crate::common;
use common::*;

use std::path::Path;
use std::process::Output;

#[test]
fn list_describes_every_builtin() {
    let v = json(&mithridate(&["--json", "data", "list"]));
    let names: Vec<&str> = v["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "mnist",
            "fashion-mnist",
            "digits",
            "breast-cancer",
            "spambase",
            "german-credit",
            "phishing",
            "spamassassin"
        ]
    );
    let text = mithridate(&["data", "list"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("breast-cancer"));
}

#[test]
fn fetch_export_and_info_round_trip() {
    let fetched = json(&mithridate(&["--json", "data", "fetch", "digits"]));
    assert_eq!(fetched["fetched"][0]["name"], "digits");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("digits-test.npz");
    let out_str = out.to_str().unwrap();
    let v = json(&mithridate(&[
        "--json", "data", "export", "digits", "--split", "test", "-o", out_str,
    ]));
    assert_eq!(v["samples"], 359);
    assert_eq!(v["shape"], serde_json::json!([359, 1, 8, 8]));
    let data = mithridate_data::npz::read(&out).unwrap();
    assert_eq!(data.ids().first(), Some(&1438));
    let info = json(&mithridate(&["--json", "data", "info", out_str]));
    assert_eq!(info["data"]["samples"], 359);
    assert_eq!(info["data"]["id_range"], serde_json::json!([1438, 1796]));
    let counts: u64 = info["data"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counts, 359);
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.npz");
    std::fs::write(&garbage, b"not a zip").unwrap();
    let out = mithridate(&["data", "info", garbage.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("not a valid .npz"), "{err}");
    let out = mithridate(&["data", "fetch", "cifar-10"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown dataset 'cifar-10'"));
    let missing = Path::new("/nonexistent-dir/x.npz");
    let out = mithridate(&["data", "export", "digits", "-o", missing.to_str().unwrap()]);
    assert_eq!(code(&out), 3, "I/O failure is an environment error");
}
