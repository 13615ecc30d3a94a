//! Every attack against hand-made fixtures: the ground truth names exactly the samples that
//! differ (compared by id, independently of the attack's own diff), budget 0 is a no-op,
//! invalid parameters fail with a clear error, and the same seed gives the same bytes.

use mithridate_attack::{
    registry, AttackInput, Budget, ChangeKind, Poisoned, Result as AttackResult, Surrogate,
};
use mithridate_data::{Dataset, Features, Modality};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const N: usize = 48;
const K: usize = 4;

fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

fn labels() -> Vec<u32> {
    (0..N).map(|i| (i % K) as u32).collect()
}

/// Ids deliberately not 0..N, to catch row/id confusion.
fn ids() -> Vec<u64> {
    (0..N as u64).map(|i| 1000 + 7 * i).collect()
}

fn image() -> Dataset {
    let mut r = rng(1);
    let pixels = (0..N * 64).map(|_| r.random::<f32>() * 0.5).collect();
    let m = Modality::Image {
        channels: 1,
        height: 8,
        width: 8,
    };
    Dataset::new(m, Features::Dense(pixels), labels(), ids(), K, vec![]).unwrap()
}

fn tabular() -> Dataset {
    let mut r = rng(2);
    let values = (0..N * 5).map(|_| r.random::<f32>() * 10.0 - 5.0).collect();
    let m = Modality::Tabular { features: 5 };
    Dataset::new(m, Features::Dense(values), labels(), ids(), K, vec![]).unwrap()
}

fn text() -> Dataset {
    let mut r = rng(3);
    let vocab = 30;
    let tokens = (0..N)
        .flat_map(|_| {
            let len = r.random_range(1..=10);
            let mut row: Vec<u32> = (0..len).map(|_| r.random_range(1..20)).collect();
            row.resize(12, 0);
            row
        })
        .collect();
    let m = Modality::Text {
        max_len: 12,
        vocab_size: vocab,
    };
    let words = (0..vocab).map(|i| format!("w{i}")).collect();
    Dataset::new(m, Features::Tokens(tokens), labels(), ids(), K, vec![])
        .unwrap()
        .with_vocabulary(words)
        .unwrap()
}

/// Softmax regression with fixed weights `W[c][j] = sin(c + 3j)`: gradients in closed form,
/// embeddings = the input.
struct Linear {
    dim: usize,
}

impl Linear {
    fn logits(&self, x: &[f32]) -> Vec<f32> {
        (0..K)
            .map(|c| {
                (0..self.dim)
                    .map(|j| ((c + 3 * j) as f32).sin() * x[j])
                    .sum()
            })
            .collect()
    }
    fn proba(&self, x: &[f32]) -> Vec<f32> {
        let z = self.logits(x);
        let m = z.iter().cloned().fold(f32::MIN, f32::max);
        let e: Vec<f32> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f32 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }
    fn rows(&self, d: &Dataset) -> Vec<Vec<f32>> {
        (0..d.len())
            .map(|r| d.dense_row(r).unwrap().to_vec())
            .collect()
    }
}

impl Surrogate for Linear {
    fn predict_proba(&self, d: &Dataset) -> AttackResult<Vec<f32>> {
        Ok(self.rows(d).iter().flat_map(|x| self.proba(x)).collect())
    }
    fn loss_input_gradients(&self, d: &Dataset, labels: &[u32]) -> AttackResult<Vec<f32>> {
        Ok(self
            .rows(d)
            .iter()
            .zip(labels)
            .flat_map(|(x, &y)| {
                let p = self.proba(x);
                (0..self.dim)
                    .map(|j| {
                        (0..K)
                            .map(|c| {
                                (p[c] - f32::from(c == y as usize)) * ((c + 3 * j) as f32).sin()
                            })
                            .sum::<f32>()
                    })
                    .collect::<Vec<_>>()
            })
            .collect())
    }
    fn embeddings(&self, d: &Dataset) -> AttackResult<(Vec<f32>, usize)> {
        Ok((self.rows(d).concat(), self.dim))
    }
    fn embedding_input_gradients(&self, d: &Dataset, t: &[f32]) -> AttackResult<Vec<f32>> {
        Ok(self
            .rows(d)
            .concat()
            .iter()
            .zip(t)
            .map(|(x, t)| x - t)
            .collect())
    }
}

