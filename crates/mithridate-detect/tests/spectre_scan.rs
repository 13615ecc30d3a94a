//! SPECTRE and SCAn against planted structure they cannot fool, clean sets (nothing flagged)
//! and degenerate inputs (errors or empty flags, never panics).

use mithridate_core::ParamGuard;
use mithridate_detect::metrics::score_detection;
use mithridate_detect::scan_untangling::ScanUntanglingParams;
use mithridate_detect::spectral::SpectralParams;
use mithridate_detect::spectre::SpectreParams;
use mithridate_detect::{registry, Embeddings};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const DIM: usize = 16;

/// Rows, labels, ids and poisoned ids of a synthetic set.
struct Planted {
    values: Vec<f32>,
    labels: Vec<u32>,
    ids: Vec<u64>,
    poisoned: Vec<u64>,
    classes: usize,
}

impl Planted {
    fn embeddings(&self) -> Embeddings<'_> {
        Embeddings::new(&self.values, DIM, &self.labels, &self.ids, self.classes).unwrap()
    }
}

/// `classes` Gaussian classes of `per_class` samples whose feature 0 has standard deviation
/// 10, feature 1 0.2 and the rest 1 (class `c` is centred at 5 on feature `2 + c`); class 0
/// gets `planted` extra samples shifted by `shift` along feature 1 only — 10 clean standard
/// deviations along a direction that carries almost none of the class's variance.
fn low_variance_shift(
    classes: usize,
    per_class: usize,
    planted: usize,
    shift: f32,
    seed: u64,
) -> Planted {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut set = Planted {
        values: vec![],
        labels: vec![],
        ids: vec![],
        poisoned: vec![],
        classes,
    };
    for c in 0..classes {
        let extra = if c == 0 { planted } else { 0 };
        for i in 0..per_class + extra {
            let id = set.ids.len() as u64;
            for j in 0..DIM {
                let noise: f32 = StandardNormal.sample(&mut rng);
                let scale = [10.0, 0.2].get(j).copied().unwrap_or(1.0);
                let centre = if j == 2 + c { 5.0 } else { 0.0 };
                let offset = if i >= per_class && j == 1 { shift } else { 0.0 };
                set.values.push(noise * scale + centre + offset);
            }
            set.labels.push(c as u32);
            set.ids.push(id);
            if i >= per_class {
                set.poisoned.push(id);
            }
        }
    }
    set
}

#[test]
fn spectre_finds_a_low_variance_shift_that_spectral_signatures_miss() {
    // 15 poisons in 315 samples of class 0 (4.8%), shifted 10 sigma along feature 1.
    let set = low_variance_shift(5, 300, 15, 2.0, 3);
    let emb = set.embeddings();
    let spectre = SpectreParams {
        expected_rate: 0.05,
        removal_factor: 1.0,
        ..Default::default()
    }
    .check()
    .unwrap()
    .detect_embeddings(&emb)
    .unwrap();
    let m = score_detection(&spectre, &set.poisoned).unwrap();
    assert!(m.recall >= 0.99 && m.precision >= 0.9, "{m:?}");
    assert_eq!(
        spectre.suspicious_classes(),
        vec![0],
        "{:?}",
        spectre.classes
    );
    assert!(spectre.classes[1..].iter().all(|c| c.flagged == 0));
    // The top principal direction of class 0 is feature 0 (variance 100, against 0.2 added
    // by the poison on feature 1): spectral signatures rank the poison at chance.
    let spectral = SpectralParams {
        expected_rate: 0.05,
        removal_factor: 1.0,
    }
    .check()
    .unwrap()
    .detect_embeddings(&emb)
    .unwrap();
    let s = score_detection(&spectral, &set.poisoned).unwrap();
    assert!(s.recall <= 0.2 && s.auroc.unwrap() < 0.8, "{s:?}");
    assert!(m.auroc.unwrap() > 0.99, "{m:?}");
}

#[test]
fn spectre_leaves_clean_classes_unflagged_unless_asked_for_every_class() {
    let set = low_variance_shift(5, 300, 0, 0.0, 4);
    let emb = set.embeddings();
    let checked = |all_classes| {
        SpectreParams {
            all_classes,
            ..Default::default()
        }
        .check()
        .unwrap()
        .detect_embeddings(&emb)
        .unwrap()
    };
    let d = checked(false);
    assert!(d.flagged.is_empty(), "{:?}", d.classes);
    assert!(
        d.classes
            .iter()
            .all(|c| c.statistic > 0.0 && c.statistic < 1.0),
        "{:?}",
        d.classes
    );
    // The paper's rule: 1.5 x 10% of every class.
    assert!(checked(true).classes.iter().all(|c| c.flagged == 45));
}

