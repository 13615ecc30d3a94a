//! `mithridate scan model`: is this model backdoored, and toward which class? Neural Cleanse
//! over a small trusted set and MM-BD (no data, any trigger shape), for Mithridate models and
//! imported ONNX classifiers.

use crate::commands::model_arg::{OnnxInputArgs, RunModel};
use crate::output::{self, Context};
use anyhow::{Context as _, Result};
use clap::Args;
use mithridate_core::fsutil::{write_atomic, FileMode};
use mithridate_core::ParamGuard;
use mithridate_data::{DataHome, Split};
use mithridate_gate::max_margin::{max_margin_scan, MarginParams, MarginScan};
use mithridate_gate::model_scan::{trigger_png, ModelScan, ANOMALY_THRESHOLD};
use mithridate_gate::{scan_model, ReverseParams};
use mithridate_pipeline::data::subsample;
use serde_json::json;
use std::path::PathBuf;

/// The model-level detectors `scan model` runs.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelDetector {
    /// Neural Cleanse (Wang et al. 2019): per-class smallest trigger, MAD outlier test.
    NeuralCleanse,
    /// MM-BD (Wang, Xiang, Miller & Kesidis 2024): per-class maximum logit margin, Gamma null.
    MaxMargin,
    /// Both; the model is trojaned when either flags it.
    All,
}

#[derive(Args)]
pub struct ScanModelArgs {
    /// Which detector(s) to run; `all` flags a model when either detector does, which adds
    /// their false positives (bench/model_zoo.sh measures both; see the onnx README).
    #[arg(long, value_enum, default_value_t = ModelDetector::NeuralCleanse)]
    pub detector: ModelDetector,
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
    /// MM-BD: Adam steps of each margin ascent.
    #[arg(long, default_value_t = MarginParams::default().steps)]
    pub margin_steps: usize,
    /// MM-BD: random starting inputs per class.
    #[arg(long, default_value_t = MarginParams::default().starts)]
    pub margin_starts: usize,
    /// MM-BD: flag when the largest margin's p-value under the null is below this.
    #[arg(long, default_value_t = MarginParams::default().p_threshold)]
    pub p_threshold: f64,
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
    let margin_params = MarginParams {
        steps: args.margin_steps,
        starts: args.margin_starts,
        p_threshold: args.p_threshold,
        seed: ctx.seed,
        ..MarginParams::default()
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
    let data = model.adopt_classes(data)?;
    model.check_compatible(&data)?;
    let (run_nc, run_mm) = match args.detector {
        ModelDetector::NeuralCleanse => (true, false),
        ModelDetector::MaxMargin => (false, true),
        ModelDetector::All => (true, true),
    };
    let mut detectors = serde_json::Map::new();
    let mut target_classes: Vec<usize> = Vec::new();
    let mut nc: Option<(ModelScan, f64)> = None;
    if run_nc {
        let started = std::time::Instant::now();
        let scan = scan_model(model.gradient_model(), &data, &params)?;
        nc = Some((scan, started.elapsed().as_secs_f64()));
    }
    let mut mm: Option<(MarginScan, f64)> = None;
    if run_mm {
        let started = std::time::Instant::now();
        let scan = max_margin_scan(model.gradient_model(), &data, &margin_params)?;
        mm = Some((scan, started.elapsed().as_secs_f64()));
    }
    let mut pictures = Vec::new();
    if let Some((scan, seconds)) = &nc {
        target_classes.extend(&scan.target_classes);
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
        detectors.insert(
            "neural-cleanse".into(),
            json!({
                "target_classes": scan.target_classes,
                "classes": scan.classes,
                "median_mask_norm": scan.median_norm,
                "mad": scan.mad,
                "threshold": ANOMALY_THRESHOLD,
                "parameters": scan.params,
                "seconds": seconds,
            }),
        );
    }
    if let Some((scan, seconds)) = &mm {
        target_classes.extend(&scan.target_classes);
        let mut v = serde_json::to_value(scan)?;
        v["seconds"] = json!(seconds);
        detectors.insert("max-margin".into(), v);
    }
    target_classes.sort_unstable();
    target_classes.dedup();
    let verdict = if target_classes.is_empty() {
        "clean"
    } else {
        "trojaned"
    };
    let report = json!({
        "model": args.model,
        "data": args.data,
        "samples": data.len(),
        "verdict": verdict,
        "target_classes": target_classes,
        "detectors": detectors,
        "trigger_pictures": pictures,
    });
    if let Some(out) = &args.output {
        output::write_json(out, &report)?;
    }
    if ctx.json {
        return ctx.print_json(&report);
    }
    let k = data.num_classes();
    let rows: Vec<Vec<String>> = (0..k)
        .map(|class| {
            let mut row = vec![class.to_string()];
            if let Some((scan, _)) = &nc {
                match scan.classes.iter().find(|c| c.class == class) {
                    Some(c) => row.extend([
                        format!("{:.1}", c.trigger.mask_norm),
                        format!("{:.2}", c.anomaly_index),
                    ]),
                    None => row.extend([String::new(), String::new()]),
                }
            }
            if let Some((scan, _)) = &mm {
                row.push(format!("{:.2}", scan.classes[class].max_margin));
            }
            let flagged = target_classes.contains(&class);
            row.push(if flagged { "yes" } else { "" }.to_string());
            row
        })
        .collect();
    let mut header = vec!["class"];
    if nc.is_some() {
        header.extend(["NC mask L1", "NC anomaly index"]);
    }
    if mm.is_some() {
        header.push("MM-BD max margin");
    }
    header.push("flagged");
    println!("{}", output::table(&header, &rows));
    if let Some((scan, seconds)) = &nc {
        println!(
            "Neural Cleanse: {} (anomaly index > {ANOMALY_THRESHOLD}; {} trusted samples, {seconds:.1} s)",
            scan.verdict,
            data.len()
        );
    }
    if let Some((scan, seconds)) = &mm {
        println!(
            "MM-BD: {} (class {} p = {:.2e}, threshold {}; {seconds:.1} s)",
            if scan.target_classes.is_empty() {
                "clean"
            } else {
                "trojaned"
            },
            scan.top_class,
            scan.p_value,
            scan.params.p_threshold
        );
    }
    println!("verdict: {verdict}; target classes {target_classes:?}");
    for p in &pictures {
        println!("trigger picture: {}", p.display());
    }
    Ok(())
}