/// (attack, params, dataset) for every attack.
fn cases() -> Vec<(&'static str, Value, Dataset)> {
    vec![
        ("label-flip", json!({}), image()),
        (
            "label-flip-targeted",
            json!({"source": 1, "target": 2}),
            tabular(),
        ),
        ("label-flip-greedy", json!({}), tabular()),
        ("label-flip-greedy", json!({"objective": "loss"}), image()),
        ("badnets", json!({"target": 0}), image()),
        (
            "badnets",
            json!({"mapping": "all-to-all", "position": "random", "pattern": "random"}),
            image(),
        ),
        ("badnets", json!({"target": 3, "append": true}), image()),
        ("blend", json!({"target": 0}), image()),
        (
            "blend",
            json!({"target": 1, "pattern": "image", "alpha": 0.3}),
            image(),
        ),
        (
            "clean-label",
            json!({"target": 2, "epsilon": 0.1, "steps": 3}),
            image(),
        ),
        (
            "narcissus",
            json!({"target": 2, "steps": 4, "batch": 5}),
            image(),
        ),
        ("sig", json!({"target": 2}), image()),
        (
            "sig",
            json!({"target": 1, "label": "dirty", "signal": "ramp", "delta": 0.2}),
            image(),
        ),
        ("wanet", json!({"target": 0, "cross-ratio": 1}), image()),
        ("wanet", json!({"mapping": "all-to-all", "k": 8}), image()),
        (
            "feature-collision",
            json!({"target": 1, "iterations": 5}),
            image(),
        ),
        ("text-trigger", json!({"target": 0}), text()),
        (
            "text-trigger",
            json!({"target": 0, "words": ["w25", "w26"], "position": "start"}),
            text(),
        ),
        ("tabular-trigger", json!({"target": 2}), tabular()),
    ]
}

fn run(
    name: &str,
    params: &Value,
    data: &Dataset,
    budget: Budget,
    seed: u64,
) -> AttackResult<Poisoned> {
    let attack = registry::build(name, params)?;
    let surrogate = Linear {
        dim: data.modality().sample_len(),
    };
    let mut input = AttackInput::new(data, budget, seed);
    if attack.requirements().surrogate {
        input = input.with_surrogate(&surrogate);
    }
    if attack.requirements().victims {
        input = input.with_victims(data);
    }
    attack.poison(&input)
}

/// Samples by id: (features as bit patterns / tokens, label).
fn by_id(d: &Dataset) -> BTreeMap<u64, (Vec<u32>, u32)> {
    (0..d.len())
        .map(|r| {
            let features = match d.dense_row(r) {
                Some(x) => x.iter().map(|v| v.to_bits()).collect(),
                None => d.token_row(r).unwrap().to_vec(),
            };
            (d.ids()[r], (features, d.labels()[r]))
        })
        .collect()
}

