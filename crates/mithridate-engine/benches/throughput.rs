//! Training and inference throughput of the MNIST MLP and CNN: training samples/s over one
//! epoch of the first `MITHRIDATE_BENCH_SAMPLES` (default 10,000) training images (Adam,
//! batch 64), inference samples/s of [`Classifier::predict`] over as many test images; best of
//! `MITHRIDATE_BENCH_REPEATS` (default 3) each, on `RAYON_NUM_THREADS` threads. `bench/engine.sh` runs this next to the PyTorch twin
//! (`bench/pytorch_throughput.py`) at 1 and 2 threads and prints the ratios; both print
//! `<impl> <model> <train|infer>: <n> samples/s (...)` lines that it parses.
//!
//! `MITHRIDATE_BENCH_CANDLE_CONV2D=1` also times the same CNN written with candle's own
//! `conv2d`/`max_pool2d` and plain SGD (the formulation the engine replaced; several times slower).
//!
//! `cargo bench -p mithridate-engine --bench throughput`

// The `mithridate` binary's allocator (see its main.rs): glibc malloc costs ~2x on CNN training.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use mithridate_data::{load, DataHome, Dataset, Features, Split};
use mithridate_engine::{Architecture, Classifier, TrainParams};

/// Measurements per number reported (best of), `MITHRIDATE_BENCH_REPEATS` (default 3).
fn repeats() -> usize {
    std::env::var("MITHRIDATE_BENCH_REPEATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(3)
}

fn engine_samples_per_sec(
    arch: Architecture,
    data: &Dataset,
) -> Result<f64, Box<dyn std::error::Error>> {
    let mut params = TrainParams::default_for(arch);
    params.epochs = 1;
    let cfg = params.check()?;
    let mut best = 0f64;
    for rep in 0..repeats() {
        let mut model = Classifier::new(arch, data.modality(), data.num_classes(), rep as u64)?;
        let report = model.fit(data, &cfg, rep as u64, &mut |_| {})?;
        best = best.max(report.samples_per_sec);
    }
    Ok(best)
}

/// Forward + backward + SGD step of the engine's CNN architecture written with candle's
/// NCHW `conv2d` and `max_pool2d` (the formulation the engine replaces).
fn candle_conv2d_samples_per_sec(data: &Dataset, batch: usize) -> candle_core::Result<f64> {
    let dev = Device::Cpu;
    let xs = match data.features() {
        Features::Dense(v) => v.clone(),
        Features::Tokens(_) => candle_core::bail!("MNIST is dense"),
    };
    let n = data.len() / batch * batch;
    let x = Tensor::from_vec(xs[..n * 784].to_vec(), (n, 1, 28, 28), &dev)?;
    let y = Tensor::from_slice(&data.labels()[..n], n, &dev)?;
    let mut best = 0f64;
    for _ in 0..repeats() {
        let params = [
            Var::randn(0f32, 0.2, (16, 1, 5, 5), &dev)?,
            Var::zeros(16, candle_core::DType::F32, &dev)?,
            Var::randn(0f32, 0.05, (32, 16, 5, 5), &dev)?,
            Var::zeros(32, candle_core::DType::F32, &dev)?,
            Var::randn(0f32, 0.025, (128, 1568), &dev)?,
            Var::zeros(128, candle_core::DType::F32, &dev)?,
            Var::randn(0f32, 0.09, (10, 128), &dev)?,
            Var::zeros(10, candle_core::DType::F32, &dev)?,
        ];
        let start = Instant::now();
        for b in (0..n).step_by(batch) {
            let xb = x.narrow(0, b, batch)?;
            let yb = y.narrow(0, b, batch)?;
            let h = xb
                .conv2d(&params[0], 2, 1, 1, 1)?
                .broadcast_add(&params[1].reshape((1, 16, 1, 1))?)?
                .max_pool2d(2)?
                .relu()?;
            let h = h
                .conv2d(&params[2], 2, 1, 1, 1)?
                .broadcast_add(&params[3].reshape((1, 32, 1, 1))?)?
                .max_pool2d(2)?
                .relu()?
                .flatten_from(1)?;
            let h = h
                .matmul(&params[4].t()?)?
                .broadcast_add(&params[5])?
                .relu()?;
            let logits = h.matmul(&params[6].t()?)?.broadcast_add(&params[7])?;
            let loss = candle_nn::loss::cross_entropy(&logits, &yb)?;
            let grads = loss.backward()?;
            for p in &params {
                if let Some(g) = grads.get(p) {
                    p.set(&(p.as_tensor() - (g * 1e-2)?)?)?;
                }
            }
        }
        best = best.max(n as f64 / start.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Best samples/s of [`repeats`] calls of `predict` on `data` (an untrained model: inference cost
/// does not depend on the weights' values).
fn inference_samples_per_sec(
    arch: Architecture,
    data: &Dataset,
) -> Result<f64, Box<dyn std::error::Error>> {
    let model = Classifier::new(arch, data.modality(), data.num_classes(), 0)?;
    let mut best = 0f64;
    for _ in 0..repeats() {
        let start = Instant::now();
        std::hint::black_box(model.predict(data)?);
        best = best.max(data.len() as f64 / start.elapsed().as_secs_f64());
    }
    Ok(best)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let samples: usize = std::env::var("MITHRIDATE_BENCH_SAMPLES")
        .ok()
        .map_or(Ok(10_000), |s| s.parse())?;
    let home = DataHome::from_env()?;
    let first = |split| -> Result<Dataset, Box<dyn std::error::Error>> {
        let full = load(&home, "mnist", split)?;
        let rows: Vec<usize> = (0..samples.min(full.len())).collect();
        Ok(full.select(&rows)?)
    };
    let (train, test) = (first(Split::Train)?, first(Split::Test)?);
    let threads = rayon::current_num_threads();
    for arch in [Architecture::Mlp, Architecture::Cnn] {
        let sps = engine_samples_per_sec(arch, &train)?;
        println!(
            "mithridate {arch} train: {sps:.0} samples/s (1 epoch of {}, batch 64, Adam, {threads} threads, best of {})",
            train.len(),
            repeats()
        );
        let sps = inference_samples_per_sec(arch, &test)?;
        println!(
            "mithridate {arch} infer: {sps:.0} samples/s (predict on {} test images, {threads} threads, best of {})",
            test.len(),
            repeats()
        );
    }
    if std::env::var_os("MITHRIDATE_BENCH_CANDLE_CONV2D").is_some() {
        // candle's conv2d is several times slower: a quarter of the samples keeps it short.
        let rows: Vec<usize> = (0..train.len() / 4).collect();
        let quarter = train.select(&rows)?;
        let sps = candle_conv2d_samples_per_sec(&quarter, 64)?;
        println!(
            "candle conv2d cnn (same layers, plain SGD): {sps:.0} samples/s (1 epoch of {}, best of {})",
            quarter.len(),
            repeats()
        );
    }
    Ok(())
}
