//! The assessment run from the library on a small real dataset (`digits`, 8x8 images), with
//! outcomes asserted: a backdoor succeeds undefended and is removed by a detector that
//! catches it, a label flip costs accuracy, and the STRIP filter stops triggered inputs.
//! Datasets come from `MITHRIDATE_HOME` (default `<workspace>/target/mithridate-home`).

use mithridate_assess::config::Config;
use mithridate_assess::plan::{CellSpec, Shard};
use mithridate_assess::record::{CellRecord, Outcome};
use mithridate_assess::store::Store;
use mithridate_data::DataHome;
use mithridate_pipeline::assessment::{Assessment, CellKinds, Executor};
use mithridate_pipeline::data::DataCache;

fn home() -> DataHome {
    DataHome::for_workspace_tests()
}

const CONFIG: &str = r#"
[[centralized]]
dataset = "digits"
model = "mlp"
defences = ["spectral", "activation-clustering", "strip"]
expected_rate = 0.2
defence_params = { activation-clustering = { size-rule-outlier = 0.0 } }
[[centralized.attacks]]
name = "badnets"
rates = [0.03]
params = { target = 0, size = 3, pattern = "white", margin = 0 }
[[centralized.attacks]]
name = "label-flip"
rates = [0.4]
defences = []
"#;

fn run() -> Vec<CellRecord> {
    let config = Config::parse(CONFIG).unwrap();
    let data = DataCache::new(home());
    let assessment = Assessment::prepare(&config, 1, 0, &data, &CellKinds::none()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let summary = assessment
        .run(&Executor::new(data), &store, Shard::ALL, 2, &|_| {})
        .unwrap();
    assert_eq!(summary.ran, assessment.cells().len());
    // Detector parameters from the configuration reach the cell (and its id).
    assert!(assessment.cells().iter().any(|c| matches!(&c.spec,
        CellSpec::Centralized(x) if x.defence.as_ref().is_some_and(|d| d.params.is_some()))));
    let mut records = store.records().unwrap();
    records.sort_by_key(|r| r.index);
    records
}

#[test]
fn backdoor_succeeds_undefended_and_is_removed_by_a_detector_that_catches_it() {
    let records = run();
    let centralized: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Centralized(c) => Some(c),
            _ => None,
        })
        .collect();
    let clean = centralized.iter().find(|c| c.attack.is_none()).unwrap();
    let by = |name: &str| {
        centralized
            .iter()
            .filter(|c| c.attack.as_ref().is_some_and(|a| a.name == name))
            .collect::<Vec<_>>()
    };
    let badnets = by("badnets");
    let undefended = badnets.iter().find(|c| c.defence.is_none()).unwrap();
    let asr = undefended.undefended.success_rate.unwrap();
    assert!(asr > 0.8, "BadNets ASR undefended {asr}");
    // The floor is the clean baseline under the same trigger: a 3x3 patch does little to it.
    let floor = undefended.success_rate_floor.unwrap();
    assert!(floor < 0.3, "BadNets floor {floor}");
    assert!(clean.success_rate_floor.is_none());
    // The best sanitizing defence catches most poisons and the retrained model loses the backdoor.
    let best = badnets
        .iter()
        .filter_map(|c| c.defence.as_ref())
        .filter(|d| d.detector != "strip")
        .max_by(|a, b| a.recall.total_cmp(&b.recall))
        .unwrap();
    assert!(
        best.recall > 0.8,
        "{}: recall {}",
        best.detector,
        best.recall
    );
    let after = best.retrained.success_rate.unwrap();
    assert!(
        after < 0.3,
        "{}: ASR after retraining {after}",
        best.detector
    );
    // STRIP in front of the poisoned model lets few triggered inputs through.
    let strip = badnets
        .iter()
        .filter_map(|c| c.defence.as_ref())
        .find(|d| d.detector == "strip")
        .unwrap();
    let passed = strip.retrained.success_rate.unwrap();
    assert!(
        passed < asr / 2.0,
        "STRIP passes {passed} of triggered inputs"
    );
    // A 40% random label flip costs accuracy.
    let flipped = by("label-flip");
    let drop = clean.undefended.clean_accuracy - flipped[0].undefended.clean_accuracy;
    assert!(drop > 0.03, "label flip accuracy drop {drop}");
}
