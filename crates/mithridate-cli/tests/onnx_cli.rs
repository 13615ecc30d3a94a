//! `mithridate evaluate --model x.onnx`: PyTorch-exported fixtures of mithridate-onnx give
//! PyTorch's own MNIST test accuracy, and bad ONNX inputs fail with one line and exit 2.

use crate::common;

use common::{
    arg, assert_one_line_error, json, mithridate, onnx_fixture as fixture,
    poison_like_pytorch_fixture,
};

#[test]
fn onnx_models_reach_pytorchs_test_accuracy() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap();
    for name in ["mlp_torchscript.onnx", "cnn_dynamo.onnx"] {
        let path = fixture(name);
        let out = json(&mithridate(&[
            "--json",
            "evaluate",
            "--model",
            arg(&path),
            "--data",
            "mnist",
        ]));
        let want = expected["models"][name]["pytorch_test_accuracy"]
            .as_f64()
            .unwrap();
        let got = out["accuracy"].as_f64().unwrap();
        // PyTorch's accuracy is a float32 mean of 10,000 0/1 values.
        assert!((got - want).abs() < 1e-6, "{name}: {got} vs PyTorch {want}");
        assert_eq!(out["samples"], 10_000);
    }
}

#[test]
fn bad_onnx_inputs_are_one_line_errors_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.onnx");
    let bytes = std::fs::read(fixture("cnn_dynamo.onnx")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let text = dir.path().join("text.onnx");
    std::fs::write(&text, "this is not a model\n").unwrap();
    let rgb = fixture("cnn_rgb.onnx");
    let cumsum = fixture("unsupported_op.onnx");
    let cnn = fixture("cnn_dynamo.onnx");
    let cases: [(&[&str], &str); 6] = [
        (&["--model", arg(&truncated)], "truncated or not ONNX"),
        (&["--model", arg(&text)], "not a valid ONNX model"),
        (
            &["--model", arg(&rgb)],
            "[?, 3, 32, 32] does not take 1x28x28 images",
        ),
        (&["--model", arg(&cumsum)], "operator 'CumSum'"),
        (
            &["--model", arg(&cnn), "--input-layout", "nhwc"],
            "does not take 1x28x28 images in layout Nhwc",
        ),
        (
            &["--model", arg(&cnn), "--input-layout", "hwcn"],
            "unknown input layout 'hwcn'",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["evaluate", "--data", "mnist"];
        args.extend_from_slice(extra);
        assert_one_line_error(&mithridate(&args), 2, needle);
    }
}

#[test]
fn strip_and_the_attack_report_run_on_a_pytorch_badnets_model() {
    // make_fixtures.py's patch (3x3 white, bottom-right, 1 pixel from the edges) is
    // Mithridate's BadNets trigger with pattern=white.
    let dir = tempfile::tempdir().unwrap();
    let truth = poison_like_pytorch_fixture(dir.path(), 2000).1;
    let model = fixture("mlp_badnets_dynamo.onnx");
    let eval = json(&mithridate(&[
        "--json",
        "evaluate",
        "--model",
        arg(&model),
        "--data",
        "mnist",
        "--trigger",
        arg(&truth),
    ]));
    let asr = eval["attack"]["assessment"]["attack_success_rate"]
        .as_f64()
        .unwrap();
    assert!(asr > 0.95, "PyTorch measured 99.2%: {eval}");
    let strip = json(&mithridate(&[
        "--json",
        "scan",
        "input",
        "--model",
        arg(&model),
        "--data",
        "mnist",
        "--clean",
        "mnist",
        "--max-clean",
        "1000",
        "--max-inputs",
        "1000",
        "--truth",
        arg(&truth),
    ]));
    let (far, frr) = (
        strip["evaluation"]["far"].as_f64().unwrap(),
        strip["evaluation"]["frr"].as_f64().unwrap(),
    );
    assert!(far < 0.05 && frr < 0.1, "{strip}");
}
