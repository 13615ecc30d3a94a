//! SPECTRE and SCAn on real data: sklearn `digits` poisoned with BadNets (a 3x3 white patch,
//! all-to-one into class 0, 3% of the set: 43 poisons, 23% of class 0), the MLP trained on
//! it, detectors on its penultimate embeddings. Datasets come from `MITHRIDATE_HOME`
//! (default `<workspace>/target/mithridate-home`).

use mithridate_attack::{registry, AttackInput, Budget};
use mithridate_core::ParamGuard;
use mithridate_data::{load, DataHome, Split};
use mithridate_detect::metrics::score_detection;
use mithridate_detect::scan_untangling::ScanUntanglingParams;
use mithridate_detect::spectral::SpectralParams;
use mithridate_detect::spectre::SpectreParams;
use mithridate_detect::{Detector, ScanContext, TrainSpec};
use mithridate_engine::{Architecture, Classifier, TrainParams};

fn home() -> DataHome {
    DataHome::for_workspace_tests()
}

#[test]
fn spectre_and_scan_on_badnets_digits() {
    let train = load(&home(), "digits", Split::Train).unwrap();
    let attack = registry::build(
        "badnets",
        &serde_json::json!({"target": 0, "size": 3, "pattern": "white"}),
    )
    .unwrap();
    let poisoned = attack
        .poison(&AttackInput::new(&train, Budget::Rate(0.03), 1))
        .unwrap();
    let config = TrainParams::default_for_samples(Architecture::Mlp, poisoned.data.len());
    let spec = TrainSpec {
        architecture: Architecture::Mlp,
        config: config.check().unwrap(),
    };
    let (modality, classes) = (poisoned.data.modality(), poisoned.data.num_classes());
    let mut model = Classifier::new(Architecture::Mlp, modality, classes, 1).unwrap();
    model
        .fit(&poisoned.data, &spec.config, 1, &mut |_| {})
        .unwrap();
    let ctx = ScanContext::new(&poisoned.data, spec, 1)
        .unwrap()
        .with_model(&model)
        .unwrap();
    let truth = poisoned.truth.poisoned_ids();

    // The defender's guess of the poison share of a poisoned class: 20%, flagging 30%.
    let spectre = SpectreParams {
        expected_rate: 0.2,
        ..Default::default()
    }
    .check()
    .unwrap()
    .scan(&ctx)
    .unwrap();
    let m = score_detection(&spectre, &truth).unwrap();
    let stats: Vec<f64> = spectre.classes.iter().map(|c| c.statistic).collect();
    println!(
        "SPECTRE on digits BadNets 3%: {m:?}, suspicious {:?}, statistics {stats:.2?}",
        spectre.suspicious_classes()
    );
    assert!(m.recall >= 0.9 && m.auroc.unwrap() >= 0.9, "{m:?}");
    assert!(spectre.classes[0].suspicious);
    assert!(stats[1..].iter().all(|&s| s < stats[0]), "{stats:?}");
    let spectral = SpectralParams {
        expected_rate: 0.2,
        removal_factor: 1.5,
    }
    .check()
    .unwrap()
    .scan(&ctx)
    .unwrap();
    let s = score_detection(&spectral, &truth).unwrap();
    println!("spectral signatures on the same embeddings: {s:?}");
    assert!(m.auroc.unwrap() > s.auroc.unwrap() + 0.2, "{m:?} vs {s:?}");

    // SCAn: whatever it concludes on this small MLP, it never flags a clean sample here.
    let scan = ScanUntanglingParams::default()
        .check()
        .unwrap()
        .scan(&ctx)
        .unwrap();
    let j: Vec<f64> = scan.classes.iter().map(|c| c.statistic).collect();
    println!("SCAn J* per class: {j:.2?}, flagged {}", scan.flagged.len());
    assert!(
        scan.flagged
            .iter()
            .all(|id| truth.binary_search(id).is_ok()),
        "{j:?}"
    );
}
