//! `mithridate train` / `evaluate` end to end on real data (sklearn digits), plus every
//! bad-input case the spine promises: a one-line error, a meaningful exit code, never a panic.

use crate::common;
use common::*;

use mithridate_data::{npz, Dataset, Features, Modality};
use std::path::Path;
use std::process::Output;

/// Asserts a clean failure: the exit code, one `error:` line naming `needle`, no panic.
fn assert_fails(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[0].to_lowercase().contains(&needle.to_lowercase()),
        "error does not mention '{needle}': {stderr}"
    );
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mithridate-data/tests/fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn training_is_reproducible_and_evaluates_on_real_data() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.safetensors");
    let b = dir.path().join("b.safetensors");
    let c = dir.path().join("c.safetensors");
    let train = |out: &Path, seed: &str| {
        json(&mithridate(&[
            "--json",
            "--seed",
            seed,
            "train",
            "--data",
            "digits",
            "--model",
            "mlp",
            "--epochs",
            "3",
            "-o",
            path(out),
        ]))
    };
    let first = train(&a, "3");
    train(&b, "3");
    train(&c, "4");
    assert!(first["test_accuracy"].as_f64().unwrap() > 0.9, "{first}");
    let bytes = |p: &Path| std::fs::read(p).unwrap();
    assert_eq!(
        bytes(&a),
        bytes(&b),
        "same seed must give the same model bytes"
    );
    assert_ne!(bytes(&a), bytes(&c), "another seed must give another model");

    let eval = json(&mithridate(&[
        "--json",
        "evaluate",
        "--model",
        path(&a),
        "--data",
        "digits",
    ]));
    assert_eq!(eval["accuracy"], first["test_accuracy"]);
    assert_eq!(eval["per_class"].as_array().unwrap().len(), 10);
    let table = mithridate(&["evaluate", "--model", path(&a), "--data", "digits"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("recall"));

    // A model for another input shape is refused, not run.
    assert_fails(
        &mithridate(&[
            "evaluate",
            "--model",
            path(&a),
            "--data",
            &fixture("tabular_compressed.npz"),
        ]),
        2,
        "model",
    );
    // A sidecar that claims another architecture than the tensors hold.
    let card = std::fs::read_to_string(dir.path().join("a.safetensors.json")).unwrap();
    std::fs::write(
        dir.path().join("a.safetensors.json"),
        card.replace("\"mlp\"", "\"logreg\""),
    )
    .unwrap();
    assert_fails(
        &mithridate(&["evaluate", "--model", path(&a), "--data", "digits"]),
        2,
        "tensor",
    );
}

#[test]
fn malformed_npz_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.safetensors");
    let train_on =
        |data: &str| mithridate(&["train", "--data", data, "--epochs", "1", "-o", path(&out)]);
    let garbage = dir.path().join("garbage.npz");
    std::fs::write(&garbage, b"this is not a zip archive at all").unwrap();
    assert_fails(&train_on(path(&garbage)), 2, "garbage.npz");

    // A valid file cut in half.
    let good = std::fs::read(fixture("tabular_compressed.npz")).unwrap();
    let truncated = dir.path().join("truncated.npz");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    assert_fails(&train_on(path(&truncated)), 2, "truncated.npz");

    assert_fails(&train_on(&fixture("bad_float_labels.npz")), 2, "y");
    assert_fails(&train_on(&fixture("bad_string_x.npz")), 2, "x");
    assert_fails(&train_on(&fixture("bad_nan.npz")), 2, "non-finite");
    assert_fails(&train_on(&fixture("bad_missing_y.npz")), 2, "y");

    // Zero samples (written by `numpy.savez` with x of shape (0, 3)).
    let empty = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/empty.npz");
    assert_fails(&train_on(path(&empty)), 2, "empty");

    // A model that does not fit the modality, and impossible hyperparameters.
    assert_fails(
        &mithridate(&[
            "train",
            "--data",
            "breast-cancer",
            "--model",
            "cnn",
            "-o",
            path(&out),
        ]),
        2,
        "cnn",
    );
    assert_fails(
        &mithridate(&[
            "train",
            "--data",
            "digits",
            "--epochs",
            "0",
            "-o",
            path(&out),
        ]),
        2,
        "epoch",
    );
    assert_fails(
        &mithridate(&["train", "--data", "no-such-dataset", "-o", path(&out)]),
        2,
        "no-such-dataset",
    );
    assert!(!out.exists(), "a failed run must not leave a model behind");
}

