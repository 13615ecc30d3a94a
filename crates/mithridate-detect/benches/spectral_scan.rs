//! Time of a spectral-signatures scan of the full MNIST training set (60,000 images), features
//! included: CNN penultimate embeddings (128-d) + per-class eigendecomposition + scoring.
//! The CNN is trained for one epoch on 2,000 images first (training is not timed).
//! Run: `cargo bench -p mithridate-detect --bench spectral_scan`.

use mithridate_core::ParamGuard;
use mithridate_data::{load, DataHome, Split};
use mithridate_detect::spectral::SpectralParams;
use mithridate_detect::Embeddings;
use mithridate_engine::{Architecture, Classifier, TrainParams};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let home = DataHome::from_env()?;
    let train = load(&home, "mnist", Split::Train)?;
    let arch = Architecture::Cnn;
    let mut model = Classifier::new(arch, train.modality(), train.num_classes(), 0)?;
    let mut p = TrainParams::default_for(arch);
    p.epochs = 1;
    let warmup: Vec<usize> = (0..2000).collect();
    model.fit(&train.select(&warmup)?, &p.check()?, 0, &mut |_| {})?;
    let detector = SpectralParams::default().check()?;
    for round in 0..3 {
        let start = Instant::now();
        let (values, dim) = model.embeddings(&train)?;
        let features = start.elapsed().as_secs_f64();
        let emb = Embeddings::new(
            &values,
            dim,
            train.labels(),
            train.ids(),
            train.num_classes(),
        )?;
        let d = detector.detect_embeddings(&emb)?;
        let total = start.elapsed().as_secs_f64();
        println!(
            "round {round}: {} samples x {dim} dims: features {features:.2} s, spectral {:.2} s, total {total:.2} s ({} flagged)",
            train.len(),
            total - features,
            d.flagged.len()
        );
    }
    Ok(())
}
