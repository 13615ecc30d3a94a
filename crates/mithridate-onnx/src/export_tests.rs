//! Tests of [`crate::export_classifier`]: the exported graph, run by this crate's importer and
//! by ONNX Runtime (`tests/export_reference.py`), against the engine's own forward pass.
//!
//! The engine's logits are its penultimate activations ([`Classifier::embeddings`], the
//! engine's own forward) times its last layer, evaluated here in f64; the importer's and ONNX
//! Runtime's logits must agree with them to [`TOLERANCE`] (max abs).

use mithridate_data::{Dataset, Features, Modality};
use mithridate_engine::{Architecture, Classifier};

use crate::{export_classifier, InputOptions, OnnxClassifier, EXPORT_HIDDEN};

const TOLERANCE: f32 = 1e-4;
const SAMPLES: usize = 16;

/// The models of every exportable architecture, with data shapes as in the model zoo.
fn cases() -> Vec<(&'static str, Architecture, Modality, usize)> {
    let image = |c, h, w| Modality::Image {
        channels: c,
        height: h,
        width: w,
    };
    vec![
        (
            "logreg_tabular",
            Architecture::LogReg,
            Modality::Tabular { features: 13 },
            3,
        ),
        ("logreg_mnist", Architecture::LogReg, image(1, 28, 28), 10),
        (
            "mlp_tabular",
            Architecture::Mlp,
            Modality::Tabular { features: 20 },
            4,
        ),
        ("mlp_mnist", Architecture::Mlp, image(1, 28, 28), 10),
        ("cnn_mnist", Architecture::Cnn, image(1, 28, 28), 10),
        ("cnn_cifar", Architecture::Cnn, image(3, 32, 32), 10),
        // Odd, unequal sides: floor-mode pooling drops the last row/column, as the engine does.
        ("cnn_odd", Architecture::Cnn, image(2, 9, 11), 5),
    ]
}

