//! Repairs on a real backdoored model: an MLP trained on `digits` (8x8 images) with a 3x3
//! BadNets patch on 5% of the training set. Each repair gets 300 clean training samples; the
//! outcome is measured on the test split. Datasets come from `MITHRIDATE_HOME` (default
//! `<workspace>/target/mithridate-home`).

use mithridate_attack::{AttackInput, Budget, GroundTruth};
use mithridate_data::{DataHome, Dataset, Split};
use mithridate_engine::{Architecture, Classifier, TrainParams};

fn home() -> DataHome {
    DataHome::for_workspace_tests()
}

struct Case {
    model: Classifier,
    truth: GroundTruth,
    trusted: Dataset,
    test: Dataset,
}

fn backdoored() -> Case {
    let home = home();
    let train = mithridate_data::load(&home, "digits", Split::Train).unwrap();
    let test = mithridate_data::load(&home, "digits", Split::Test).unwrap();
    let attack = mithridate_attack::registry::build(
        "badnets",
        &serde_json::json!({"target": 0, "size": 3, "pattern": "white", "margin": 0}),
    )
    .unwrap();
    let poisoned = attack
        .poison(&AttackInput::new(&train, Budget::Rate(0.05), 1))
        .unwrap();
    let mut model = Classifier::new(Architecture::Mlp, train.modality(), 10, 1).unwrap();
    let params = TrainParams::default_for_samples(Architecture::Mlp, train.len());
    model
        .fit(&poisoned.data, &params.check().unwrap(), 1, &mut |_| {})
        .unwrap();
    // The defender's trusted set: clean training samples the attacker did not touch.
    let poisoned_ids = poisoned.truth.poisoned_ids();
    let rows: Vec<usize> = (0..train.len())
        .filter(|&r| !poisoned_ids.contains(&train.ids()[r]))
        .take(300)
        .collect();
    Case {
        model,
        truth: poisoned.truth,
        trusted: train.select(&rows).unwrap(),
        test,
    }
}

/// `(clean accuracy, attack success rate)` on the test split.
fn measure(model: &Classifier, case: &Case) -> (f64, f64) {
    let a = mithridate_attack::assess(&case.truth, &case.test, |d| {
        model
            .predict(d)
            .map_err(|e| mithridate_attack::AttackError::Model(e.to_string()))
    })
    .unwrap();
    (a.clean_accuracy, a.attack_success_rate.unwrap())
}

#[test]
fn repairs_remove_a_badnets_backdoor_and_keep_accuracy() {
    let case = backdoored();
    let (ca0, asr0) = measure(&case.model, &case);
    eprintln!("backdoored: CA {ca0:.4}, ASR {asr0:.4}");
    assert!(
        asr0 > 0.9,
        "the backdoor must work before repair: ASR {asr0}"
    );
    let unlearning = mithridate_repair::build(
        "nc-unlearning",
        &serde_json::json!({"steps": 150, "samples": 200, "scan-batch-size": 64}),
    )
    .unwrap();
    let repaired = unlearning.repair(&case.model, &case.trusted, 0).unwrap();
    let (ca, asr) = measure(&repaired.model, &case);
    eprintln!(
        "nc-unlearning: CA {ca:.4}, ASR {asr:.4}, {}",
        repaired.details
    );
    // 99% -> ~13% here with 60 stamped samples (the MNIST CNN numbers are in the README).
    assert!(asr < 0.3, "nc-unlearning leaves ASR {asr}");
    assert!(
        ca > ca0 - 0.05,
        "nc-unlearning costs accuracy: {ca0} -> {ca}"
    );
    assert_eq!(repaired.details["flagged_classes"], serde_json::json!([0]));
    // Same seed, same bytes.
    let again = unlearning.repair(&case.model, &case.trusted, 0).unwrap();
    assert_eq!(
        again.model.flat_parameters().unwrap(),
        repaired.model.flat_parameters().unwrap()
    );

    let pruning = mithridate_repair::build("fine-pruning", &serde_json::Value::Null).unwrap();
    let repaired = pruning.repair(&case.model, &case.trusted, 0).unwrap();
    let (ca, asr) = measure(&repaired.model, &case);
    eprintln!(
        "fine-pruning: CA {ca:.4}, ASR {asr:.4}, {}",
        repaired.details
    );
    assert!(
        ca > ca0 - 0.05,
        "fine-pruning costs accuracy: {ca0} -> {ca}"
    );
    let pruned = repaired.details["pruned"].as_u64().unwrap();
    assert!(pruned > 0, "fine-pruning pruned nothing");
    // The trusted accuracy respected the pruning floor before fine-tuning.
    let d = &repaired.details;
    assert!(
        d["trusted_accuracy_after_pruning"].as_f64().unwrap()
            >= d["trusted_accuracy_before"].as_f64().unwrap() - 0.04 - 1e-12
    );
}

#[test]
fn impossible_inputs_are_named_errors() {
    let test = mithridate_data::load(&home(), "digits", Split::Test).unwrap();
    let model = Classifier::new(Architecture::Mlp, test.modality(), 10, 1).unwrap();
    let empty = test.select(&[]).unwrap();
    for name in ["fine-tuning", "fine-pruning", "nc-unlearning"] {
        let r = mithridate_repair::build(name, &serde_json::Value::Null).unwrap();
        let err = r.repair(&model, &empty, 0).err().unwrap().to_string();
        assert!(err.contains("empty"), "{name}: {err}");
    }
    for (name, params, needle) in [
        (
            "fine-tuning",
            serde_json::json!({"learning-rate": -1.0}),
            "learning-rate",
        ),
        (
            "fine-pruning",
            serde_json::json!({"max-accuracy-drop": 2.0}),
            "max-accuracy-drop",
        ),
        (
            "nc-unlearning",
            serde_json::json!({"stamp-fraction": 1.5}),
            "stamp-fraction",
        ),
        ("nc-unlearning", serde_json::json!({"steps": 0}), "steps"),
        ("fine-pruning", serde_json::json!({"prune": 3}), "prune"),
    ] {
        let err = mithridate_repair::build(name, &params)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(needle), "{name} {params}: {err}");
    }
}
