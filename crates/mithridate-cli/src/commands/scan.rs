//! `mithridate scan data` (poisoned-sample detection on a training set) and `mithridate scan
//! input` (STRIP, triggered inputs at inference).
//!
//! `scan data -o flags.json` writes one detection object
//! `{"detector", "parameters", "flagged": [id...], "scores": [[id, score]...], "classes": [...],
//! "relabel": [[id, label]...]}` for one detector, or a JSON array of them for several
//! (`--detector all` or a comma list).

use crate::commands::poison::{subsample, train_model};
use crate::output::{self, Context};
use anyhow::{Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use mithridate_attack::{apply_trigger, GroundTruth};
use mithridate_data::{DataHome, Dataset, Split};
use mithridate_detect::clustering::ClusteringParams;
use mithridate_detect::confident::{ConfidentParams, Method};
use mithridate_detect::knn::KnnParams;
use mithridate_detect::loss::{Direction, LossParams};
use mithridate_detect::metrics::{score_detection, DetectionMetrics};
use mithridate_detect::spectral::SpectralParams;
use mithridate_detect::strip::StripParams;
use mithridate_detect::{Detection, Detector, ScanContext, TrainSpec};
use mithridate_engine::{Architecture, Classifier, TrainParams};
use serde_json::json;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Subcommand)]
pub enum ScanCommand {
    /// Score every training sample for poison; flagged ids per detector (flags.json).
    Data(ScanDataArgs),
    /// Flag triggered inputs at inference time (STRIP); FAR/FRR with --truth.
    Input(ScanInputArgs),
}

/// Training-set detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DetectorKind {
    Spectral,
    ActivationClustering,
    Confident,
    Knn,
    Loss,
    /// Every detector above.
    All,
}

/// Detector hyperparameters shared by `scan data` and `defend-sweep`.
#[derive(Args, Clone)]
pub struct DetectorOptions {
    /// Expected poison share (spectral: of each class; loss: of the set).
    #[arg(long, default_value_t = 0.1)]
    pub expected_rate: f64,
    /// Flag this multiple of the expected share (spectral, loss; Tran et al. use 1.5).
    #[arg(long, default_value_t = 1.5)]
    pub removal_factor: f64,
    /// Activation clustering: PCA dimensions.
    #[arg(long, default_value_t = 10)]
    pub components: usize,
    /// Activation clustering: largest relative size of the poisoned cluster.
    #[arg(long, default_value_t = 0.35)]
    pub size_threshold: f64,
    /// Activation clustering: smallest silhouette of a poisoned class's split.
    #[arg(long, default_value_t = 0.25)]
    pub silhouette_threshold: f64,
    /// Activation clustering: smallest input-space label-agreement gap between the two
    /// clusters for the less consistent one to be flagged as dirty-labelled (1 nearly
    /// disables the check).
    #[arg(long, default_value_t = 0.3)]
    pub consistency_gap: f64,
    /// Activation clustering: robust z-score of a class's silhouette among the classes that
    /// the relative-size rule requires (0: off).
    #[arg(long, default_value_t = 2.0)]
    pub size_rule_outlier: f64,
    /// Confident learning: cross-validation folds.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Confident learning: off-diagonal, prune-by-noise-rate or both.
    #[arg(long, default_value = "prune-by-noise-rate", value_parser = parse_method)]
    pub method: Method,
    /// k-NN: neighbours per sample.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Loss detector: epochs of the short training run.
    #[arg(long, default_value_t = 1)]
    pub loss_epochs: usize,
    /// Loss detector: `high` (label noise) or `low` (backdoors learned first).
    #[arg(long, default_value = "high", value_parser = parse_direction)]
    pub loss_direction: Direction,
}

fn parse_method(s: &str) -> Result<Method, String> {
    serde_json::from_value(json!(s))
        .map_err(|_| format!("unknown method '{s}' (off-diagonal, prune-by-noise-rate, both)"))
}

fn parse_direction(s: &str) -> Result<Direction, String> {
    serde_json::from_value(json!(s)).map_err(|_| format!("unknown direction '{s}' (high, low)"))
}

