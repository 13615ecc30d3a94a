//! The README's fine-tuning measurements without the CLI (same `experiment::run`):
//! `cargo run --example finetune_measure -p mithridate-text -- ATTACK RATE LAYERS EPOCHS LR
//! TRAIN TEST DEFENCE...` (defences as `name` or `name:{json}`), printing the result's JSON.

use mithridate_text::experiment::{run, ExperimentSpec, Stage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 7 {
        return Err("usage: ATTACK RATE LAYERS EPOCHS LR TRAIN TEST [DEFENCE[:JSON]]...".into());
    }
    let mut spec = ExperimentSpec::new("spamassassin", &a[0], a[1].parse()?);
    spec.fine_tune.layers = a[2].parse()?;
    spec.fine_tune.epochs = a[3].parse()?;
    spec.fine_tune.lr = a[4].parse()?;
    spec.train_size = a[5].parse()?;
    spec.test_size = a[6].parse()?;
    for d in &a[7..] {
        spec.defences.push(match d.split_once(':') {
            None => (d.clone(), serde_json::Value::Null),
            Some((n, p)) => (n.to_string(), serde_json::from_str(p)?),
        });
    }
    let home = mithridate_data::DataHome::from_env()?;
    let mut embedder = mithridate_text::embed::Embedder::minilm(&home, true)?;
    let started = std::time::Instant::now();
    let mut last = None;
    let r = run(&home, &mut embedder, &spec, &mut |stage, done, total| {
        if stage != Stage::Encode && last != Some((stage, done)) {
            eprintln!(
                "{:>6.0} s {stage:?} {done}/{total}",
                started.elapsed().as_secs_f64()
            );
            last = Some((stage, done));
        }
    })?;
    println!("{}", serde_json::to_string_pretty(&r)?);
    eprintln!("{:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
