//! `mithridate export`: models trained here on real data (sklearn digits) written as ONNX give
//! the same evaluation through the ONNX importer (default flags) as the safetensors; the file
//! is deterministic and its report matches it; text models and bad paths fail on one line.

use crate::common;

use common::{arg, assert_one_line_error, json, mithridate};
use mithridate_data::Modality;
use mithridate_engine::{Architecture, Classifier, ModelCard};
use sha2::{Digest, Sha256};
use std::path::Path;

fn train(out: &Path, model: &str) {
    json(&mithridate(&[
        "--json",
        "--seed",
        "2",
        "train",
        "--data",
        "digits",
        "--model",
        model,
        "--epochs",
        "2",
        "-o",
        arg(out),
    ]));
}

fn evaluate(model: &Path) -> serde_json::Value {
    json(&mithridate(&[
        "--json",
        "evaluate",
        "--model",
        arg(model),
        "--data",
        "digits",
    ]))
}

#[test]
fn exported_models_evaluate_like_the_originals() {
    let dir = tempfile::tempdir().unwrap();
    for (architecture, shape) in [("mlp", "[\"batch\",1,8,8]"), ("cnn", "[\"batch\",1,8,8]")] {
        let model = dir.path().join(format!("{architecture}.safetensors"));
        let onnx = dir.path().join(format!("{architecture}.onnx"));
        train(&model, architecture);
        let report = json(&mithridate(&[
            "--json",
            "export",
            "--model",
            arg(&model),
            "-o",
            arg(&onnx),
        ]));
        let bytes = std::fs::read(&onnx).unwrap();
        assert_eq!(report["architecture"], architecture, "{report}");
        assert_eq!(report["classes"], 10, "{report}");
        assert_eq!(report["input_shape"].to_string(), shape, "{report}");
        assert_eq!(report["bytes"], bytes.len(), "{report}");
        assert_eq!(report["sha256"], hex::encode(Sha256::digest(&bytes)));
        assert_eq!(report["output"], arg(&onnx));

        let native = evaluate(&model);
        let twin = evaluate(&onnx);
        assert!(native["accuracy"].as_f64().unwrap() > 0.5, "{native}");
        assert_eq!(twin["accuracy"], native["accuracy"], "{architecture}");
        assert_eq!(twin["confusion"], native["confusion"], "{architecture}");
        assert!(
            twin["architecture"].as_str().unwrap().contains("opset 17"),
            "{twin}"
        );

        // Same model, same bytes; the text report names the file.
        let again = dir.path().join(format!("{architecture}-again.onnx"));
        let out = mithridate(&["export", "--model", arg(&model), "-o", arg(&again)]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("opset 17"));
        assert_eq!(std::fs::read(&again).unwrap(), bytes);
    }
}

#[test]
fn text_models_and_bad_paths_fail_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = Modality::Text {
        max_len: 8,
        vocab_size: 40,
    };
    let model = Classifier::new(Architecture::Text, &text, 2, 0).unwrap();
    let path = dir.path().join("text.safetensors");
    model
        .save(&path, &ModelCard::describe(&model, "generated", 0, None))
        .unwrap();
    let out_path = dir.path().join("text.onnx");
    let out = mithridate(&["export", "--model", arg(&path), "-o", arg(&out_path)]);
    assert_one_line_error(&out, 2, "token ids");
    assert!(!out_path.exists(), "nothing is written for a refused model");

    let missing = dir.path().join("missing.safetensors");
    let out = mithridate(&["export", "--model", arg(&missing), "-o", arg(&out_path)]);
    assert_one_line_error(&out, 2, "no model file");
    std::fs::write(&missing, b"not a model").unwrap();
    let out = mithridate(&["export", "--model", arg(&missing), "-o", arg(&out_path)]);
    assert_one_line_error(&out, 2, "model card");
    let out = mithridate(&["export", "--model", arg(&out_path), "-o", arg(&out_path)]);
    assert_one_line_error(&out, 2, "already an ONNX model");
}
