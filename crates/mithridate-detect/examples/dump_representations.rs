//! Writes a trained model's penultimate embeddings and class probabilities of a training set
//! as raw little-endian f32 files (`PREFIX.emb.f32`, `PREFIX.prob.f32`, with `PREFIX.shape.txt`
//! holding `n dim classes`), for analysing detector statistics outside Rust (e.g. numpy).
//!
//! `cargo run --release -p mithridate-detect --example dump_representations -- data.npz model.safetensors PREFIX`

use mithridate_data::{load, DataHome, Split};
use mithridate_engine::Classifier;
use std::io::Write;
use std::path::Path;

fn write_f32(path: &str, values: &[f32]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for v in values {
        out.write_all(&v.to_le_bytes())?;
    }
    out.flush()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, model, prefix] = args.as_slice() else {
        return Err("usage: dump_representations DATA.npz MODEL.safetensors PREFIX".into());
    };
    let data = load(&DataHome::from_env()?, data, Split::Train)?;
    let (model, _) = Classifier::load(Path::new(model))?;
    let (emb, dim) = model.embeddings(&data)?;
    let prob = model.predict_proba(&data)?;
    write_f32(&format!("{prefix}.emb.f32"), &emb)?;
    write_f32(&format!("{prefix}.prob.f32"), &prob)?;
    std::fs::write(
        format!("{prefix}.shape.txt"),
        format!("{} {dim} {}\n", data.len(), data.num_classes()),
    )?;
    Ok(())
}
