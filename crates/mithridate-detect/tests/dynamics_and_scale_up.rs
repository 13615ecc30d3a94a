//! Behavioural tests of the training-dynamics and SCALE-UP detectors on real data (sklearn
//! `digits`). Each asserts an outcome a broken detector cannot reach: random scores would flag
//! poisons at their base rate (~4%), and a detector blind to the class structure would flag
//! clean data. Datasets come from `MITHRIDATE_HOME` (default
//! `<workspace>/target/mithridate-home`).

use mithridate_attack::{registry, AttackInput, Budget};
use mithridate_core::ParamGuard;
use mithridate_data::{load, DataHome, Dataset, Features, Split};
use mithridate_detect::dynamics::DynamicsParams;
use mithridate_detect::loss::{Direction, LossParams};
use mithridate_detect::metrics::score_detection;
use mithridate_detect::scale_up::ScaleUpParams;
use mithridate_detect::{Detector, ScanContext, TrainSpec};
use mithridate_engine::{Architecture, Classifier, TrainParams};

fn home() -> DataHome {
    DataHome::for_workspace_tests()
}

fn digits() -> Dataset {
    load(&home(), "digits", Split::Train).unwrap()
}

fn spec(samples: usize) -> TrainSpec {
    TrainSpec {
        architecture: Architecture::Mlp,
        config: TrainParams::default_for_samples(Architecture::Mlp, samples)
            .check()
            .unwrap(),
    }
}

/// Every 25th digit not of class 0 gets a 3x3 bottom-right patch of value 3 (outside the clean
/// `[0, 1]` range: a trivially separable feature) and label 0. Returns the set and the
/// poisoned ids (sorted).
pub(crate) fn planted_fast_feature() -> (Dataset, Vec<u64>) {
    let (modality, features, mut labels, ids, k, names) = digits().into_parts();
    let Features::Dense(mut x) = features else {
        panic!("digits are dense")
    };
    let mut poisoned = Vec::new();
    for r in (0..labels.len()).step_by(25) {
        if labels[r] == 0 {
            continue;
        }
        for i in 5..8 {
            for j in 5..8 {
                x[r * 64 + i * 8 + j] = 3.0;
            }
        }
        labels[r] = 0;
        poisoned.push(ids[r]);
    }
    poisoned.sort_unstable();
    let data = Dataset::new(modality, Features::Dense(x), labels, ids, k, names).unwrap();
    (data, poisoned)
}

#[test]
fn dynamics_isolates_a_planted_fast_feature_where_early_loss_does_not() {
    let (data, poisoned) = planted_fast_feature();
    let ctx = ScanContext::new(&data, spec(data.len()), 0).unwrap();
    let dynamics = DynamicsParams {
        epochs: 5,
        ..DynamicsParams::default()
    }
    .check()
    .unwrap()
    .scan(&ctx)
    .unwrap();
    let m = score_detection(&dynamics, &poisoned).unwrap();
    // The early-loss detector on the same run length, told the true poison rate.
    let rate = poisoned.len() as f64 / data.len() as f64;
    let loss = LossParams {
        epochs: 5,
        expected_rate: rate,
        removal_factor: 1.5,
        direction: Direction::Low,
    }
    .check()
    .unwrap()
    .scan(&ctx)
    .unwrap();
    let ml = score_detection(&loss, &poisoned).unwrap();
    println!(
        "planted fast feature ({} of {}): dynamics {m:?}\nloss {ml:?}",
        poisoned.len(),
        data.len()
    );
    assert!(m.precision >= 0.9 && m.recall >= 0.9, "{m:?}");
    assert!(
        m.f1 >= ml.f1 + 0.2,
        "dynamics F1 {} vs loss F1 {}",
        m.f1,
        ml.f1
    );
    assert_eq!(dynamics.suspicious_classes(), vec![0]);
}

