//! Detectors against cases they cannot fool (planted clusters, hand-made label noise), clean data
//! (false-positive rate), degenerate inputs, and one small real BadNets run on MNIST.

use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Features, Modality};
use mithridate_detect::clustering::ClusteringParams;
use mithridate_detect::confident::{ConfidentParams, Method};
use mithridate_detect::knn::KnnParams;
use mithridate_detect::metrics::score_detection;
use mithridate_detect::spectral::SpectralParams;
use mithridate_detect::{cross_val_probabilities, Detector, Embeddings, ScanContext, TrainSpec};
use mithridate_engine::{Architecture, Classifier, TrainParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const DIM: usize = 16;

/// `per_class` Gaussian samples per class (unit variance, class means 6 apart on distinct axes);
/// in class 0, `planted` extra samples are shifted by `shift` along a random unit direction.
/// Returns (values, labels, ids, poisoned ids).
fn planted(
    classes: usize,
    per_class: usize,
    planted: usize,
    shift: f32,
    seed: u64,
) -> (Vec<f32>, Vec<u32>, Vec<u64>, Vec<u64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut dir: Vec<f32> = (0..DIM).map(|_| StandardNormal.sample(&mut rng)).collect();
    let norm = dir.iter().map(|x| x * x).sum::<f32>().sqrt();
    dir.iter_mut().for_each(|x| *x /= norm);
    let (mut values, mut labels, mut ids, mut poisoned) = (vec![], vec![], vec![], vec![]);
    let mut id = 0u64;
    for c in 0..classes {
        let extra = if c == 0 { planted } else { 0 };
        for i in 0..per_class + extra {
            let is_poison = i >= per_class;
            for (j, d) in dir.iter().enumerate() {
                let noise: f32 = StandardNormal.sample(&mut rng);
                let mean = if j == c % DIM { 6.0 } else { 0.0 };
                let s = if is_poison { shift * d } else { 0.0 };
                values.push(mean + noise + s);
            }
            labels.push(c as u32);
            ids.push(id);
            if is_poison {
                poisoned.push(id);
            }
            id += 1;
        }
    }
    (values, labels, ids, poisoned)
}

#[test]
fn spectral_finds_a_planted_shifted_cluster_at_the_known_rate() {
    // 5% of class 0 is planted 10 sigma away: spectral flags 1.5 x 5% per class, recall 1.
    let (v, y, ids, poisoned) = planted(4, 380, 20, 10.0, 1);
    let emb = Embeddings::new(&v, DIM, &y, &ids, 4).unwrap();
    let d = SpectralParams {
        expected_rate: 0.05,
        removal_factor: 1.5,
    }
    .check()
    .unwrap()
    .detect_embeddings(&emb)
    .unwrap();
    let m = score_detection(&d, &poisoned).unwrap();
    assert_eq!(m.recall, 1.0, "{m:?}");
    assert!(m.auroc.unwrap() > 0.999, "{m:?}");
    // Each class loses ceil(1.5 * 5% * n_c) samples.
    assert_eq!(d.classes[0].flagged, 30);
    assert_eq!(d.classes[1].flagged, 29);
}

#[test]
fn activation_clustering_flags_only_the_planted_class() {
    let (v, y, ids, poisoned) = planted(4, 300, 45, 12.0, 2);
    let emb = Embeddings::new(&v, DIM, &y, &ids, 4).unwrap();
    let d = ClusteringParams::default()
        .check()
        .unwrap()
        .detect_embeddings(&emb, 3)
        .unwrap();
    assert_eq!(d.suspicious_classes(), vec![0]);
    let m = score_detection(&d, &poisoned).unwrap();
    assert_eq!((m.recall, m.precision), (1.0, 1.0), "{m:?}");
    // Same seed, same result.
    let again = ClusteringParams::default()
        .check()
        .unwrap()
        .detect_embeddings(&emb, 3)
        .unwrap();
    assert_eq!(again, d);
}

/// A 4-class tabular set whose inputs sit 6 apart on distinct axes, with embeddings = inputs
/// plus a 12-sigma shift for the "poison" rows. In class 0, `extra` rows are added: their
/// inputs come from class `1 + i % 3` (dirty labels) when `dirty`, else from class 0's own
/// second mode (axis 4); their embeddings are shifted, but for every tenth.
/// Returns (dataset, embeddings, poisoned).
fn two_mode_class(
    per_class: usize,
    extra: usize,
    dirty: bool,
    seed: u64,
) -> (Dataset, Vec<f32>, Vec<u64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut inputs, mut emb, mut labels, mut poisoned) = (vec![], vec![], vec![], vec![]);
    for c in 0..4usize {
        for i in 0..per_class + if c == 0 { extra } else { 0 } {
            let added = i >= per_class;
            let axis = match (added, dirty) {
                (false, _) => c,
                (true, true) => 1 + i % 3,
                (true, false) => 4,
            };
            for j in 0..DIM {
                let noise: f32 = StandardNormal.sample(&mut rng);
                let x = noise + if j == axis { 6.0 } else { 0.0 };
                inputs.push(x);
                // Every tenth added row keeps an unshifted embedding (a straggler k-means
                // puts on the clean side).
                let shifted = added && !(i - per_class).is_multiple_of(10);
                emb.push(x + if shifted && j == DIM - 1 { 12.0 } else { 0.0 });
            }
            if added {
                poisoned.push(labels.len() as u64);
            }
            labels.push(c as u32);
        }
    }
    let ids = (0..labels.len() as u64).collect();
    let data = Dataset::new(
        Modality::Tabular { features: DIM },
        Features::Dense(inputs),
        labels,
        ids,
        4,
        vec![],
    )
    .unwrap();
    (data, emb, poisoned)
}

