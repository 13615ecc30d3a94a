//! A small real run: label flipping on `digits` (confident learning with 5-fold MLPs). The MNIST
//! backdoor runs are in the README (too slow for the test suite on 2 cores). Datasets are
//! read from `MITHRIDATE_HOME`, by default `<workspace>/target/mithridate-home` (fetched and
//! cached on first use, as in the engine's tests).

use mithridate_attack::{registry, AttackInput, Budget};
use mithridate_core::ParamGuard;
use mithridate_data::{load, DataHome, Split};
use mithridate_detect::confident::ConfidentParams;
use mithridate_detect::metrics::score_detection;
use mithridate_detect::{Detector, ScanContext, TrainSpec};
use mithridate_engine::{Architecture, TrainParams};

fn home() -> DataHome {
    DataHome::for_workspace_tests()
}

fn spec(arch: Architecture, epochs: usize) -> TrainSpec {
    let mut p = TrainParams::default_for(arch);
    p.epochs = epochs;
    TrainSpec {
        architecture: arch,
        config: p.check().unwrap(),
    }
}

#[test]
fn confident_learning_on_flipped_digits() {
    let train = load(&home(), "digits", Split::Train).unwrap();
    let attack = registry::build("label-flip", &serde_json::json!({})).unwrap();
    let poisoned = attack
        .poison(&AttackInput::new(&train, Budget::Rate(0.1), 3))
        .unwrap();
    let ctx = ScanContext::new(&poisoned.data, spec(Architecture::Mlp, 20), 0).unwrap();
    let d = ConfidentParams::default()
        .check()
        .unwrap()
        .scan(&ctx)
        .unwrap();
    let m = score_detection(&d, &poisoned.truth.poisoned_ids()).unwrap();
    println!("digits label-flip 10%: {m:?}");
    assert!(m.f1 >= 0.7, "{m:?}");
}
