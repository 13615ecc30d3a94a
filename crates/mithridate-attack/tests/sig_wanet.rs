//! SIG (Barni et al. 2019) and WaNet (Nguyen & Tran 2021): hand-computed signal pixels,
//! properties of the warp (identity at zero strength, convex resampling, a ramp image that
//! reveals the sampling grid), budgets and ground truth, named errors, and an end-to-end run
//! on the real `digits` data where a model trained on the poisoned set obeys the trigger.
//! Generic checks (exact diff, budget 0, determinism, JSON round trip) run for both attacks
//! in `tests/attacks.rs`.

use mithridate_attack::{apply_trigger, assess, registry, AttackInput, Budget, Poisoned, Trigger};
use mithridate_core::ParamGuard;
use mithridate_data::{load, DataHome, Dataset, Features, Modality, Split};
use mithridate_engine::{Architecture, Classifier, TrainParams};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

fn image(
    channels: usize,
    height: usize,
    width: usize,
    pixels: Vec<f32>,
    labels: Vec<u32>,
    k: usize,
) -> Dataset {
    let n = labels.len();
    let m = Modality::Image {
        channels,
        height,
        width,
    };
    // Ids not 0..n, to catch row/id confusion.
    let ids = (0..n as u64).map(|i| 500 + 3 * i).collect();
    Dataset::new(m, Features::Dense(pixels), labels, ids, k, vec![]).unwrap()
}

/// 48 random 8x8 images in [0, 0.5], classes 0..4 in turn.
fn random_images(channels: usize) -> Dataset {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let pixels = (0..48 * channels * 64)
        .map(|_| r.random::<f32>() * 0.5)
        .collect();
    image(channels, 8, 8, pixels, (0..48).map(|i| i % 4).collect(), 4)
}

fn poison(name: &str, params: Value, data: &Dataset, budget: Budget, seed: u64) -> Poisoned {
    registry::build(name, &params)
        .unwrap_or_else(|e| panic!("{name} {params}: {e}"))
        .poison(&AttackInput::new(data, budget, seed))
        .unwrap_or_else(|e| panic!("{name} {params}: {e}"))
}

fn error(name: &str, params: Value, data: &Dataset, budget: Budget) -> String {
    match registry::build(name, &params).and_then(|a| a.poison(&AttackInput::new(data, budget, 0)))
    {
        Ok(_) => panic!("{name} {params} should fail"),
        Err(e) => e.to_string(),
    }
}

fn row_of(d: &Dataset, id: u64) -> &[f32] {
    d.dense_row(d.ids().iter().position(|&i| i == id).unwrap())
        .unwrap()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
}

