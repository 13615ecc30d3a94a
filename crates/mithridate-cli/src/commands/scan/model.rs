//! `mithridate scan model`: is this model backdoored, and toward which class? Every
//! model-level detector of the `MODEL_INSPECTORS` registry (Neural Cleanse over a small
//! trusted set, MM-BD with no data and no trigger-shape assumption), for Mithridate models
//! and imported ONNX classifiers. The same registry entries serve assessments and Python.

use crate::commands::model_arg::{OnnxInputArgs, RunModel};
use crate::output::{self, Context};
use anyhow::{Context as _, Result};
use clap::Args;
use mithridate_core::fsutil::{write_atomic, FileMode};
use mithridate_core::registry::params_from_pairs;
use mithridate_data::{DataHome, Split};
use mithridate_gate::inspectors::{build_inspector, Inspection, MODEL_INSPECTORS};
use mithridate_gate::model_scan::trigger_png;
use mithridate_pipeline::data::subsample;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `--detector` values: every registered model inspector, and `all`.
fn detector_names() -> Vec<&'static str> {
    let mut names = MODEL_INSPECTORS.names();
    names.push("all");
    names
}

#[derive(Args)]
pub struct ScanModelArgs {
    /// Model-level detectors, comma-separated, or `all`; the model is trojaned when any
    /// flags it, which adds their false positives (bench/model_zoo.sh measures each; see the
    /// onnx README). The default, MM-BD against clean reference models, was the most
    /// accurate on the model zoos; `neural-cleanse` reverses every class's trigger.
    /// `--list` shows each one's paper and parameters.
    #[arg(long, value_delimiter = ',', default_value = "max-margin",
          value_parser = clap::builder::PossibleValuesParser::new(detector_names()))]
    pub detector: Vec<String>,
    /// A detector parameter as DETECTOR.KEY=VALUE (repeatable), e.g. -P neural-cleanse.steps=100
    /// -P max-margin.starts=16.
    #[arg(
        short = 'P',
        long = "detector-param",
        value_name = "DETECTOR.KEY=VALUE"
    )]
    pub detector_params: Vec<String>,
    /// List the model-level detectors and exit.
    #[arg(long)]
    pub list: bool,
    /// The model to inspect: a Mithridate model or an `.onnx` classifier.
    #[arg(long, required_unless_present = "list")]
    pub model: Option<PathBuf>,
    /// Trusted clean data (built-in dataset name or .npz); inputs in [0, 1].
    #[arg(long, required_unless_present = "list")]
    pub data: Option<String>,
    /// Split of a built-in dataset (ignored for .npz files).
    #[arg(long, default_value_t = Split::Test)]
    pub split: Split,
    /// Trusted samples drawn from --data (seeded by --seed).
    #[arg(long, default_value_t = 2000)]
    pub max_samples: usize,
    /// Neural Cleanse: Adam steps per class (= -P neural-cleanse.steps=N).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Neural Cleanse: inputs per step (= -P neural-cleanse.batch-size=N).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Neural Cleanse: inputs of other classes each class's trigger is optimised on.
    #[arg(long)]
    pub samples: Option<usize>,
    /// Neural Cleanse: initial weight of the mask's L1 norm.
    #[arg(long)]
    pub l1_weight: Option<f64>,
    /// MM-BD: Adam steps of each margin ascent (= -P max-margin.steps=N).
    #[arg(long)]
    pub margin_steps: Option<usize>,
    /// MM-BD: random starting inputs per class (= -P max-margin.starts=N).
    #[arg(long)]
    pub margin_starts: Option<usize>,
    /// MM-BD: flag when the largest margin's p-value under the null is below this.
    #[arg(long)]
    pub p_threshold: Option<f64>,
    /// Write each flagged class's reverse-engineered trigger (`m * p`) as a PNG picture,
    /// `class-K.png`, into this directory (image data; detectors that reverse a trigger).
    #[arg(long, value_name = "DIR")]
    pub triggers: Option<PathBuf>,
    /// Write the full scan (per-detector evidence) as JSON here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub onnx: OnnxInputArgs,
}

