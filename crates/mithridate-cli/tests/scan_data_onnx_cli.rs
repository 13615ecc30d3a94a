//! `mithridate scan data --model x.onnx [--layer NAME]`: training-set detectors on a PyTorch
//! classifier's embeddings. The fixture `mlp_badnets_dynamo.onnx` (MLP 784-32-10, trained by
//! make_fixtures.py on MNIST with 5% of it stamped with a 3x3 white bottom-right patch and
//! relabelled 7) scans a set poisoned the same way by `mithridate poison`.

use crate::common;

use common::{
    arg, assert_one_line_error, json, mithridate, onnx_fixture as fixture,
    poison_like_pytorch_fixture,
};
use mithridate_data::{DataHome, Split};
use mithridate_detect::Embeddings;
use mithridate_onnx::{InputOptions, OnnxClassifier};
use std::path::Path;

/// The `flagged` ids of `detector` in a flags.json array.
fn flagged(flags: &Path, detector: &str) -> Vec<u64> {
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(flags).unwrap()).unwrap();
    let one = all
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["detector"] == detector)
        .unwrap();
    let mut ids: Vec<u64> = one["flagged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn detectors_scan_a_pytorch_models_penultimate_layer() {
    let dir = tempfile::tempdir().unwrap();
    let (poisoned, truth) = poison_like_pytorch_fixture(dir.path(), 2000);
    let model = fixture("mlp_badnets_dynamo.onnx");
    let scan = |layer: Option<&str>, flags: &Path| {
        let mut args = vec![
            "--json",
            "scan",
            "data",
            "--data",
            arg(&poisoned),
            "--model",
            arg(&model),
            "--detector",
            "spectral,activation-clustering",
            "--truth",
            arg(&truth),
            "-o",
            arg(flags),
        ];
        if let Some(l) = layer {
            args.extend(["--layer", l]);
        }
        json(&mithridate(&args))
    };
    let default_flags = dir.path().join("default.json");
    let out = scan(None, &default_flags);
    // The default layer is what the final Linear(32, 10) reads: the ReLU'd hidden layer.
    assert_eq!(out["embeddings"]["dim"], 32, "{out}");
    let layer = out["embeddings"]["layer"].as_str().unwrap().to_string();
    assert_eq!(out["samples"], 2000);
    for d in out["detectors"].as_array().unwrap() {
        let m = &d["metrics"];
        assert_eq!(m["poisoned"], 100, "{out}");
        assert!(
            m["precision"].is_number() && m["recall"].is_number(),
            "{out}"
        );
    }
    // The trigger is one feature the model learned for 7: activation clustering splits class 7.
    let ac = &out["detectors"][1];
    assert_eq!(ac["detector"], "activation-clustering");
    assert_eq!(ac["suspicious_classes"], serde_json::json!([7]), "{out}");
    let (p, r) = (
        ac["metrics"]["precision"].as_f64().unwrap(),
        ac["metrics"]["recall"].as_f64().unwrap(),
    );
    assert!(p > 0.7 && r > 0.9, "precision {p}, recall {r}: {out}");

    // Naming the default layer changes nothing.
    let named_flags = dir.path().join("named.json");
    scan(Some(&layer), &named_flags);
    assert_eq!(
        std::fs::read(&default_flags).unwrap(),
        std::fs::read(&named_flags).unwrap()
    );

    // The same flags as spectral signatures computed directly on the ONNX value's output.
    let home = DataHome::for_workspace_tests();
    let data = mithridate_data::load(&home, arg(&poisoned), Split::Train).unwrap();
    let onnx = OnnxClassifier::load(&model, InputOptions::default()).unwrap();
    let (values, dim) = onnx.layer_output(&data, &layer).unwrap();
    assert_eq!(dim, 32);
    assert!(values.iter().all(|&v| v >= 0.0), "the ReLU's output");
    let emb = Embeddings::new(&values, dim, data.labels(), data.ids(), 10).unwrap();
    let direct =
        mithridate_core::ParamGuard::check(mithridate_detect::spectral::SpectralParams::default())
            .unwrap()
            .detect_embeddings(&emb)
            .unwrap();
    let mut want = direct.flagged.clone();
    want.sort_unstable();
    assert!(!want.is_empty());
    assert_eq!(flagged(&default_flags, "spectral"), want);

    // Another layer (the 32 pre-activation values) gives other embeddings of the same width.
    let linear_flags = dir.path().join("linear.json");
    let out = scan(Some("linear"), &linear_flags);
    assert_eq!(out["embeddings"]["dim"], 32, "{out}");
    assert_ne!(flagged(&linear_flags, "spectral"), want);
}

#[test]
fn bad_layers_and_models_are_one_line_errors_with_exit_2() {
    let mlp = fixture("mlp_badnets_dynamo.onnx");
    let rgb = fixture("cnn_rgb.onnx");
    let cases: [(&[&str], &str); 4] = [
        (
            &["--model", arg(&mlp), "--layer", "no_such_value"],
            "layer 'no_such_value' is not a value of the ONNX graph",
        ),
        (
            &["--model", arg(&rgb)],
            "[?, 3, 32, 32] does not take 1x28x28 images",
        ),
        (
            &["--layer", "relu"],
            "--layer applies to --model x.onnx only",
        ),
        (&["--input-scale", "255"], "apply to --model x.onnx only"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["scan", "data", "--data", "mnist", "--max-train", "500"];
        args.extend_from_slice(extra);
        assert_one_line_error(&mithridate(&args), 2, needle);
    }
}
