//! Word-level text handling shared by attacks and defences: texts are sequences of
//! whitespace-separated words, and every random choice about one text comes from a generator
//! seeded by `(seed, sample id)`, so a text's poisoning does not depend on which other texts
//! were poisoned or in what order (same seed, same bytes).
//!
//! ```
//! use mithridate_text::words::{insert_words, words};
//! assert_eq!(words("  a b\tc "), vec!["a", "b", "c"]);
//! assert_eq!(insert_words("a b c", &["x", "y"], 1), "a x y b c");
//! ```

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The whitespace-separated words of `text`.
pub fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

/// `text` with `inserted` placed before word `at` (clamped to the end), single-spaced.
pub fn insert_words(text: &str, inserted: &[&str], at: usize) -> String {
    let mut w = words(text);
    let at = at.min(w.len());
    w.splice(at..at, inserted.iter().copied());
    w.join(" ")
}

/// The first `max_words` words of `text`, single-spaced (the classification input).
pub fn clip(text: &str, max_words: usize) -> String {
    text.split_whitespace()
        .filter(|w| w.chars().count() <= 40)
        .take(max_words)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The generator for everything random about sample `id` under `seed` (and `stream`, so
/// that different uses draw independently).
pub fn sample_rng(seed: u64, stream: u64, id: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&stream.to_le_bytes());
    key[16..24].copy_from_slice(&id.to_le_bytes());
    ChaCha8Rng::from_seed(*blake3::hash(&key).as_bytes())
}
