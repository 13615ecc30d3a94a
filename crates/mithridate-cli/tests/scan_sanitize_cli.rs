//! `mithridate scan data` and `sanitize` end to end on real data (digits, 10% of labels
//! flipped by `poison`): confident learning finds the flips, sanitize relabels or drops them,
//! and every bad input exits 2 with one error line and writes no output file.

use crate::common;
use common::*;

use std::path::Path;

/// `poison` digits with 10% random label flips into `dir/p.npz` (truth next to it).
fn flipped_digits(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("p.npz");
    let out = json(&mithridate(&[
        "--json",
        "poison",
        "--data",
        "digits",
        "--attack",
        "label-flip",
        "--rate",
        "0.1",
        "-o",
        arg(&data),
    ]));
    assert_eq!(out["poisoned"], 144, "{out}");
    data
}

#[test]
fn confident_learning_scan_finds_flips_and_sanitize_relabels_or_drops_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = flipped_digits(dir.path());
    let truth = dir.path().join("p.npz.truth.json");
    let flags = dir.path().join("flags.json");
    let scan = json(&mithridate(&[
        "--json",
        "scan",
        "data",
        "--data",
        arg(&data),
        "--detector",
        "confident",
        "--epochs",
        "10",
        "--truth",
        arg(&truth),
        "-o",
        arg(&flags),
    ]));
    assert_eq!(scan["samples"], 1438, "{scan}");
    let detection = &scan["detectors"][0];
    assert_eq!(detection["detector"], "confident");
    let flagged = detection["flagged"].as_u64().unwrap();
    assert!((100..=220).contains(&flagged), "flagged {flagged}");
    let metrics = &detection["metrics"];
    assert!(metrics["f1"].as_f64().unwrap() >= 0.7, "{metrics}");
    // The flags file is one detection object with a suggested label per flagged sample.
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&flags).unwrap()).unwrap();
    assert_eq!(written["flagged"].as_array().unwrap().len() as u64, flagged);
    assert_eq!(written["relabel"].as_array().unwrap().len() as u64, flagged);

    let relabelled = dir.path().join("relabelled.npz");
    let out = json(&mithridate(&[
        "--json",
        "sanitize",
        "--data",
        arg(&data),
        "--flags",
        arg(&flags),
        "-o",
        arg(&relabelled),
    ]));
    assert_eq!(out["relabelled"].as_u64(), Some(flagged), "{out}");
    assert_eq!(
        (out["dropped"].as_u64(), out["samples_after"].as_u64()),
        (Some(0), Some(1438))
    );
    let dropped = dir.path().join("dropped.npz");
    let out = json(&mithridate(&[
        "--json",
        "sanitize",
        "--data",
        arg(&data),
        "--flags",
        arg(&flags),
        "--action",
        "drop",
        "-o",
        arg(&dropped),
    ]));
    assert_eq!(out["dropped"].as_u64(), Some(flagged), "{out}");
    assert_eq!(out["samples_after"].as_u64(), Some(1438 - flagged));
    for file in [&relabelled, &dropped] {
        assert!(std::fs::metadata(file).unwrap().len() > 0);
    }
}

#[test]
fn bad_inputs_exit_2_with_one_error_line_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = flipped_digits(dir.path());
    let flags = dir.path().join("flags.json");
    let malformed = dir.path().join("bad.npz");
    std::fs::write(&malformed, b"not a zip archive").unwrap();
    let missing = dir.path().join("missing.npz");
    let out_file = dir.path().join("out.json");
    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", "data", "-o", arg(&out_file)];
        args.extend_from_slice(extra);
        mithridate(&args)
    };
    // Confusion training on the flipped set, with further arguments.
    let confusion = |extra: &[&str]| {
        let mut args = vec!["--data", arg(&data), "--detector", "confusion"];
        args.extend_from_slice(extra);
        scan(&args)
    };
    for (out, needle) in [
        (scan(&["--data", arg(&missing)]), "no such .npz file"),
        (scan(&["--data", arg(&malformed)]), "not a valid .npz file"),
        (
            scan(&["--data", arg(&data), "--expected-rate", "1.5"]),
            "expected rate must be in (0, 1]",
        ),
        (confusion(&[]), "needs trusted clean samples (--clean-set)"),
        (
            // The poisoned set's own rows cannot be its trusted clean samples.
            confusion(&["--clean-set", arg(&data)]),
            "--clean-set shares sample id",
        ),
        (
            confusion(&["--clean-set", "digits", "--max-clean", "0"]),
            "--max-clean must be at least 1",
        ),
    ] {
        assert_one_line_error(&out, 2, needle);
        assert!(
            !out_file.exists(),
            "a failed scan wrote {}",
            out_file.display()
        );
    }
    // An unknown detector is rejected by the argument parser (its usage hint follows the
    // error line).
    let out = scan(&["--data", arg(&data), "--detector", "frobnicate"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: invalid value 'frobnicate'"),
        "{stderr}"
    );
    assert!(!out_file.exists());

    std::fs::write(&flags, br#"{"detector": "x", "flagged": [], "scores": []}"#).unwrap();
    let clean = dir.path().join("clean.npz");
    let sanitize = |data: &Path, flags: &Path| {
        mithridate(&[
            "sanitize",
            "--data",
            arg(data),
            "--flags",
            arg(flags),
            "-o",
            arg(&clean),
        ])
    };
    for (out, needle) in [
        (
            sanitize(&data, &dir.path().join("nope.json")),
            "no such file",
        ),
        (sanitize(&malformed, &flags), "not a valid .npz file"),
        (sanitize(&data, &malformed), "not JSON"),
    ] {
        assert_one_line_error(&out, 2, needle);
        assert!(
            !clean.exists(),
            "a failed sanitize wrote {}",
            clean.display()
        );
    }
}

#[test]
fn auto_without_a_clean_set_tells_the_user_what_one_would_add() {
    let dir = tempfile::tempdir().unwrap();
    let data = flipped_digits(dir.path());
    let note = "--clean-set SOURCE";
    let out = mithridate(&["scan", "data", "--data", arg(&data), "--detector", "auto"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(note), "{stderr}");
    // With --json, stdout stays one JSON object and no note is printed.
    let out = mithridate(&[
        "--json",
        "scan",
        "data",
        "--data",
        arg(&data),
        "--detector",
        "auto",
    ]);
    json(&out);
    assert!(!String::from_utf8_lossy(&out.stderr).contains(note));
}