#[test]
fn activation_clustering_flags_a_dirty_label_half_of_its_class() {
    // An all-to-one backdoor at a high rate: the poison is half of class 0, beyond the
    // relative-size rule, but its inputs belong to other classes. The stragglers (poisons
    // whose embeddings sit with the clean rows) are caught by their inputs.
    let (data, v, poisoned) = two_mode_class(300, 300, true, 5);
    let emb = Embeddings::new(&v, DIM, data.labels(), data.ids(), 4).unwrap();
    let ac = ClusteringParams::default().check().unwrap();
    let size_only = ac.detect_embeddings(&emb, 0).unwrap();
    assert!(size_only.flagged.is_empty(), "{:?}", size_only.classes);
    let d = ac.detect_with_inputs(&emb, &data, 0).unwrap();
    assert_eq!(d.suspicious_classes(), vec![0]);
    let m = score_detection(&d, &poisoned).unwrap();
    assert_eq!((m.precision, m.recall), (1.0, 1.0), "{m:?}");
    // Same seed, same result.
    assert_eq!(ac.detect_with_inputs(&emb, &data, 0).unwrap(), d);
    // Embeddings of another set are an error, not a silent misalignment.
    let (other, ..) = two_mode_class(10, 0, true, 5);
    assert!(ac.detect_with_inputs(&emb, &other, 0).is_err());
}

#[test]
fn activation_clustering_leaves_two_label_consistent_modes_alone() {
    // Class 0 has two equally large, well-separated modes whose inputs both agree with the
    // label: no dirty-label cluster, and too large for the size rule.
    let (data, v, _) = two_mode_class(300, 300, false, 6);
    let emb = Embeddings::new(&v, DIM, data.labels(), data.ids(), 4).unwrap();
    let d = ClusteringParams::default()
        .check()
        .unwrap()
        .detect_with_inputs(&emb, &data, 0)
        .unwrap();
    assert!(d.flagged.is_empty(), "{:?}", d.classes);
}

