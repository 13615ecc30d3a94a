//! The ONNX importer against PyTorch itself: models exported by `tests/fixtures/make_fixtures.py`
//! (TorchScript and dynamo exporters) must give PyTorch's logits and input gradients, and bad
//! models must fail with one clear error. PyTorch is not needed: its outputs are in
//! `expected.json`, and `SHA256SUMS` pins the files they belong to.

use std::path::PathBuf;

use mithridate_data::{Dataset, Features, Modality};
use mithridate_onnx::{InputLayout, InputOptions, OnnxClassifier, OnnxError};
use serde_json::Value;
use sha2::{Digest, Sha256};

const MNIST: Modality = Modality::Image {
    channels: 1,
    height: 28,
    width: 28,
};
const MODELS: [&str; 6] = [
    "mlp_torchscript.onnx",
    "mlp_dynamo.onnx",
    "cnn_torchscript.onnx",
    "cnn_dynamo.onnx",
    "ops_nhwc_torchscript.onnx",
    "ops_nhwc_dynamo.onnx",
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// The fixed batch of MNIST test images PyTorch was run on, labelled with its targets.
fn batch(e: &Value) -> Dataset {
    let images: Vec<f32> = e["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(floats)
        .collect();
    let targets: Vec<u32> = e["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as u32)
        .collect();
    let n = targets.len();
    Dataset::new(
        MNIST,
        Features::Dense(images),
        targets,
        (0..n as u64).collect(),
        10,
        vec![],
    )
    .unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn fixtures_are_the_files_expected_json_was_computed_from() {
    let sums = std::fs::read_to_string(fixture("SHA256SUMS")).unwrap();
    let mut checked = 0;
    for line in sums.lines() {
        let (hash, name) = line.split_once("  ").unwrap();
        let digest = hex::encode(Sha256::digest(std::fs::read(fixture(name)).unwrap()));
        assert_eq!(
            digest, hash,
            "{name} changed since make_fixtures.py wrote it"
        );
        checked += 1;
    }
    assert_eq!(checked, 10);
}

#[test]
fn logits_and_input_gradients_match_pytorch_for_both_exporters() {
    let e = expected();
    let mnist = batch(&e);
    for name in MODELS {
        let model = OnnxClassifier::load(&fixture(name), InputOptions::default()).unwrap();
        let want = &e["models"][name];
        // The operator zoo has its own 3x16x16 batch; its graph takes channels-last input,
        // which the loader must detect (three channels: a wrong layout changes every value).
        let own = want.get("images_chw").map(|rows| {
            let x: Vec<f32> = rows.as_array().unwrap().iter().flat_map(floats).collect();
            let rgb = Modality::Image {
                channels: 3,
                height: 16,
                width: 16,
            };
            Dataset::new(
                rgb,
                Features::Dense(x),
                mnist.labels().to_vec(),
                (0..4).collect(),
                10,
                vec![],
            )
            .unwrap()
        });
        let data = own.as_ref().unwrap_or(&mnist);
        let (logits, k) = model.logits(data).unwrap();
        assert_eq!(k, 10);
        let d = max_abs_diff(&logits, &floats(&want["logits"]));
        assert!(d < 1e-4, "{name}: logits differ from PyTorch by {d}");
        let grad = model.input_gradients(data, data.labels()).unwrap();
        let want_grad = floats(&want["input_gradient"]);
        let scale = want_grad.iter().fold(0f32, |m, g| m.max(g.abs()));
        let d = max_abs_diff(&grad, &want_grad);
        eprintln!(
            "{name}: max |logit diff| {:.2e}, max |gradient diff| {d:.2e}",
            max_abs_diff(&logits, &floats(&want["logits"]))
        );
        assert!(
            scale > 1e-3 && d < 1e-3 * scale,
            "{name}: gradient differs by {d} (more than 0.1% of its largest entry {scale})"
        );
    }
}

#[test]
fn value_scaling_is_applied_before_the_graph() {
    // Halved data with scale 2 is the original input: same logits; gradients double (chain rule).
    let e = expected();
    let data = batch(&e);
    let halved: Vec<f32> = match data.features() {
        Features::Dense(v) => v.iter().map(|x| x / 2.0).collect(),
        _ => unreachable!(),
    };
    let half = Dataset::new(
        MNIST,
        Features::Dense(halved),
        data.labels().to_vec(),
        (0..4).collect(),
        10,
        vec![],
    )
    .unwrap();
    let plain = OnnxClassifier::load(&fixture("cnn_dynamo.onnx"), InputOptions::default()).unwrap();
    let opts = InputOptions {
        scale: 2.0,
        ..InputOptions::default()
    };
    let scaled = OnnxClassifier::load(&fixture("cnn_dynamo.onnx"), opts).unwrap();
    assert!(
        max_abs_diff(
            &plain.logits(&data).unwrap().0,
            &scaled.logits(&half).unwrap().0
        ) < 1e-5
    );
    let g1 = plain.input_gradients(&data, data.labels()).unwrap();
    let g2: Vec<f32> = scaled
        .input_gradients(&half, data.labels())
        .unwrap()
        .iter()
        .map(|g| g / 2.0)
        .collect();
    assert!(max_abs_diff(&g1, &g2) < 1e-5);
}

#[test]
fn intermediate_values_are_readable_by_name() {
    let e = expected();
    let model = OnnxClassifier::load(&fixture("mlp_dynamo.onnx"), InputOptions::default()).unwrap();
    let (hidden, width) = model.layer_output(&batch(&e), "relu").unwrap();
    assert_eq!((hidden.len(), width), (4 * 32, 32));
    assert!(
        hidden.iter().all(|&h| h >= 0.0),
        "a ReLU output is non-negative"
    );
    let err = model
        .layer_output(&batch(&e), "nope")
        .unwrap_err()
        .to_string();
    assert!(err.contains("no value named 'nope'"), "{err}");
}

#[test]
fn a_three_channel_model_given_mnist_is_one_clear_error() {
    let model = OnnxClassifier::load(&fixture("cnn_rgb.onnx"), InputOptions::default()).unwrap();
    let err = model.check_compatible(&batch(&expected())).unwrap_err();
    assert!(matches!(err, OnnxError::Incompatible(_)));
    let msg = err.to_string();
    assert!(
        msg.contains("[?, 3, 32, 32]") && msg.contains("1x28x28"),
        "{msg}"
    );
    // A forced layout that the graph contradicts is refused the same way.
    let opts = InputOptions {
        layout: Some(InputLayout::Nhwc),
        ..InputOptions::default()
    };
    let model = OnnxClassifier::load(&fixture("cnn_dynamo.onnx"), opts).unwrap();
    assert!(matches!(
        model.check_compatible(&batch(&expected())),
        Err(OnnxError::Incompatible(_))
    ));
}

#[test]
fn an_unsupported_operator_is_named_at_load_time() {
    let err =
        OnnxClassifier::load(&fixture("unsupported_op.onnx"), InputOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, OnnxError::Unsupported(_)), "{msg}");
    assert!(
        msg.contains("operator 'CumSum'") && !msg.contains('\n'),
        "{msg}"
    );
}

#[test]
fn truncated_and_non_onnx_files_are_format_errors() {
    let bytes = std::fs::read(fixture("cnn_dynamo.onnx")).unwrap();
    for cut in [0, 1, 7, 100, bytes.len() / 2, bytes.len() - 1] {
        let err = OnnxClassifier::from_bytes(&bytes[..cut], InputOptions::default()).unwrap_err();
        assert!(matches!(err, OnnxError::Format(_)), "cut at {cut}: {err}");
    }
    let text = b"label,pixel0,pixel1\n3,0,255\n";
    let err = OnnxClassifier::from_bytes(text, InputOptions::default()).unwrap_err();
    assert!(matches!(err, OnnxError::Format(_)), "{err}");
}

#[test]
fn probabilities_are_the_softmax_of_the_logits() {
    let e = expected();
    let data = batch(&e);
    let model = OnnxClassifier::load(&fixture("cnn_dynamo.onnx"), InputOptions::default()).unwrap();
    let probs = model.predict_proba(&data).unwrap();
    let (logits, k) = model.logits(&data).unwrap();
    let predicted = model.predict(&data).unwrap();
    for (i, (p, z)) in probs.chunks(k).zip(logits.chunks(k)).enumerate() {
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        // Ratios of probabilities are exponentials of logit differences.
        let ratio = (p[0] / p[1]).ln();
        assert!(
            (ratio - (z[0] - z[1])).abs() < 1e-3,
            "{ratio} vs {}",
            z[0] - z[1]
        );
        let best = (0..k).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        assert_eq!(best as u32, predicted[i]);
    }
}

#[test]
fn margin_gradients_are_the_margins_derivative() {
    // The margin z_c - max_{j != c} z_j from the logits, and its gradient checked by a central
    // finite difference along the gradient's own direction (piecewise linear in x for a ReLU
    // MLP, so the difference is exact away from kinks).
    let e = expected();
    let data = batch(&e);
    let model = OnnxClassifier::load(&fixture("mlp_dynamo.onnx"), InputOptions::default()).unwrap();
    let classes: Vec<u32> = (0..data.len() as u32).map(|i| (i * 3 + 1) % 10).collect();
    let (grads, margins) = model.margin_gradients(&data, &classes).unwrap();
    let (logits, k) = model.logits(&data).unwrap();
    let x = match data.features() {
        Features::Dense(v) => v.clone(),
        _ => unreachable!(),
    };
    let per = x.len() / data.len();
    for (r, &c) in classes.iter().enumerate() {
        let row = &logits[r * k..(r + 1) * k];
        let other = (0..k)
            .filter(|&j| j != c as usize)
            .map(|j| row[j])
            .fold(f32::MIN, f32::max);
        assert!((margins[r] - (row[c as usize] - other)).abs() < 1e-4);
        let g = &grads[r * per..(r + 1) * per];
        let norm = g.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(norm > 0.0);
        let eps = 1e-3 / norm;
        let moved = |sign: f32| {
            let mut y = x.clone();
            for (v, d) in y[r * per..(r + 1) * per].iter_mut().zip(g) {
                *v += sign * eps * d;
            }
            let shifted = Dataset::new(
                data.modality().clone(),
                Features::Dense(y),
                data.labels().to_vec(),
                data.ids().to_vec(),
                10,
                vec![],
            )
            .unwrap();
            model.margin_gradients(&shifted, &classes).unwrap().1[r]
        };
        let slope = (moved(1.0) - moved(-1.0)) / (2.0 * eps);
        // Along g the margin grows at |g|^2.
        assert!(
            (slope - norm * norm).abs() < 0.02 * norm * norm,
            "row {r}: {slope} vs {}",
            norm * norm
        );
    }
}
