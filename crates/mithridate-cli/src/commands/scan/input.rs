//! `mithridate scan input`: STRIP (Gao et al. 2019) in front of a deployed model, flagging
//! triggered inputs; FAR/FRR when a backdoor's ground truth is given.

use crate::commands::model_arg::{load_model, OnnxInputArgs};
use crate::output::{self, Context};
use anyhow::{Context as _, Result};
use clap::Args;
use mithridate_attack::{apply_trigger, GroundTruth};
use mithridate_core::ParamGuard;
use mithridate_data::{DataHome, Split};
use mithridate_detect::registry::INPUT_DETECTORS;
use mithridate_detect::strip::StripParams;
use mithridate_pipeline::data::subsample;
use serde_json::json;
use std::collections::HashSet;
use std::path::PathBuf;

#[derive(Args)]
pub struct ScanInputArgs {
    /// The deployed model (a Mithridate model or an `.onnx` classifier).
    #[arg(long)]
    pub model: PathBuf,
    /// Inputs to check: a built-in dataset name (its test split) or an .npz file.
    #[arg(long)]
    pub data: String,
    /// The inference-time detector (`mithridate scan data --list` shows them).
    #[arg(long, value_parser = INPUT_DETECTORS.names(), default_value = "strip")]
    pub detector: String,
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
    #[command(flatten)]
    pub onnx: OnnxInputArgs,
}

pub fn run(args: ScanInputArgs, ctx: &Context) -> Result<()> {
    // STRIP is the one input filter; its flags are its parameters.
    INPUT_DETECTORS.get(&args.detector)?;
    let strip = StripParams {
        overlays: args.overlays,
        frr: args.frr,
    }
    .check()?;
    let loaded = load_model(&args.model, &args.onnx)?;
    let model = loaded.proba_model();
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
    let filter = strip.calibrate(model, &clean, ctx.seed)?;
    let verdict = filter.apply(model, &inputs)?;
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
        let on_triggered = filter.apply(model, &triggered)?;
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
        output::write_json(out, &serde_json::to_value(&verdict)?)?;
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