impl DetectorOptions {
    /// The checked detectors for `kinds` (`all` expands to every detector, duplicates removed).
    pub fn build(&self, kinds: &[DetectorKind]) -> Result<Vec<Box<dyn Detector>>> {
        let mut expanded: Vec<DetectorKind> = Vec::new();
        for &k in kinds {
            let list = if k == DetectorKind::All {
                vec![
                    DetectorKind::Spectral,
                    DetectorKind::ActivationClustering,
                    DetectorKind::Confident,
                    DetectorKind::Knn,
                    DetectorKind::Loss,
                ]
            } else {
                vec![k]
            };
            for k in list {
                if !expanded.contains(&k) {
                    expanded.push(k);
                }
            }
        }
        expanded
            .into_iter()
            .map(|k| -> Result<Box<dyn Detector>> {
                Ok(match k {
                    DetectorKind::Spectral => Box::new(
                        SpectralParams {
                            expected_rate: self.expected_rate,
                            removal_factor: self.removal_factor,
                        }
                        .check()?,
                    ),
                    DetectorKind::ActivationClustering => Box::new(
                        ClusteringParams {
                            components: self.components,
                            size_threshold: self.size_threshold,
                            silhouette_threshold: self.silhouette_threshold,
                            consistency_gap: self.consistency_gap,
                            size_rule_outlier: self.size_rule_outlier,
                            ..ClusteringParams::default()
                        }
                        .check()?,
                    ),
                    DetectorKind::Confident => Box::new(
                        ConfidentParams {
                            folds: self.folds,
                            method: self.method,
                        }
                        .check()?,
                    ),
                    DetectorKind::Knn => Box::new(KnnParams { k: self.k }.check()?),
                    DetectorKind::Loss | DetectorKind::All => Box::new(
                        LossParams {
                            epochs: self.loss_epochs,
                            expected_rate: self.expected_rate,
                            removal_factor: self.removal_factor,
                            direction: self.loss_direction,
                        }
                        .check()?,
                    ),
                })
            })
            .collect()
    }
}

#[derive(Args)]
pub struct ScanDataArgs {
    /// Built-in dataset name (its training split) or an .npz file in the interchange format.
    #[arg(long)]
    pub data: String,
    /// A model trained on this data (`mithridate train`); without it one is trained.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Detectors, comma-separated, or `all`.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "spectral")]
    pub detector: Vec<DetectorKind>,
    #[command(flatten)]
    pub options: DetectorOptions,
    /// Architecture of trained models (the scan model without --model, and the models of
    /// confident learning / the loss detector); default: --model's, else per modality.
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
    /// Write the detections here (flags.json).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// One detector's run: its detection, wall time and (with ground truth) its scores.
pub struct DetectorRun {
    pub detection: Detection,
    pub seconds: f64,
    pub metrics: Option<DetectionMetrics>,
}

/// The training recipe of detectors that train.
pub fn train_spec(arch: Architecture, epochs: Option<usize>) -> Result<TrainSpec> {
    let mut p = TrainParams::default_for(arch);
    if let Some(e) = epochs {
        p.epochs = e;
    }
    Ok(TrainSpec {
        architecture: arch,
        config: p.check()?,
    })
}

/// Runs every detector on `data` with `model`, scoring against `poisoned` ids when given.
pub fn run_detectors(
    detectors: &[Box<dyn Detector>],
    data: &Dataset,
    model: &Classifier,
    spec: TrainSpec,
    seed: u64,
    poisoned: Option<&[u64]>,
) -> Result<Vec<DetectorRun>> {
    let ctx = ScanContext::new(data, spec, seed)?.with_model(model)?;
    detectors
        .iter()
        .map(|d| {
            let start = Instant::now();
            let detection = d
                .scan(&ctx)
                .with_context(|| format!("detector {}", d.name()))?;
            let seconds = start.elapsed().as_secs_f64();
            let metrics = match poisoned {
                Some(ids) => Some(score_detection(&detection, ids)?),
                None => None,
            };
            Ok(DetectorRun {
                detection,
                seconds,
                metrics,
            })
        })
        .collect()
}

fn scan_data(args: ScanDataArgs, ctx: &Context) -> Result<()> {
    let detectors = args.options.build(&args.detector)?;
    let home = DataHome::from_env()?;
    let data = mithridate_data::load(&home, &args.data, Split::Train)
        .with_context(|| format!("loading '{}'", args.data))?;
    let data = subsample(data, args.max_train, ctx.seed)?;
    if data.is_empty() {
        anyhow::bail!("the dataset '{}' is empty", args.data);
    }
    let truth = match &args.truth {
        Some(p) => Some(GroundTruth::read(p)?),
        None => None,
    };
    let model = match &args.model {
        Some(path) => {
            let (m, _) = Classifier::load(path)
                .with_context(|| format!("loading model {}", path.display()))?;
            m.check_compatible(&data)?;
            m
        }
        None => {
            let bar = ctx.progress(0, "training");
            let m = train_model(&data, args.arch, args.epochs, ctx.seed, &mut |_| bar.tick())?;
            bar.finish_and_clear();
            m
        }
    };
    let arch = args.arch.unwrap_or(model.architecture());
    let poisoned = truth.as_ref().map(GroundTruth::poisoned_ids);
    let runs = run_detectors(
        &detectors,
        &data,
        &model,
        train_spec(arch, args.epochs)?,
        ctx.seed,
        poisoned.as_deref(),
    )?;
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
            "data": args.data,
            "samples": data.len(),
            "model": args.model,
            "output": args.output,
            "detectors": items,
        }))?;
        return Ok(());
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
            data.len(),
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

/// Inference-time detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputDetectorKind {
    Strip,
}