#[test]
fn sig_adds_the_hand_computed_signal_and_clips() {
    // Two channels of a 2x4 image; channel 0 at 0.5, channel 1 at 0.95 / 0.05 to show clipping.
    let mut pixels = vec![0.5; 8];
    pixels.extend([0.95, 0.95, 0.05, 0.05, 0.95, 0.95, 0.05, 0.05]);
    let data = image(2, 2, 4, pixels, vec![0], 2);
    let sine = poison(
        "sig",
        json!({"target": 0, "delta": 0.1, "frequency": 1}),
        &data,
        Budget::Rate(1.0),
        0,
    );
    // v(j) = 0.1 sin(2 pi j / 4) = [0, 0.1, 0, -0.1] on every row and channel.
    let expected = [
        0.5, 0.6, 0.5, 0.4, 0.5, 0.6, 0.5, 0.4, //
        0.95, 1.0, 0.05, 0.0, 0.95, 1.0, 0.05, 0.0,
    ];
    assert!(
        close(sine.data.dense_row(0).unwrap(), &expected),
        "{:?}",
        sine.data.dense_row(0)
    );
    // Ramp: v(j) = (j + 1) 0.2 / 4 = [0.05, 0.1, 0.15, 0.2]; test-delta 0.4 doubles it.
    let ramp = poison(
        "sig",
        json!({"target": 0, "signal": "ramp", "delta": 0.2, "test-delta": 0.4}),
        &data,
        Budget::Rate(1.0),
        0,
    );
    let row = ramp.data.dense_row(0).unwrap();
    assert!(close(&row[..4], &[0.55, 0.6, 0.65, 0.7]), "{row:?}");
    assert!(close(&row[8..12], &[1.0, 1.0, 0.2, 0.25]), "{row:?}");
    let (trigger, _) = ramp.truth.trigger().unwrap();
    let Trigger::Additive { signal, .. } = trigger else {
        panic!("{trigger:?}")
    };
    assert!(close(&signal[..4], &[0.1, 0.2, 0.3, 0.4]));
    let triggered = apply_trigger(trigger, &data).unwrap();
    assert!(close(
        &triggered.dense_row(0).unwrap()[..4],
        &[0.6, 0.7, 0.8, 0.9]
    ));
    // The default is the paper's 20/255 amplitude and f = 6 (on 5-wide images: 6/5 cycles
    // per column; on 4-wide ones f = 6 samples sin(3 pi j) = 0 and is refused).
    let wide = image(1, 1, 5, vec![0.5; 5], vec![0], 2);
    let default = poison("sig", json!({"target": 0}), &wide, Budget::Rate(1.0), 0);
    let got = default.data.dense_row(0).unwrap()[1];
    let want = 0.5 + 20.0 / 255.0 * (2.0 * std::f32::consts::PI * 6.0 / 5.0).sin();
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    assert!(error("sig", json!({"target": 0}), &data, Budget::Rate(1.0)).contains("zero signal"));
}

#[test]
fn sig_clean_label_keeps_labels_and_dirty_label_relabels_other_classes() {
    let data = random_images(1);
    let clean = poison("sig", json!({"target": 2}), &data, Budget::Rate(0.5), 3);
    // 12 samples of class 2, half of them; every label kept.
    assert_eq!(clean.truth.changes.len(), 6);
    assert!(clean
        .truth
        .changes
        .iter()
        .all(|c| c.label_from == Some(2) && c.label_to == 2 && c.features_changed));
    assert_eq!(clean.data.labels(), data.labels());
    assert_eq!(
        (
            clean.truth.budget.pool.as_str(),
            clean.truth.budget.pool_size
        ),
        ("target class 2", 12)
    );
    let dirty = poison(
        "sig",
        json!({"target": 2, "label": "dirty"}),
        &data,
        Budget::Rate(0.25),
        3,
    );
    assert_eq!(dirty.truth.changes.len(), 12);
    assert!(dirty
        .truth
        .changes
        .iter()
        .all(|c| c.label_from != Some(2) && c.label_to == 2 && c.features_changed));
    assert_eq!(dirty.truth.budget.pool, "training set");
    // Poisoned pixels are exactly the clean ones plus the recorded (training = test) signal.
    let (trigger, _) = dirty.truth.trigger().unwrap();
    let Trigger::Additive { signal, .. } = trigger else {
        panic!()
    };
    for c in &dirty.truth.changes {
        let want: Vec<f32> = row_of(&data, c.id)
            .iter()
            .zip(signal)
            .map(|(x, v)| (x + v).clamp(0.0, 1.0))
            .collect();
        assert!(close(row_of(&dirty.data, c.id), &want), "id {}", c.id);
    }
    assert!(error(
        "sig",
        json!({"target": 2, "label": "dirty"}),
        &data,
        Budget::Count(37)
    )
    .contains("outside the target class"));
}

/// The WaNet trigger of `params` for `data`'s shape.
fn warp_of(params: Value, data: &Dataset, seed: u64) -> Trigger {
    poison("wanet", params, data, Budget::Count(1), seed)
        .truth
        .trigger()
        .unwrap()
        .0
        .clone()
}

