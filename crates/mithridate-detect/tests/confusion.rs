//! Confusion training on real data (sklearn `digits`, the test split as the trusted clean set):
//! a planted trigger survives the confusion and only its samples are flagged; clean data gets
//! no flag; a missing or mismatched clean set is a one-line error.

use crate::dynamics_and_scale_up::planted_fast_feature;
use mithridate_core::ParamGuard;
use mithridate_data::{load, DataHome, Dataset, Features, Modality, Split};
use mithridate_detect::confusion::ConfusionParams;
use mithridate_detect::metrics::score_detection;
use mithridate_detect::{Detector, ScanContext, TrainSpec};
use mithridate_engine::{Architecture, Classifier, TrainParams};

fn spec() -> TrainSpec {
    TrainSpec {
        architecture: Architecture::Mlp,
        config: TrainParams::default_for(Architecture::Mlp).check().unwrap(),
    }
}

fn clean_digits() -> Dataset {
    load(&DataHome::for_workspace_tests(), "digits", Split::Test).unwrap()
}

fn detector() -> Box<dyn Detector> {
    // digits has 23 batches per epoch: pre-train for ~450 steps as a 6,000-image set would.
    Box::new(
        ConfusionParams {
            pretrain_epochs: 20,
            ..ConfusionParams::default()
        }
        .check()
        .unwrap(),
    )
}

#[test]
fn the_planted_trigger_survives_confusion_and_only_its_samples_are_flagged() {
    let (data, poisoned) = planted_fast_feature();
    let clean = clean_digits();
    let ctx = ScanContext::new(&data, spec(), 0)
        .unwrap()
        .with_clean_set(&clean)
        .unwrap();
    let det = detector().scan(&ctx).unwrap();
    let m = score_detection(&det, &poisoned).unwrap();
    assert_eq!(det.suspicious_classes(), vec![0], "{:?}", det.classes);
    assert!(m.recall >= 0.9 && m.precision >= 0.9, "{m:?}");
}

#[test]
fn clean_digits_get_no_flag() {
    let data = load(&DataHome::for_workspace_tests(), "digits", Split::Train).unwrap();
    let clean = clean_digits();
    let ctx = ScanContext::new(&data, spec(), 1)
        .unwrap()
        .with_clean_set(&clean)
        .unwrap();
    let det = detector().scan(&ctx).unwrap();
    assert!(det.flagged.is_empty(), "{:?}", det.classes);
}

#[test]
fn a_missing_or_mismatched_clean_set_is_one_line_error() {
    let (data, _) = planted_fast_feature();
    let ctx = ScanContext::new(&data, spec(), 0).unwrap();
    let err = detector().scan(&ctx).unwrap_err().to_string();
    assert!(
        err.contains("trusted clean samples") && !err.contains('\n'),
        "{err}"
    );
    // Rows of 10 values against digits' 64.
    let narrow = Dataset::new(
        Modality::Tabular { features: 10 },
        Features::Dense(vec![0.5; 20]),
        vec![0, 1],
        vec![0, 1],
        10,
        Vec::new(),
    )
    .unwrap();
    let err = ScanContext::new(&data, spec(), 0)
        .unwrap()
        .with_clean_set(&narrow)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("differ"), "{err}");
}

#[test]
fn auto_takes_confusion_flags_only_when_given_a_clean_set() {
    use mithridate_detect::auto::AutoParams;
    let (data, poisoned) = planted_fast_feature();
    let clean = clean_digits();
    let auto = AutoParams::default().check().unwrap();
    let mut model = Classifier::new(Architecture::Mlp, data.modality(), 10, 0).unwrap();
    model.fit(&data, &spec().config, 0, &mut |_| {}).unwrap();
    let with = ScanContext::new(&data, spec(), 0)
        .unwrap()
        .with_model(&model)
        .unwrap()
        .with_clean_set(&clean)
        .unwrap();
    let confusion = ConfusionParams::default().check().unwrap();
    let alone = with.detection(&confusion).unwrap();
    let combined = auto.scan(&with).unwrap();
    // Every sample confusion training flagged is flagged by auto too.
    let flagged: std::collections::HashSet<u64> = combined.flagged.iter().copied().collect();
    assert!(!alone.flagged.is_empty());
    assert!(alone.flagged.iter().all(|id| flagged.contains(id)));
    let m = score_detection(&combined, &poisoned).unwrap();
    assert!(m.recall >= 0.9 && m.precision >= 0.9, "{m:?}");
    // Without a clean set auto runs as before (no error for the missing clean set).
    let without = ScanContext::new(&data, spec(), 0)
        .unwrap()
        .with_model(&model)
        .unwrap();
    assert!(auto.scan(&without).is_ok());
}