/// SplitMix64 (Steele, Lea & Flood, 2014): seeded inputs without a dependency.
fn uniform(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

/// A seeded model whose weights are spread 3x wider than at initialisation, so logits are of
/// order 1 and ReLUs cut (an untrained model's logits are ~0.1 and would hide small errors).
fn model(arch: Architecture, modality: &Modality, classes: usize, seed: u64) -> Classifier {
    let mut m = Classifier::new(arch, modality, classes, seed).unwrap();
    let wide: Vec<f32> = m
        .flat_parameters()
        .unwrap()
        .iter()
        .map(|v| 3.0 * v)
        .collect();
    m.set_flat_parameters(&wide).unwrap();
    m
}

fn data(modality: &Modality, classes: usize, seed: u64) -> Dataset {
    let x = uniform(seed, SAMPLES * modality.sample_len());
    let labels = (0..SAMPLES as u32).map(|i| i % classes as u32).collect();
    let ids = (0..SAMPLES as u64).collect();
    Dataset::new(
        modality.clone(),
        Features::Dense(x),
        labels,
        ids,
        classes,
        vec![],
    )
    .unwrap()
}

/// The engine's logits: its penultimate activations through its last linear layer (f64).
fn engine_logits(model: &Classifier, data: &Dataset) -> Vec<f32> {
    let (hidden, dim) = model.embeddings(data).unwrap();
    let flat = model.flat_parameters().unwrap();
    let k = model.num_classes();
    let (weight, bias) = flat[flat.len() - k * dim - k..].split_at(k * dim);
    hidden
        .chunks_exact(dim)
        .flat_map(|h| {
            (0..k).map(move |o| {
                let dot: f64 = (0..dim)
                    .map(|i| f64::from(h[i]) * f64::from(weight[o * dim + i]))
                    .sum();
                (dot + f64::from(bias[o])) as f32
            })
        })
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The spread of the logits, so a test can assert the tolerance is small against it.
fn spread(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::MIN, f32::max);
    let min = logits.iter().copied().fold(f32::MAX, f32::min);
    max - min
}

#[test]
fn the_importer_gives_the_engines_logits_and_embeddings() {
    for (i, (name, arch, modality, classes)) in cases().into_iter().enumerate() {
        let m = model(arch, &modality, classes, 11 + i as u64);
        let d = data(&modality, classes, 100 + i as u64);
        let want = engine_logits(&m, &d);
        assert!(
            spread(&want) > 1000.0 * TOLERANCE,
            "{name}: logits too flat"
        );
        let exported = export_classifier(&m).unwrap();
        let twin = OnnxClassifier::from_bytes(&exported.bytes, InputOptions::default()).unwrap();
        let (got, k) = twin.logits(&d).unwrap();
        assert_eq!(k, classes, "{name}");
        let diff = max_abs_diff(&got, &want);
        eprintln!(
            "{name}: max |importer - engine| logit = {diff:.2e} (spread {:.2})",
            spread(&want)
        );
        assert!(diff <= TOLERANCE, "{name}: logits differ by {diff}");
        assert_eq!(twin.predict(&d).unwrap(), m.predict(&d).unwrap(), "{name}");
        if arch != Architecture::LogReg {
            let (hidden, dim) = twin.layer_output(&d, EXPORT_HIDDEN).unwrap();
            let (engine_hidden, engine_dim) = m.embeddings(&d).unwrap();
            assert_eq!(dim, engine_dim, "{name}");
            let diff = max_abs_diff(&hidden, &engine_hidden);
            assert!(diff <= TOLERANCE, "{name}: embeddings differ by {diff}");
        }
    }
}

#[test]
fn export_is_byte_deterministic_and_depends_on_the_weights() {
    for (name, arch, modality, classes) in cases() {
        let a = export_classifier(&model(arch, &modality, classes, 5)).unwrap();
        let b = export_classifier(&model(arch, &modality, classes, 5)).unwrap();
        let c = export_classifier(&model(arch, &modality, classes, 6)).unwrap();
        assert_eq!(a.bytes, b.bytes, "{name}: same model, different bytes");
        assert_ne!(a.bytes, c.bytes, "{name}: different weights, same bytes");
        assert_eq!(a.bytes.len(), c.bytes.len(), "{name}");
    }
}

#[test]
fn the_graph_has_the_documented_shape() {
    let mnist = Modality::Image {
        channels: 1,
        height: 28,
        width: 28,
    };
    let cnn = export_classifier(&model(Architecture::Cnn, &mnist, 10, 0)).unwrap();
    assert_eq!(
        cnn.operators,
        ["Conv", "MaxPool", "Relu", "Conv", "MaxPool", "Relu", "Flatten", "Gemm", "Relu", "Gemm"]
    );
    assert_eq!(cnn.input_shape_text(), "[batch, 1, 28, 28]");
    let model_proto = crate::proto::parse_model(&cnn.bytes).unwrap();
    assert_eq!(model_proto.ir_version, 8);
    assert_eq!(model_proto.opsets, [(String::new(), 17)]);
    let twin = OnnxClassifier::from_bytes(&cnn.bytes, InputOptions::default()).unwrap();
    assert_eq!(twin.describe_input(), "'input' [?, 1, 28, 28]");
    let tab = Modality::Tabular { features: 7 };
    let logreg = export_classifier(&model(Architecture::LogReg, &tab, 3, 0)).unwrap();
    assert_eq!(logreg.operators, ["Gemm"]);
    assert_eq!(logreg.input_shape_text(), "[batch, 7]");
    let mlp = export_classifier(&model(Architecture::Mlp, &mnist, 10, 0)).unwrap();
    assert_eq!(
        mlp.operators,
        ["Flatten", "Gemm", "Relu", "Gemm", "Relu", "Gemm"]
    );
}

#[test]
fn the_default_embedding_layer_is_what_the_last_linear_layer_reads() {
    for (name, arch, modality, classes) in cases() {
        let exported = export_classifier(&model(arch, &modality, classes, 3)).unwrap();
        let twin = OnnxClassifier::from_bytes(&exported.bytes, InputOptions::default()).unwrap();
        let found = twin.penultimate_value();
        match (arch, &modality) {
            // Softmax regression on rows: its only Gemm reads the graph input, no hidden layer.
            (Architecture::LogReg, Modality::Tabular { .. }) => {
                let msg = found.unwrap_err().to_string();
                assert!(
                    msg.contains("no hidden layer") && msg.contains("logits"),
                    "{msg}"
                );
            }
            // On images it reads the flattened pixels, as the engine's logreg embeddings are.
            (Architecture::LogReg, _) => {
                let layer = found.unwrap();
                let (_, dim) = twin
                    .layer_output(&data(&modality, classes, 1), &layer)
                    .unwrap();
                assert_eq!(dim, modality.sample_len(), "{name}");
            }
            _ => assert_eq!(found.unwrap(), EXPORT_HIDDEN, "{name}"),
        }
    }
}

#[test]
fn the_text_model_is_refused_with_the_reason() {
    let text = Modality::Text {
        max_len: 8,
        vocab_size: 50,
    };
    let m = Classifier::new(Architecture::Text, &text, 2, 0).unwrap();
    let err = export_classifier(&m).unwrap_err().to_string();
    assert!(err.contains("token ids") && err.contains("'text'"), "{err}");
    assert!(!err.contains('\n'), "{err}");
}

fn python_has_onnxruntime() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import onnx, onnxruntime, numpy"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// ONNX Runtime (an independent implementation of the ONNX operators) runs every exported
/// file, after `onnx.checker.check_model(full_check=True)`; its logits must be the engine's.
#[test]
fn onnxruntime_gives_the_engines_logits() {
    if !python_has_onnxruntime() {
        assert!(
            std::env::var("MITHRIDATE_REQUIRE_REFERENCES").as_deref() != Ok("1"),
            "MITHRIDATE_REQUIRE_REFERENCES=1 but python3 cannot import onnx and onnxruntime \
             (versions in python/requirements-test.txt)"
        );
        eprintln!("skipped: python3 with onnx and onnxruntime not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut expected = Vec::new();
    let mut listing = String::new();
    for (i, (name, arch, modality, classes)) in cases().into_iter().enumerate() {
        let m = model(arch, &modality, classes, 31 + i as u64);
        let d = data(&modality, classes, 200 + i as u64);
        let exported = export_classifier(&m).unwrap();
        std::fs::write(dir.join(format!("{name}.onnx")), &exported.bytes).unwrap();
        let Features::Dense(x) = d.features() else {
            unreachable!()
        };
        let raw: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.join(format!("{name}.input.f32")), raw).unwrap();
        let shape: Vec<String> = std::iter::once(SAMPLES.to_string())
            .chain(exported.input_shape[1..].iter().map(|d| match d {
                crate::Dim::Fixed(v) => v.to_string(),
                crate::Dim::Symbolic(p) => unreachable!("{p}"),
            }))
            .collect();
        listing.push_str(&format!("{name} {}\n", shape.join(",")));
        expected.push((name, engine_logits(&m, &d)));
    }
    std::fs::write(dir.join("cases.txt"), listing).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/export_reference.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tests/export_reference.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, want) in expected {
        let raw = std::fs::read(dir.join(format!("{name}.logits.f32"))).unwrap();
        let got: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let diff = max_abs_diff(&got, &want);
        eprintln!("{name}: max |onnxruntime - engine| logit = {diff:.2e}");
        assert!(
            diff <= TOLERANCE,
            "{name}: onnxruntime logits differ by {diff}"
        );
    }
}