#[test]
fn wanet_zero_strength_is_the_identity_and_seeds_fix_the_field() {
    let data = random_images(3);
    let identity = warp_of(json!({"target": 0, "strength": 0.0}), &data, 1);
    assert_eq!(apply_trigger(&identity, &data).unwrap(), data);
    let a = warp_of(json!({"target": 0}), &data, 5);
    assert_eq!(a, warp_of(json!({"target": 0}), &data, 5));
    assert_ne!(a, warp_of(json!({"target": 0}), &data, 6));
    assert_ne!(apply_trigger(&a, &data).unwrap(), data);
}

#[test]
fn wanet_warp_is_a_smooth_convex_resampling() {
    let (h, w) = (8, 8);
    let ramp: Vec<f32> = (0..3 * 3 * h * w) // 3 samples x 3 channels
        .map(|p| (p % w) as f32 / (w - 1) as f32)
        .collect();
    let data = image(3, h, w, ramp, vec![0, 1, 1], 2);
    let strength = 0.5;
    let trigger = warp_of(json!({"target": 0, "strength": strength}), &data, 2);
    let Trigger::Warp {
        source_rows,
        source_cols,
        ..
    } = &trigger
    else {
        panic!("{trigger:?}")
    };
    // A horizontal ramp reveals the sampling column: bilinear, not nearest or a permutation.
    let warped = apply_trigger(&trigger, &data).unwrap();
    let row = warped.dense_row(0).unwrap();
    for c in 0..3 {
        for p in 0..h * w {
            let want = source_cols[p] / (w - 1) as f32;
            assert!(
                (row[c * h * w + p] - want).abs() < 1e-5,
                "channel {c} pixel {p}"
            );
        }
    }
    assert!(
        source_cols
            .iter()
            .any(|x| x.fract() > 0.05 && x.fract() < 0.95),
        "sub-pixel positions expected"
    );
    // Small: P = U(-1, 1) / mean|U| has |P| <= 1 / mean|U| ~ 2 (mean|U| of 32 draws is
    // 0.5 +- 0.05), bicubic overshoot adds < 30%; so a pixel moves less than
    // s * 5 * (size - 1) / (2 size) pixels, and it does move.
    let bound = strength * 5.0 * (w - 1) as f32 / (2 * w) as f32;
    for p in 0..h * w {
        let (i, j) = ((p / w) as f32, (p % w) as f32);
        assert!(
            (source_rows[p] - i).abs() <= bound && (source_cols[p] - j).abs() <= bound,
            "pixel {p}"
        );
        assert!(
            (0.0..=(h - 1) as f32).contains(&source_rows[p])
                && (0.0..=(w - 1) as f32).contains(&source_cols[p])
        );
    }
    assert!(source_rows
        .iter()
        .enumerate()
        .any(|(p, y)| (y - (p / w) as f32).abs() > 0.01));
    // A constant image stays constant; values never leave the source range.
    let constant = image(1, h, w, vec![0.3; 3 * h * w], vec![1; 3], 2);
    let strong = warp_of(json!({"target": 0, "strength": 4.0}), &constant, 9);
    let out = apply_trigger(&strong, &constant).unwrap();
    assert!(out
        .dense_row(0)
        .unwrap()
        .iter()
        .all(|v| (v - 0.3).abs() < 1e-6));
    let noisy = random_images(1);
    let out = apply_trigger(
        &warp_of(json!({"target": 0, "strength": 4.0}), &noisy, 9),
        &noisy,
    )
    .unwrap();
    for r in 0..noisy.len() {
        let (lo, hi) = noisy
            .dense_row(r)
            .unwrap()
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        assert!(out
            .dense_row(r)
            .unwrap()
            .iter()
            .all(|&v| v >= lo - 1e-6 && v <= hi + 1e-6));
    }
}

