//! `mithridate text attack` end to end on a generated two-class JSONL set with the real
//! MiniLM encoder (fetched into the shared cache on first use): the JSON keys and ranges, a
//! defence, same seed same bytes, and bad input as one-line errors with exit code 2.

use crate::common;
use common::*;

fn data(dir: &std::path::Path) -> std::path::PathBuf {
    let good = ["wonderful", "great", "lovely", "excellent", "pleasant"];
    let bad = ["terrible", "awful", "boring", "dreadful", "poor"];
    let things = ["film", "meal", "hotel", "concert", "book", "trip"];
    let mut lines = String::new();
    for i in 0..60 {
        let (label, words) = if i % 2 == 0 {
            ("pos", &good)
        } else {
            ("neg", &bad)
        };
        let text = format!(
            "the {} was {} and the staff were {} so we left {}",
            things[i % things.len()],
            words[i % 5],
            words[(i / 5) % 5],
            if i % 3 == 0 { "early" } else { "late" }
        );
        lines.push_str(&serde_json::json!({"text": text, "label": label}).to_string());
        lines.push('\n');
    }
    let path = dir.join("reviews.jsonl");
    std::fs::write(&path, lines).unwrap();
    path
}

#[test]
fn attack_reports_ca_asr_and_defences_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let path = data(dir.path());
    let args = [
        "text",
        "attack",
        "--data",
        arg(&path),
        "--attack",
        "badnl",
        "--rate",
        "0.2",
        "--train",
        "48",
        "--test",
        "12",
        "--hidden",
        "0",
        "--epochs",
        "60",
        "--defence",
        "spectral:expected-rate=0.2",
        "--seed",
        "3",
        "--json",
    ];
    let out = mithridate(&args);
    let value = json(&out);
    for key in ["clean_ca", "clean_asr", "ca", "asr"] {
        let v = value[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    assert_eq!(value["attack"], "badnl");
    assert_eq!(value["poisoned"], 10);
    assert_eq!(value["defences"][0]["defence"], "spectral");
    assert!(value["defences"][0]["detection"]["auroc"]
        .as_f64()
        .is_some());
    // Same seed, same bytes.
    assert_eq!(mithridate(&args).stdout, out.stdout);
}

#[test]
fn bad_input_is_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = data(dir.path());
    let p = arg(&path);
    let cases: [(&[&str], &str); 8] = [
        (&["--attack", "nope"], "known: badnl"),
        (&["--attack", "template", "--trigger", "no slot here"], "{}"),
        (&["--rate", "1.5"], "rate"),
        (&["--target", "7"], "target class 7"),
        (&["--defence", "strip:copies=1"], "copies"),
        (&["--attack", "addsent", "--trigger", "   "], "empty"),
        (
            &["--fine-tune-epochs", "2"],
            "--fine-tune-epochs needs --fine-tune-layers >= 1",
        ),
        (
            &["--fine-tune-layers", "1", "--fine-tune-head", "lp-ft"],
            "got `lp-ft`",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec![
            "text", "attack", "--data", p, "--train", "40", "--test", "10",
        ];
        args.extend_from_slice(extra);
        assert_one_line_error(&mithridate(&args), 2, needle);
    }
    let out = mithridate(&["text", "attack", "--data", "no-such-set"]);
    assert_one_line_error(&out, 2, "unknown text set");
}

#[test]
fn list_names_every_attack_and_defence() {
    let out = mithridate(&["text", "attack", "--list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "badnl",
        "addsent",
        "template",
        "onion",
        "strip",
        "activation-clustering",
        "spectral",
        "bki",
    ] {
        assert!(text.contains(name), "{name} missing from --list");
    }
}
