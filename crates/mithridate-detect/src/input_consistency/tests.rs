//! Tests of the input check (planted classes, hand-computed verdicts, bad parameters).

use super::*;
use mithridate_data::Modality;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const DIM: usize = 100;
const CLASSES: usize = 6;
const CLEAN: usize = 150;

/// Six classes centred at `10 e_c` in 100-D (noise 0.5 per coordinate); class 0 also
/// holds `per_source` poisons from each of `sources` (inputs of that class plus a
/// 3-unit "patch" on a random coordinate among the last 80). Returns the data and the
/// poisoned rows.
fn planted(sources: &[usize], per_source: usize) -> (Dataset, Vec<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (mut x, mut y, mut poisoned) = (vec![], vec![], vec![]);
    let mut push = |source: usize, label: usize, patch: bool, rng: &mut ChaCha8Rng| {
        let at = rng.random_range(20..DIM);
        for j in 0..DIM {
            let centre = if j == source { 10.0 } else { 0.0 };
            let mark = if patch && j == at { 3.0 } else { 0.0 };
            let noise: f32 = StandardNormal.sample(rng);
            x.push(centre + mark + 0.5 * noise);
        }
        y.push(label as u32);
        poisoned.push(patch);
    };
    for c in 0..CLASSES {
        for _ in 0..CLEAN {
            push(c, c, false, &mut rng);
        }
    }
    for &s in sources {
        for _ in 0..per_source {
            push(s, 0, true, &mut rng);
        }
    }
    let n = y.len();
    let modality = Modality::Tabular { features: DIM };
    let ids = (0..n as u64).collect();
    let data = Dataset::new(modality, Features::Dense(x), y, ids, CLASSES, vec![]).unwrap();
    (data, poisoned)
}

fn flagged_rows(d: &Detection) -> Vec<usize> {
    d.flagged.iter().map(|&id| id as usize).collect()
}

fn poisoned_rows(poisoned: &[bool]) -> Vec<usize> {
    (0..poisoned.len()).filter(|&r| poisoned[r]).collect()
}

#[test]
fn flags_exactly_a_many_source_poison_with_patches_anywhere() {
    let (data, poisoned) = planted(&[1, 2, 3, 4, 5], 20);
    for components in [0, 16] {
        let p = InputConsistencyParams {
            components,
            ..Default::default()
        };
        let d = p.check().unwrap().detect(&data, 0).unwrap();
        assert_eq!(flagged_rows(&d), poisoned_rows(&poisoned), "{components}");
        assert_eq!(d.suspicious_classes(), vec![0]);
        // Excess share: the 100 outvoted poisons among the 250 samples labelled 0.
        assert!((d.classes[0].statistic - 0.4).abs() < 1e-9);
        // Each flagged sample is relabelled as the class its inputs come from.
        for &(id, to) in &d.relabel {
            let r = id as usize;
            let source = (0..CLASSES)
                .max_by(|&a, &b| data.dense_row(r).unwrap()[a].total_cmp(&data.dense_row(r).unwrap()[b]))
                .unwrap();
            assert_eq!(to as usize, source);
        }
    }
}

#[test]
fn a_clean_set_and_a_two_source_poison_leave_every_class_alone() {
    let (clean, _) = planted(&[], 0);
    let d = InputConsistencyParams::default().check().unwrap().detect(&clean, 3).unwrap();
    assert!(d.flagged.is_empty() && d.suspicious_classes().is_empty());
    // Two sources of five others look like two targeted flips: below the share by design...
    let (two, poisoned) = planted(&[1, 2], 30);
    let d = InputConsistencyParams::default().check().unwrap().detect(&two, 0).unwrap();
    assert!(d.flagged.is_empty());
    // ...and found when the user lowers it.
    let p = InputConsistencyParams {
        min_source_share: 0.4,
        ..Default::default()
    };
    let d = p.check().unwrap().detect(&two, 0).unwrap();
    assert_eq!(flagged_rows(&d), poisoned_rows(&poisoned));
}

/// Ten classes, each from 8 sources with a rejecting pooled test; only the excess
/// shares differ.
fn evidence(shares: &[f64]) -> Vec<ClassEvidence> {
    shares
        .iter()
        .map(|&excess_share| ClassEvidence {
            sources: 8,
            excess_share,
            p_value: 1e-6,
        })
        .collect()
}

#[test]
fn either_evidence_marks_and_a_sink_class_near_the_bar_stays_a_candidate() {
    let check = InputConsistencyParams::default().check().unwrap();
    // Over every outvoted row: median 0.02, MAD 0.015 (scale 0.02224), so class 8's
    // 0.09 has z = 0.07 / 0.02224 = 3.15: under 4, over the candidates' 2.
    let all = evidence(&[0.01, 0.0, 0.05, 0.03, 0.06, 0.02, 0.0, 0.02, 0.09, 0.015]);
    // Decisive rows: median 0.005, MAD 0.005 (scale 0.0074, floored to 0.01): class 8's
    // 0.03 has z 2.5 (a candidate); class 3's 0.12 has z 11.5.
    let decisive = evidence(&[0.0, 0.0, 0.01, 0.12, 0.01, 0.0, 0.005, 0.005, 0.03, 0.005]);
    let marks = check.verdicts(&all, &decisive);
    let mark = |by_all, by_decisive, candidate, all_near| ClassMark {
        by_all,
        by_decisive,
        candidate,
        all_near,
    };
    assert_eq!(marks[8], mark(false, false, true, true));
    // Class 3 over every outvoted row: z = 0.01 / 0.02224 = 0.45.
    assert_eq!(marks[3], mark(false, true, true, false));
    // Class 4: z 1.8 over every row, 0.5 over the decisive ones.
    assert_eq!(marks[4], mark(false, false, false, false));
    // The same shares over every outvoted row with class 8 at 0.12: z 4.5, marked.
    let mut strong = all.clone();
    strong[8].excess_share = 0.12;
    assert_eq!(check.verdicts(&strong, &decisive)[8], mark(true, false, true, true));
    // A pooled test that does not reject marks nothing, whatever the z.
    let mut weak = decisive.clone();
    weak[3].p_value = 0.5;
    assert_eq!(check.verdicts(&all, &weak)[3], mark(false, false, false, false));
}

#[test]
fn token_inputs_are_not_scanned_and_bad_parameters_are_named() {
    let data = Dataset::new(
        Modality::Text {
            max_len: 2,
            vocab_size: 5,
        },
        Features::Tokens(vec![1, 2, 3, 4]),
        vec![0, 1],
        vec![7, 8],
        2,
        vec![],
    )
    .unwrap();
    let d = InputConsistencyParams::default().check().unwrap().detect(&data, 0).unwrap();
    assert!(d.flagged.is_empty());
    for (p, name) in [
        (InputConsistencyParams { k: 0, ..Default::default() }, "k"),
        (InputConsistencyParams { min_source_share: 0.0, ..Default::default() }, "min-source-share"),
        (InputConsistencyParams { pca_sample: 1, ..Default::default() }, "pca-sample"),
        (InputConsistencyParams { reference_size: 0, ..Default::default() }, "reference-size"),
        (InputConsistencyParams { alpha: 1.5, ..Default::default() }, "alpha"),
        (InputConsistencyParams { class_outlier: 0.0, ..Default::default() }, "class-outlier"),
        (InputConsistencyParams { decisive_own_share: 1.0, ..Default::default() }, "decisive-own-share"),
    ] {
        let err = p.check().unwrap_err().to_string();
        assert!(err.contains(name), "{err}");
    }
}
