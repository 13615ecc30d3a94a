//! Real-data checks on small subsets (the full-size accuracy bars are measured by
//! `cargo run --release -p mithridate-engine --example mnist`). Datasets are fetched into
//! `MITHRIDATE_HOME`, by default `<workspace>/target/mithridate-home`, and cached.

use mithridate_data::{load, DataHome, Dataset, Split};
use mithridate_engine::{metrics, Architecture, Classifier, ModelCard, TrainParams};

fn home() -> DataHome {
    DataHome::for_workspace_tests()
}

fn subset(name: &str, split: Split, n: usize) -> Dataset {
    let data = load(&home(), name, split).unwrap();
    let rows: Vec<usize> = (0..n.min(data.len())).collect();
    data.select(&rows).unwrap()
}

fn train(arch: Architecture, data: &Dataset, epochs: usize, seed: u64) -> Classifier {
    train_batched(
        arch,
        data,
        epochs,
        TrainParams::default_for(arch).batch_size,
        seed,
    )
}

fn train_batched(
    arch: Architecture,
    data: &Dataset,
    epochs: usize,
    batch: usize,
    seed: u64,
) -> Classifier {
    let mut model = Classifier::new(arch, data.modality(), data.num_classes(), seed).unwrap();
    let mut p = TrainParams::default_for(arch);
    p.epochs = epochs;
    p.batch_size = batch;
    model
        .fit(data, &p.check().unwrap(), seed, &mut |_| {})
        .unwrap();
    model
}

fn test_accuracy(model: &Classifier, test: &Dataset) -> f64 {
    let pred = model.predict(test).unwrap();
    metrics::evaluate(&pred, test.labels(), test.num_classes())
        .unwrap()
        .accuracy
}

#[test]
fn cnn_learns_mnist_subset() {
    let train_set = subset("mnist", Split::Train, 2000);
    let test_set = subset("mnist", Split::Test, 1000);
    // 3 epochs of batch 32: 188 Adam steps (PyTorch reaches 0.89-0.91 after 2 epochs here).
    let model = train_batched(Architecture::Cnn, &train_set, 3, 32, 0);
    let acc = test_accuracy(&model, &test_set);
    assert!(acc > 0.90, "CNN test accuracy {acc}");
}

#[test]
fn mlp_and_cnn_learn_digits() {
    let train_set = load(&home(), "digits", Split::Train).unwrap();
    let test_set = load(&home(), "digits", Split::Test).unwrap();
    let mlp = train(Architecture::Mlp, &train_set, 20, 1);
    let acc = test_accuracy(&mlp, &test_set);
    assert!(acc > 0.93, "MLP digits test accuracy {acc}");
    // The CNN pads its 5x5 kernels, so 8x8 images work.
    let cnn = train(Architecture::Cnn, &train_set, 20, 1);
    let acc = test_accuracy(&cnn, &test_set);
    assert!(acc > 0.93, "CNN digits test accuracy {acc}");
}

#[test]
fn training_on_mnist_is_bit_for_bit_reproducible() {
    let data = subset("mnist", Split::Train, 512);
    let dir = tempfile::tempdir().unwrap();
    let save = |seed: u64, name: &str| {
        let model = train(Architecture::Cnn, &data, 1, seed);
        let path = dir.path().join(name);
        model
            .save(&path, &ModelCard::describe(&model, "mnist", seed, None))
            .unwrap();
        std::fs::read(path).unwrap()
    };
    let first = save(7, "a.safetensors");
    assert_eq!(first, save(7, "b.safetensors"));
    assert_ne!(first, save(8, "c.safetensors"));
}
