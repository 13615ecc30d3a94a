//! Inference throughput (forward without gradients) of the MNIST MLP and CNN: samples/s of
//! [`Classifier::predict`] and [`Classifier::embeddings`] over the first
//! `MITHRIDATE_BENCH_SAMPLES` (default 10,000) MNIST test images, median of 3 runs.
//! `MITHRIDATE_BENCH_SPLIT=train` reads the 60,000 training images instead (a detector's
//! full embedding scan).
//!
//! `cargo bench -p mithridate-engine --bench inference`

// The `mithridate` binary's allocator (see its main.rs), so the bench measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use mithridate_data::{load, DataHome, Split};
use mithridate_engine::{Architecture, Classifier};

const REPEATS: usize = 3;

/// Median samples/s of `REPEATS` runs of `f` over `n` samples.
fn median_samples_per_sec(
    n: usize,
    mut f: impl FnMut() -> Result<(), Box<dyn std::error::Error>>,
) -> Result<f64, Box<dyn std::error::Error>> {
    let mut rates = Vec::with_capacity(REPEATS);
    for _ in 0..REPEATS {
        let start = Instant::now();
        f()?;
        rates.push(n as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[REPEATS / 2])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let samples: usize = std::env::var("MITHRIDATE_BENCH_SAMPLES")
        .ok()
        .map_or(Ok(10_000), |s| s.parse())?;
    let split = match std::env::var("MITHRIDATE_BENCH_SPLIT").as_deref() {
        Ok("train") => Split::Train,
        Ok("test") | Err(_) => Split::Test,
        Ok(other) => {
            return Err(format!("MITHRIDATE_BENCH_SPLIT must be train or test, not {other}").into())
        }
    };
    let full = load(&DataHome::from_env()?, "mnist", split)?;
    let rows: Vec<usize> = (0..samples.min(full.len())).collect();
    let data = full.select(&rows)?;
    let threads = candle_core::utils::get_num_threads();
    for arch in [Architecture::Mlp, Architecture::Cnn] {
        // Inference cost does not depend on the weights' values: a seeded untrained model will do.
        let model = Classifier::new(arch, data.modality(), data.num_classes(), 0)?;
        let predict = median_samples_per_sec(data.len(), || {
            std::hint::black_box(model.predict(&data)?);
            Ok(())
        })?;
        let embed = median_samples_per_sec(data.len(), || {
            std::hint::black_box(model.embeddings(&data)?);
            Ok(())
        })?;
        println!(
            "mithridate {arch} inference: predict {predict:.0} samples/s, embeddings {embed:.0} samples/s ({} MNIST {split:?} images, {threads} threads, median of {REPEATS})",
            data.len()
        );
    }
    Ok(())
}