/// `classes` Gaussian classes (unit variance, class `c` centred at 6 on feature `c`); class
/// `target` also holds `planted` samples drawn from class `source`'s distribution shifted by
/// 3 along feature `DIM - 1` (a trigger on top of the source identity, labelled `target`).
fn mixed_class(classes: usize, per_class: usize, planted: usize, seed: u64) -> Planted {
    let (target, source) = (0usize, 3usize);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut set = Planted {
        values: vec![],
        labels: vec![],
        ids: vec![],
        poisoned: vec![],
        classes,
    };
    for c in 0..classes {
        let extra = if c == target { planted } else { 0 };
        for i in 0..per_class + extra {
            let id = set.ids.len() as u64;
            let poison = i >= per_class;
            let identity = if poison { source } else { c };
            for j in 0..DIM {
                let noise: f32 = StandardNormal.sample(&mut rng);
                let centre = if j == identity { 6.0 } else { 0.0 };
                let trigger = if poison && j == DIM - 1 { 3.0 } else { 0.0 };
                set.values.push(noise + centre + trigger);
            }
            set.labels.push(c as u32);
            set.ids.push(id);
            if poison {
                set.poisoned.push(id);
            }
        }
    }
    set
}

#[test]
fn scan_flags_the_small_component_of_the_mixed_class_only() {
    let set = mixed_class(8, 200, 20, 5);
    let d = ScanUntanglingParams::default()
        .check()
        .unwrap()
        .detect_embeddings(&set.embeddings(), 0)
        .unwrap();
    assert_eq!(d.suspicious_classes(), vec![0], "{:?}", d.classes);
    let m = score_detection(&d, &set.poisoned).unwrap();
    assert!(m.precision >= 0.95 && m.recall >= 0.95, "{m:?}");
    assert!(d.classes[0].statistic > 7.39);
    assert!(d.classes[1..]
        .iter()
        .all(|c| c.statistic < 7.39 && c.flagged == 0));
}

#[test]
fn scan_flags_nothing_in_a_clean_set() {
    for seed in 0..3 {
        let set = mixed_class(8, 200, 0, 10 + seed);
        let d = ScanUntanglingParams::default()
            .check()
            .unwrap()
            .detect_embeddings(&set.embeddings(), seed)
            .unwrap();
        assert!(d.flagged.is_empty(), "seed {seed}: {:?}", d.classes);
    }
}

#[test]
fn degenerate_inputs_give_errors_or_empty_flags() {
    // Non-finite values are refused before any detector runs.
    assert!(Embeddings::new(&[0.0, f32::NAN], 1, &[0, 0], &[0, 1], 1).is_err());
    let spectre = SpectreParams::default().check().unwrap();
    let scan = ScanUntanglingParams::default().check().unwrap();
    // One dimension, an empty class, a one-sample class, a constant class, two samples.
    let v = [0.0, 0.1, 0.2, 5.0, 0.3, 1.0, 1.0, 1.0, 1.0, 7.0f32];
    let y = [0, 0, 0, 2, 0, 3, 3, 3, 3, 0];
    let ids: Vec<u64> = (0..10).collect();
    let emb = Embeddings::new(&v, 1, &y, &ids, 4).unwrap();
    for d in [
        spectre.detect_embeddings(&emb).unwrap(),
        scan.detect_embeddings(&emb, 0).unwrap(),
    ] {
        assert_eq!(d.classes[1].samples, 0);
        assert!(d.scores.iter().all(|s| s.1.is_finite()));
        assert!(d.classes.iter().all(|c| c.statistic.is_finite()));
        assert_eq!(d.classes[2].flagged + d.classes[3].flagged, 0);
    }
    // Fewer than 3 classes: SCAn cannot normalise and flags nothing.
    let two = low_variance_shift(2, 50, 5, 2.0, 1);
    assert!(scan
        .detect_embeddings(&two.embeddings(), 0)
        .unwrap()
        .flagged
        .is_empty());
    // A single sample.
    let one = Embeddings::new(&[1.0, 2.0], 2, &[0], &[9], 1).unwrap();
    assert!(spectre.detect_embeddings(&one).unwrap().flagged.is_empty());
    assert!(scan.detect_embeddings(&one, 0).unwrap().flagged.is_empty());
    // Impossible parameters are refused once, with the value named.
    for (name, params) in [
        ("spectre", serde_json::json!({"components": 0})),
        ("spectre", serde_json::json!({"alpha": -1.0})),
        ("spectre", serde_json::json!({"expected-rate": 1.5})),
        ("spectre", serde_json::json!({"threshold": 0.0})),
        ("scan", serde_json::json!({"restarts": 0})),
        ("scan", serde_json::json!({"components": 0})),
        ("scan", serde_json::json!({"ridge": -1.0})),
    ] {
        let err = registry::build(name, &params)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains(
                params
                    .as_object()
                    .unwrap()
                    .keys()
                    .next()
                    .unwrap()
                    .split('-')
                    .next()
                    .unwrap()
            ),
            "{err}"
        );
    }
}
