//! End-to-end runs on a small generated corpus (BM25: no model needed), checking what each
//! attack and defence must do against the ground truth.

use mithridate_rag::experiment::{run, RagSpec, Retriever, TargetSource};
use serde_json::Value;

/// 60 passages of 4 sentences, each naming the passage's project, as a JSONL corpus.
fn corpus_file(dir: &std::path::Path) -> String {
    let topics = [
        "farm", "river", "school", "tax", "road", "army", "trade", "health", "energy", "court",
    ];
    let mut lines = String::new();
    for i in 0..60 {
        let t = topics[i % topics.len()];
        let text = format!(
            "The {t} effort called project{i} began in spring after a long debate. \
             Officials of project{i} reported steady progress on every {t} milestone so far. \
             Funding of {} million dollars was approved for project{i} by the council. \
             Citizens near project{i} welcomed the decision and asked for more {t} work.",
            10 + i
        );
        lines.push_str(&serde_json::json!({"id": format!("doc{i}"), "text": text}).to_string());
        lines.push('\n');
    }
    let path = dir.join("corpus.jsonl");
    std::fs::write(&path, lines).unwrap();
    path.display().to_string()
}

fn spec(corpus: &str, attack: &str, defences: &[&str]) -> RagSpec {
    RagSpec {
        corpus: corpus.into(),
        retriever: Retriever::Bm25,
        attack: attack.into(),
        attack_params: Value::Null,
        targets: TargetSource::KnownItems(10),
        poisons_per_target: 5,
        defences: defences
            .iter()
            .map(|d| (d.to_string(), Value::Null))
            .collect(),
        seed: 3,
        cutoffs: vec![1, 5, 20],
    }
}

fn home() -> mithridate_data::DataHome {
    mithridate_data::DataHome::from_env().unwrap()
}

#[test]
fn poisoned_rag_succeeds_and_query_echo_stops_it_without_hurting_clean_recall() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus_file(dir.path());
    let naive = run(&home(), &spec(&corpus, "naive", &[]), &mut |_, _, _| {}).unwrap();
    let attacked = run(
        &home(),
        &spec(&corpus, "poisoned-rag", &[]),
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!(attacked.injected, 50);
    assert_eq!(attacked.metrics.asr_at_k["5"], 1.0);
    assert_eq!(attacked.metrics.poison_precision_at_k["5"], 1.0);
    let defended = run(
        &home(),
        &spec(&corpus, "poisoned-rag", &["query-echo"]),
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!(defended.metrics.asr_at_k["20"], 0.0);
    // The defence removes what restates the question, not the gold passages.
    let recall = defended.metrics.clean_recall_at_k.clone().unwrap();
    assert!(recall["5"] >= 0.9, "{recall:?}");
    // Under attack the poisons push the gold passages out of the top 5; defended, they return.
    let under = |r: &mithridate_rag::experiment::RagReport| {
        r.recall_under_attack_at_k.clone().unwrap()["5"]
    };
    assert!(
        under(&attacked) < under(&defended),
        "{} vs {}",
        under(&attacked),
        under(&defended)
    );
    assert_eq!(under(&defended), recall["5"]);
    // Same seed, same results.
    let again = run(
        &home(),
        &spec(&corpus, "poisoned-rag", &[]),
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!(again.metrics, attacked.metrics);
    // The naive passage is the question itself: BM25 ranks it first.
    assert_eq!(naive.metrics.asr_at_k["1"], 1.0);
}

#[test]
fn manifest_catches_split_view_by_id_but_not_insertions() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus_file(dir.path());
    let mut s = spec(&corpus, "split-view", &["manifest"]);
    s.poisons_per_target = 2;
    let r = run(&home(), &s, &mut |_, _, _| {}).unwrap();
    assert_eq!(
        (r.injected, r.refused_poisons, r.refused_at_index),
        (20, 20, 20)
    );
    assert_eq!(r.metrics.asr_at_k["20"], 0.0);
    let undefended = run(
        &home(),
        &spec(&corpus, "split-view", &[]),
        &mut |_, _, _| {},
    )
    .unwrap();
    assert!(undefended.metrics.asr_at_k["5"] > 0.9);
    let inserted = run(
        &home(),
        &spec(&corpus, "poisoned-rag", &["manifest"]),
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!(inserted.refused_at_index, 0);
}

#[test]
fn bad_input_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let err = run(
        &home(),
        &spec(&empty.display().to_string(), "naive", &[]),
        &mut |_, _, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("empty"), "{err}");
    let corpus = corpus_file(dir.path());
    let targets = dir.path().join("t.jsonl");
    std::fs::write(&targets, "{\"question\": \"What?\"}\n").unwrap();
    let mut s = spec(&corpus, "naive", &[]);
    s.targets = TargetSource::File(targets);
    let err = run(&home(), &s, &mut |_, _, _| {}).unwrap_err().to_string();
    assert!(
        err.contains("line 1") && err.contains("target_answer") && !err.contains('\n'),
        "{err}"
    );
    let err = run(&home(), &spec(&corpus, "hot-flip", &[]), &mut |_, _, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown retrieval attack"), "{err}");
    let mut s = spec(&corpus, "naive", &[]);
    s.poisons_per_target = 0;
    assert!(run(&home(), &s, &mut |_, _, _| {}).is_err());
}

#[test]
fn wider_retrieval_dilutes_by_its_rule() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus_file(dir.path());
    let with = |factor: usize, poisons: usize| {
        let mut s = spec(&corpus, "poisoned-rag", &[]);
        s.defences = vec![("wider".into(), serde_json::json!({ "factor": factor }))];
        s.poisons_per_target = poisons;
        run(&home(), &s, &mut |_, _, _| {}).unwrap()
    };
    let plain = run(
        &home(),
        &spec(&corpus, "poisoned-rag", &[]),
        &mut |_, _, _| {},
    )
    .unwrap();
    // factor 1 is the undefended rule.
    assert_eq!(with(1, 5).metrics, plain.metrics);
    // factor 4: success at k needs 4 poisons in the top 4k. One poison per target never
    // suffices; five that all rank first do at every k, diluted to 5 of 20 at k = 5.
    let one = with(4, 1);
    assert_eq!(one.metrics.asr_at_k["1"], 0.0);
    assert_eq!(one.metrics.asr_at_k["20"], 0.0);
    let five = with(4, 5);
    assert_eq!(five.metrics.asr_at_k["1"], 1.0);
    assert_eq!(five.metrics.poison_precision_at_k["5"], 0.25);
    // The gold passage in the top 4k: clean recall can only rise.
    let wide = five.metrics.clean_recall_at_k.unwrap();
    let narrow = plain.metrics.clean_recall_at_k.unwrap();
    for k in ["1", "5", "20"] {
        assert!(wide[k] >= narrow[k], "{k}: {} < {}", wide[k], narrow[k]);
    }
}
