//! The real WordNet corpus (Debian `wordnet-base`, fetched and verified on first use): its
//! size, stable ids, and definitional targets that are unambiguous and reproducible.

use mithridate_rag::corpus;
use mithridate_rag::targets::{built_in, defined_term};
use std::collections::HashMap;

#[test]
fn wordnet_corpus_and_definitional_targets() {
    let home = mithridate_data::DataHome::from_env().unwrap();
    let c = corpus::load(&home, "wordnet").unwrap();
    // WordNet 3.0: 82,115 noun, 13,767 verb, 18,156 adjective and 3,621 adverb synsets.
    assert_eq!(c.len(), 117_659);
    assert_eq!(c.passages[0].id, "wordnet:n:00001740");
    assert!(c.passages[0]
        .text
        .starts_with("entity: that which is perceived"));
    let (targets, indexed) = built_in(&c, 50, 0).unwrap();
    assert_eq!(
        indexed.content_hash(),
        c.content_hash(),
        "nothing is held out"
    );
    assert_eq!(built_in(&c, 50, 0).unwrap().0, targets);
    assert_ne!(built_in(&c, 50, 1).unwrap().0, targets);
    // Every asked lemma names exactly one synset, the gold one.
    let mut synsets_of: HashMap<String, Vec<&str>> = HashMap::new();
    for p in &c.passages {
        let words = mithridate_rag::wordnet::passage_words(&p.text).unwrap();
        for w in words {
            synsets_of.entry(w.to_lowercase()).or_default().push(&p.id);
        }
    }
    for t in &targets {
        let term = defined_term(&t.question).unwrap().to_lowercase();
        let gold = t.passage_id.as_deref().unwrap();
        assert_eq!(synsets_of[&term], vec![gold], "{}", t.question);
        assert!(gold.starts_with("wordnet:n:"));
        assert_ne!(Some(&t.target_answer), t.correct_answer.as_ref());
    }
}
