//! The on-disk embedding cache end to end with the real encoder: written on first use, read
//! back on the second, and a corrupted file detected, rebuilt and reported.

use mithridate_rag::corpus::{Corpus, Passage};
use mithridate_rag::encoder::Encoder;
use mithridate_rag::index::corpus_embeddings;

#[test]
fn corrupted_cache_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let models = mithridate_data::DataHome::from_env().unwrap();
    let encoder = Encoder::minilm(&models).unwrap();
    // A private home for the cache (the model stays in the shared one).
    let home = mithridate_data::DataHome::new(dir.path().to_path_buf());
    let passages = [
        "The economy grew.",
        "Congress passed the bill.",
        "We will rebuild.",
    ]
    .iter()
    .enumerate()
    .map(|(i, t)| Passage {
        id: i.to_string(),
        text: t.to_string(),
    })
    .collect();
    let corpus = Corpus::new("tiny", passages).unwrap();
    let (first, status) = corpus_embeddings(&home, &encoder, &corpus, &mut |_, _| {}).unwrap();
    assert!(!status.cached && status.rebuilt_because.is_none());
    let (second, status) = corpus_embeddings(&home, &encoder, &corpus, &mut |_, _| {}).unwrap();
    assert!(status.cached);
    assert_eq!(first, second);
    assert!(second.is_mapped() || cfg!(target_endian = "big"));
    drop(second); // the file is rewritten in place below
    let mut bytes = std::fs::read(&status.path).unwrap();
    let middle = bytes.len() - 100;
    bytes[middle] ^= 0x40;
    std::fs::write(&status.path, &bytes).unwrap();
    let (third, status) = corpus_embeddings(&home, &encoder, &corpus, &mut |_, _| {}).unwrap();
    assert!(!status.cached);
    assert!(status.rebuilt_because.unwrap().contains("corrupted"));
    assert_eq!(third, first);
}
