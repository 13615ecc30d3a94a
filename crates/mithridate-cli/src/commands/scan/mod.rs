//! `mithridate scan data` (poisoned-sample detection on a training set) and `mithridate scan
//! input` (STRIP, triggered inputs at inference).
//!
//! `scan data -o flags.json` writes one detection object
//! `{"detector", "parameters", "flagged": [id...], "scores": [[id, score]...], "classes": [...],
//! "relabel": [[id, label]...]}` for one detector, or a JSON array of them for several
//! (`--detector all` or a comma list).
//!
//! `scan data --model x.onnx` scans with a user's PyTorch-exported classifier: embeddings are
//! the output of the graph value `--layer` (default: the input of the last `Gemm`/`MatMul`
//! computed from the graph input, i.e. the penultimate activations, what a Mithridate model
//! gives) and predictions its arg-max logits; detectors that train their own models use
//! `--arch` (default per modality), as without a model.

mod input;
mod model;

use crate::commands::model_arg::{load_model, OnnxInputArgs, RunModel};
use crate::output::{self, Context};
use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use mithridate_attack::GroundTruth;
use mithridate_core::registry::Requirement;
use mithridate_core::ParamGuard;
use mithridate_data::{DataHome, Split};
use mithridate_detect::metrics::DetectionMetrics;
use mithridate_detect::registry::{DETECTORS, INPUT_DETECTORS};
use mithridate_detect::Detection;
use mithridate_engine::Architecture;
use mithridate_pipeline::data::{non_empty, subsample, trusted_clean_set};
use mithridate_pipeline::defence::DetectorSpec;
use mithridate_pipeline::defend::{scan, scan_onnx, ScanSetup};
use mithridate_pipeline::train::ModelParams;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ScanCommand {
    /// Score every training sample for poison; flagged ids per detector (flags.json).
    Data(ScanDataArgs),
    /// Flag triggered inputs at inference time (STRIP); FAR/FRR with --truth.
    Input(input::ScanInputArgs),
    /// Is a model backdoored, toward which class? (MM-BD against clean references, Neural Cleanse.)
    Model(model::ScanModelArgs),
}

/// `--detector` values: every registered training-set detector, and `all`.
fn detector_names() -> Vec<&'static str> {
    let mut names = DETECTORS.names();
    names.push("all");
    names
}

/// Detector choice and hyperparameters, shared by `scan data` and `defend-sweep`.
#[derive(Args, Clone)]
pub struct DetectorOptions {
    /// Expected poison share the detectors that assume one take (spectral: of each class;
    /// loss: of the set); default: each detector's own (0.1).
    #[arg(long)]
    pub expected_rate: Option<f64>,
    /// A detector hyperparameter as DETECTOR.KEY=VALUE (repeatable), e.g.
    /// -P knn.k=20 -P activation-clustering.consistency-gap=0.5 -P loss.direction=low
    /// (`mithridate scan data --list` shows every detector's parameters and defaults).
    #[arg(
        short = 'P',
        long = "detector-param",
        value_name = "DETECTOR.KEY=VALUE"
    )]
    pub detector_params: Vec<String>,
}

impl DetectorOptions {
    /// The checked detectors called `names` (`all`: every one, duplicates removed), each
    /// with its `-p` parameters.
    pub fn build(&self, names: &[String]) -> Result<Vec<DetectorSpec>> {
        let mut expanded: Vec<&str> = Vec::new();
        for name in names {
            let list = if name == "all" {
                // Detectors that need trusted clean samples are named explicitly.
                DETECTORS
                    .entries()
                    .iter()
                    .filter(|e| !e.requires.contains(&Requirement::CleanSet))
                    .map(|e| e.name)
                    .collect()
            } else {
                vec![DETECTORS.get(name)?.name]
            };
            for n in list {
                if !expanded.contains(&n) {
                    expanded.push(n);
                }
            }
        }
        let mut pairs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for p in &self.detector_params {
            let (detector, pair) = p
                .split_once('.')
                .with_context(|| format!("-P '{p}': expected DETECTOR.KEY=VALUE, e.g. knn.k=20"))?;
            let name = DETECTORS.get(detector)?.name;
            if !expanded.contains(&name) {
                anyhow::bail!("-P '{p}': detector '{name}' is not selected by --detector");
            }
            pairs.entry(name).or_default().push(pair);
        }
        expanded
            .into_iter()
            .map(|name| {
                let params = mithridate_core::registry::params_from_pairs(
                    pairs.get(name).map_or(&[][..], |v| v.as_slice()),
                )
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                Ok(DetectorSpec::new(name, &params, self.expected_rate)?)
            })
            .collect()
    }
}

