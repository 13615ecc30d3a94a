use super::*;

fn toy() -> SpmTokenizer {
    use TokenType::*;
    let v = |p: &str, s: f32, t: TokenType| (p.to_string(), s, t);
    SpmTokenizer::new(
        vec![
            v("<unk>", 0.0, Unknown),    // 0
            v("<bos>", 0.0, Control),    // 1
            v("<eos>", 0.0, Control),    // 2
            v("\n", 0.0, UserDefined),   // 3
            v("\n\n", 0.0, UserDefined), // 4
            v("<0xC3>", 0.0, Byte),      // 5
            v("<0xA9>", 0.0, Byte),      // 6
            v("▁", -1.0, Normal),        // 7
            v("h", -1.0, Normal),        // 8
            v("e", -1.0, Normal),        // 9
            v("l", -1.0, Normal),        // 10
            v("o", -1.0, Normal),        // 11
            v("he", -3.0, Normal),       // 12
            v("ll", -2.0, Normal),       // 13
            v("llo", -5.0, Normal),      // 14
            v("hello", -6.0, Normal),    // 15
            v("▁he", -4.0, Normal),      // 16
            v("lo", -1.5, Normal),       // 17
            v("  ", 0.0, UserDefined),   // 18: raw spaces, never matched
        ],
        Some(1),
        Some(2),
    )
    .unwrap()
}

#[test]
fn merges_the_best_scoring_pair_first() {
    // Hand trace of "hello": pairs he -3, ll -2, lo -1.5 -> lo first (not the leftmost ll):
    // h e l lo; then he -3 beats l+lo = llo -5: he l lo; then llo: he llo; then hello.
    let t = toy();
    assert_eq!(t.encode("hello"), vec![15]);
    // Equal scores: the leftmost pair ("ll" at 0, not at 1).
    assert_eq!(t.encode("lll"), vec![13, 10]);
    // A space is ▁ and merges like any character: ▁ h e -> ▁ he -> ▁he.
    assert_eq!(t.encode(" he"), vec![16]);
}

#[test]
fn user_pieces_split_first_longest_match() {
    let t = toy();
    assert_eq!(t.encode("hello\n\nhe\nl"), vec![15, 4, 12, 3, 10]);
    // Two spaces are escaped before matching: ▁ ▁he, not the raw-space piece 18.
    assert_eq!(t.encode("  he"), vec![7, 16]);
}

#[test]
fn byte_fallback_and_unknown() {
    let t = toy();
    assert_eq!(t.encode("é"), vec![5, 6]); // U+00E9 = C3 A9
    assert_eq!(t.encode("ü"), vec![5, 0]); // C3 BC: no <0xBC> piece -> <unk>
    assert_eq!(t.encode("x"), vec![0]);
    assert!(t.encode("").is_empty());
}

#[test]
fn decode_restores_spaces_bytes_and_drops_control() {
    let t = toy();
    assert_eq!(t.decode(&[1, 16, 5, 6, 3, 15, 2]), " heé\nhello");
    assert_eq!(t.decode(&[5]), "\u{FFFD}"); // a lone lead byte
    assert_eq!(t.decode(&[999]), ""); // out of range: skipped
}

#[test]
fn rejects_bad_vocabularies() {
    assert!(SpmTokenizer::new(vec![], None, None).is_err());
    let one = vec![("a".to_string(), f32::NAN, TokenType::Normal)];
    assert!(SpmTokenizer::new(one, None, None).is_err());
    let one = vec![("a".to_string(), 0.0, TokenType::Normal)];
    assert!(SpmTokenizer::new(one, Some(5), None).is_err());
    let mut meta = BTreeMap::new();
    meta.insert("tokenizer.ggml.model".into(), Value::String("gpt2".into()));
    let err = SpmTokenizer::from_gguf(&meta).unwrap_err().to_string();
    assert!(err.contains("not SentencePiece"), "{err}");
    meta.insert("tokenizer.ggml.model".into(), Value::String("llama".into()));
    let strings =
        |v: &[&str]| Value::Array(v.iter().map(|s| Value::String(s.to_string())).collect());
    meta.insert("tokenizer.ggml.tokens".into(), strings(&["a", "b"]));
    meta.insert(
        "tokenizer.ggml.scores".into(),
        Value::Array(vec![Value::F32(0.0)]),
    );
    meta.insert(
        "tokenizer.ggml.token_type".into(),
        Value::Array(vec![Value::I32(1); 2]),
    );
    let err = SpmTokenizer::from_gguf(&meta).unwrap_err().to_string();
    assert!(err.contains("differ in number"), "{err}");
}

/// Gemma-3's real pieces (every normal piece that is a substring of the fixture texts, all
/// user-defined and byte pieces, with their ids and scores: BPE only ever forms substrings, so
/// this subset tokenizes those texts exactly as the full 262,144-piece vocabulary) against the
/// ids of the SentencePiece library itself (`tests/fixtures/make_gemma_fixture.py`).
#[test]
fn matches_sentencepiece_on_gemma_pieces() {
    let vocab = include_str!("../../tests/fixtures/gemma_vocab_subset.jsonl");
    let mut lines = vocab.lines();
    let head: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let size = head["vocab_size"].as_u64().unwrap() as usize;
    let mut dense = vec![(String::new(), 0.0, TokenType::Unused); size];
    for line in lines {
        let p: serde_json::Value = serde_json::from_str(line).unwrap();
        let kind = TokenType::from_gguf(p["type"].as_i64().unwrap()).unwrap();
        dense[p["id"].as_u64().unwrap() as usize] = (
            p["piece"].as_str().unwrap().to_string(),
            p["score"].as_f64().unwrap() as f32,
            kind,
        );
    }
    let tok = SpmTokenizer::new(dense, Some(2), Some(1)).unwrap();
    let fixture = include_str!("../../tests/fixtures/gemma_tokenizer_fixture.jsonl");
    let mut checked = 0;
    for line in fixture.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tok.encode(text), want, "{text:?}");
        assert_eq!(tok.decode(&want), text);
        checked += 1;
    }
    assert!(checked >= 10);
}