#[test]
fn wanet_poisons_the_rate_and_adds_noise_mode_samples_with_labels_kept() {
    let data = random_images(1);
    let out = poison("wanet", json!({"target": 1}), &data, Budget::Rate(0.125), 4);
    // 6 backdoor samples (from classes 0, 2, 3) relabelled, 2 x 6 noise-mode samples kept.
    let backdoor: Vec<_> = out
        .truth
        .changes
        .iter()
        .filter(|c| c.label_from != Some(c.label_to))
        .collect();
    let cross: Vec<_> = out
        .truth
        .changes
        .iter()
        .filter(|c| c.label_from == Some(c.label_to))
        .collect();
    assert_eq!((backdoor.len(), cross.len()), (6, 12));
    assert!(backdoor
        .iter()
        .all(|c| c.label_to == 1 && c.label_from != Some(1)));
    assert!(cross.iter().all(|c| c.features_changed));
    assert_eq!(out.truth.budget.selected, 18);
    // Backdoor samples carry exactly the recorded trigger; noise-mode ones a different warp.
    let (trigger, _) = out.truth.trigger().unwrap();
    let one = |id: u64| {
        data.select(&[data.ids().iter().position(|&i| i == id).unwrap()])
            .unwrap()
    };
    for c in &backdoor {
        assert_eq!(
            apply_trigger(trigger, &one(c.id))
                .unwrap()
                .dense_row(0)
                .unwrap(),
            row_of(&out.data, c.id)
        );
    }
    for c in &cross {
        assert_ne!(
            apply_trigger(trigger, &one(c.id))
                .unwrap()
                .dense_row(0)
                .unwrap(),
            row_of(&out.data, c.id)
        );
    }
    // All-to-all: y -> y + 1 mod 4; cross-ratio 0 turns noise mode off.
    let out = poison(
        "wanet",
        json!({"mapping": "all-to-all", "cross-ratio": 0}),
        &data,
        Budget::Rate(0.25),
        4,
    );
    assert_eq!(out.truth.changes.len(), 12);
    assert!(out
        .truth
        .changes
        .iter()
        .all(|c| c.label_to == (c.label_from.unwrap() + 1) % 4));
}

#[test]
fn invalid_sig_and_wanet_parameters_are_named_errors() {
    let img = random_images(1);
    let r = Budget::Rate(0.1);
    let tab = Dataset::new(
        Modality::Tabular { features: 3 },
        Features::Dense(vec![0.0; 6]),
        vec![0, 1],
        vec![0, 1],
        2,
        vec![],
    )
    .unwrap();
    for (params, needle) in [
        (
            json!({"target": 0, "delta": 0.0}),
            "delta 0 is outside (0, 1]",
        ),
        (json!({"target": 0, "delta": 1.5}), "delta 1.5"),
        (json!({"target": 0, "test-delta": -0.1}), "test-delta -0.1"),
        (json!({"target": 0, "frequency": 0}), "frequency 0"),
        // f = 8 on 8-wide images samples sin(2 pi j) = 0 everywhere.
        (
            json!({"target": 0, "frequency": 8}),
            "zero signal on 8-wide images",
        ),
        (json!({"target": 9}), "not a class"),
        (json!({"target": 0, "label": "grey"}), "grey"),
        (json!({"delta": 0.1}), "target"),
    ] {
        let e = error("sig", params.clone(), &img, r);
        assert!(e.contains(needle), "{params}: {e}");
    }
    assert!(error("sig", json!({"target": 0}), &tab, r).contains("needs image data"));
    for (params, needle) in [
        (json!({"target": 0, "k": 0}), "k must be at least 1"),
        (
            json!({"target": 0, "k": 9}),
            "9x9 control grid is finer than the 8x8 images",
        ),
        (json!({"target": 0, "strength": -1}), "warping strength -1"),
        (
            json!({"target": 0, "cross-ratio": -0.5}),
            "cross-ratio -0.5",
        ),
        (json!({"target": 4}), "not a class"),
        (json!({}), "needs a target"),
        (json!({"target": 0, "warp": 1}), "warp"),
    ] {
        let e = error("wanet", params.clone(), &img, r);
        assert!(e.contains(needle), "{params}: {e}");
    }
    // 24 backdoor samples leave 24 others: cross-ratio 2 would need 48.
    let e = error("wanet", json!({"target": 0}), &img, Budget::Rate(0.5));
    assert!(
        e.contains("asks for 48 noise-mode samples, but only 24"),
        "{e}"
    );
    assert!(error("wanet", json!({"target": 0}), &tab, r).contains("needs image data"));
    // A hand-edited trigger with a grid leaving the image is refused before it is applied.
    let Trigger::Warp {
        channels,
        height,
        width,
        source_rows,
        mut source_cols,
    } = warp_of(json!({"target": 0}), &img, 0)
    else {
        panic!()
    };
    source_cols[3] = 7.5;
    let bad = Trigger::Warp {
        channels,
        height,
        width,
        source_rows,
        source_cols,
    };
    assert!(apply_trigger(&bad, &img)
        .unwrap_err()
        .to_string()
        .contains("column position 7.5 is outside [0, 7]"));
    let bad = Trigger::Additive {
        channels: 1,
        height: 8,
        width: 8,
        signal: vec![f32::NAN; 64],
    };
    assert!(apply_trigger(&bad, &img)
        .unwrap_err()
        .to_string()
        .contains("NaN is outside [-1, 1]"));
}