#[test]
fn dynamics_reads_targeted_flips_from_the_slow_tail_and_clean_digits_stay_unflagged() {
    let poisoned = registry::build(
        "label-flip-targeted",
        &serde_json::json!({"source": 7, "target": 1}),
    )
    .unwrap()
    .poison(&AttackInput::new(&digits(), Budget::Rate(0.4), 1))
    .unwrap();
    let flipped = poisoned.truth.poisoned_ids();
    let ctx = ScanContext::new(&poisoned.data, spec(poisoned.data.len()), 0).unwrap();
    let slow = DynamicsParams {
        epochs: 5,
        direction: Direction::High,
        ..DynamicsParams::default()
    }
    .check()
    .unwrap();
    let m = score_detection(&slow.scan(&ctx).unwrap(), &flipped).unwrap();
    let rate = flipped.len() as f64 / poisoned.data.len() as f64;
    let loss = LossParams {
        epochs: 5,
        expected_rate: rate,
        removal_factor: 1.5,
        direction: Direction::High,
    }
    .check()
    .unwrap()
    .scan(&ctx)
    .unwrap();
    let ml = score_detection(&loss, &flipped).unwrap();
    println!(
        "targeted flips 7->1 ({}): dynamics {m:?}\nloss {ml:?}",
        flipped.len()
    );
    assert!(m.recall >= 0.9 && m.precision >= 0.4, "{m:?}");
    assert!(m.f1 > ml.f1, "dynamics F1 {} vs loss F1 {}", m.f1, ml.f1);

    let clean = digits();
    let ctx = ScanContext::new(&clean, spec(clean.len()), 0).unwrap();
    for direction in [Direction::Low, Direction::High] {
        let d = DynamicsParams {
            epochs: 5,
            direction,
            ..DynamicsParams::default()
        }
        .check()
        .unwrap()
        .scan(&ctx)
        .unwrap();
        println!(
            "clean digits, {direction:?}: {} flagged, classes {:?}",
            d.flagged.len(),
            d.suspicious_classes()
        );
        assert!(
            d.flagged.len() * 100 <= clean.len(),
            "{} flagged",
            d.flagged.len()
        );
    }
}

fn trained(data: &Dataset, seed: u64) -> Classifier {
    let spec = spec(data.len());
    let mut model =
        Classifier::new(spec.architecture, data.modality(), data.num_classes(), seed).unwrap();
    model.fit(data, &spec.config, seed, &mut |_| {}).unwrap();
    model
}

/// Tabular rows `(x0, x1)` whose class is coded by the size of `x0` (class 0: `[0.1, 0.3)`,
/// 1: `[0.3, 0.6)`, 2: `[0.6, 0.9)`; `x1 = 0`), so amplifying a clean row moves it to a larger
/// class; every 10th row of classes 1 and 2 carries the trigger `x1 = 1` (the data's maximum,
/// unchanged by amplification and clipping) and label 0. SCALE-UP's premise, planted.
fn scale_sensitive_rows() -> (Dataset, Vec<u64>) {
    let (mut x, mut labels, mut poisoned) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..600u64 {
        let class = (r % 3) as u32;
        let position = (r / 3) as f32 / 200.0;
        x.push(0.1 + 0.3 * class as f32 + (0.2 + 0.1 * class.min(1) as f32) * position);
        if class > 0 && r % 10 < 3 {
            x.push(1.0);
            labels.push(0);
            poisoned.push(r);
        } else {
            x.push(0.0);
            labels.push(class);
        }
    }
    let data = Dataset::new(
        mithridate_data::Modality::Tabular { features: 2 },
        Features::Dense(x),
        labels,
        (0..600).collect(),
        3,
        Vec::new(),
    )
    .unwrap();
    (data, poisoned)
}

#[test]
fn scale_up_flags_triggers_that_survive_amplification() {
    let (data, poisoned) = scale_sensitive_rows();
    let model = trained(&data, 3);
    let ctx = ScanContext::new(&data, spec(data.len()), 0)
        .unwrap()
        .with_model(&model)
        .unwrap();
    let d = ScaleUpParams::default()
        .check()
        .unwrap()
        .scan(&ctx)
        .unwrap();
    let m = score_detection(&d, &poisoned).unwrap();
    println!(
        "planted scale-sensitive rows ({} poisoned): {m:?}, classes {:?}",
        poisoned.len(),
        d.classes
    );
    assert!(m.precision >= 0.9 && m.recall >= 0.9, "{m:?}");
    assert_eq!(d.suspicious_classes(), vec![0]);
}

