//! `[lm]` and `[text]` blocks run as an assessment from the library. The LM block is smaller
//! than mithridate-lm's own tests (30 Moby-Dick documents, a one-layer model of width 16, 3
//! epochs at lr 0.03) at two poisoned-document counts with the manifest defence: five short
//! fits (one shared baseline, two poisoned, two after the defence), ~15 s on 2 loaded cores; the
//! text block is only validated (a text cell encodes with MiniLM, minutes on 2 cores: its
//! end-to-end test is mithridate-text's). Mistakes name their lines before anything runs.
//! Data from `MITHRIDATE_HOME` (default `<workspace>/target/mithridate-home`).

use mithridate_assess::config::Config;
use mithridate_assess::plan::Shard;
use mithridate_assess::record::Outcome;
use mithridate_assess::report::Report;
use mithridate_assess::store::Store;
use mithridate_data::DataHome;
use mithridate_pipeline::assessment::{Assessment, CellKinds, Executor};
use mithridate_pipeline::data::DataCache;
use mithridate_pipeline::PipelineError;

fn home() -> DataHome {
    DataHome::for_workspace_tests()
}

const LM: &str = r#"
[lm]
corpus = "moby-dick"
attack = "dos"
poison_docs = [0, 20]
docs = [30]
trusted = 24
model = { d_model = 16, layers = 1, heads = 2, ctx = 32, vocab = 320, epochs = 3, batch = 16, lr = 0.03, prompts = 16, prompt_len = 8, gen_len = 16 }
defences = ["manifest"]
"#;

fn prepare(text: &str) -> Result<Assessment, PipelineError> {
    let config = Config::parse(text).map_err(PipelineError::Config)?;
    Assessment::prepare(&config, 1, 3, &DataCache::new(home()), &CellKinds::none())
}

fn line_of(text: &str) -> (Option<usize>, String) {
    match prepare(text) {
        Err(PipelineError::Config(e)) => (e.line, e.message),
        Err(other) => panic!("not a configuration error: {other}"),
        Ok(_) => panic!("accepted: {text}"),
    }
}

#[test]
fn an_lm_block_runs_its_curve_and_the_report_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let assessment = prepare(LM).unwrap();
    assert_eq!(assessment.cells().len(), 2);
    let executor = Executor::new(DataCache::new(home()));
    assessment
        .run(&executor, &store, Shard::ALL, 1, &|_| {})
        .unwrap();
    let records = store.records().unwrap();
    let lm: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Lm(l) => Some(l),
            _ => None,
        })
        .collect();
    assert_eq!(lm.len(), 2);
    let poisoned = lm.iter().find(|l| l.poison_docs == 20).unwrap();
    assert_eq!(poisoned.train_docs, 30);
    // At these settings the poisoned model's ASR is 0.44 against a baseline 0 (7 of 16 prompts);
    // asserted only above the baseline, which holds with margin if float order shifts.
    assert!(poisoned.asr > poisoned.baseline_asr, "{poisoned:?}");
    assert!(poisoned.taxonomy.owasp_llm.contains(&"LLM04".to_string()));
    assert!(poisoned
        .taxonomy
        .mitre_atlas
        .contains(&"AML.T0043.004".to_string()));
    let d = &poisoned.defences[0];
    assert_eq!(
        (d.defence.as_str(), d.recall, d.precision),
        ("manifest", 1.0, 1.0)
    );
    // The same baseline for both counts (trained once, shared).
    assert_eq!(lm[0].baseline_perplexity, lm[1].baseline_perplexity);
    let report = Report::new(&records).unwrap();
    let md = report.to_markdown();
    assert!(md.contains("#### LM: dos backdoor on moby-dick"), "{md}");
    assert!(report.to_json()["lm"][0]["rows"].as_array().unwrap().len() == 2);
}

#[test]
fn mistakes_name_their_line_before_anything_runs() {
    let (l, m) = line_of(&LM.replace("attack = \"dos\"", "attack = \"dso\""));
    assert_eq!(l, Some(4));
    assert!(m.contains("unknown attack 'dso'"), "{m}");
    let (l, m) = line_of(&LM.replace("docs = [30]", "docs = [30, 99999999]"));
    assert_eq!(l, Some(6));
    assert!(m.contains("training documents"), "{m}");
    let (l, m) = line_of(&LM.replace("poison_docs = [0, 20]", "poison_docs = [0, 31]"));
    assert_eq!(l, Some(5));
    assert!(m.contains("above the corpus size"), "{m}");
    let (l, m) = line_of(&LM.replace("[\"manifest\"]", "[\"manifset\"]"));
    assert_eq!(l, Some(9));
    assert!(m.contains("manifset"), "{m}");
    let (l, m) = line_of(&LM.replace("heads = 2", "heads = 3"));
    assert_eq!(l, Some(8));
    assert!(m.contains("multiple of heads"), "{m}");
    let text = "[text]\ndataset = \"spamassassin\"\nhead = \"logreg\"\n\
                attacks = [{ name = \"addsent\", rates = [0.01] }]\ndefences = [\"bki\"]\n";
    let (l, m) = line_of(&text.replace("\"addsent\"", "\"addsnet\""));
    assert_eq!(l, Some(4));
    assert!(m.contains("addsnet"), "{m}");
    let (l, m) = line_of(&text.replace("\"bki\"", "{ name = \"strip\", params = { copies = 1 } }"));
    assert_eq!(l, Some(5));
    assert!(m.contains("strip"), "{m}");
    let (l, m) = line_of(&text.replace("\"logreg\"", "\"svm\""));
    assert_eq!(l, Some(3));
    assert!(m.contains("unknown head"), "{m}");
    let (l, m) = line_of(&text.replace("\ndefences", "\nfine_tune_layers = 7\ndefences"));
    assert_eq!(l, Some(5));
    assert!(m.contains("0..=6"), "{m}");
    let tuned = "\nfine_tune_layers = 2\nfine_tune_epochs = 4\nfine_tune_lr = 1e-4\n\
                 fine_tune_head = \"probe\"\ndefences";
    let (l, m) = line_of(&text.replace("\ndefences", &tuned.replace("\"probe\"", "\"warm\"")));
    assert_eq!(l, Some(8));
    assert!(m.contains("`fresh`") && m.contains("warm"), "{m}");
    let (l, m) = line_of(&text.replace("\ndefences", &tuned.replace("1e-4", "-1.0")));
    assert_eq!(l, Some(7));
    assert!(m.contains("learning rate"), "{m}");
    let (l, m) = line_of(&text.replace("\ndefences", &tuned.replace("= 4", "= 0")));
    assert_eq!(l, Some(6));
    assert!(m.contains("epochs >= 1"), "{m}");
    let frozen = tuned.replace("fine_tune_layers = 2", "fine_tune_layers = 0");
    let (l, m) = line_of(&text.replace("\ndefences", &frozen));
    assert_eq!(l, Some(6));
    assert!(m.contains("fine_tune_epochs needs fine_tune_layers"), "{m}");
}
