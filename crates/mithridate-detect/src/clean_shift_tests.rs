use super::*;
use mithridate_data::Modality;

const CLASSES: u32 = 6;
const FEATURES: usize = 12;

/// A deterministic value in `[-0.5, 0.5)` for (class, index, feature).
fn noise(c: u32, i: u64, j: usize) -> f32 {
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(c) * 1_000_003 + i * 7919 + j as u64);
    // A sum of four uniforms: bell-shaped, as natural features are, without far tails.
    (0..4).map(|_| rand::Rng::random::<f32>(&mut rng) - 0.5).sum::<f32>() / 2.0
}

/// Six classes of `per` rows: class means apart in feature 0, unit-scale noise except in
/// features 8-11 (scale 0.05). `shifted(c, i)` adds 0.4 to features 8-11 of a row.
fn dataset(per: u64, base: u64, shifted: impl Fn(u32, u64) -> bool) -> Dataset {
    let (mut x, mut y, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for c in 0..CLASSES {
        for i in base..base + per {
            for j in 0..FEATURES {
                let scale = if j >= 8 { 0.05 } else { 1.0 };
                let mean = if j == 0 { 3.0 * c as f32 } else { 0.0 };
                let shift = if j >= 8 && shifted(c, i) { 0.4 } else { 0.0 };
                x.push(mean + scale * noise(c, i, j) + shift);
            }
            y.push(c);
            ids.push(u64::from(c) * 100_000 + i);
        }
    }
    let modality = Modality::Tabular { features: FEATURES };
    Dataset::new(modality, Features::Dense(x), y, ids, CLASSES as usize, vec![]).unwrap()
}

fn scan(data: &Dataset, clean: &Dataset) -> Detection {
    CleanShiftParams::default().check().unwrap().detect(data, clean, 0).unwrap()
}

#[test]
fn a_shifted_fifth_of_one_class_is_flagged_exactly() {
    // 50 of class 2's 250 rows carry the shift; the trusted set (80 per class) has none.
    let data = dataset(250, 0, |c, i| c == 2 && i < 50);
    let clean = dataset(80, 10_000, |_, _| false);
    let d = scan(&data, &clean);
    assert_eq!(d.suspicious_classes(), vec![2]);
    let expected: Vec<u64> = (0..50).map(|i| 200_000 + i).collect();
    assert_eq!(d.flagged, expected);
    // Seeds change the halves, not the verdict.
    let again = CleanShiftParams::default().check().unwrap().detect(&data, &clean, 7).unwrap();
    assert_eq!(again.flagged, expected);
}

#[test]
fn clean_data_a_small_mode_and_a_mode_the_clean_set_shares_are_left_alone() {
    let clean = dataset(80, 10_000, |_, _| false);
    let d = scan(&dataset(250, 0, |_, _| false), &clean);
    assert!(d.flagged.is_empty() && d.suspicious_classes().is_empty());
    // 12 of 250 (4.8%, below min-mode-share) ...
    let small = dataset(250, 0, |c, i| c == 2 && i < 12);
    assert!(scan(&small, &clean).flagged.is_empty());
    // ... found when the user lowers the share.
    let p = CleanShiftParams { min_mode_share: 0.02, ..Default::default() };
    let d = p.check().unwrap().detect(&small, &clean, 0).unwrap();
    assert_eq!(d.flagged.len(), 12);
    // The same 20% mode in the trusted samples too: content, not a trigger.
    let shared_clean = dataset(80, 10_000, |c, i| c == 2 && i % 5 == 0);
    let data = dataset(250, 0, |c, i| c == 2 && i < 50);
    assert!(scan(&data, &shared_clean).flagged.is_empty());
}

#[test]
fn ledoit_wolf_weight_matches_scikit_learn() {
    // sklearn.covariance.ledoit_wolf on these six rows (one class, so the pooled
    // within-class covariance is the plain one): shrinkage 0.45581990215312745.
    let x: [f32; 18] = [
        0.0, 1.0, 2.0, 1.0, 0.5, -1.0, 2.0, -1.0, 0.0, -1.0, 2.0, 1.0, 0.5, 0.0, 3.0, 1.5, 1.5,
        -2.0,
    ];
    let rows = Rowset { values: &x, d: 3 };
    let (s, lambda, mu) = ledoit_wolf(&rows, &[(0..6).collect()]).unwrap();
    assert!((lambda - 0.455_819_902_153_127_45).abs() < 1e-9, "{lambda}");
    // The shrunk covariance's corner sklearn prints: 1.26766105 and -0.35522867.
    let shrunk = |i: usize, j: usize| (1.0 - lambda) * s[(i, j)] + if i == j { lambda * mu } else { 0.0 };
    assert!((shrunk(0, 0) - 1.267_661_05).abs() < 1e-7 && (shrunk(0, 1) + 0.355_228_67).abs() < 1e-7);
    // Its precision is its inverse.
    let p = shrunk_precision(&rows, &[(0..6).collect()]).unwrap();
    for i in 0..3 {
        for j in 0..3 {
            let e: f64 = (0..3).map(|k| shrunk(i, k) * p[(k, j)]).sum();
            assert!((e - f64::from(u8::from(i == j))).abs() < 1e-9);
        }
    }
}

#[test]
fn bad_inputs_and_parameters_are_named() {
    let data = dataset(40, 0, |_, _| false);
    let tokens = Dataset::new(
        Modality::Text { max_len: 2, vocab_size: 5 },
        Features::Tokens(vec![1, 2, 3, 4]),
        vec![0, 1],
        vec![7, 8],
        2,
        vec![],
    )
    .unwrap();
    let detector = CleanShiftParams::default().check().unwrap();
    let err = |r: Result<Detection>| r.unwrap_err().to_string();
    assert!(err(detector.detect(&tokens, &tokens, 0)).contains("token ids"));
    let narrow = Dataset::new(
        Modality::Tabular { features: 1 },
        Features::Dense(vec![0.0, 1.0]),
        vec![0, 1],
        vec![1, 2],
        2,
        vec![],
    )
    .unwrap();
    assert!(err(detector.detect(&data, &narrow, 0)).contains("shape"));
    for (p, name) in [
        (CleanShiftParams { refine_rounds: 11, ..Default::default() }, "refine-rounds"),
        (CleanShiftParams { min_mode_share: 0.0, ..Default::default() }, "min mode share"),
        (CleanShiftParams { min_separation: f64::NAN, ..Default::default() }, "min separation"),
        (CleanShiftParams { max_class_share: 1.5, ..Default::default() }, "max class share"),
    ] {
        let e = p.check().unwrap_err().to_string();
        assert!(e.contains(name), "{e}");
    }
    // Without a clean set the scan says what it needs.
    let config = mithridate_engine::TrainParams::default_for(mithridate_engine::Architecture::LogReg)
        .check()
        .unwrap();
    let spec = crate::TrainSpec { architecture: mithridate_engine::Architecture::LogReg, config };
    let ctx = ScanContext::new(&data, spec, 0).unwrap();
    assert!(err(detector.scan(&ctx)).contains("--clean-set"));
}
