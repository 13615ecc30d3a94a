//! `mithridate scan model`: is this model backdoored, and toward which class? Every
//! model-level detector of the `MODEL_INSPECTORS` registry (Neural Cleanse over a small
//! trusted set, MM-BD with no data and no trigger-shape assumption), for Mithridate models
//! and imported ONNX classifiers. The same registry entries serve assessments and Python.

use crate::commands::model_arg::{load_model, OnnxInputArgs};
use crate::output::{self, Context};
use anyhow::{Context as _, Result};
use clap::Args;
use mithridate_core::registry::params_from_pairs;
use mithridate_data::{DataHome, Split};
use mithridate_gate::inspectors::{ModelInspector, MODEL_INSPECTORS};
use mithridate_pipeline::data::subsample;
use mithridate_pipeline::model_scan::{
    scan_model, selected_inspectors, write_trigger_pictures, InspectorRun,
};
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
    /// Model-level detectors, comma-separated, or `all` (neural-cleanse and max-margin); the
    /// model is trojaned when any flags it, which adds their false positives
    /// (bench/model_zoo.sh measures each; see the onnx README). The default, MM-BD against
    /// clean reference models, is the cheapest with no false positive on the zoos;
    /// `consensus` runs both and flags the class they both rank first (the most accurate on
    /// the zoos measured at stop 40, at Neural Cleanse's cost; `-P
    /// consensus.neural-cleanse.steps=N`); `neural-cleanse` reverses every class's trigger.
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
    /// Neural Cleanse: Adam steps per class, at most (= -P neural-cleanse.steps=N); a class
    /// stops early after -P neural-cleanse.patience=N (default 50, 0 = never) steps without
    /// a 1% smaller mask.
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
    /// The selected detectors, each built from its `-P` pairs and named flags and checked by
    /// its registry entry (`all` expanded, duplicates removed).
    fn inspectors(&self) -> Result<Vec<Box<dyn ModelInspector>>> {
        let mut pairs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in &self.detector_params {
            let (detector, pair) = p.split_once('.').with_context(|| {
                format!("-P '{p}': expected DETECTOR.KEY=VALUE, e.g. neural-cleanse.steps=100")
            })?;
            let name = MODEL_INSPECTORS.get(detector)?.name;
            pairs
                .entry(name.to_string())
                .or_default()
                .push(pair.to_string());
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
        let selected = |n: &str| {
            let combination = mithridate_gate::inspectors::COMBINATIONS.contains(&n);
            self.detector
                .iter()
                .any(|d| d == n || (d == "all" && !combination))
        };
        // Named flags set a member's parameters wherever it runs: alone, inside `consensus`,
        // or (neither selected) where the "not a selected detector" error names them.
        let mut member_flags: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (detector, key, value) in flags {
            if let Some(v) = value {
                member_flags
                    .entry(detector.to_string())
                    .or_default()
                    .push(format!("{key}={v}"));
            }
        }
        for (detector, flag_pairs) in &member_flags {
            if selected(detector) || !selected("consensus") {
                pairs
                    .entry(detector.clone())
                    .or_default()
                    .extend(flag_pairs.iter().cloned());
            }
        }
        let mut params = pairs
            .into_iter()
            .map(|(name, pairs)| {
                let params =
                    params_from_pairs(&pairs).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                Ok((name, params))
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        if selected("consensus") {
            let given = params.remove("consensus").unwrap_or_else(|| json!({}));
            params.insert("consensus".into(), consensus_params(given, &member_flags)?);
        }
        Ok(selected_inspectors(&self.detector, &params)?)
    }
}

/// `consensus`'s nested parameters: `-P consensus.neural-cleanse.steps=5` arrives as the key
/// `neural-cleanse.steps` and is nested under its member; the members' named flags
/// (`--steps`, `--margin-steps`, ...) are added under theirs.
fn consensus_params(
    given: serde_json::Value,
    member_flags: &BTreeMap<String, Vec<String>>,
) -> Result<serde_json::Value> {
    let mut nested = serde_json::Map::new();
    let mut put = |member: &str, key: &str, value: serde_json::Value| -> Result<()> {
        let slot = nested
            .entry(member.to_string())
            .or_insert_with(|| json!({}));
        let Some(map) = slot.as_object_mut() else {
            anyhow::bail!(
                "consensus: '{member}' is a detector, give its parameters as {member}.KEY=VALUE"
            );
        };
        if map.insert(key.to_string(), value).is_some() {
            anyhow::bail!("consensus: {member}.{key} given twice");
        }
        Ok(())
    };
    for (key, value) in given.as_object().cloned().unwrap_or_default() {
        match key.split_once('.') {
            Some((member, key)) => put(member, key, value)?,
            None => anyhow::bail!(
                "consensus: '{key}' is not a member's parameter (use consensus.neural-cleanse.KEY=VALUE or consensus.max-margin.KEY=VALUE)"
            ),
        }
    }
    for (member, pairs) in member_flags {
        let values = params_from_pairs(pairs).map_err(|e| anyhow::anyhow!("{member}: {e}"))?;
        for (key, value) in values.as_object().cloned().unwrap_or_default() {
            put(member, &key, value)?;
        }
    }
    Ok(serde_json::Value::Object(nested))
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
    let inspectors = args.inspectors()?;
    let model = load_model(model_path, &args.onnx)?;
    let home = DataHome::from_env()?;
    let data = mithridate_data::load(&home, data_name, args.split)
        .with_context(|| format!("loading '{data_name}'"))?;
    let data = subsample(data, Some(args.max_samples), ctx.seed)?;
    if data.is_empty() {
        anyhow::bail!("the trusted set '{data_name}' is empty");
    }
    let scan = scan_model(&model, data, &inspectors, ctx.seed)?;
    let pictures = match &args.triggers {
        Some(dir) => write_trigger_pictures(dir, &scan.trigger_pngs()?)?,
        None => Vec::new(),
    };
    let target_classes = scan.target_classes();
    let verdict = scan.verdict();
    let report = scan.report(model_path, data_name, &pictures);
    if let Some(out) = &args.output {
        output::write_json(out, &report)?;
    }
    if ctx.json {
        return ctx.print_json(&report);
    }
    print_table(&scan.runs, &target_classes, scan.num_classes);
    for run in &scan.runs {
        let found = &run.inspection;
        let evidence = &found.class_scores.evidence;
        println!(
            "{}: {} ({evidence}; {:.1} s)",
            run.name,
            found.verdict(),
            run.seconds
        );
    }
    println!("verdict: {verdict}; target classes {target_classes:?}");
    for p in &pictures {
        println!("trigger picture: {}", p.display());
    }
    Ok(())
}

/// One row per class: each detector's per-class score, and whether any flagged the class.
fn print_table(runs: &[InspectorRun], flagged: &[usize], classes: usize) {
    let headers: Vec<String> = std::iter::once("class".to_string())
        .chain(
            runs.iter()
                .map(|run| format!("{} {}", run.name, run.inspection.class_scores.name)),
        )
        .chain(std::iter::once("flagged".to_string()))
        .collect();
    let rows: Vec<Vec<String>> = (0..classes)
        .map(|class| {
            std::iter::once(class.to_string())
                .chain(runs.iter().map(|run| {
                    match run
                        .inspection
                        .class_scores
                        .values
                        .get(class)
                        .copied()
                        .flatten()
                    {
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