#[test]
fn activation_clustering_size_rule_needs_an_outlying_class_among_many() {
    // Eight classes; class 0 holds a small (20%) well-separated mode whose inputs agree with
    // the label, and so do classes 1-4 (their second modes are as separated as class 0's).
    // With the outlier requirement none stands out; without it (0), all five are flagged.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut v, mut labels) = (vec![], vec![]);
    for c in 0..8u32 {
        for i in 0..200 {
            let second = c < 5 && i < 40;
            for j in 0..DIM {
                let noise: f32 = StandardNormal.sample(&mut rng);
                let mean = if j == c as usize { 6.0 } else { 0.0 };
                v.push(mean + noise + if second && j == DIM - 1 { 12.0 } else { 0.0 });
            }
            labels.push(c);
        }
    }
    let ids: Vec<u64> = (0..labels.len() as u64).collect();
    let emb = Embeddings::new(&v, DIM, &labels, &ids, 8).unwrap();
    let with = ClusteringParams::default().check().unwrap();
    assert!(with.detect_embeddings(&emb, 0).unwrap().flagged.is_empty());
    let without = ClusteringParams {
        size_rule_outlier: 0.0,
        ..ClusteringParams::default()
    }
    .check()
    .unwrap();
    assert_eq!(
        without
            .detect_embeddings(&emb, 0)
            .unwrap()
            .suspicious_classes(),
        vec![0, 1, 2, 3, 4]
    );
}

#[test]
fn clean_gaussian_classes_yield_few_flags() {
    // No poison: activation clustering flags nothing (unimodal classes), k-NN flags only the
    // rare overlaps of well-separated classes. FP rates are printed for the README.
    let (v, y, ids, _) = planted(4, 300, 0, 0.0, 4);
    let emb = Embeddings::new(&v, DIM, &y, &ids, 4).unwrap();
    let ac = ClusteringParams::default()
        .check()
        .unwrap()
        .detect_embeddings(&emb, 0)
        .unwrap();
    let knn = KnnParams {
        k: 10,
        ..Default::default()
    }
    .check()
    .unwrap()
    .detect_embeddings(&emb)
    .unwrap();
    let fp = |n: usize| n as f64 / emb.len() as f64;
    println!(
        "clean FP rate: activation clustering {:.4}, k-NN {:.4}",
        fp(ac.flagged.len()),
        fp(knn.flagged.len())
    );
    assert!(ac.flagged.is_empty() && ac.suspicious_classes().is_empty());
    assert!(fp(knn.flagged.len()) < 0.01);
}

