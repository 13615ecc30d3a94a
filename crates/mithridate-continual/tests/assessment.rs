//! `[continual]` blocks of an assessment: checked before anything runs (mistakes name their
//! line), run into the results store like every other cell, resumed from the store.

use mithridate_assess::config::Config;
use mithridate_assess::plan::Shard;
use mithridate_assess::record::Outcome;
use mithridate_assess::store::Store;
use mithridate_continual::assessment::cell_kinds;
use mithridate_data::DataHome;
use mithridate_pipeline::assessment::{Assessment, CellKinds, Executor};
use mithridate_pipeline::data::DataCache;
use mithridate_pipeline::PipelineError;

/// The loop of `tests/loop.rs`'s small spec, cut to 2 batches.
const SMALL: &str = "batches = 2, batch_size = 600, bootstrap = 1500, holdout = 500, \
    traffic = 300, epochs = 8, calibration_windows = 100, false_alarm_rate = 0.02, \
    strip_overlays = 4, gate_twins = 1, gate = { max_flip_rate = 0.2, \
    max_negative_flip_rate = 0.1, max_class_recall_drop = 0.2, max_accuracy_drop = 0.03 }";

fn config(campaigns: &str, extra: &str) -> Config {
    Config::parse(&format!(
        "[continual]\ndataset = \"mnist\"\nconfig = {{ {SMALL}{extra} }}\ncampaigns = [\n{campaigns}\n]\n"
    ))
    .unwrap()
}

fn data() -> DataCache {
    DataCache::new(DataHome::from_env().unwrap())
}

fn prepare_error(config: &Config) -> PipelineError {
    match Assessment::prepare(config, 1, 3, &data(), &cell_kinds()) {
        Ok(_) => panic!("the configuration was accepted"),
        Err(e) => e,
    }
}

#[test]
fn continual_cells_run_into_the_store_and_resume() {
    let config = config(
        "{ name = \"slow-burn\", rate = 0.03, params = { start = 1 } }",
        "",
    );
    let data = data();
    let assessment = Assessment::prepare(&config, 1, 3, &data, &cell_kinds()).unwrap();
    assert_eq!(assessment.cells().len(), 1);
    let out = tempfile::tempdir().unwrap();
    let store = Store::open(out.path()).unwrap();
    let exec = Executor::new(data).with_work_dir(out.path());
    let summary = assessment
        .run(&exec, &store, Shard::ALL, 1, &|_| {})
        .unwrap();
    assert_eq!(summary.ran, 1);
    let records = store.records().unwrap();
    let Outcome::Continual(c) = &records[0].outcome else {
        panic!("not a continual outcome: {:?}", records[0].outcome)
    };
    assert_eq!(c.campaign, "slow-burn");
    assert_eq!(c.batches, 2);
    assert_eq!(c.timeline.len(), 2);
    assert_eq!(c.first_poisoned_batch, Some(1));
    assert_eq!(c.timeline[0].poisoned, 0);
    assert_eq!(c.timeline[1].poisoned, 18, "3% of 600");
    assert!(c.final_accuracy.is_some_and(|a| a > 0.8), "{c:?}");
    // The run directory stays for `mithridate continual trace`.
    let runs: Vec<_> = std::fs::read_dir(out.path().join("continual"))
        .unwrap()
        .collect();
    assert_eq!(runs.len(), 1);
    let run_dir = runs[0].as_ref().unwrap().path();
    assert!(
        mithridate_continual::incident::trace(&run_dir)
            .unwrap()
            .log_verified
    );
    // A rerun finds the cell in the store and runs nothing.
    let again = assessment
        .run(&exec, &store, Shard::ALL, 1, &|_| {})
        .unwrap();
    assert_eq!((again.ran, again.skipped), (0, 1));
}

#[test]
fn mistakes_name_their_line_before_anything_runs() {
    let e = prepare_error(&config("{ name = \"slow-brun\" }", ""));
    let PipelineError::Config(c) = &e else {
        panic!("{e}")
    };
    assert_eq!(c.line, Some(5), "{e}");
    assert!(c.message.contains("slow-brun"), "{e}");

    let e = prepare_error(&config("{ name = \"clean\" }", ", batchez = 3"));
    let PipelineError::Config(c) = &e else {
        panic!("{e}")
    };
    assert_eq!(c.line, Some(3), "{e}");
    assert!(c.message.contains("batchez"), "{e}");

    let e = prepare_error(&config("{ name = \"burst\", params = { sart = 1 } }", ""));
    assert!(e.to_string().contains("sart"), "{e}");

    let text = "[continual]\ndataset = \"digits\"\ncampaigns = [{ name = \"clean\" }]\n";
    let e = prepare_error(&Config::parse(text).unwrap());
    let PipelineError::Config(c) = &e else {
        panic!("{e}")
    };
    assert_eq!(c.line, Some(2), "{e}");
    assert!(c.message.contains("more class-0 samples"), "{e}");
}

#[test]
fn without_the_continual_runner_the_error_says_so() {
    let config = config("{ name = \"clean\" }", "");
    let e = match Assessment::prepare(&config, 1, 0, &data(), &CellKinds::none()) {
        Ok(_) => panic!("accepted without a runner"),
        Err(e) => e,
    };
    assert!(e.to_string().contains("continual runner"), "{e}");
}
