//! Targeted label flips (a share of one class relabelled as another, features untouched)
//! against the per-pair calibrated votes of confident learning and k-NN, on overlapping
//! Gaussian classes where ordinary disagreement is common: the plain rules flag many clean
//! boundary samples, the pair rules only the flipped ones.

use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Features, Modality};
use mithridate_detect::confident::{ConfidentParams, Method};
use mithridate_detect::knn::{KnnParams, Vote};
use mithridate_detect::metrics::score_detection;
use mithridate_detect::{Detector, Embeddings, ScanContext, TrainSpec};
use mithridate_engine::{Architecture, TrainParams};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const DIM: usize = 4;
const CLASSES: usize = 4;
const PER_CLASS: usize = 250;

/// Four Gaussian classes (unit noise, means 2.5 apart along their own axis, so a few % of
/// each class sits across a boundary) and the ids of `flipped` samples of class 1 relabelled 3.
fn overlapping_classes(flipped: usize, seed: u64) -> (Vec<f32>, Vec<u32>, Vec<u64>) {
    classes_apart(2.5, flipped, seed)
}

/// As [`overlapping_classes`] with the class means `apart` along their own axes.
fn classes_apart(apart: f32, flipped: usize, seed: u64) -> (Vec<f32>, Vec<u32>, Vec<u64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut values, mut labels, mut truth) = (vec![], vec![], vec![]);
    for c in 0..CLASSES {
        for i in 0..PER_CLASS {
            for j in 0..DIM {
                let noise: f32 = StandardNormal.sample(&mut rng);
                values.push(noise + if j == c { apart } else { 0.0 });
            }
            let r = labels.len() as u64;
            if c == 1 && i < flipped {
                labels.push(3);
                truth.push(r);
            } else {
                labels.push(c as u32);
            }
        }
    }
    (values, labels, truth)
}

#[test]
fn knn_class_pairs_finds_a_targeted_flip_that_plurality_drowns_in_boundary_noise() {
    let (v, y, truth) = overlapping_classes(60, 3);
    let ids: Vec<u64> = (0..y.len() as u64).collect();
    let emb = Embeddings::new(&v, DIM, &y, &ids, CLASSES).unwrap();
    let scan = |vote| {
        KnnParams {
            k: 15,
            vote,
            ..Default::default()
        }
        .check()
        .unwrap()
        .detect_embeddings(&emb)
        .unwrap()
    };
    let pairs = scan(Vote::ClassPairs);
    let plain = scan(Vote::Plurality);
    let m_pairs = score_detection(&pairs, &truth).unwrap();
    let m_plain = score_detection(&plain, &truth).unwrap();
    assert!(
        m_pairs.precision >= 0.9 && m_pairs.recall >= 0.8,
        "{m_pairs:?}"
    );
    assert!(m_plain.precision < m_pairs.precision, "{m_plain:?}");
    // Only the flip's target class is suspicious, and flagged samples get their source label.
    let suspicious: Vec<u32> = pairs.suspicious_classes();
    assert_eq!(suspicious, vec![3]);
    assert!(pairs.relabel.iter().all(|&(_, l)| l == 1));
}

#[test]
fn class_pair_votes_flag_nothing_on_clean_overlapping_classes() {
    for seed in 0..3 {
        let (v, y, _) = overlapping_classes(0, seed);
        let ids: Vec<u64> = (0..y.len() as u64).collect();
        let emb = Embeddings::new(&v, DIM, &y, &ids, CLASSES).unwrap();
        let d = KnnParams {
            k: 15,
            vote: Vote::ClassPairs,
            ..Default::default()
        }
        .check()
        .unwrap()
        .detect_embeddings(&emb)
        .unwrap();
        assert!(d.flagged.is_empty(), "seed {seed}: {:?}", d.flagged);
        let plain = KnnParams {
            k: 15,
            ..Default::default()
        }
        .check()
        .unwrap()
        .detect_embeddings(&emb)
        .unwrap();
        assert!(
            plain.flagged.len() > 20,
            "the data must have boundary noise"
        );
    }
}

#[test]
fn confident_class_pairs_finds_a_targeted_flip_with_cross_validation() {
    // A linear model moves its boundary toward the flipped class when the classes overlap
    // heavily, which spoils every opinion; the assumption (a model that fits the classes)
    // holds with means 3.5 apart.
    let (v, y, truth) = classes_apart(3.5, 40, 5);
    let n = y.len();
    let data = Dataset::new(
        Modality::Tabular { features: DIM },
        Features::Dense(v),
        y,
        (0..n as u64).collect(),
        CLASSES,
        vec![],
    )
    .unwrap();
    let mut p = TrainParams::default_for(Architecture::LogReg);
    p.epochs = 20;
    p.optimizer = mithridate_engine::Optimizer::Adam { lr: 0.05 };
    let spec = TrainSpec {
        architecture: Architecture::LogReg,
        config: p.check().unwrap(),
    };
    let ctx = ScanContext::new(&data, spec, 2).unwrap();
    let detect = |method| {
        ConfidentParams {
            folds: 4,
            method,
            ..Default::default()
        }
        .check()
        .unwrap()
        .scan(&ctx)
        .unwrap()
    };
    let pairs = detect(Method::ClassPairs);
    let m = score_detection(&pairs, &truth).unwrap();
    assert!(m.precision >= 0.85 && m.recall >= 0.75, "{m:?}");
    let pruned = score_detection(&detect(Method::PruneByNoiseRate), &truth).unwrap();
    assert!(m.f1 > pruned.f1, "pairs {m:?} vs prune {pruned:?}");
    assert_eq!(pairs.suspicious_classes(), vec![3]);
}
