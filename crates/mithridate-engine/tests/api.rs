//! Engine behaviour on small synthetic fixtures: gradients against finite differences,
//! parameter and file round trips, malformed model files, determinism, argument errors.

use mithridate_data::{Dataset, Features, Modality};
use mithridate_engine::{Architecture, Classifier, EngineError, ModelCard, Optimizer, TrainParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

use crate::common;
use common::{quadrant_images, two_topic_text};

/// `n` samples of `k` Gaussian-ish blobs in `dim` dimensions (class c centred on +-2 in
/// coordinate c mod dim).
fn blobs(n: usize, dim: usize, k: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut xs = Vec::with_capacity(n * dim);
    let labels: Vec<u32> = (0..n).map(|i| (i % k) as u32).collect();
    for &c in &labels {
        for d in 0..dim {
            let centre = if d == c as usize % dim {
                if (c as usize / dim).is_multiple_of(2) {
                    2.0
                } else {
                    -2.0
                }
            } else {
                0.0
            };
            xs.push(centre + rng.random_range(-0.5f32..0.5));
        }
    }
    Dataset::new(
        Modality::Tabular { features: dim },
        Features::Dense(xs),
        labels,
        (0..n as u64).collect(),
        k,
        vec![],
    )
    .unwrap()
}

fn with_labels(data: &Dataset, labels: Vec<u32>) -> Dataset {
    let (m, f, _, ids, k, names) = data.clone().into_parts();
    Dataset::new(m, f, labels, ids, k, names).unwrap()
}

fn with_features(data: &Dataset, xs: Vec<f32>) -> Dataset {
    let (m, _, labels, ids, k, names) = data.clone().into_parts();
    Dataset::new(m, Features::Dense(xs), labels, ids, k, names).unwrap()
}

fn dense(data: &Dataset) -> Vec<f32> {
    match data.features() {
        Features::Dense(v) => v.clone(),
        Features::Tokens(_) => unreachable!(),
    }
}

fn trained(arch: Architecture, data: &Dataset, epochs: usize, seed: u64) -> Classifier {
    let mut model = Classifier::new(arch, data.modality(), data.num_classes(), seed).unwrap();
    let mut p = TrainParams::default_for(arch);
    p.epochs = epochs;
    p.batch_size = 16;
    model
        .fit(data, &p.check().unwrap(), seed, &mut |_| {})
        .unwrap();
    model
}

fn accuracy(model: &Classifier, data: &Dataset) -> f64 {
    let pred = model.predict(data).unwrap();
    let correct = pred
        .iter()
        .zip(data.labels())
        .filter(|(a, b)| a == b)
        .count();
    correct as f64 / data.len() as f64
}

#[test]
fn every_family_learns_its_fixture() {
    let tab = blobs(300, 5, 3, 1);
    assert!(accuracy(&trained(Architecture::LogReg, &tab, 10, 1), &tab) > 0.95);
    assert!(accuracy(&trained(Architecture::Mlp, &tab, 10, 1), &tab) > 0.95);
    let img = quadrant_images(200, 8, 2);
    assert!(accuracy(&trained(Architecture::Cnn, &img, 8, 2), &img) > 0.95);
    let text = two_topic_text(200, 3);
    assert!(accuracy(&trained(Architecture::Text, &text, 5, 3), &text) > 0.95);
}

#[test]
fn sgd_with_momentum_trains() {
    let tab = blobs(300, 5, 3, 4);
    let mut model = Classifier::new(Architecture::Mlp, tab.modality(), 3, 4).unwrap();
    let mut p = TrainParams::default_for(Architecture::Mlp);
    p.optimizer = Optimizer::Sgd {
        lr: 0.05,
        momentum: 0.9,
    };
    p.weight_decay = 1e-4;
    p.batch_size = 16;
    let report = model
        .fit(&tab, &p.check().unwrap(), 4, &mut |_| {})
        .unwrap();
    assert!(report.epochs.last().unwrap().mean_loss < report.epochs[0].mean_loss);
    assert!(accuracy(&model, &tab) > 0.95);
}

#[test]
fn progress_is_reported_per_batch() {
    let tab = blobs(50, 3, 2, 5);
    let mut model = Classifier::new(Architecture::LogReg, tab.modality(), 2, 5).unwrap();
    let mut p = TrainParams::default_for(Architecture::LogReg);
    p.epochs = 2;
    p.batch_size = 20;
    let mut seen = Vec::new();
    let report = model
        .fit(&tab, &p.check().unwrap(), 5, &mut |pr| {
            seen.push((pr.epoch, pr.samples_done, pr.samples_total))
        })
        .unwrap();
    assert_eq!(
        seen,
        vec![
            (1, 20, 50),
            (1, 40, 50),
            (1, 50, 50),
            (2, 20, 50),
            (2, 40, 50),
            (2, 50, 50)
        ]
    );
    assert_eq!(report.epochs.len(), 2);
    assert!(report.samples_per_sec > 0.0);
}

#[test]
fn outputs_are_consistent() {
    let tab = blobs(40, 4, 3, 6);
    let model = trained(Architecture::Mlp, &tab, 2, 6);
    let proba = model.predict_proba(&tab).unwrap();
    let pred = model.predict(&tab).unwrap();
    let loss = model.per_sample_loss(&tab).unwrap();
    assert_eq!(proba.len(), 40 * 3);
    for (i, row) in proba.chunks(3).enumerate() {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let argmax = (0..3).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(argmax as u32, pred[i]);
        let y = tab.labels()[i] as usize;
        assert!(
            (loss[i] + row[y].ln()).abs() < 1e-4,
            "{} vs {}",
            loss[i],
            -row[y].ln()
        );
    }
    let (emb, dim) = model.embeddings(&tab).unwrap();
    assert_eq!(dim, 128);
    assert_eq!(emb.len(), 40 * 128);
    assert!(emb.iter().all(|&v| v >= 0.0), "ReLU activations");
    let logreg = Classifier::new(Architecture::LogReg, tab.modality(), 3, 0).unwrap();
    assert_eq!(logreg.embeddings(&tab).unwrap(), (dense(&tab), 4));
}

#[test]
fn text_mean_ignores_padding_and_position() {
    let m = Modality::Text {
        max_len: 6,
        vocab_size: 10,
    };
    let model = Classifier::new(Architecture::Text, &m, 3, 8).unwrap();
    let tokens = vec![
        3, 5, 5, 0, 0, 0, //
        0, 5, 0, 3, 0, 5, //
        5, 3, 5, 0, 0, 0, //
        0, 0, 0, 0, 0, 0, //
        7, 0, 0, 0, 0, 0, //
    ];
    let data = Dataset::new(
        m,
        Features::Tokens(tokens),
        vec![0; 5],
        (0..5).collect(),
        3,
        vec![],
    )
    .unwrap();
    let p = model.predict_proba(&data).unwrap();
    for r in [1, 2] {
        for c in 0..3 {
            assert!((p[c] - p[3 * r + c]).abs() < 1e-6);
        }
    }
    // An all-padding sample and a different bag give different outputs.
    assert!((0..3).any(|c| (p[c] - p[9 + c]).abs() > 1e-6));
    assert!((0..3).any(|c| (p[9 + c] - p[12 + c]).abs() > 1e-6));
    assert!(model.input_gradients(&data, &[0; 5]).is_err());
}

/// Central finite difference of the loss of sample `row` against `target` in coordinate `j`.
fn numeric_input_grad(
    model: &Classifier,
    data: &Dataset,
    target: u32,
    row: usize,
    j: usize,
) -> f32 {
    let one = data.select(&[row]).unwrap();
    let one = with_labels(&one, vec![target]);
    let eps = 1e-2f32;
    let loss_at = |delta: f32| {
        let mut xs = dense(&one);
        xs[j] += delta;
        model.per_sample_loss(&with_features(&one, xs)).unwrap()[0]
    };
    (loss_at(eps) - loss_at(-eps)) / (2.0 * eps)
}

#[test]
fn input_gradients_match_finite_differences_on_logreg() {
    let tab = blobs(30, 4, 3, 9);
    let model = trained(Architecture::LogReg, &tab, 3, 9);
    // Targets other than the labels: the gradient must be taken against the target given.
    let targets: Vec<u32> = tab.labels().iter().map(|l| (l + 1) % 3).collect();
    let grads = model.input_gradients(&tab, &targets).unwrap();
    assert_eq!(grads.len(), 30 * 4);
    for row in [0, 7, 29] {
        for j in 0..4 {
            let want = numeric_input_grad(&model, &tab, targets[row], row, j);
            let got = grads[row * 4 + j];
            assert!(
                (got - want).abs() < 2e-3,
                "row {row} coord {j}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn input_gradients_match_finite_differences_on_cnn() {
    // Exercises the backward pass of the im2col gather through the input.
    let img = quadrant_images(6, 8, 10);
    let model = trained(Architecture::Cnn, &img, 1, 10);
    let targets = vec![1, 2, 3, 0, 1, 2];
    let grads = model.input_gradients(&img, &targets).unwrap();
    assert_eq!(grads.len(), 6 * 64);
    assert!(grads.iter().any(|g| g.abs() > 1e-4));
    for (row, j) in [(0, 0), (0, 27), (3, 63), (5, 18)] {
        let want = numeric_input_grad(&model, &img, targets[row], row, j);
        let got = grads[row * 64 + j];
        assert!(
            (got - want).abs() < 5e-3 + 0.05 * want.abs(),
            "row {row} pixel {j}: {got} vs {want}"
        );
    }
}

#[test]
fn parameter_gradients_match_finite_differences() {
    let tab = blobs(25, 3, 2, 11);
    let mut model = trained(Architecture::LogReg, &tab, 1, 11);
    let grad = model.parameter_gradients(&tab).unwrap();
    let params = model.flat_parameters().unwrap();
    assert_eq!(grad.len(), model.num_parameters());
    assert_eq!(model.num_parameters(), 3 * 2 + 2);
    let mean_loss = |m: &Classifier| {
        let l = m.per_sample_loss(&tab).unwrap();
        l.iter().map(|&v| v as f64).sum::<f64>() / l.len() as f64
    };
    let eps = 1e-2f32;
    for i in 0..params.len() {
        let mut p = params.clone();
        p[i] += eps;
        model.set_flat_parameters(&p).unwrap();
        let up = mean_loss(&model);
        p[i] -= 2.0 * eps;
        model.set_flat_parameters(&p).unwrap();
        let down = mean_loss(&model);
        let want = ((up - down) / (2.0 * eps as f64)) as f32;
        assert!(
            (grad[i] - want).abs() < 1e-3,
            "param {i}: {} vs {want}",
            grad[i]
        );
    }
}

#[test]
fn flat_parameters_round_trip() {
    let img = quadrant_images(4, 8, 12);
    let mut model = Classifier::new(Architecture::Cnn, img.modality(), 4, 12).unwrap();
    let p = model.flat_parameters().unwrap();
    assert_eq!(p.len(), model.num_parameters());
    let shapes = model.parameter_shapes();
    assert_eq!(shapes[0], ("conv1.weight".to_string(), vec![16, 1, 5, 5]));
    assert_eq!(
        shapes
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum::<usize>(),
        p.len()
    );
    let shifted: Vec<f32> = p.iter().map(|v| v * 0.5 + 0.01).collect();
    model.set_flat_parameters(&shifted).unwrap();
    assert_eq!(model.flat_parameters().unwrap(), shifted);
    let copy = model.try_clone().unwrap();
    assert_eq!(
        copy.predict_proba(&img).unwrap(),
        model.predict_proba(&img).unwrap()
    );

    let err = model.set_flat_parameters(&p[1..]).unwrap_err().to_string();
    assert!(err.contains("parameter values"), "{err}");
    let mut bad = p.clone();
    bad[5] = f32::NAN;
    assert!(model.set_flat_parameters(&bad).is_err());
    assert_eq!(
        model.flat_parameters().unwrap(),
        shifted,
        "unchanged after errors"
    );
}

fn save(model: &Classifier, path: &Path) {
    let card = ModelCard::describe(model, "fixture", 1, None);
    model.save(path, &card).unwrap();
}

#[test]
fn save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for (arch, data) in [
        (Architecture::Mlp, blobs(20, 3, 2, 13)),
        (Architecture::Cnn, quadrant_images(8, 9, 13)),
        (Architecture::Text, two_topic_text(10, 13)),
    ] {
        let model = trained(arch, &data, 1, 13);
        let path = dir.path().join(format!("{arch}.safetensors"));
        let mut card = ModelCard::describe(&model, "fixture", 13, None);
        card.metrics
            .insert("train_accuracy".into(), accuracy(&model, &data));
        model.save(&path, &card).unwrap();
        let (loaded, loaded_card) = Classifier::load(&path).unwrap();
        assert_eq!(loaded_card, card);
        assert_eq!(loaded.architecture(), arch);
        assert_eq!(
            loaded.flat_parameters().unwrap(),
            model.flat_parameters().unwrap()
        );
        assert_eq!(
            loaded.predict(&data).unwrap(),
            model.predict(&data).unwrap()
        );
        assert_eq!(
            loaded.predict_proba(&data).unwrap(),
            model.predict_proba(&data).unwrap()
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(
        leftovers.len(),
        6,
        "model + card per model, no temporary files"
    );
}

fn load_err(path: &Path) -> String {
    match Classifier::load(path) {
        Ok(_) => panic!("loading {} should fail", path.display()),
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "one-line message: {msg}");
            msg
        }
    }
}

#[test]
fn malformed_model_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let tab = blobs(10, 3, 2, 14);
    let model = Classifier::new(Architecture::Mlp, tab.modality(), 2, 14).unwrap();
    let path = dir.path().join("m.safetensors");
    let card_path = dir.path().join("m.safetensors.json");
    save(&model, &path);
    let good = std::fs::read(&path).unwrap();
    let good_card = std::fs::read_to_string(&card_path).unwrap();

    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    assert!(load_err(&path).contains("not a valid safetensors file"));
    std::fs::write(&path, b"definitely not a model").unwrap();
    assert!(load_err(&path).contains("not a valid safetensors file"));
    std::fs::write(&path, b"").unwrap();
    assert!(load_err(&path).contains("not a valid safetensors file"));

    // A card for another architecture.
    std::fs::write(&path, &good).unwrap();
    std::fs::write(&card_path, good_card.replace("\"mlp\"", "\"logreg\"")).unwrap();
    let msg = load_err(&path);
    assert!(msg.contains("'mlp'") && msg.contains("logreg"), "{msg}");
    // A card with a different class count: shapes disagree.
    let three = good_card.replace("\"num_classes\": 2", "\"num_classes\": 3");
    assert_ne!(three, good_card);
    std::fs::write(&card_path, three).unwrap();
    assert!(load_err(&path).contains("shape"));
    // Garbage card, missing card.
    std::fs::write(&card_path, "{").unwrap();
    assert!(load_err(&path).contains("invalid model card"));
    std::fs::remove_file(&card_path).unwrap();
    assert!(load_err(&path).contains("m.safetensors.json"));
    std::fs::write(&card_path, &good_card).unwrap();

    // Missing and extra tensors.
    let view = |name: &str, shape: Vec<usize>, bytes: &'static [u8]| {
        (
            name.to_string(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape, bytes).unwrap(),
        )
    };
    let st = safetensors::SafeTensors::deserialize(&good).unwrap();
    let mut tensors: Vec<_> = st.tensors();
    tensors.retain(|(n, _)| n != "fc3.bias");
    std::fs::write(
        &path,
        safetensors::serialize(tensors.clone(), None).unwrap(),
    )
    .unwrap();
    assert!(load_err(&path).contains("missing tensor 'fc3.bias'"));
    tensors.push(view("fc3.bias", vec![2], &[0; 8]));
    tensors.push(view("backdoor", vec![1], &[0; 4]));
    std::fs::write(&path, safetensors::serialize(tensors, None).unwrap()).unwrap();
    assert!(load_err(&path).contains("unexpected tensor 'backdoor'"));

    // Missing model file.
    std::fs::remove_file(&path).unwrap();
    load_err(&path);

    // A card that does not describe the model is refused at save time.
    let mut wrong = ModelCard::describe(&model, "fixture", 1, None);
    wrong.num_classes = 5;
    assert!(matches!(
        model.save(&path, &wrong),
        Err(EngineError::InvalidInput(_))
    ));
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let img = quadrant_images(64, 8, 15);
    let bytes = |seed: u64, name: &str| {
        let model = trained(Architecture::Cnn, &img, 2, seed);
        let path = dir.path().join(name);
        save(&model, &path);
        std::fs::read(path).unwrap()
    };
    let a = bytes(1, "a");
    assert_eq!(a, bytes(1, "b"));
    assert_ne!(a, bytes(2, "c"));
    // The shuffling seed alone also changes the result.
    let mut m = Classifier::new(Architecture::Cnn, img.modality(), 4, 1).unwrap();
    let mut p = TrainParams::default_for(Architecture::Cnn);
    p.epochs = 2;
    p.batch_size = 16;
    m.fit(&img, &p.check().unwrap(), 99, &mut |_| {}).unwrap();
    save(&m, &dir.path().join("d"));
    assert_ne!(a, std::fs::read(dir.path().join("d")).unwrap());
}

#[test]
fn incompatible_inputs_are_errors() {
    let tab = blobs(10, 3, 2, 16);
    let text = two_topic_text(10, 16);
    let img = quadrant_images(4, 8, 16);
    for (arch, m) in [
        (Architecture::Cnn, tab.modality()),
        (Architecture::Mlp, text.modality()),
        (Architecture::LogReg, text.modality()),
        (Architecture::Text, img.modality()),
    ] {
        let err = Classifier::new(arch, m, 2, 0).unwrap_err().to_string();
        assert!(err.contains(&format!("'{arch}'")), "{err}");
    }
    assert!(Classifier::new(Architecture::Mlp, tab.modality(), 1, 0).is_err());

    let mut model = Classifier::new(Architecture::Mlp, tab.modality(), 2, 0).unwrap();
    let cfg = TrainParams::default_for(Architecture::Mlp).check().unwrap();
    let err = model
        .fit(&img, &cfg, 0, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expects tabular data with 3 features") && err.contains("image 1x8x8"),
        "{err}"
    );
    let three_classes = blobs(10, 3, 3, 16);
    assert!(model.predict(&three_classes).is_err());
    let empty = tab.select(&[]).unwrap();
    assert!(model
        .fit(&empty, &cfg, 0, &mut |_| {})
        .unwrap_err()
        .to_string()
        .contains("no samples"));
    assert!(model.parameter_gradients(&empty).is_err());
    assert_eq!(model.predict(&empty).unwrap(), Vec::<u32>::new());
    assert!(model.input_gradients(&tab, &[0]).is_err());
    assert!(model.input_gradients(&tab, &[7; 10]).is_err());
}

#[test]
fn divergence_is_an_error() {
    let tab = blobs(40, 3, 2, 17);
    let mut xs = dense(&tab);
    for v in &mut xs {
        *v *= 1e18;
    }
    let huge = with_features(&tab, xs);
    let mut model = Classifier::new(Architecture::Mlp, tab.modality(), 2, 17).unwrap();
    let mut p = TrainParams::default_for(Architecture::Mlp);
    p.optimizer = Optimizer::Sgd {
        lr: 1e3,
        momentum: 0.9,
    };
    let err = model.fit(&huge, &p.check().unwrap(), 17, &mut |_| {});
    assert!(err.unwrap_err().to_string().contains("diverged"));
    // The step that produced the non-finite loss was not applied.
    assert!(model
        .flat_parameters()
        .unwrap()
        .iter()
        .all(|v| v.is_finite()));
}