#[test]
fn scale_up_on_digits_flags_nothing_clean_or_patched_and_needs_a_model() {
    let clean = digits();
    let model = trained(&clean, 7);
    let detector = ScaleUpParams::default().check().unwrap();
    let bare = ScanContext::new(&clean, spec(clean.len()), 0).unwrap();
    let err = detector.scan(&bare).unwrap_err().to_string();
    assert!(
        err.contains("needs a trained model") && !err.contains('\n'),
        "{err}"
    );
    let ctx = bare.with_model(&model).unwrap();
    let d = detector.scan(&ctx).unwrap();
    println!("clean digits: {} flagged", d.flagged.len());
    assert!(
        d.flagged.len() * 100 <= clean.len(),
        "{} flagged",
        d.flagged.len()
    );

    // BadNets 3x3 -> 0 at 5%: amplification binarises the digits, which keeps their class, so
    // SCALE-UP's premise fails here (README); what must hold is that the ranking is no better
    // than weak and the clean-data guard still flags (almost) nothing.
    let patched = registry::build(
        "badnets",
        &serde_json::json!({"target": 0, "size": 3, "pattern": "white"}),
    )
    .unwrap()
    .poison(&AttackInput::new(&clean, Budget::Rate(0.05), 1))
    .unwrap();
    let model = trained(&patched.data, 7);
    let ctx = ScanContext::new(&patched.data, spec(patched.data.len()), 0)
        .unwrap()
        .with_model(&model)
        .unwrap();
    let m = score_detection(&detector.scan(&ctx).unwrap(), &patched.truth.poisoned_ids()).unwrap();
    println!("digits BadNets 3x3 @ 5%: {m:?}");
    assert!(m.flagged * 100 <= patched.data.len(), "{m:?}");
}

/// `loss` and `dynamics` read one staged training run per scan; whichever runs first, each
/// gives exactly what it gives alone, and `loss` reads the run's weights after one epoch
/// (stage 4 of `dynamics`' default 2 epochs in 8 stages).
#[test]
fn loss_and_dynamics_share_one_run_whatever_the_order() {
    let (data, _) = planted_fast_feature();
    let loss = LossParams {
        epochs: 1,
        expected_rate: 0.05,
        removal_factor: 1.5,
        direction: Direction::Low,
    }
    .check()
    .unwrap();
    let dynamics = DynamicsParams::default().check().unwrap();
    let ctx = || ScanContext::new(&data, spec(data.len()), 3).unwrap();
    let alone = (loss.scan(&ctx()).unwrap(), dynamics.scan(&ctx()).unwrap());
    let loss_first = ctx();
    let a = loss.scan(&loss_first).unwrap();
    let b = dynamics.scan(&loss_first).unwrap();
    let dynamics_first = ctx();
    let d = dynamics.scan(&dynamics_first).unwrap();
    let c = loss.scan(&dynamics_first).unwrap();
    for (got, want) in [
        (&a, &alone.0),
        (&c, &alone.0),
        (&b, &alone.1),
        (&d, &alone.1),
    ] {
        assert_eq!(got.scores, want.scores, "{}", want.detector);
        assert_eq!(got.flagged, want.flagged, "{}", want.detector);
    }
    // Stage 4's losses are what `loss` scores (negated: direction low).
    let curves = dynamics.loss_curves(&ctx()).unwrap();
    let from_stage: Vec<f64> = curves[3].iter().map(|&l| -f64::from(l)).collect();
    let scored: Vec<f64> = alone.0.scores.iter().map(|&(_, s)| s).collect();
    assert_eq!(scored, from_stage);
    // A different seed is a different run.
    let other = ScanContext::new(&data, spec(data.len()), 4).unwrap();
    assert_ne!(loss.scan(&other).unwrap().scores, alone.0.scores);
}

#[test]
fn invalid_parameters_are_named_errors() {
    use mithridate_detect::registry::build;
    let cases = [
        ("scale-up", serde_json::json!({"max-scale": 1}), "max scale"),
        (
            "scale-up",
            serde_json::json!({"max-class-share": 1.5}),
            "max class share",
        ),
        (
            "scale-up",
            serde_json::json!({"min-separation": -1.0}),
            "min separation",
        ),
        ("dynamics", serde_json::json!({"stages": 1}), "stages"),
        ("dynamics", serde_json::json!({"epochs": 0}), "epochs"),
        (
            "dynamics",
            serde_json::json!({"max-class-share": 0.0}),
            "max class share",
        ),
        (
            "dynamics",
            serde_json::json!({"class-outlier": -2.0}),
            "class outlier",
        ),
    ];
    for (name, params, needle) in cases {
        let err = build(name, &params).err().expect("rejected").to_string();
        assert!(
            err.contains(needle) && !err.contains('\n'),
            "{name} {params}: {err}"
        );
    }
    assert!(build(
        "dynamics",
        &serde_json::json!({"direction": "high", "epochs": 3})
    )
    .is_ok());
}
