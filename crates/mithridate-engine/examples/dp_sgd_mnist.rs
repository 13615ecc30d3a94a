//! DP-SGD (Abadi et al. 2016) on MNIST with the dense building blocks of
//! `mithridate_engine::dp_sgd`: an MLP 784-128-10, Poisson lots of expected size 256,
//! per-sample clipping to `C`, Gaussian noise `sigma C`, plain SGD; prints test accuracy.
//! The privacy spent is what `mithridate privacy epsilon --noise-multiplier SIGMA
//! --sampling-rate 256/60000 --steps STEPS --delta 1e-5` reports for the printed steps.
//!
//! ```text
//! cargo run --release -p mithridate-engine --example dp_sgd_mnist -- [epochs] [sigma] [clip] [lr] [seed]
//! ```
//! Defaults: 15 epochs, sigma 1.0, clip 1.0, learning rate 0.2, seed 0.

use mithridate_data::{load, DataHome, Features, Split};
use mithridate_engine::dp_sgd::{
    clipped_gradient_sum, dense_logits, noise_and_average, poisson_lot,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SIZES: [usize; 3] = [784, 128, 10];
const EXPECTED_LOT: f64 = 256.0;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> Result<T, String> {
    args.get(i).map_or(Ok(default), |s| {
        s.parse().map_err(|_| format!("bad argument '{s}'"))
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let epochs: f64 = arg(&args, 0, 15.0)?;
    let sigma: f64 = arg(&args, 1, 1.0)?;
    let clip: f32 = arg(&args, 2, 1.0)?;
    let lr: f32 = arg(&args, 3, 0.2)?;
    let seed: u64 = arg(&args, 4, 0)?;
    let home = DataHome::from_env()?;
    let (train, test) = (
        load(&home, "mnist", Split::Train)?,
        load(&home, "mnist", Split::Test)?,
    );
    let (Features::Dense(x_train), Features::Dense(x_test)) = (train.features(), test.features())
    else {
        return Err("MNIST features are not dense".into());
    };
    let n = train.len();
    let rate = EXPECTED_LOT / n as f64;
    let steps = (epochs / rate).round() as u64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // He-uniform weights, zero biases.
    let mut params: Vec<Vec<f32>> = Vec::new();
    for w in SIZES.windows(2) {
        let bound = (6.0 / w[0] as f32).sqrt();
        params.push(
            (0..w[0] * w[1])
                .map(|_| rng.random_range(-bound..bound))
                .collect(),
        );
        params.push(vec![0.0; w[1]]);
    }
    let mut grads: Vec<Vec<f32>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
    let start = std::time::Instant::now();
    let mut clipped = 0usize;
    let mut seen = 0usize;
    for _ in 0..steps {
        let lot = poisson_lot(n, rate, &mut rng);
        if lot.is_empty() {
            grads.iter_mut().for_each(|g| g.fill(0.0));
        } else {
            let labels: Vec<u32> = lot.iter().map(|&r| train.labels()[r]).collect();
            let report =
                clipped_gradient_sum(&SIZES, &params, (x_train, &lot, &labels), clip, &mut grads);
            clipped += report.norms.iter().filter(|&&v| v > clip).count();
            seen += lot.len();
        }
        noise_and_average(&mut grads, sigma * f64::from(clip), EXPECTED_LOT, &mut rng);
        for (p, g) in params.iter_mut().zip(&grads) {
            p.iter_mut().zip(g).for_each(|(w, d)| *w -= lr * d);
        }
    }
    let logits = dense_logits(&SIZES, &params, x_test);
    let correct = logits
        .chunks_exact(10)
        .zip(test.labels())
        .filter(|(row, &y)| {
            let best = (0..10)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap_or(0);
            best == y as usize
        })
        .count();
    println!(
        "DP-SGD MLP 784-128-10 on MNIST: {steps} steps (q = {rate:.6}), sigma {sigma}, clip {clip}, \
         lr {lr}: test accuracy {:.4}; {:.1}% of per-sample gradients clipped; {:.1} s",
        correct as f64 / test.len() as f64,
        100.0 * clipped as f64 / seen.max(1) as f64,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
