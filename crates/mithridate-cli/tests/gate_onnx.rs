//! `mithridate gate` with ONNX models: the PyTorch fixtures of mithridate-onnx (a clean MNIST
//! MLP and the same MLP trained on BadNets 5%) as baseline and candidate, a Mithridate baseline
//! against an ONNX candidate, and ONNX models that do not fit the holdout.

use crate::common;

use common::{
    arg, assert_one_line_error, mithridate, onnx_fixture as fixture, poison_like_pytorch_fixture,
};
use std::path::{Path, PathBuf};
use std::process::Output;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The ground truth of make_fixtures.py's trigger on 1,000 poisoned MNIST images.
fn badnets_truth(dir: &Path) -> PathBuf {
    poison_like_pytorch_fixture(dir, 1000).1
}

/// `gate --json` on the MNIST test split (10,000 samples) with the default policy.
fn gate(baseline: &Path, candidate: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let mut args = vec![
        "--json",
        "gate",
        "--baseline",
        arg(baseline),
        "--candidate",
        arg(candidate),
        "--holdout",
        "mnist",
    ];
    args.extend_from_slice(extra);
    let out = mithridate(&args);
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, report)
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["report"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {report}"))
}

#[test]
fn pytorch_badnets_candidate_fails_the_probe_and_a_clean_one_passes() {
    let dir = tempfile::tempdir().unwrap();
    let truth = badnets_truth(dir.path());
    let probe_name = "probe:white.npz.truth.json";
    let (clean, badnets) = (
        fixture("mlp_dynamo.onnx"),
        fixture("mlp_badnets_dynamo.onnx"),
    );

    // The BadNets MLP obeys the trigger (PyTorch measured 99.2% attack success), the clean
    // one does not: the probe check fails it, exit 1, one error line naming the probe.
    let (bad, report) = gate(&clean, &badnets, &["--probe", arg(&truth)]);
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    let err = stderr(&bad);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: gate failed: ") && err.contains(probe_name),
        "{err}"
    );
    assert_eq!(report["passed"], false);
    assert_eq!(report["report"]["comparison"]["samples"], 10_000);
    let probe = check(&report, probe_name);
    assert_eq!(probe["status"], "failed", "{probe}");
    // Only the probe sees the backdoor: on clean inputs the candidate is a plausible retrain
    // (accuracy 91.56% -> 91.37%, 3.97% churn, 1.77% negative flips, under the defaults).
    let failed: Vec<&str> = report["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "failed")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, [probe_name], "{report}");
    // The value is candidate minus baseline attack success; the threshold the default 0.10.
    assert!(probe["value"].as_f64().unwrap() > 0.8, "{probe}");
    // The baseline's accuracy is PyTorch's test accuracy of the clean MLP, 91.56%.
    let baseline_accuracy = report["report"]["comparison"]["baseline_accuracy"]
        .as_f64()
        .unwrap();
    assert!((baseline_accuracy - 0.9156).abs() < 1e-6, "{report}");

    // Clean against itself: the same predictions everywhere, so no accuracy or recall drop,
    // no flip and equal attack success under the probe. The right decision is a pass (exit 0):
    // every check passes except target_concentration, which is skipped, not failed, since it
    // needs at least min_disagreements = 20 negative flips to mean anything and there are 0.
    let (good, report) = gate(&clean, &clean, &["--probe", arg(&truth)]);
    assert_eq!(good.status.code(), Some(0), "{}", stderr(&good));
    assert_eq!(report["passed"], true, "{report}");
    let flips = &report["report"]["comparison"]["flips"];
    assert_eq!(
        (flips["changed"].as_u64(), flips["negative"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(check(&report, "target_concentration")["status"], "skipped");
    let probe = check(&report, probe_name);
    assert_eq!(probe["status"], "passed", "{probe}");
    assert_eq!(probe["value"].as_f64(), Some(0.0), "{probe}");
}

#[test]
fn a_mithridate_baseline_gates_an_onnx_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let truth = badnets_truth(dir.path());
    let baseline = dir.path().join("base.safetensors");
    let train = mithridate(&[
        "train",
        "--data",
        "mnist",
        "--model",
        "mlp",
        "--max-train",
        "2000",
        "--epochs",
        "5",
        "-o",
        arg(&baseline),
    ]);
    assert!(train.status.success(), "train: {}", stderr(&train));
    let (out, report) = gate(
        &baseline,
        &fixture("mlp_badnets_dynamo.onnx"),
        &["--probe", arg(&truth)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(report["report"]["comparison"]["samples"], 10_000);
    let probe = check(&report, "probe:white.npz.truth.json");
    assert_eq!(probe["status"], "failed", "{probe}");
}

#[test]
fn onnx_models_that_do_not_fit_are_one_line_errors_with_exit_2() {
    let (rgb, mlp) = (fixture("cnn_rgb.onnx"), fixture("mlp_dynamo.onnx"));
    let cases: [(&Path, &Path, &[&str], &str); 4] = [
        // A 3x32x32 input against 1x28x28 MNIST, as either model.
        (&rgb, &mlp, &[], "baseline model vs holdout"),
        (&mlp, &rgb, &[], "candidate model vs holdout"),
        // The flags apply to both ONNX models: 12 classes contradicts the graph's 10.
        (
            &mlp,
            &mlp,
            &["--classes", "12"],
            "the graph outputs 10 classes",
        ),
        (
            &mlp,
            &mlp,
            &["--input-layout", "hwcn"],
            "unknown input layout",
        ),
    ];
    for (baseline, candidate, extra, needle) in cases {
        let (out, _) = gate(baseline, candidate, extra);
        assert_one_line_error(&out, 2, needle);
    }
    let (out, _) = gate(&rgb, &mlp, &[]);
    assert_one_line_error(&out, 2, "does not take 1x28x28 images");
}