impl ScanModelArgs {
    /// The selected detectors' names (`all` expanded, duplicates removed) and their
    /// parameters: `-P` pairs, then the named flags, checked by each registry entry.
    fn detectors(&self) -> Result<Vec<(&'static str, serde_json::Value)>> {
        let mut names: Vec<&'static str> = Vec::new();
        for name in &self.detector {
            let list = if name == "all" {
                MODEL_INSPECTORS.names()
            } else {
                vec![MODEL_INSPECTORS.get(name)?.name]
            };
            for n in list {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        let mut pairs: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for p in &self.detector_params {
            let (detector, pair) = p.split_once('.').with_context(|| {
                format!("-P '{p}': expected DETECTOR.KEY=VALUE, e.g. neural-cleanse.steps=100")
            })?;
            let name = MODEL_INSPECTORS.get(detector)?.name;
            pairs.entry(name).or_default().push(pair.to_string());
        }
        let flags: [(&str, &str, Option<String>); 7] = [
            ("neural-cleanse", "steps", self.steps.map(|v| v.to_string())),
            (
                "neural-cleanse",
                "batch-size",
                self.batch_size.map(|v| v.to_string()),
            ),
            (
                "neural-cleanse",
                "samples",
                self.samples.map(|v| v.to_string()),
            ),
            (
                "neural-cleanse",
                "l1-weight",
                self.l1_weight.map(|v| v.to_string()),
            ),
            (
                "max-margin",
                "steps",
                self.margin_steps.map(|v| v.to_string()),
            ),
            (
                "max-margin",
                "starts",
                self.margin_starts.map(|v| v.to_string()),
            ),
            (
                "max-margin",
                "p-threshold",
                self.p_threshold.map(|v| v.to_string()),
            ),
        ];
        for (detector, key, value) in flags {
            if let Some(v) = value {
                pairs
                    .entry(detector)
                    .or_default()
                    .push(format!("{key}={v}"));
            }
        }
        for name in pairs.keys() {
            if !names.contains(name) {
                anyhow::bail!("parameters given for '{name}', which --detector does not select");
            }
        }
        names
            .into_iter()
            .map(|name| {
                let params = params_from_pairs(pairs.get(name).map_or(&[][..], |v| v.as_slice()))
                    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                Ok((name, params))
            })
            .collect()
    }
}

pub fn run(args: ScanModelArgs, ctx: &Context) -> Result<()> {
    if args.list {
        if ctx.json {
            let entries: Vec<_> = MODEL_INSPECTORS
                .entries()
                .iter()
                .map(|e| json!({"name": e.name, "summary": e.summary, "paper": e.paper, "mitre_atlas": e.taxonomy.mitre_atlas}))
                .collect();
            return ctx.print_json(&json!({ "detectors": entries }));
        }
        println!("{}", MODEL_INSPECTORS.listing());
        return Ok(());
    }
    let (Some(model_path), Some(data_name)) = (&args.model, &args.data) else {
        anyhow::bail!("--model and --data are required");
    };
    // Every parameter is checked before the model and data load.
    let inspectors = args
        .detectors()?
        .into_iter()
        .map(|(name, params)| Ok(build_inspector(name, &params)?))
        .collect::<Result<Vec<_>>>()?;
    let model = RunModel::load(model_path, &args.onnx)?;
    let home = DataHome::from_env()?;
    let data = mithridate_data::load(&home, data_name, args.split)
        .with_context(|| format!("loading '{data_name}'"))?;
    let data = subsample(data, Some(args.max_samples), ctx.seed)?;
    if data.is_empty() {
        anyhow::bail!("the trusted set '{data_name}' is empty");
    }
    let data = model.adopt_classes(data)?;
    model.check_compatible(&data)?;

    let mut runs: Vec<(&'static str, Inspection, f64)> = Vec::new();
    for inspector in &inspectors {
        let started = std::time::Instant::now();
        let found = inspector.inspect(model.gradient_model(), &data, ctx.seed)?;
        runs.push((inspector.name(), found, started.elapsed().as_secs_f64()));
    }
    let mut target_classes: Vec<usize> = runs
        .iter()
        .flat_map(|(_, found, _)| found.target_classes.iter().copied())
        .collect();
    target_classes.sort_unstable();
    target_classes.dedup();
    let verdict = if target_classes.is_empty() {
        "clean"
    } else {
        "trojaned"
    };

    let mut pictures = Vec::new();
    if let Some(dir) = &args.triggers {
        for (_, found, _) in &runs {
            for (class, trigger) in &found.triggers {
                if pictures.is_empty() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                let path = dir.join(format!("class-{class}.png"));
                let png = trigger_png(trigger, data.modality())?;
                write_atomic(&path, &png, FileMode::Shared)
                    .with_context(|| format!("writing {}", path.display()))?;
                pictures.push(path);
            }
        }
    }
    let detectors: serde_json::Map<String, serde_json::Value> = runs
        .iter()
        .zip(&inspectors)
        .map(|((name, found, seconds), inspector)| {
            let mut v = found.details.clone();
            if let Some(map) = v.as_object_mut() {
                map.insert("verdict".into(), json!(found.verdict()));
                map.insert("target_classes".into(), json!(found.target_classes));
                map.insert("evidence".into(), json!(found.class_scores.evidence));
                map.insert("parameters".into(), inspector.parameters());
                map.insert("seconds".into(), json!(seconds));
            }
            (name.to_string(), v)
        })
        .collect();
    let report = json!({
        "model": model_path,
        "data": data_name,
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
    print_table(&runs, &target_classes, data.num_classes());
    for (name, found, seconds) in &runs {
        let evidence = &found.class_scores.evidence;
        println!("{name}: {} ({evidence}; {seconds:.1} s)", found.verdict());
    }
    println!("verdict: {verdict}; target classes {target_classes:?}");
    for p in &pictures {
        println!("trigger picture: {}", p.display());
    }
    Ok(())
}

/// One row per class: each detector's per-class score, and whether any flagged the class.
fn print_table(runs: &[(&'static str, Inspection, f64)], flagged: &[usize], classes: usize) {
    let headers: Vec<String> = std::iter::once("class".to_string())
        .chain(
            runs.iter()
                .map(|(name, found, _)| format!("{name} {}", found.class_scores.name)),
        )
        .chain(std::iter::once("flagged".to_string()))
        .collect();
    let rows: Vec<Vec<String>> = (0..classes)
        .map(|class| {
            std::iter::once(class.to_string())
                .chain(runs.iter().map(|(_, found, _)| {
                    match found.class_scores.values.get(class).copied().flatten() {
                        Some(v) => format!("{v:.2}"),
                        None => String::new(),
                    }
                }))
                .chain(std::iter::once(
                    if flagged.contains(&class) { "yes" } else { "" }.to_string(),
                ))
                .collect()
        })
        .collect();
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    println!("{}", output::table(&header_refs, &rows));
}
