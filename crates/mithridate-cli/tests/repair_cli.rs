//! `mithridate repair`: Neural Cleanse unlearning removes a BadNets backdoor from an MNIST MLP
//! trained here (the scan settings are those of scan_model_cli.rs), fine-pruning reports its
//! pruning, and bad requests fail on one line.

use crate::common;

use common::{arg, assert_one_line_error, json, mithridate};
use std::path::{Path, PathBuf};

/// Poisons MNIST (BadNets 5% -> 7) and trains an MLP on it: (model, ground-truth file).
fn backdoored_mlp(dir: &Path) -> (PathBuf, PathBuf) {
    let (poisoned, truth) = common::poison_badnets_to_7(dir, "badnets.npz", &[], 20000);
    let model = dir.join("bad.safetensors");
    json(&mithridate(&[
        "--json",
        "train",
        "--data",
        arg(&poisoned),
        "--test",
        "mnist",
        "--model",
        "mlp",
        "--max-train",
        "20000",
        "-o",
        arg(&model),
    ]));
    (model, truth)
}

fn repair(
    model: &Path,
    truth: &Path,
    out: &Path,
    method: &str,
    extra: &[&str],
) -> serde_json::Value {
    let mut args = vec![
        "--json",
        "repair",
        "--model",
        arg(model),
        "--data",
        "mnist",
        "--max-samples",
        "600",
        "--test",
        "mnist",
        "--trigger",
        arg(truth),
        "--method",
        method,
        "-o",
        arg(out),
    ];
    args.extend_from_slice(extra);
    json(&mithridate(&args))
}

#[test]
fn unlearning_removes_the_backdoor_and_pruning_reports_what_it_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (model, truth) = backdoored_mlp(dir.path());
    let scan = [
        "-p",
        "steps=120",
        "-p",
        "samples=192",
        "-p",
        "scan-batch-size=64",
    ];
    let out = dir.path().join("nc.safetensors");
    let nc = repair(&model, &truth, &out, "nc-unlearning", &scan);
    let (before, after) = (&nc["before"], &nc["after"]);
    let asr = |v: &serde_json::Value| v["attack_success_rate"].as_f64().unwrap();
    let ca = |v: &serde_json::Value| v["clean_accuracy"].as_f64().unwrap();
    assert!(asr(before) > 0.8, "{nc}");
    assert_eq!(
        nc["details"]["flagged_classes"],
        serde_json::json!([7]),
        "{nc}"
    );
    assert!(asr(after) < 0.2, "{nc}");
    assert!(ca(after) > ca(before) - 0.05, "{nc}");
    assert!(out.exists());
    // The repaired model is an ordinary model file: evaluate reads it.
    json(&mithridate(&[
        "--json",
        "evaluate",
        "--model",
        arg(&out),
        "--data",
        "mnist",
    ]));

    let pruned = dir.path().join("fp.safetensors");
    let fp = repair(&model, &truth, &pruned, "fine-pruning", &[]);
    let d = &fp["details"];
    let pruned = d["pruned"].as_u64().unwrap();
    assert!(pruned <= d["units"].as_u64().unwrap(), "{fp}");
    assert_eq!(
        d["pruned_units"].as_array().unwrap().len() as u64,
        pruned,
        "{fp}"
    );
    assert!(asr(&fp["after"]) <= 1.0 && ca(&fp["after"]) > 0.5, "{fp}");
}

#[test]
fn bad_requests_fail_on_one_line() {
    let listed = json(&mithridate(&["--json", "repair", "--list"]));
    let text = listed.to_string();
    for m in ["fine-tuning", "fine-pruning", "nc-unlearning"] {
        assert!(text.contains(m), "{text}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.safetensors");
    let onnx = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../mithridate-onnx/tests/fixtures/mlp_dynamo.onnx");
    let run = |model: &Path, method: &str, extra: &[&str]| {
        let mut args = vec![
            "repair",
            "--model",
            arg(model),
            "--data",
            "mnist",
            "--method",
            method,
            "-o",
            arg(&out),
        ];
        args.extend_from_slice(extra);
        mithridate(&args)
    };
    assert_one_line_error(&run(&onnx, "fine-tuning", &[]), 2, "onnx");
    assert_one_line_error(&run(&onnx, "no-such-method", &[]), 2, "no-such-method");
    let missing = dir.path().join("missing.safetensors");
    // A missing file is the environment's fault (exit 3), as for every command.
    assert_one_line_error(&run(&missing, "fine-tuning", &[]), 3, "missing.safetensors");
    assert!(!out.exists(), "nothing is written on failure");
}