#[test]
fn ground_truth_names_exactly_the_changed_samples() {
    for (name, params, data) in cases() {
        let out = run(name, &params, &data, Budget::Rate(0.25), 5)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (before, after) = (by_id(&data), by_id(&out.data));
        assert!(
            before.keys().all(|id| after.contains_key(id)),
            "{name}: a sample vanished"
        );
        let mut modified = Vec::new();
        let mut added = Vec::new();
        for (id, sample) in &after {
            match before.get(id) {
                Some(old) if old != sample => modified.push(*id),
                Some(_) => {}
                None => added.push(*id),
            }
        }
        let named = |kind| {
            out.truth
                .changes
                .iter()
                .filter(|c| c.kind == kind)
                .map(|c| c.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            named(ChangeKind::Modified),
            modified,
            "{name}: modified ids"
        );
        assert_eq!(named(ChangeKind::Added), added, "{name}: added ids");
        assert!(
            !out.truth.changes.is_empty(),
            "{name}: a 25% budget must change something"
        );
        let max_id = *data.ids().iter().max().unwrap();
        assert!(
            added.iter().all(|&id| id > max_id),
            "{name}: fresh ids above the max"
        );
        for c in &out.truth.changes {
            let (features, label) = &after[&c.id];
            assert_eq!(*label, c.label_to, "{name}: label_to of {}", c.id);
            if let Some(old) = before.get(&c.id) {
                assert_eq!(Some(old.1), c.label_from, "{name}: label_from of {}", c.id);
                assert_eq!(
                    old.0 != *features,
                    c.features_changed,
                    "{name}: features_changed of {}",
                    c.id
                );
            }
        }
        assert_eq!(out.truth.samples_after, out.data.len());
        assert_eq!(out.truth.attack, name);
    }
}

#[test]
fn budget_zero_changes_nothing() {
    for (name, params, data) in cases() {
        for budget in [Budget::Rate(0.0), Budget::Count(0)] {
            let out =
                run(name, &params, &data, budget, 5).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(out.data, data, "{name}");
            assert!(out.truth.changes.is_empty(), "{name}");
        }
    }
}

#[test]
fn same_seed_same_result_and_seeds_matter() {
    for (name, params, data) in cases() {
        let a = run(name, &params, &data, Budget::Rate(0.25), 11).unwrap();
        let b = run(name, &params, &data, Budget::Rate(0.25), 11).unwrap();
        assert_eq!(a.data, b.data, "{name}");
        assert_eq!(
            serde_json::to_string(&a.truth).unwrap(),
            serde_json::to_string(&b.truth).unwrap(),
            "{name}"
        );
    }
    let a = run(
        "badnets",
        &json!({"target": 0}),
        &image(),
        Budget::Rate(0.25),
        1,
    )
    .unwrap();
    let b = run(
        "badnets",
        &json!({"target": 0}),
        &image(),
        Budget::Rate(0.25),
        2,
    )
    .unwrap();
    assert_ne!(a.truth.poisoned_ids(), b.truth.poisoned_ids());
}

#[test]
fn ground_truth_round_trips_through_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.npz.truth.json");
    for (name, params, data) in cases() {
        let out = run(name, &params, &data, Budget::Rate(0.25), 3).unwrap();
        out.truth.write(&path).unwrap();
        assert_eq!(
            mithridate_attack::GroundTruth::read(&path).unwrap(),
            out.truth,
            "{name}"
        );
    }
}

