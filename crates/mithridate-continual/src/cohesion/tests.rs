//! The cohesion test against planted groups, a null without one, and hand-computed
//! eigenvalues.

use super::*;
use rand_distr::{Distribution, StandardNormal};

/// A synthetic batch: inputs, labels, the model's classes, suspects, and the poisons' rows.
struct Batch {
    x: Vec<f32>,
    labels: Vec<u32>,
    predicted: Vec<u32>,
    suspect: Vec<bool>,
    poison_rows: Vec<usize>,
}

const K: usize = 5;
const D: usize = 40;
const LIMIT: f64 = 1e-4;

impl Batch {
    /// The cohesion tests of the batch at `LIMIT`.
    fn test(&self, params: &CohesionParams, seed: u64) -> Vec<ClassCohesion> {
        cohesion(
            &self.x,
            D,
            &self.labels,
            &self.predicted,
            &self.suspect,
            K,
            LIMIT,
            params,
            seed,
        )
    }
}

/// Sets the 4 quiet dimensions to 0.5 (a tenth of a clean sample's length).
fn patch(row: &mut [f32]) {
    row[D - 4..].iter_mut().for_each(|v| *v = 0.5);
}

fn class0(tests: &[ClassCohesion]) -> &ClassCohesion {
    tests.iter().find(|t| t.class == 0).expect("class 0 tested")
}

/// `K` classes of 200 Gaussian samples in `D` dimensions (class `j` shifted by 3 along axis
/// `j`; the last 4 dimensions barely vary, like an image's border); `noisy` samples per class
/// carry a wrong label, and `poisons` samples of classes `1..K` carry `trigger` and label 0.
/// The model places every sample in its true class.
fn batch(noisy: usize, poisons: usize, trigger: &dyn Fn(&mut [f32]), seed: u64) -> Batch {
    let (k, per, d) = (K, 200, D);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut x, mut labels, mut predicted, mut poison_rows) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for j in 0..k {
        for i in 0..per {
            let mut row: Vec<f32> = (0..d)
                .map(|c| {
                    let z: f32 = StandardNormal.sample(&mut rng);
                    if c + 4 >= d {
                        0.05 * z
                    } else {
                        z
                    }
                })
                .collect();
            row[j] += 3.0;
            let mut label = j as u32;
            if j > 0 && i < poisons / (k - 1) {
                trigger(&mut row);
                label = 0;
                poison_rows.push(labels.len());
            } else if i >= per - noisy {
                label = ((j + 1 + i % (k - 1)) % k) as u32;
            }
            x.extend(row);
            labels.push(label);
            predicted.push(j as u32);
        }
    }
    let suspect = labels.iter().zip(&predicted).map(|(y, p)| y != p).collect();
    Batch {
        x,
        labels,
        predicted,
        suspect,
        poison_rows,
    }
}

#[test]
fn noisy_labels_without_a_shared_pattern_raise_no_alarm() {
    for seed in 0..5 {
        let tests = batch(6, 0, &|_| {}, seed).test(&CohesionParams::default(), seed);
        assert!(!tests.is_empty());
        assert!(tests.iter().all(|t| !t.alarm), "seed {seed}: {tests:?}");
    }
}

#[test]
fn four_poisons_among_many_noisy_labels_are_found() {
    // A small patch on 4 poisons hidden among ~6 noisy labels per class: the mean pairwise
    // cosine would be diluted by the noise, the largest eigenvalue is not.
    let found = batch(6, 4, &patch, 3);
    assert_eq!(found.poison_rows.len(), 4);
    let params = CohesionParams {
        min_excess: 1.0,
        ..CohesionParams::default()
    };
    let tests = found.test(&params, 3);
    assert!(class0(&tests).alarm, "{:?}", class0(&tests));
    assert!(tests.iter().filter(|t| t.alarm).count() == 1, "{tests:?}");
}

#[test]
fn a_poison_the_model_already_places_in_the_target_is_named_by_direction() {
    let mut fooled_batch = batch(6, 8, &patch, 5);
    let fooled = fooled_batch.poison_rows[0];
    fooled_batch.predicted[fooled] = 0;
    fooled_batch.suspect[fooled] = false;
    let tests = fooled_batch.test(&CohesionParams::default(), 5);
    assert!(class0(&tests).alarm, "{:?}", class0(&tests));
    assert_eq!(class0(&tests).aligned, vec![fooled]);
}

#[test]
fn a_style_the_kept_samples_share_is_not_a_trigger() {
    // The same 8 patched suspects, but 40 samples the model keeps in class 0 carry the
    // pattern too: a cut of the class whose borderline members are misread, not a trigger.
    let mut styled = batch(6, 8, &patch, 5);
    for row in 0..40 {
        patch(&mut styled.x[row * D..(row + 1) * D]);
    }
    let tests = styled.test(&CohesionParams::default(), 5);
    let class0 = class0(&tests);
    assert!(class0.cohesion - class0.null_mean >= 3.0, "{class0:?}");
    assert!(!class0.alarm, "{class0:?}");
}

#[test]
fn top_eigenvalue_of_aligned_and_orthogonal_directions() {
    // Three copies of e1 and two of e2: eigenvalues 3 and 2.
    let mut u = Mat::<f32>::zeros(5, 2);
    for r in 0..3 {
        u[(r, 0)] = 1.0;
    }
    u[(3, 1)] = 1.0;
    u[(4, 1)] = 1.0;
    let gram = &u * u.transpose();
    assert!((top_eigenvalue(&gram, &[0, 1, 2, 3, 4]) - 3.0).abs() < 1e-6);
    assert!((top_eigenvalue(&gram, &[0, 3]) - 1.0).abs() < 1e-6);
    assert!((top_eigenvalue(&gram, &[3, 4]) - 2.0).abs() < 1e-6);
}

#[test]
fn mismatched_inputs_give_no_tests() {
    let tests = cohesion(
        &[0.0; 10],
        3,
        &[0, 1, 0],
        &[1, 1, 1],
        &[true, false, true],
        2,
        1e-3,
        &CohesionParams::default(),
        0,
    );
    assert!(tests.is_empty());
}

#[test]
fn a_label_outside_the_classes_gives_no_tests() {
    let mut bad = batch(6, 8, &patch, 1);
    bad.labels[0] = K as u32;
    assert!(bad.test(&CohesionParams::default(), 1).is_empty());
}

#[test]
fn the_gershgorin_bound_is_never_below_the_largest_eigenvalue() {
    let found = batch(6, 8, &patch, 2);
    let rows: Vec<usize> = (0..found.labels.len()).step_by(37).collect();
    let mut u = Mat::<f32>::zeros(rows.len(), D);
    for (r, &i) in rows.iter().enumerate() {
        let row = &found.x[i * D..(i + 1) * D];
        let length = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        for c in 0..D {
            u[(r, c)] = row[c] / length;
        }
    }
    let gram = &u * u.transpose();
    for size in [2, 5, 12, rows.len()] {
        let members: Vec<usize> = (0..size).collect();
        let bound = gershgorin_bound(&gram, &members);
        let top = top_eigenvalue(&gram, &members);
        assert!(bound >= top - 1e-9, "{size}: {bound} < {top}");
    }
}