#[test]
fn labels_beyond_the_models_classes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let data = |labels: Vec<u32>, k: usize| {
        Dataset::new(
            Modality::Tabular { features: 2 },
            Features::Dense((0..labels.len() * 2).map(|i| (i % 7) as f32).collect()),
            labels.clone(),
            (0..labels.len() as u64).collect(),
            k,
            vec![],
        )
        .unwrap()
    };
    let two = dir.path().join("two.npz");
    npz::write(&two, &data((0..20).map(|i| i % 2).collect(), 2)).unwrap();
    json(&mithridate(&[
        "--json",
        "train",
        "--data",
        path(&two),
        "--model",
        "logreg",
        "--epochs",
        "1",
        "-o",
        path(&model),
    ]));
    let five = dir.path().join("five.npz");
    npz::write(&five, &data((0..20).map(|i| i % 5).collect(), 5)).unwrap();
    assert_fails(
        &mithridate(&["evaluate", "--model", path(&model), "--data", path(&five)]),
        2,
        "class",
    );
}

/// Issue 20, item 4: a test set whose labels cover only some classes (here digits 0-6, so
/// the file says 7 classes) is read with the model's class count wherever a model is given,
/// and a set claiming more classes than the model is still refused.
#[test]
fn test_sets_with_fewer_classes_than_the_model_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let trained = mithridate(&[
        "train",
        "--data",
        "digits",
        "--model",
        "logreg",
        "--epochs",
        "2",
        "-o",
        path(&model),
    ]);
    assert!(trained.status.success(), "{trained:?}");
    let home = mithridate_data::DataHome::new(home());
    let test = mithridate_data::load(&home, "digits", mithridate_data::Split::Test).unwrap();
    let rows: Vec<usize> = (0..test.len()).filter(|&i| test.labels()[i] < 7).collect();
    let part = test.select(&rows).unwrap();
    let (modality, features, labels, ids, _, _) = part.into_parts();
    let seven = Dataset::new(
        modality.clone(),
        features.clone(),
        labels.clone(),
        ids.clone(),
        7,
        vec![],
    )
    .unwrap();
    let file = dir.path().join("seven.npz");
    npz::write(&file, &seven).unwrap();

    let evaluated = json(&mithridate(&[
        "--json",
        "evaluate",
        "--model",
        path(&model),
        "--data",
        path(&file),
    ]));
    assert_eq!(evaluated["per_class"].as_array().unwrap().len(), 10);
    assert!(evaluated["accuracy"].as_f64().unwrap() > 0.8, "{evaluated}");
    let gated = mithridate(&[
        "gate",
        "--baseline",
        path(&model),
        "--candidate",
        path(&model),
        "--holdout",
        path(&file),
    ]);
    assert!(gated.status.success(), "{gated:?}");

    // More classes than the model knows: still one clear error.
    let eleven = Dataset::new(modality, features, labels, ids, 11, vec![]).unwrap();
    let wide = dir.path().join("eleven.npz");
    npz::write(&wide, &eleven).unwrap();
    assert_fails(
        &mithridate(&["evaluate", "--model", path(&model), "--data", path(&wide)]),
        2,
        "11 classes",
    );
}

#[test]
fn dp_sgd_training_reports_the_accountants_epsilon() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dp.safetensors");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "--json",
            "train",
            "--data",
            "digits",
            "--model",
            "logreg",
            "--epochs",
            "2",
            "--dp-noise",
            "1.1",
            "-o",
            path(&out),
        ];
        args.extend_from_slice(extra);
        mithridate(&args)
    };
    let got = json(&train(&["--dp-sampling-rate", "0.05"]));
    // An epoch is round(1 / 0.05) = 20 lots.
    assert_eq!(got["dp"]["steps"], 40, "{got}");
    let want = json(&mithridate(&[
        "--json",
        "privacy",
        "epsilon",
        "--noise-multiplier",
        "1.1",
        "--sampling-rate",
        "0.05",
        "--steps",
        "40",
        "--delta",
        "1e-5",
    ]));
    assert_eq!(got["epsilon"], want["epsilon"], "{got}");
    assert_eq!(got["delta"], 1e-5);
    assert!(got["test_accuracy"].as_f64().unwrap() > 0.5, "{got}");
    assert_fails(&train(&["--dp-delta", "1"]), 2, "--dp-delta");
    assert_fails(&train(&["--dp-clip", "0"]), 2, "clip norm");
    assert_fails(&train(&["--dp-sampling-rate", "0"]), 2, "sampling rate");
}
