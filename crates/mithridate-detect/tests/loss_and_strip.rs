//! Behavioural tests of the early-loss detector and STRIP on real data (sklearn `digits`),
//! poisoned with the attack crate's real attacks. Each asserts an outcome a broken detector
//! cannot reach: with random scores the flagged set would hold the base rate of poisons
//! (early loss), and triggered inputs would be flagged at the clean false-rejection rate
//! (STRIP). Datasets come from `MITHRIDATE_HOME` (default `<workspace>/target/mithridate-home`).

use mithridate_attack::{apply_trigger, registry, AttackInput, Budget, Mapping};
use mithridate_core::ParamGuard;
use mithridate_data::{load, DataHome, Dataset, Split};
use mithridate_detect::loss::{Direction, LossParams};
use mithridate_detect::metrics::score_detection;
use mithridate_detect::strip::StripParams;
use mithridate_detect::{Detector, ScanContext, TrainSpec};
use mithridate_engine::{Architecture, Classifier, TrainParams};

fn home() -> DataHome {
    DataHome::for_workspace_tests()
}

/// MLP training long enough for this set (the small-set default: a minimum number of steps).
fn spec(samples: usize) -> TrainSpec {
    TrainSpec {
        architecture: Architecture::Mlp,
        config: TrainParams::default_for_samples(Architecture::Mlp, samples)
            .check()
            .unwrap(),
    }
}

#[test]
fn early_loss_high_flags_flipped_labels_far_above_the_base_rate() {
    let train = load(&home(), "digits", Split::Train).unwrap();
    let attack = registry::build("label-flip", &serde_json::json!({})).unwrap();
    let poisoned = attack
        .poison(&AttackInput::new(&train, Budget::Rate(0.1), 5))
        .unwrap();
    let flipped = poisoned.truth.poisoned_ids();
    let base_rate = flipped.len() as f64 / poisoned.data.len() as f64;
    let ctx = ScanContext::new(&poisoned.data, spec(poisoned.data.len()), 0).unwrap();
    // A few epochs: clean digits are fitted, the flipped labels not yet memorised.
    let scan = |direction| {
        LossParams {
            epochs: 5,
            expected_rate: 0.1,
            removal_factor: 1.0,
            direction,
        }
        .check()
        .unwrap()
        .scan(&ctx)
        .unwrap()
    };
    let detection = scan(Direction::High);
    let m = score_detection(&detection, &flipped).unwrap();
    println!("early loss (high) on digits, 10% flipped: {m:?}");
    assert!(
        m.precision >= 5.0 * base_rate,
        "flags should be enriched in flipped samples: precision {} vs base rate {base_rate}",
        m.precision
    );
    assert!(m.recall >= 0.5, "{m:?}");

    // The same scores read the other way (low loss) must find almost none of them.
    let m_low = score_detection(&scan(Direction::Low), &flipped).unwrap();
    assert!(m_low.precision < base_rate, "{m_low:?}");
}

/// Test inputs of every class but `target`, with the trigger stamped on.
fn triggered_inputs(test: &Dataset, trigger: &mithridate_attack::Trigger, target: u32) -> Dataset {
    let rows: Vec<usize> = (0..test.len())
        .filter(|&r| test.labels()[r] != target)
        .collect();
    apply_trigger(trigger, &test.select(&rows).unwrap()).unwrap()
}

#[test]
fn strip_flags_most_triggered_inputs_at_a_low_clean_rejection_rate() {
    let train = load(&home(), "digits", Split::Train).unwrap();
    let test = load(&home(), "digits", Split::Test).unwrap();
    let attack = registry::build(
        "badnets",
        &serde_json::json!({"target": 0, "size": 3, "pattern": "white"}),
    )
    .unwrap();
    let poisoned = attack
        .poison(&AttackInput::new(&train, Budget::Rate(0.1), 1))
        .unwrap();
    let (trigger, mapping) = poisoned.truth.trigger().expect("BadNets has a trigger");
    let Mapping::AllToOne { target } = mapping else {
        panic!("expected an all-to-one backdoor, got {mapping:?}");
    };
    let spec = spec(poisoned.data.len());
    let mut model = Classifier::new(
        spec.architecture,
        poisoned.data.modality(),
        poisoned.data.num_classes(),
        7,
    )
    .unwrap();
    model
        .fit(&poisoned.data, &spec.config, 7, &mut |_| {})
        .unwrap();
    let triggered = triggered_inputs(&test, trigger, target);
    // The backdoor must work, or STRIP has nothing to find.
    let hits = model
        .predict(&triggered)
        .unwrap()
        .iter()
        .filter(|&&p| p == target)
        .count();
    let asr = hits as f64 / triggered.len() as f64;
    assert!(asr >= 0.9, "backdoor not learned: ASR {asr}");

    // Calibrate on clean training samples (the defender's trusted clean set), measure on the
    // unseen test set.
    let poisoned_ids = poisoned.truth.poisoned_ids();
    let clean_rows: Vec<usize> = (0..poisoned.data.len())
        .filter(|&r| poisoned_ids.binary_search(&poisoned.data.ids()[r]).is_err())
        .take(400)
        .collect();
    let clean = poisoned.data.select(&clean_rows).unwrap();
    let filter = StripParams {
        overlays: 16,
        frr: 0.05,
    }
    .check()
    .unwrap()
    .calibrate(&model, &clean, 3)
    .unwrap();
    let on_triggered = filter.apply(&model, &triggered).unwrap().flagged_share();
    let on_clean = filter.apply(&model, &test).unwrap().flagged_share();
    println!("STRIP on digits BadNets: ASR {asr:.3}, triggered flagged {on_triggered:.3}, clean test rejected {on_clean:.3}");
    assert!(
        on_triggered >= 0.8,
        "triggered inputs flagged: {on_triggered}"
    );
    assert!(on_clean <= 0.15, "clean false rejection: {on_clean}");
}