#[test]
fn knn_flags_flipped_labels_in_feature_space() {
    let (v, mut y, ids, _) = planted(3, 200, 0, 0.0, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut flipped = Vec::new();
    for r in 0..y.len() {
        if rng.random::<f64>() < 0.1 {
            y[r] = (y[r] + 1) % 3;
            flipped.push(ids[r]);
        }
    }
    let emb = Embeddings::new(&v, DIM, &y, &ids, 3).unwrap();
    let d = KnnParams {
        k: 10,
        ..Default::default()
    }
    .check()
    .unwrap()
    .detect_embeddings(&emb)
    .unwrap();
    let m = score_detection(&d, &flipped).unwrap();
    assert!(m.recall > 0.95 && m.precision > 0.95, "{m:?}");
}

fn tabular(values: Vec<f32>, labels: Vec<u32>, features: usize, k: usize) -> Dataset {
    let n = labels.len();
    Dataset::new(
        Modality::Tabular { features },
        Features::Dense(values),
        labels,
        (0..n as u64).collect(),
        k,
        vec![],
    )
    .unwrap()
}

fn logreg_spec(epochs: usize) -> TrainSpec {
    let mut p = TrainParams::default_for(Architecture::LogReg);
    p.epochs = epochs;
    p.optimizer = mithridate_engine::Optimizer::Adam { lr: 0.05 };
    TrainSpec {
        architecture: Architecture::LogReg,
        config: p.check().unwrap(),
    }
}

#[test]
fn confident_learning_finds_random_flips_with_cross_validation() {
    let (v, mut y, _, _) = planted(3, 150, 0, 0.0, 6);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut flipped = Vec::new();
    for (r, label) in y.iter_mut().enumerate() {
        if rng.random::<f64>() < 0.15 {
            *label = (*label + 1 + rng.random_range(0..2)) % 3;
            flipped.push(r as u64);
        }
    }
    let data = tabular(v, y, DIM, 3);
    let ctx = ScanContext::new(&data, logreg_spec(20), 1).unwrap();
    let cl = ConfidentParams {
        folds: 4,
        method: Method::PruneByNoiseRate,
        ..Default::default()
    }
    .check()
    .unwrap();
    let d = cl.scan(&ctx).unwrap();
    let m = score_detection(&d, &flipped).unwrap();
    assert!(m.f1 > 0.9, "{m:?}");
    // Suggested labels are the true ones for the flipped samples it found.
    let (_, truth_labels, _, _) = planted(3, 150, 0, 0.0, 6);
    let right = d
        .relabel
        .iter()
        .filter(|(id, l)| truth_labels[*id as usize] == *l)
        .count();
    assert!(right as f64 >= 0.9 * d.relabel.len() as f64);
}

#[test]
fn degenerate_inputs_are_clear_errors_or_documented() {
    // Empty embeddings.
    assert!(Embeddings::new(&[], 2, &[], &[], 2).is_err());
    // An empty class and a one-sample class: scored 0, never flagged, no panic.
    let v = [0.0, 0.1, 0.2, 5.0, 0.3f32];
    let y = [0, 0, 0, 2, 0];
    let ids: Vec<u64> = (0..5).collect();
    let emb = Embeddings::new(&v, 1, &y, &ids, 3).unwrap();
    let d = SpectralParams::default()
        .check()
        .unwrap()
        .detect_embeddings(&emb)
        .unwrap();
    assert_eq!(d.classes[1].samples, 0);
    assert_eq!(d.scores[3].1, 0.0);
    let ac = ClusteringParams::default()
        .check()
        .unwrap()
        .detect_embeddings(&emb, 0)
        .unwrap();
    assert!(ac.flagged.is_empty());
    assert!(KnnParams {
        k: 50,
        ..Default::default()
    }
    .check()
    .unwrap()
    .detect_embeddings(&emb)
    .is_ok());
    // Single-class data set: confident learning refuses with a clear message.
    let single = tabular(vec![0.0, 1.0, 2.0, 3.0], vec![1, 1, 1, 1], 1, 2);
    let ctx = ScanContext::new(&single, logreg_spec(1), 0).unwrap();
    let e = ConfidentParams::default()
        .check()
        .unwrap()
        .scan(&ctx)
        .unwrap_err();
    assert!(e.to_string().contains("at least 2 classes"), "{e}");
    // Fewer samples than folds.
    let tiny = tabular(vec![0.0, 1.0, 2.0], vec![0, 1, 0], 1, 2);
    let e = cross_val_probabilities(&tiny, &logreg_spec(1), 5, 0).unwrap_err();
    assert!(
        e.to_string()
            .contains("3 samples cannot be split into 5 folds"),
        "{e}"
    );
    // Embedding detectors without a model.
    let ctx = ScanContext::new(&tiny, logreg_spec(1), 0).unwrap();
    assert!(SpectralParams::default()
        .check()
        .unwrap()
        .scan(&ctx)
        .is_err());
    // An empty dataset cannot be scanned; bad parameters are rejected once.
    let empty = tabular(vec![], vec![], 1, 2);
    assert!(ScanContext::new(&empty, logreg_spec(1), 0).is_err());
    assert!(SpectralParams {
        expected_rate: 0.0,
        removal_factor: 1.5
    }
    .check()
    .is_err());
    assert!(ClusteringParams {
        size_threshold: 0.7,
        ..ClusteringParams::default()
    }
    .check()
    .is_err());
    for bad in [
        ClusteringParams {
            consistency_gap: 0.0,
            ..ClusteringParams::default()
        },
        ClusteringParams {
            reference_size: 0,
            ..ClusteringParams::default()
        },
        ClusteringParams {
            size_rule_outlier: f64::NAN,
            ..ClusteringParams::default()
        },
    ] {
        assert!(bad.check().is_err(), "{bad:?}");
    }
    let model = Classifier::new(Architecture::LogReg, tiny.modality(), 3, 0).unwrap();
    let ctx = ScanContext::new(&tiny, logreg_spec(1), 0).unwrap();
    assert!(ctx.with_model(&model).is_err());
}
