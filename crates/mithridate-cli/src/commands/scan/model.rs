//! `mithridate scan model`: is this model backdoored, and toward which class? Neural Cleanse
//! over a small trusted set, for Mithridate models and imported ONNX classifiers.

use crate::commands::model_arg::{OnnxInputArgs, RunModel};
use crate::output::{self, Context};
use anyhow::{Context as _, Result};
use clap::Args;
use mithridate_core::fsutil::{write_atomic, FileMode};
use mithridate_core::ParamGuard;
use mithridate_data::{DataHome, Split};
use mithridate_gate::model_scan::{trigger_png, ANOMALY_THRESHOLD};
use mithridate_gate::{scan_model, ReverseParams};
use mithridate_pipeline::data::subsample;
use serde_json::json;
use std::path::PathBuf;

#[derive(Args)]
pub struct ScanModelArgs {
    /// The model to inspect: a Mithridate model or an `.onnx` classifier.
    #[arg(long)]
    pub model: PathBuf,
    /// Trusted clean data (built-in dataset name or .npz); inputs in [0, 1].
    #[arg(long)]
    pub data: String,
    /// Split of a built-in dataset (ignored for .npz files).
    #[arg(long, default_value_t = Split::Test)]
    pub split: Split,
    /// Trusted samples drawn from --data (seeded by --seed).
    #[arg(long, default_value_t = 2000)]
    pub max_samples: usize,
    /// Adam steps per class.
    #[arg(long, default_value_t = ReverseParams::default().steps)]
    pub steps: usize,
    /// Inputs per step.
    #[arg(long, default_value_t = ReverseParams::default().batch_size)]
    pub batch_size: usize,
    /// Inputs of other classes each class's trigger is optimised on.
    #[arg(long, default_value_t = ReverseParams::default().samples)]
    pub samples: usize,
    /// Initial weight of the mask's L1 norm.
    #[arg(long, default_value_t = ReverseParams::default().l1_weight)]
    pub l1_weight: f64,
    /// Write each flagged class's reverse-engineered trigger (`m * p`) as a PNG picture,
    /// `class-K.png`, into this directory (image data only).
    #[arg(long, value_name = "DIR")]
    pub triggers: Option<PathBuf>,
    /// Write the full scan (per-class triggers and anomaly indices) as JSON here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub onnx: OnnxInputArgs,
}

pub fn run(args: ScanModelArgs, ctx: &Context) -> Result<()> {
    let params = ReverseParams {
        steps: args.steps,
        batch_size: args.batch_size,
        samples: args.samples,
        l1_weight: args.l1_weight,
        ..ReverseParams::default()
    }
    .check()?;
    let model = RunModel::load(&args.model, &args.onnx)?;
    let home = DataHome::from_env()?;
    let data = mithridate_data::load(&home, &args.data, args.split)
        .with_context(|| format!("loading '{}'", args.data))?;
    let data = subsample(data, Some(args.max_samples), ctx.seed)?;
    if data.is_empty() {
        anyhow::bail!("the trusted set '{}' is empty", args.data);
    }
    model.check_compatible(&data)?;
    let started = std::time::Instant::now();
    let scan = scan_model(model.gradient_model(), &data, &params)?;
    let seconds = started.elapsed().as_secs_f64();
    let mut pictures = Vec::new();
    if let Some(dir) = &args.triggers {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for class in scan.classes.iter().filter(|c| c.flagged) {
            let png = trigger_png(&class.trigger, data.modality())?;
            let path = dir.join(format!("class-{}.png", class.class));
            write_atomic(&path, &png, FileMode::Shared)
                .with_context(|| format!("writing {}", path.display()))?;
            pictures.push(path);
        }
    }
    let detectors = json!({ "neural-cleanse": {
        "classes": scan.classes,
        "median_mask_norm": scan.median_norm,
        "mad": scan.mad,
        "threshold": ANOMALY_THRESHOLD,
        "parameters": scan.params,
        "seconds": seconds,
    }});
    let report = json!({
        "model": args.model,
        "data": args.data,
        "samples": data.len(),
        "verdict": scan.verdict,
        "target_classes": scan.target_classes,
        "detectors": detectors,
        "trigger_pictures": pictures,
    });
    if let Some(out) = &args.output {
        output::write_json(out, &report)?;
    }
    if ctx.json {
        return ctx.print_json(&report);
    }
    let rows: Vec<Vec<String>> = scan
        .classes
        .iter()
        .map(|c| {
            vec![
                c.class.to_string(),
                format!("{:.1}", c.trigger.mask_norm),
                format!("{:.1}%", 100.0 * c.trigger.success),
                format!("{:.2}", c.anomaly_index),
                if c.flagged { "yes" } else { "" }.to_string(),
            ]
        })
        .collect();
    println!(
        "{}",
        output::table(
            &["class", "mask L1", "success", "anomaly index", "flagged"],
            &rows
        )
    );
    println!(
        "verdict: {} (Neural Cleanse, anomaly index > {ANOMALY_THRESHOLD}; target classes {:?}; {} trusted samples, {seconds:.1} s)",
        scan.verdict,
        scan.target_classes,
        data.len()
    );
    for p in &pictures {
        println!("trigger picture: {}", p.display());
    }
    Ok(())
}
