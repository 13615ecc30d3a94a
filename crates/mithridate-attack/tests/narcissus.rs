//! Narcissus against a surrogate whose optimum is known in closed form: for the two-class
//! model `z = (w . x, 0)`, the target-0 loss gradient is `(p_0 - 1) w`, whose sign is `-sign(w)`
//! at every point, so signed descent must end at `delta = eps * sign(w)` on every pixel the clip
//! leaves alone, whatever the samples.

use mithridate_attack::{
    registry, AttackInput, Budget, Goal, Result as AttackResult, Surrogate, Trigger,
};
use mithridate_data::{Dataset, Features, Modality};
use rand::{Rng, SeedableRng};
use serde_json::json;

const SIDE: usize = 4;
const PER: usize = SIDE * SIDE;

fn weight(j: usize) -> f32 {
    if j.is_multiple_of(3) {
        -0.7
    } else {
        0.4 + j as f32 * 0.01
    }
}

struct TwoClassLinear;

impl TwoClassLinear {
    fn p0(x: &[f32]) -> f32 {
        let z: f32 = x.iter().enumerate().map(|(j, v)| weight(j) * v).sum();
        1.0 / (1.0 + (-z).exp())
    }
}

impl Surrogate for TwoClassLinear {
    fn predict_proba(&self, d: &Dataset) -> AttackResult<Vec<f32>> {
        Ok((0..d.len())
            .flat_map(|r| {
                let p = Self::p0(d.dense_row(r).unwrap());
                [p, 1.0 - p]
            })
            .collect())
    }
    fn loss_input_gradients(&self, d: &Dataset, labels: &[u32]) -> AttackResult<Vec<f32>> {
        Ok((0..d.len())
            .flat_map(|r| {
                let p0 = Self::p0(d.dense_row(r).unwrap());
                let scale = if labels[r] == 0 { p0 - 1.0 } else { p0 };
                (0..PER).map(move |j| scale * weight(j))
            })
            .collect())
    }
    fn embeddings(&self, d: &Dataset) -> AttackResult<(Vec<f32>, usize)> {
        Ok((vec![0.0; d.len()], 1))
    }
    fn embedding_input_gradients(&self, d: &Dataset, _: &[f32]) -> AttackResult<Vec<f32>> {
        Ok(vec![0.0; d.len() * PER])
    }
}

fn data(n: usize) -> Dataset {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let pixels = (0..n * PER)
        .map(|_| 0.25 + 0.5 * r.random::<f32>())
        .collect();
    let image = Modality::Image {
        channels: 1,
        height: SIDE,
        width: SIDE,
    };
    let labels = (0..n).map(|i| (i % 2) as u32).collect();
    let ids = (0..n as u64).map(|i| 500 + 3 * i).collect();
    Dataset::new(image, Features::Dense(pixels), labels, ids, 2, vec![]).unwrap()
}

#[test]
fn the_trigger_is_the_closed_form_optimum_and_only_target_samples_change() {
    let (eps, scale) = (0.1f32, 2.5f32);
    let clean = data(40);
    let params = json!({"target": 0, "epsilon": eps, "steps": 30, "batch": 7, "test-scale": scale});
    let attack = registry::build("narcissus", &params).unwrap();
    let input = AttackInput::new(&clean, Budget::Rate(0.5), 3).with_surrogate(&TwoClassLinear);
    let out = attack.poison(&input).unwrap();
    // Half of the 20 target samples, labels kept; nothing else touched.
    assert_eq!(out.truth.changes.len(), 10);
    for row in 0..clean.len() {
        let (x0, x1) = (
            clean.dense_row(row).unwrap(),
            out.data.dense_row(row).unwrap(),
        );
        assert_eq!(out.data.labels()[row], clean.labels()[row]);
        let poisoned = out.truth.changes.iter().any(|c| c.id == clean.ids()[row]);
        assert!(!poisoned || clean.labels()[row] == 0);
        for (j, (a, b)) in x0.iter().zip(x1).enumerate() {
            let expected = if poisoned {
                a + eps * weight(j).signum()
            } else {
                *a
            };
            assert!(
                (b - expected).abs() < 1e-6,
                "row {row} pixel {j}: {b} vs {expected}"
            );
        }
    }
    let Goal::Backdoor { trigger, .. } = &out.truth.goal else {
        panic!("not a backdoor")
    };
    let Trigger::Additive { signal, .. } = trigger else {
        panic!("not an additive trigger")
    };
    for (j, s) in signal.iter().enumerate() {
        assert!((s - scale * eps * weight(j).signum()).abs() < 1e-6);
    }
    // The same seed gives the same bytes.
    let again = attack.poison(&input).unwrap();
    assert_eq!(again.data.features(), out.data.features());
}

#[test]
fn impossible_settings_are_refused() {
    let clean = data(8);
    let bad = [
        (json!({"target": 0, "epsilon": 0.0}), "epsilon"),
        (json!({"target": 0, "epsilon": 1.5}), "epsilon"),
        (json!({"target": 0, "epsilon": 0.5}), "test-scale"),
        (json!({"target": 0, "test-scale": -1.0}), "test-scale"),
        (json!({"target": 0, "steps": 0}), "at least 1"),
        (
            json!({"target": 0, "batch": 100000, "steps": 1000}),
            "exceeds",
        ),
        (json!({"target": 0, "step-size": 0.0}), "step-size"),
        (json!({"target": 5}), "not a class"),
        (json!({}), "target"),
    ];
    for (params, needle) in bad {
        let err = registry::build("narcissus", &params)
            .and_then(|a| {
                a.poison(
                    &AttackInput::new(&clean, Budget::Rate(0.5), 0).with_surrogate(&TwoClassLinear),
                )
            })
            .err()
            .unwrap_or_else(|| panic!("{params} should fail"))
            .to_string();
        assert!(err.contains(needle), "{params}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
    let attack = registry::build("narcissus", &json!({"target": 0})).unwrap();
    let err = attack
        .poison(&AttackInput::new(&clean, Budget::Rate(0.5), 0))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("needs a surrogate"), "{err}");
}
