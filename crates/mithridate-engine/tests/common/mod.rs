//! Synthetic fixtures shared by the integration tests.

use mithridate_data::{Dataset, Features, Modality};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Random images in [0, 1]; the label is which quadrant is brightest.
pub fn quadrant_images(n: usize, side: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut xs = Vec::with_capacity(n * side * side);
    let labels: Vec<u32> = (0..n).map(|i| (i % 4) as u32).collect();
    for &c in &labels {
        for y in 0..side {
            for x in 0..side {
                let q = (2 * y / side) * 2 + 2 * x / side;
                let base = if q == c as usize { 0.6 } else { 0.0 };
                xs.push(base + rng.random_range(0.0f32..0.4));
            }
        }
    }
    Dataset::new(
        Modality::Image {
            channels: 1,
            height: side,
            width: side,
        },
        Features::Dense(xs),
        labels,
        (0..n as u64).collect(),
        4,
        vec![],
    )
    .unwrap()
}

/// Text: class 0 uses tokens 1..=10, class 1 tokens 11..=20, random lengths, 0-padded.
pub fn two_topic_text(n: usize, seed: u64) -> Dataset {
    let (max_len, vocab) = (12, 30);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let labels: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
    let mut tokens = Vec::with_capacity(n * max_len);
    for &c in &labels {
        let len = rng.random_range(2..=max_len);
        for pos in 0..max_len {
            tokens.push(if pos < len {
                1 + 10 * c + rng.random_range(0..10)
            } else {
                0
            });
        }
    }
    Dataset::new(
        Modality::Text {
            max_len,
            vocab_size: vocab,
        },
        Features::Tokens(tokens),
        labels,
        (0..n as u64).collect(),
        2,
        vec![],
    )
    .unwrap()
}