fn error(name: &str, params: Value, data: &Dataset, budget: Budget) -> String {
    match run(name, &params, data, budget, 0) {
        Ok(_) => panic!("{name} {params} should fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn invalid_parameters_give_clear_errors() {
    let (img, tab, txt) = (image(), tabular(), text());
    let r = Budget::Rate(0.1);
    for bad in [-0.01, 1.5, f64::NAN] {
        assert!(
            error("badnets", json!({"target": 0}), &img, Budget::Rate(bad))
                .contains("outside [0, 1]")
        );
    }
    assert!(error("label-flip", json!({}), &img, Budget::Count(N + 1)).contains("exceeds"));
    assert!(error("badnets", json!({"target": 9}), &img, r).contains("not a class"));
    assert!(error(
        "label-flip-targeted",
        json!({"source": 1, "target": 7}),
        &tab,
        r
    )
    .contains("not a class"));
    assert!(error(
        "label-flip-targeted",
        json!({"source": 1, "target": 1}),
        &tab,
        r
    )
    .contains("same class"));
    assert!(error("badnets", json!({"target": 0, "size": 9}), &img, r).contains("does not fit"));
    assert!(error("badnets", json!({"target": 0, "size": 0}), &img, r).contains("at least 1"));
    assert!(error("badnets", json!({}), &img, r).contains("needs a target"));
    assert!(error(
        "badnets",
        json!({"target": 0, "mapping": "all-to-all"}),
        &img,
        r
    )
    .contains("no target"));
    assert!(error("badnets", json!({"target": 0, "colour": "red"}), &img, r).contains("colour"));
    assert!(error("badnets", json!({"target": 0}), &txt, r).contains("needs image data"));
    assert!(error("blend", json!({"target": 0, "alpha": 1.5}), &img, r).contains("alpha"));
    assert!(error("blend", json!({"target": 0}), &tab, r).contains("needs image data"));
    assert!(error("text-trigger", json!({"target": 0}), &img, r).contains("needs text data"));
    assert!(error(
        "text-trigger",
        json!({"target": 0, "words": ["nope"]}),
        &txt,
        r
    )
    .contains("not in the vocabulary"));
    assert!(error("tabular-trigger", json!({"target": 0}), &txt, r).contains("needs tabular data"));
    assert!(error(
        "tabular-trigger",
        json!({"target": 0, "features": [7]}),
        &tab,
        r
    )
    .contains("out of range"));
    assert!(
        error("clean-label", json!({"target": 0, "epsilon": 2.0}), &img, r).contains("epsilon")
    );
    assert!(error("feature-collision", json!({"target": 0}), &txt, r).contains("text tokens"));
    // Attacks that need a surrogate say so when it is missing.
    let attack = registry::build("clean-label", &json!({"target": 0})).unwrap();
    let err = attack
        .poison(&AttackInput::new(&img, r, 0))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("needs a surrogate"), "{err}");
}

#[test]
fn label_flips_follow_their_definitions() {
    let data = tabular();
    let out = run("label-flip", &json!({}), &data, Budget::Rate(0.5), 2).unwrap();
    assert_eq!(out.truth.changes.len(), N / 2);
    assert!(out
        .truth
        .changes
        .iter()
        .all(|c| Some(c.label_to) != c.label_from));
    let out = run(
        "label-flip-targeted",
        &json!({"source": 1, "target": 2}),
        &data,
        Budget::Rate(1.0),
        2,
    )
    .unwrap();
    assert_eq!(out.truth.changes.len(), N / K);
    assert!(out
        .truth
        .changes
        .iter()
        .all(|c| c.label_from == Some(1) && c.label_to == 2));
    // Greedy (margin) flips exactly the highest-margin samples, computed here independently.
    let s = Linear { dim: 5 };
    let mut margins: Vec<(f32, u64)> = (0..N)
        .map(|r| {
            let p = s.proba(data.dense_row(r).unwrap());
            let y = data.labels()[r] as usize;
            let other = (0..K)
                .filter(|&c| c != y)
                .map(|c| p[c])
                .fold(f32::MIN, f32::max);
            (p[y] - other, data.ids()[r])
        })
        .collect();
    margins.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut expected: Vec<u64> = margins[..6].iter().map(|m| m.1).collect();
    expected.sort_unstable();
    let out = run("label-flip-greedy", &json!({}), &data, Budget::Count(6), 0).unwrap();
    assert_eq!(out.truth.poisoned_ids(), expected);
}

#[test]
fn backdoor_poisons_carry_the_trigger_and_the_target_label() {
    let data = image();
    let out = run(
        "badnets",
        &json!({"target": 0, "pattern": "white", "size": 2, "margin": 0}),
        &data,
        Budget::Rate(0.25),
        4,
    )
    .unwrap();
    assert_eq!(out.truth.changes.len(), N / 4);
    let rows: BTreeMap<u64, usize> = out
        .data
        .ids()
        .iter()
        .enumerate()
        .map(|(r, &id)| (id, r))
        .collect();
    for c in &out.truth.changes {
        assert_ne!(
            c.label_from,
            Some(0),
            "all-to-one poisons come from other classes"
        );
        assert_eq!(c.label_to, 0);
        let x = out.data.dense_row(rows[&c.id]).unwrap();
        assert!(
            [54, 55, 62, 63].iter().all(|&i| x[i] == 1.0),
            "bottom-right 2x2 patch"
        );
    }
    // All-to-all: y -> y + 1 mod K.
    let out = run(
        "badnets",
        &json!({"mapping": "all-to-all"}),
        &data,
        Budget::Rate(0.5),
        4,
    )
    .unwrap();
    assert!(out
        .truth
        .changes
        .iter()
        .all(|c| c.label_to == (c.label_from.unwrap() + 1) % K as u32));
    // Clean-label keeps every label and only touches the target class.
    let out = run(
        "clean-label",
        &json!({"target": 2, "epsilon": 0.05, "steps": 2}),
        &data,
        Budget::Rate(0.5),
        4,
    )
    .unwrap();
    assert_eq!(out.truth.changes.len(), N / K / 2);
    assert!(out
        .truth
        .changes
        .iter()
        .all(|c| c.label_from == Some(2) && c.label_to == 2));
    assert_eq!(out.truth.budget.pool, "target class 2");
}

#[test]
fn perturbations_respect_their_budgets() {
    let data = image();
    let eps = 0.05;
    let out = run("clean-label", &json!({"target": 1, "epsilon": eps, "steps": 4, "size": 1, "position": "top-left", "margin": 0}), &data, Budget::Rate(1.0), 0).unwrap();
    for c in &out.truth.changes {
        let r0 = data.ids().iter().position(|&i| i == c.id).unwrap();
        let (x0, x1) = (data.dense_row(r0).unwrap(), out.data.dense_row(r0).unwrap());
        // Pixel 0 is the 1x1 trigger; every other pixel moved at most eps.
        assert_eq!(x1[0], 1.0);
        let worst = x0[1..]
            .iter()
            .zip(&x1[1..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst <= eps + 1e-6, "moved {worst}");
        assert!(
            worst >= eps - 1e-6,
            "PGD should use the budget on this linear model"
        );
    }
}

#[test]
fn feature_collision_moves_poisons_towards_the_victim() {
    let data = image();
    let out = run(
        "feature-collision",
        &json!({"target": 1, "iterations": 50, "opacity": 0.0}),
        &data,
        Budget::Count(3),
        0,
    )
    .unwrap();
    let mithridate_attack::Goal::Instance {
        victim_features, ..
    } = &out.truth.goal
    else {
        panic!()
    };
    for c in &out.truth.changes {
        assert_eq!(c.kind, ChangeKind::Added);
        assert_eq!(c.label_to, 1);
        let base = data
            .dense_row(
                data.ids()
                    .iter()
                    .position(|&i| Some(i) == c.source_id)
                    .unwrap(),
            )
            .unwrap();
        let poison = out
            .data
            .dense_row(out.data.ids().iter().position(|&i| i == c.id).unwrap())
            .unwrap();
        let dist = |a: &[f32]| {
            a.iter()
                .zip(victim_features)
                .map(|(x, t)| (x - t).powi(2))
                .sum::<f32>()
        };
        assert!(
            dist(poison) < 0.5 * dist(base),
            "poison {} base {}",
            dist(poison),
            dist(base)
        );
    }
}

#[test]
fn same_seed_same_poisoned_file_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for (k, (name, params, data)) in cases().into_iter().enumerate() {
        let bytes = |run_id: usize| {
            let out = run(name, &params, &data, Budget::Rate(0.25), 8).unwrap();
            let path = dir.path().join(format!("{k}-{run_id}.npz"));
            mithridate_data::npz::write(&path, &out.data).unwrap();
            std::fs::read(&path).unwrap()
        };
        assert_eq!(bytes(0), bytes(1), "{name}");
    }
}

#[test]
fn assessment_counts_what_each_goal_defines() {
    let data = tabular();
    // Targeted flip 1 -> 2: a "model" predicting 2 for every other class-1 row (by row parity).
    let out = run(
        "label-flip-targeted",
        &json!({"source": 1, "target": 2}),
        &data,
        Budget::Rate(0.5),
        0,
    )
    .unwrap();
    let predict = |d: &Dataset| -> AttackResult<Vec<u32>> {
        let mut seen = 0;
        Ok(d.labels()
            .iter()
            .map(|&y| {
                if y == 1 {
                    seen += 1;
                    if seen % 2 == 0 {
                        2
                    } else {
                        1
                    }
                } else {
                    y
                }
            })
            .collect())
    };
    let a = mithridate_attack::assess(&out.truth, &data, predict).unwrap();
    assert_eq!(a.targeted_misclassification, Some(0.5));
    assert!((a.clean_accuracy - (1.0 - 6.0 / N as f64)).abs() < 1e-12);
    assert_eq!(a.attack_success_rate, None);
    // Instance goal: the victim is hit iff the model predicts the target for its features.
    let img = image();
    let out = run(
        "feature-collision",
        &json!({"target": 1, "iterations": 1}),
        &img,
        Budget::Count(1),
        0,
    )
    .unwrap();
    let always =
        |class: u32| move |d: &Dataset| -> AttackResult<Vec<u32>> { Ok(vec![class; d.len()]) };
    assert_eq!(
        mithridate_attack::assess(&out.truth, &img, always(1))
            .unwrap()
            .victim_hit,
        Some(true)
    );
    assert_eq!(
        mithridate_attack::assess(&out.truth, &img, always(3))
            .unwrap()
            .victim_hit,
        Some(false)
    );
    // A backdoor on a model that ignores the trigger has ASR 0 on the inputs it counts.
    let out = run("badnets", &json!({"target": 0}), &img, Budget::Rate(0.1), 0).unwrap();
    let a =
        mithridate_attack::assess(&out.truth, &img, |d: &Dataset| Ok(d.labels().to_vec())).unwrap();
    assert_eq!(
        (a.attack_success_rate, a.asr_samples, a.clean_accuracy),
        (Some(0.0), N - N / K, 1.0)
    );
}
