//! `mithridate rag attack` end to end on a generated JSONL corpus with BM25 (no model): the
//! JSON keys and ranges, the defence flag, and bad input as one-line errors with exit code 2.

use crate::common;
use common::*;

fn corpus(dir: &std::path::Path) -> std::path::PathBuf {
    let mut lines = String::new();
    for i in 0..40 {
        let text = format!(
            "The plan called project{i} began after a long debate. Officials of project{i} \
             reported progress on every milestone so far. Funding for project{i} was approved \
             by the council this spring. Residents near project{i} welcomed the decision."
        );
        lines.push_str(&serde_json::json!({"id": i, "text": text}).to_string());
        lines.push('\n');
    }
    let path = dir.join("corpus.jsonl");
    std::fs::write(&path, lines).unwrap();
    path
}

#[test]
fn attack_json_has_the_four_maps() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let base = [
        "rag",
        "attack",
        "--corpus",
        arg(&corpus),
        "--retriever",
        "bm25",
        "--attack",
        "poisoned-rag",
        "--targets",
        "8",
        "--poisons-per-target",
        "3",
        "--json",
    ];
    let args = |defence: &[&'static str]| -> Vec<&str> {
        base.iter()
            .copied()
            .chain(defence.iter().copied())
            .collect()
    };
    let value = json(&mithridate(&args(&[])));
    for key in [
        "asr_at_k",
        "clean_recall_at_k",
        "poison_precision_at_k",
        "poison_recall_at_k",
    ] {
        for k in ["1", "5", "20"] {
            let v = value[key][k].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&v), "{key}[{k}] = {v}");
        }
    }
    assert_eq!(value["asr_at_k"]["5"].as_f64(), Some(1.0));
    assert_eq!(value["injected"].as_u64(), Some(24));
    let defended = json(&mithridate(&args(&[
        "--defence",
        "query-echo:containment=0.5",
    ])));
    assert_eq!(defended["asr_at_k"]["20"].as_f64(), Some(0.0), "{defended}");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let targets = dir.path().join("targets.jsonl");
    std::fs::write(&targets, "{\"target_answer\": \"x\"}\n").unwrap();
    let out = mithridate(&[
        "rag",
        "attack",
        "--corpus",
        arg(&corpus),
        "--retriever",
        "bm25",
        "--targets",
        arg(&targets),
    ]);
    assert_one_line_error(&out, 2, "missing field \"question\"");
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    let out = mithridate(&[
        "rag",
        "attack",
        "--corpus",
        arg(&empty),
        "--retriever",
        "bm25",
    ]);
    assert_one_line_error(&out, 2, "empty");
    let out = mithridate(&[
        "rag",
        "attack",
        "--corpus",
        arg(&corpus),
        "--retriever",
        "bm25",
        "--defence",
        "nope",
    ]);
    assert_one_line_error(&out, 2, "unknown retrieval defence 'nope'");
}