/// `scan data --list`: both registries.
fn list(ctx: &Context) -> Result<()> {
    if ctx.json {
        let entries: Vec<_> = DETECTORS
            .entries()
            .iter()
            .map(|e| (e.name, e.role, e.summary, e.paper, e.taxonomy.mitre_atlas))
            .chain(
                INPUT_DETECTORS
                    .entries()
                    .iter()
                    .map(|e| (e.name, e.role, e.summary, e.paper, e.taxonomy.mitre_atlas)),
            )
            .map(|(name, role, summary, paper, atlas)| {
                json!({"name": name, "role": role.name(), "summary": summary, "paper": paper, "mitre_atlas": atlas})
            })
            .collect();
        return ctx.print_json(&json!({ "detectors": entries }));
    }
    println!("training-set detectors (scan data, defend-sweep, assessment defences):");
    println!("{}\n", DETECTORS.listing());
    println!("inference-time detectors (scan input, assessment defences):");
    println!("{}", INPUT_DETECTORS.listing());
    Ok(())
}

#[derive(Args)]
pub struct ScanDataArgs {
    /// Built-in dataset name (its training split) or an .npz file in the interchange format.
    #[arg(long, required_unless_present = "list")]
    pub data: Option<String>,
    /// A model trained on this data: a Mithridate model (`mithridate train`) or a classifier
    /// exported to ONNX (`.onnx`, e.g. by PyTorch; see --layer and the --input-* flags);
    /// without it one is trained.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// ONNX models only: the graph value whose output (flattened per sample) is the embedding
    /// (default: the input of the last Gemm/MatMul, the penultimate activations).
    #[arg(long, value_name = "NAME")]
    pub layer: Option<String>,
    #[command(flatten)]
    pub onnx: OnnxInputArgs,
    /// Detectors, comma-separated, or `all`.
    #[arg(long, value_parser = detector_names(), value_delimiter = ',', default_value = "spectral")]
    pub detector: Vec<String>,
    /// List the detectors with their parameters and defaults, then exit.
    #[arg(long)]
    pub list: bool,
    #[command(flatten)]
    pub options: DetectorOptions,
    /// Architecture of trained models (the scan model without --model, and the models of
    /// confident learning / the loss detector); default: --model's (a Mithridate model),
    /// else per modality.
    #[arg(long)]
    pub arch: Option<Architecture>,
    /// Training epochs of trained models (default: the family's default).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Scan a seeded stratified subset of at most this many samples.
    #[arg(long)]
    pub max_train: Option<usize>,
    /// Ground truth (`<poisoned>.npz.truth.json`): report precision, recall, F1, AUROC.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Trusted clean samples for detectors that need them (confusion): a built-in dataset
    /// name (its test split) or an .npz file; none of them may be in --data.
    #[arg(long, value_name = "SOURCE")]
    pub clean_set: Option<String>,
    /// Use a seeded stratified subset of at most this many --clean-set samples.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max_clean: usize,
    /// Write the detections here (flags.json).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

fn scan_data(args: ScanDataArgs, ctx: &Context) -> Result<()> {
    if args.list {
        return list(ctx);
    }
    let source = args.data.as_deref().context("--data is required")?;
    let detectors = args.options.build(&args.detector)?;
    let model_spec = ModelParams {
        architecture: args.arch,
        epochs: args.epochs,
    }
    .check()?;
    let home = DataHome::from_env()?;
    let data = mithridate_data::load(&home, source, Split::Train)
        .with_context(|| format!("loading '{source}'"))?;
    let data = non_empty(subsample(data, args.max_train, ctx.seed)?, source)?;
    let truth = match &args.truth {
        Some(p) => Some(GroundTruth::read(p)?),
        None => None,
    };
    let poisoned = truth.as_ref().map(GroundTruth::poisoned_ids);
    let clean = match &args.clean_set {
        Some(source) => Some(trusted_clean_set(
            &home,
            source,
            args.max_clean,
            ctx.seed,
            &data,
        )?),
        None => None,
    };
    let given = match &args.model {
        Some(path) => Some(load_model(path, &args.onnx)?),
        None if args.onnx.any_given() => anyhow::bail!(
            "--input-layout/--input-scale/--input-mean/--input-std/--classes apply to --model x.onnx only"
        ),
        None => None,
    };
    let (samples, runs, embedding) = match (given, &args.model) {
        (Some(RunModel::Onnx(model)), Some(path)) => {
            let layer = match &args.layer {
                Some(l) => l.clone(),
                None => model
                    .penultimate_value()
                    .map_err(|e| anyhow::anyhow!("{}: {e} (pass --layer NAME)", path.display()))?,
            };
            let samples = data.len();
            let done = scan_onnx(
                data,
                &model,
                Some(&layer),
                clean.as_ref(),
                &detectors,
                &model_spec,
                ctx.seed,
                poisoned.as_deref(),
            )?;
            (samples, done.runs, Some((done.layer, done.embedding_dim)))
        }
        (given, _) => {
            if args.layer.is_some() {
                anyhow::bail!(
                    "--layer applies to --model x.onnx only (a Mithridate model's embeddings are its penultimate activations)"
                );
            }
            let given = given.map(|m| match m {
                RunModel::Native(m) => Ok(m.0),
                RunModel::Onnx(_) => Err(anyhow::anyhow!("an ONNX model without its path")),
            });
            // Model-free detectors (input consistency) scan without training one.
            let mut bar = None;
            let setup = ScanSetup::new(
                data,
                given.transpose()?,
                &detectors,
                &model_spec,
                ctx.seed,
                &mut |done, total| {
                    bar.get_or_insert_with(|| ctx.progress(total, "training"))
                        .set_position(done)
                },
            )?;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let runs = scan(
                &detectors,
                &setup.data,
                setup.model.as_ref(),
                clean.as_ref(),
                setup.recipe,
                ctx.seed,
                poisoned.as_deref(),
            )?;
            (setup.data.len(), runs, None)
        }
    };
    let detections: Vec<Detection> = runs.iter().map(|r| r.detection.clone()).collect();
    if let Some(out) = &args.output {
        Detection::write_all(&detections, out)?;
    }
    if ctx.json {
        let items: Vec<_> = runs
            .iter()
            .map(|r| {
                json!({
                    "detector": r.detection.detector,
                    "flagged": r.detection.flagged.len(),
                    "suspicious_classes": r.detection.suspicious_classes(),
                    "classes": r.detection.classes,
                    "seconds": r.seconds,
                    "metrics": r.metrics,
                })
            })
            .collect();
        ctx.print_json(&json!({
            "data": source,
            "samples": samples,
            "model": args.model,
            "embeddings": embedding.as_ref().map(|(layer, dim)| json!({"layer": layer, "dim": dim})),
            "output": args.output,
            "detectors": items,
        }))?;
        return Ok(());
    }
    if let Some((layer, dim)) = &embedding {
        match dim {
            Some(d) => println!("embeddings: ONNX value '{layer}', {d} per sample\n"),
            None => println!("embeddings: ONNX value '{layer}' (not used by these detectors)\n"),
        }
    }
    for r in &runs {
        let rows: Vec<Vec<String>> = r
            .detection
            .classes
            .iter()
            .map(|c| {
                vec![
                    c.class.to_string(),
                    c.samples.to_string(),
                    c.flagged.to_string(),
                    if c.suspicious {
                        "yes".into()
                    } else {
                        "no".into()
                    },
                    format!("{:.4}", c.statistic),
                ]
            })
            .collect();
        println!(
            "{}: {} of {} flagged in {:.2} s",
            r.detection.detector,
            r.detection.flagged.len(),
            samples,
            r.seconds
        );
        println!(
            "{}",
            output::table(
                &["class", "samples", "flagged", "suspicious", "statistic"],
                &rows
            )
        );
        println!();
    }
    if runs.iter().any(|r| r.metrics.is_some()) {
        let rows: Vec<Vec<String>> = runs
            .iter()
            .filter_map(|r| r.metrics.map(|m| (r, m)))
            .map(|(r, m)| metric_row(&r.detection.detector, &m))
            .collect();
        println!("{}", output::table(&METRIC_HEADER, &rows));
    }
    if let Some(out) = &args.output {
        println!("flags written to {}", out.display());
    }
    if args.clean_set.is_none() && runs.iter().any(|r| r.detection.detector == "auto") {
        // The strongest member of auto needs trusted samples; say so where a user reads.
        eprintln!(
            "note: auto ran without trusted clean samples; --clean-set SOURCE (e.g. the test split of the same dataset) adds confusion training, which catches faint global triggers the other members miss"
        );
    }
    Ok(())
}

/// Header of [`metric_row`].
pub const METRIC_HEADER: [&str; 8] = [
    "detector",
    "poisoned",
    "flagged",
    "precision",
    "recall",
    "F1",
    "AUROC",
    "clean FPR",
];

/// One detector's ground-truth scores as table cells.
pub fn metric_row(name: &str, m: &DetectionMetrics) -> Vec<String> {
    vec![
        name.to_string(),
        m.poisoned.to_string(),
        m.flagged.to_string(),
        format!("{:.3}", m.precision),
        format!("{:.3}", m.recall),
        format!("{:.3}", m.f1),
        m.auroc.map_or("-".into(), |a| format!("{a:.3}")),
        format!("{:.4}", m.false_positive_rate),
    ]
}

pub fn run(cmd: ScanCommand, ctx: &Context) -> Result<()> {
    match cmd {
        ScanCommand::Data(args) => scan_data(args, ctx),
        ScanCommand::Input(args) => input::run(args, ctx),
        ScanCommand::Model(args) => model::run(args, ctx),
    }
}