fn home() -> DataHome {
    DataHome::for_workspace_tests()
}

/// An MLP trained on `data` with the engine's small-set defaults (digits: 44 epochs).
fn train(data: &Dataset) -> Classifier {
    let config = TrainParams::default_for_samples(Architecture::Mlp, data.len())
        .check()
        .unwrap();
    let mut model =
        Classifier::new(Architecture::Mlp, data.modality(), data.num_classes(), 7).unwrap();
    model.fit(data, &config, 7, &mut |_| {}).unwrap();
    model
}

/// (clean accuracy, ASR) of `model` on `test` for the goal recorded in `poisoned`.
fn measure(model: &Classifier, poisoned: &Poisoned, test: &Dataset) -> (f64, f64) {
    let a = assess(&poisoned.truth, test, |d| Ok(model.predict(d).unwrap())).unwrap();
    (a.clean_accuracy, a.attack_success_rate.unwrap())
}

/// Real data: models trained on SIG- and WaNet-poisoned digits obey the trigger, a model
/// trained on the clean set does not. Seeds fixed; measured values in the README.
#[test]
fn models_trained_on_poisoned_digits_obey_the_trigger() {
    let train_set = load(&home(), "digits", Split::Train).unwrap();
    let test = load(&home(), "digits", Split::Test).unwrap();
    let clean_model = train(&train_set);
    let cases = [
        // Dirty-label SIG at the paper's amplitude: 10% of the training set.
        ("sig", json!({"target": 0, "label": "dirty"}), 0.1, 0.9),
        // Clean-label SIG, every class-0 sample (10% of the set), labels kept. The paper's
        // 20/255 is about one grey level of these 17-level images; a ramp of 0.3 at training
        // and 0.5 at test (Barni et al.'s stronger test-time signal) is what a linear-ish MLP
        // picks up.
        (
            "sig",
            json!({"target": 0, "signal": "ramp", "delta": 0.3, "test-delta": 0.5}),
            1.0,
            0.5,
        ),
        // WaNet without noise mode; s = 1 moves 8x8 pixels by up to about a pixel.
        (
            "wanet",
            json!({"target": 0, "strength": 1.0, "cross-ratio": 0}),
            0.1,
            0.9,
        ),
    ];
    for (name, params, rate, bar) in cases {
        let poisoned = poison(name, params.clone(), &train_set, Budget::Rate(rate), 0);
        let (_, clean_asr) = measure(&clean_model, &poisoned, &test);
        let (accuracy, asr) = measure(&train(&poisoned.data), &poisoned, &test);
        println!("{name} {params} rate {rate}: clean-model ASR {clean_asr:.3}, CA {accuracy:.3}, ASR {asr:.3}");
        assert!(
            clean_asr < 0.1,
            "{name}: the clean model already follows the trigger ({clean_asr})"
        );
        assert!(asr >= bar, "{name} {params}: ASR {asr} below {bar}");
        assert!(accuracy >= 0.9, "{name}: clean accuracy {accuracy}");
    }
}
