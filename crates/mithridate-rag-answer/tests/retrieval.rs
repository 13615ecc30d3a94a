//! The retrieval side end to end on a toy corpus (BM25, no model): poisons reach the top-k
//! undefended, query-echo removes them, the clean condition never sees them.

use mithridate_rag::experiment::{RagSpec, Retriever, TargetSource};
use mithridate_rag_answer::prompt::{contains_answer, Prompt};
use mithridate_rag_answer::retrieval::retrieve_all;
use std::io::Write;

#[test]
fn poisons_are_retrieved_undefended_and_filtered_defended() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("c.jsonl");
    let mut f = std::fs::File::create(&corpus).unwrap();
    let topics = [
        "harvest", "railway", "harbour", "library", "orchard", "factory",
    ];
    for (i, t) in topics.iter().enumerate() {
        writeln!(f, r#"{{"id":"p{i}","text":"The {t} opened in spring and the town celebrated the {t} for a week."}}"#).unwrap();
    }
    let targets = dir.path().join("t.jsonl");
    std::fs::write(
        &targets,
        r#"{"question":"Which town celebrated the railway for a week?","target_answer":"Gotham","correct_answer":"Springfield"}"#
            .to_string()
            + "\n",
    )
    .unwrap();
    let spec = RagSpec {
        corpus: corpus.display().to_string(),
        retriever: Retriever::Bm25,
        attack: "poisoned-rag".into(),
        attack_params: serde_json::Value::Null,
        targets: TargetSource::File(targets),
        poisons_per_target: 2,
        defences: vec![("query-echo".into(), serde_json::Value::Null)],
        seed: 0,
        cutoffs: vec![3],
    };
    let home = mithridate_data::DataHome::new(dir.path().join("home"));
    let r = retrieve_all(&home, &spec).unwrap();
    let ids = |hits: &[mithridate_rag::corpus::Passage]| -> Vec<String> {
        hits.iter().map(|p| p.id.clone()).collect()
    };
    let poison = |id: &String| r.injected[0].contains(id);
    assert_eq!(r.attacked[0].len(), 3);
    assert_eq!(ids(&r.attacked[0]).iter().filter(|i| poison(i)).count(), 2);
    assert!(!ids(&r.defended[0]).iter().any(poison));
    assert!(!ids(&r.clean[0]).iter().any(poison));
    assert_eq!(r.clean[0][0].id, "p1");
    // The poisoned context carries the target answer into the prompt.
    let texts: Vec<&str> = r.attacked[0].iter().map(|p| p.text.as_str()).collect();
    let prompt = Prompt::new(&r.targets[0], &texts, 100);
    assert!(contains_answer(&prompt.text, "gotham"));
}
