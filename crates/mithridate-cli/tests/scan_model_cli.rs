//! `mithridate scan model`: Neural Cleanse names BadNets' target class on an MNIST MLP trained
//! here, calls the same architecture trained on clean data clean, and scans ONNX models
//! (the settings are the smallest that separated the two here: fewer steps left class 7's
//! trigger unconverged, anomaly index 1.65).

use crate::common;

use common::{arg, assert_one_line_error, json, mithridate};
use std::path::PathBuf;

const SCAN: [&str; 10] = [
    "--detector",
    "neural-cleanse",
    "--max-samples",
    "600",
    "--steps",
    "120",
    "--samples",
    "192",
    "--batch-size",
    "64",
];

fn scan(model: &str) -> serde_json::Value {
    let mut args = vec![
        "--json", "scan", "model", "--model", model, "--data", "mnist",
    ];
    args.extend_from_slice(&SCAN);
    json(&mithridate(&args))
}

#[test]
fn badnets_target_is_named_and_a_clean_model_passes() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let (poisoned, _) = common::poison_badnets_to_7(dir.path(), "badnets.npz", &[], 20000);
    let (bad, clean) = (p("bad.safetensors"), p("clean.safetensors"));
    for (data, out) in [(arg(&poisoned), &bad), ("mnist", &clean)] {
        json(&mithridate(&[
            "--json",
            "train",
            "--data",
            data,
            "--test",
            "mnist",
            "--model",
            "mlp",
            "--max-train",
            "20000",
            "-o",
            arg(out),
        ]));
    }
    let pictures = dir.path().join("triggers");
    let mut args = vec![
        "--json",
        "scan",
        "model",
        "--model",
        arg(&bad),
        "--data",
        "mnist",
    ];
    args.extend_from_slice(&SCAN);
    args.extend_from_slice(&["--triggers", arg(&pictures)]);
    let trojaned = json(&mithridate(&args));
    // The flagged class's reversed trigger as a square picture (PNG signature, IHDR size).
    let png = pictures.join("class-7.png");
    let bytes = std::fs::read(&png).expect("class-7.png written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let side = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert!(
        side(16) >= 28 && side(16) == side(20),
        "{}x{}",
        side(16),
        side(20)
    );
    assert_eq!(trojaned["trigger_pictures"], serde_json::json!([png]));
    assert_eq!(trojaned["verdict"], "trojaned", "{trojaned}");
    assert_eq!(
        trojaned["target_classes"],
        serde_json::json!([7]),
        "{trojaned}"
    );
    let nc = &trojaned["detectors"]["neural-cleanse"];
    assert_eq!(nc["classes"].as_array().unwrap().len(), 10);
    // MM-BD alone: one maximum margin per class, a p-value, its own verdict fields.
    let mut args = vec![
        "--json",
        "scan",
        "model",
        "--model",
        arg(&bad),
        "--data",
        "mnist",
    ];
    args.extend_from_slice(&["--detector", "max-margin", "--margin-steps", "50"]);
    let mm = json(&mithridate(&args));
    let d = &mm["detectors"]["max-margin"];
    assert!(mm["detectors"].get("neural-cleanse").is_none(), "{mm}");
    assert_eq!(d["classes"].as_array().unwrap().len(), 10, "{mm}");
    let p = d["p_value"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p), "{mm}");
    let effect = d["effect"].as_f64().unwrap();
    assert!(effect >= 1.0, "{mm}");
    assert_eq!(
        mm["verdict"] == "trojaned",
        p < 0.05 && effect >= 1.5,
        "{mm}"
    );
    let clean = scan(arg(&clean));
    assert_eq!(clean["verdict"], "clean", "{clean}");
    assert_eq!(clean["target_classes"], serde_json::json!([]));
}

#[test]
fn pytorch_onnx_models_are_scanned_and_data_they_cannot_take_refused() {
    let onnx = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../mithridate-onnx/tests/fixtures/mlp_dynamo.onnx");
    let out = scan(arg(&onnx));
    assert_eq!(out["verdict"], "clean", "{out}");
    // The same MLP trained by PyTorch on BadNets-poisoned MNIST (5%, 3x3 patch -> 7).
    let trojaned = onnx.with_file_name("mlp_badnets_dynamo.onnx");
    let out = scan(arg(&trojaned));
    assert_eq!(out["verdict"], "trojaned", "{out}");
    assert_eq!(out["target_classes"], serde_json::json!([7]), "{out}");
    assert_one_line_error(
        &mithridate(&[
            "scan",
            "model",
            "--model",
            arg(&onnx),
            "--data",
            "breast-cancer",
        ]),
        2,
        "[?, 784] does not take rows of 30 features",
    );
    // MM-BD runs on ONNX models too (margin gradients by candle autodiff).
    let mm = json(&mithridate(&[
        "--json",
        "scan",
        "model",
        "--model",
        arg(&trojaned),
        "--data",
        "mnist",
        "--detector",
        "max-margin",
        "--margin-steps",
        "50",
    ]));
    let d = &mm["detectors"]["max-margin"];
    assert_eq!(d["classes"].as_array().unwrap().len(), 10, "{mm}");
    assert!(d["p_value"].as_f64().unwrap() <= 1.0, "{mm}");
    // Neural Cleanse on an exported CNN: its classes run in parallel on rayon's pool and each
    // class's gradients run in parts that call candle's convolution, which uses the same pool
    // (this hung at 0% CPU when the parts had threads of their own).
    let cnn = onnx.with_file_name("cnn_torchscript.onnx");
    let nc = json(&common::mithridate_within(
        &[
            "--json",
            "scan",
            "model",
            "--model",
            arg(&cnn),
            "--data",
            "mnist",
            "--detector",
            "neural-cleanse",
            "--max-samples",
            "200",
            "--steps",
            "3",
            "--samples",
            "64",
            "--batch-size",
            "32",
        ],
        std::time::Duration::from_secs(300),
    ));
    let classes = nc["detectors"]["neural-cleanse"]["classes"]
        .as_array()
        .unwrap();
    assert_eq!(classes.len(), 10, "{nc}");
    // Consensus: both detectors rank BadNets' target first; the named flags reach its members.
    let mut args = vec![
        "--json",
        "scan",
        "model",
        "--model",
        arg(&trojaned),
        "--data",
        "mnist",
    ];
    args.extend_from_slice(&SCAN);
    args[8] = "consensus";
    args.extend_from_slice(&["--margin-steps", "50"]);
    let both = json(&mithridate(&args));
    let c = &both["detectors"]["consensus"];
    assert_eq!(both["target_classes"], serde_json::json!([7]), "{both}");
    assert_eq!(c["agreed_class"], 7, "{both}");
    assert_eq!(c["parameters"]["neural-cleanse"]["steps"], 120, "{both}");
    assert_eq!(c["parameters"]["max-margin"]["steps"], 50, "{both}");
    assert!(both["detectors"].get("neural-cleanse").is_none(), "{both}");
    assert_one_line_error(
        &mithridate(&[
            "scan",
            "model",
            "--model",
            arg(&trojaned),
            "--data",
            "mnist",
            "--detector",
            "consensus",
            "-P",
            "consensus.steps=5",
        ]),
        2,
        "'steps' is not a member's parameter",
    );
}
