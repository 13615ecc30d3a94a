//! Throughput benchmarks of the encoder and the dense index (figures in the crate README).
//!
//! ```sh
//! cargo run -p mithridate-rag --example rag_throughput -- [PASSAGES] [INDEX_ROWS] [QUERIES]
//! ```
//! Embeds the first PASSAGES (default 10,000) sentences of the State of the Union corpus
//! that fit in 64 tokens, then searches QUERIES (1,000) random unit queries over INDEX_ROWS
//! (100,000) random unit vectors for their top 20 (retrieval cost does not depend on content).

use mithridate_rag::corpus::split_sentences;
use mithridate_rag::encoder::{Encoder, DIM};
use mithridate_rag::index::DenseIndex;
use std::time::Instant;

fn unit_rows(rows: usize, seed: u64) -> Vec<f32> {
    let mut x = seed;
    let mut v: Vec<f32> = (0..rows * DIM)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect();
    for row in v.chunks_mut(DIM) {
        let n = row.iter().map(|a| a * a).sum::<f32>().sqrt();
        row.iter_mut().for_each(|a| *a /= n);
    }
    v
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let passages = args.first().copied().unwrap_or(10_000);
    let rows = args.get(1).copied().unwrap_or(100_000);
    let queries = args.get(2).copied().unwrap_or(1_000);
    let home = mithridate_data::DataHome::from_env()?;
    let encoder = Encoder::minilm(&home)?;
    let mut texts = Vec::new();
    'all: for (_, address) in mithridate_rag::assets::sotu_addresses(&home)?.iter().rev() {
        for s in split_sentences(address) {
            if encoder.token_ids(&s).len() <= 64 {
                texts.push(s);
                if texts.len() == passages {
                    break 'all;
                }
            }
        }
    }
    let tokens: usize = texts.iter().map(|t| encoder.token_ids(t).len()).sum();
    let start = Instant::now();
    encoder.encode(&texts)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "embedded {} passages (<= 64 tokens, mean {:.1}) in {secs:.1} s: {:.0} passages/s",
        texts.len(),
        tokens as f64 / texts.len().max(1) as f64,
        texts.len() as f64 / secs
    );
    let index = DenseIndex::new(unit_rows(rows, 1), DIM)?;
    let q = unit_rows(queries, 2);
    let start = Instant::now();
    let hits = index.search(&q, 20)?;
    println!(
        "retrieved top-20 for {} queries over {rows} passages in {:.2} s",
        hits.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