#[derive(Args)]
pub struct ScanInputArgs {
    /// The deployed model.
    #[arg(long)]
    pub model: PathBuf,
    /// Inputs to check: a built-in dataset name (its test split) or an .npz file.
    #[arg(long)]
    pub data: String,
    #[arg(long, value_enum, default_value = "strip")]
    pub detector: InputDetectorKind,
    /// Clean inputs for overlays and the threshold: a built-in name (its test split) or an
    /// .npz. Samples whose ids are also in --data are removed from --data first.
    #[arg(long)]
    pub clean: String,
    /// Use a seeded subset of at most this many clean samples.
    #[arg(long, default_value_t = 2000)]
    pub max_clean: usize,
    /// Check a seeded subset of at most this many inputs.
    #[arg(long)]
    pub max_inputs: Option<usize>,
    /// Clean overlays per input (the paper: 100).
    #[arg(long, default_value_t = 32)]
    pub overlays: usize,
    /// Target false rejection rate on clean inputs.
    #[arg(long, default_value_t = 0.05)]
    pub frr: f64,
    /// Ground truth of a backdoor: also stamp its trigger on the inputs and report FAR/FRR.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Write per-input verdicts (`{"threshold", "inputs": [[id, entropy, flagged]...]}`).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

fn scan_input(args: ScanInputArgs, ctx: &Context) -> Result<()> {
    let InputDetectorKind::Strip = args.detector;
    let strip = StripParams {
        overlays: args.overlays,
        frr: args.frr,
    }
    .check()?;
    let (model, _) = Classifier::load(&args.model)
        .with_context(|| format!("loading model {}", args.model.display()))?;
    let home = DataHome::from_env()?;
    let clean = mithridate_data::load(&home, &args.clean, Split::Test)
        .with_context(|| format!("loading '{}'", args.clean))?;
    let clean = subsample(clean, Some(args.max_clean), ctx.seed)?;
    let inputs = mithridate_data::load(&home, &args.data, Split::Test)
        .with_context(|| format!("loading '{}'", args.data))?;
    let clean_ids: HashSet<u64> = clean.ids().iter().copied().collect();
    let disjoint: Vec<usize> = (0..inputs.len())
        .filter(|&r| !clean_ids.contains(&inputs.ids()[r]))
        .collect();
    let inputs = subsample(inputs.select(&disjoint)?, args.max_inputs, ctx.seed)?;
    if inputs.is_empty() {
        anyhow::bail!("no inputs left to check (are --data and --clean the same samples?)");
    }
    let filter = strip.calibrate(&model, &clean, ctx.seed)?;
    let verdict = filter.apply(&model, &inputs)?;
    let mut evaluation = None;
    if let Some(path) = &args.truth {
        let truth = GroundTruth::read(path)?;
        let Some((trigger, mapping)) = truth.trigger() else {
            anyhow::bail!("{}: not a backdoor attack (no trigger)", path.display());
        };
        let k = inputs.num_classes();
        let rows: Vec<usize> = (0..inputs.len())
            .filter(|&r| mapping.target_for(inputs.labels()[r], k).is_some())
            .collect();
        let triggered = apply_trigger(trigger, &inputs.select(&rows)?)?;
        let on_triggered = filter.apply(&model, &triggered)?;
        let frr = verdict.flagged_share();
        let far = 1.0 - on_triggered.flagged_share();
        evaluation = Some(json!({
            "frr": frr,
            "far": far,
            "clean_inputs": inputs.len(),
            "triggered_inputs": triggered.len(),
        }));
    }
    if let Some(out) = &args.output {
        crate::commands::scan::write_json(out, &serde_json::to_value(&verdict)?)?;
    }
    let flagged = verdict.inputs.iter().filter(|i| i.2).count();
    if ctx.json {
        ctx.print_json(&json!({
            "detector": "strip",
            "model": args.model,
            "data": args.data,
            "inputs": inputs.len(),
            "flagged": flagged,
            "threshold": filter.threshold,
            "parameters": filter.params,
            "evaluation": evaluation,
        }))?;
    } else {
        println!(
            "STRIP: {flagged} of {} inputs flagged (entropy threshold {:.4} bits at target FRR {}, {} overlays)",
            inputs.len(),
            filter.threshold,
            args.frr,
            args.overlays
        );
        if let Some(e) = &evaluation {
            println!(
                "with the trigger stamped on {} inputs: FAR {:.2}%, FRR {:.2}% (on {} clean inputs)",
                e["triggered_inputs"],
                100.0 * e["far"].as_f64().unwrap_or(f64::NAN),
                100.0 * e["frr"].as_f64().unwrap_or(f64::NAN),
                e["clean_inputs"]
            );
        }
    }
    Ok(())
}

/// Writes `value` as JSON atomically (temp file in the same folder + rename).
pub fn write_json(path: &std::path::Path, value: &serde_json::Value) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing {}", path.display()))?;
    serde_json::to_writer(&mut tmp, value)?;
    tmp.write_all(b"\n")?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn run(cmd: ScanCommand, ctx: &Context) -> Result<()> {
    match cmd {
        ScanCommand::Data(args) => scan_data(args, ctx),
        ScanCommand::Input(args) => scan_input(args, ctx),
    }
}
