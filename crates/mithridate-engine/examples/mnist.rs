//! Trains one architecture on a built-in image dataset with the engine's default
//! hyperparameters and reports test accuracy and throughput.
//!
//! ```text
//! cargo run --release -p mithridate-engine --example mnist -- [cnn|mlp|logreg] [epochs] [dataset] [seed]
//! ```
//! Defaults: `cnn`, the architecture's default epochs, `mnist`, seed 0. Data come from
//! `MITHRIDATE_HOME` (fetched on first use).

// The `mithridate` binary's allocator (see its main.rs): glibc malloc costs ~2x on CNN training.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use mithridate_data::{load, DataHome, Split};
use mithridate_engine::{metrics, Architecture, Classifier, TrainParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arch: Architecture = args.first().map_or("cnn", String::as_str).parse()?;
    let mut params = TrainParams::default_for(arch);
    if let Some(epochs) = args.get(1) {
        params.epochs = epochs.parse()?;
    }
    let dataset = args.get(2).map_or("mnist", String::as_str);
    let seed: u64 = args.get(3).map_or(Ok(0), |s| s.parse())?;
    let cfg = params.check()?;

    let home = DataHome::from_env()?;
    let train = load(&home, dataset, Split::Train)?;
    let test = load(&home, dataset, Split::Test)?;
    let mut model = Classifier::new(arch, train.modality(), train.num_classes(), seed)?;
    println!(
        "{arch} on {dataset}: {} train / {} test samples, {} parameters, {:?}",
        train.len(),
        test.len(),
        model.num_parameters(),
        cfg.params()
    );
    let report = model.fit(&train, &cfg, seed, &mut |_| {})?;
    for e in &report.epochs {
        println!("epoch {}: mean loss {:.4}", e.epoch, e.mean_loss);
    }
    let eval = metrics::evaluate(&model.predict(&test)?, test.labels(), test.num_classes())?;
    println!(
        "test accuracy {:.4}; trained in {:.1} s ({:.0} samples/s)",
        eval.accuracy, report.seconds, report.samples_per_sec
    );
    Ok(())
}
