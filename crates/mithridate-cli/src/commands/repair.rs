//! `mithridate repair`: make a backdoored model safe with a small trusted clean set
//! (fine-tuning, fine-pruning, Neural Cleanse unlearning), with clean accuracy and attack
//! success before and after.

use crate::output::{self, Context};
use anyhow::{Context as _, Result};
use clap::Args;
use mithridate_attack::GroundTruth;
use mithridate_data::{DataHome, Dataset, Split};
use mithridate_engine::Classifier;
use mithridate_pipeline::attack::{accuracy, assess_model};
use mithridate_pipeline::data::subsample;
use mithridate_repair::REPAIRS;
use serde_json::{json, Value};
use std::path::PathBuf;

fn method_help() -> String {
    format!("Repair method:\n{}", REPAIRS.listing())
}

#[derive(Args)]
pub struct RepairArgs {
    /// The model to repair: a Mithridate model (safetensors with its `.json` card). ONNX
    /// imports are refused: they can be run and differentiated here, not retrained.
    #[arg(long, required_unless_present = "list")]
    pub model: Option<PathBuf>,
    #[arg(long, default_value = "fine-pruning", long_help = method_help())]
    pub method: String,
    /// Method parameter as key=value (repeatable), e.g. -p epochs=5 -p max-accuracy-drop=0.02.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Trusted clean data the repair may use (built-in dataset name or .npz).
    #[arg(long, required_unless_present = "list")]
    pub data: Option<String>,
    /// Split of a built-in --data the trusted samples are drawn from.
    #[arg(long, default_value_t = Split::Train)]
    pub split: Split,
    /// Trusted samples drawn from --data (seeded by --seed).
    #[arg(long, default_value_t = 2000)]
    pub max_samples: usize,
    /// Evaluation data for the before/after numbers (default: the test split of a built-in
    /// --data; none for an .npz unless given).
    #[arg(long)]
    pub test: Option<String>,
    /// Ground truth of the backdoor (`<poisoned>.npz.truth.json`): also report the attack
    /// success rate before and after.
    #[arg(long)]
    pub trigger: Option<PathBuf>,
    /// Where to write the repaired model (safetensors + `.json` card).
    #[arg(short, long, required_unless_present = "list")]
    pub output: Option<PathBuf>,
    /// List the repair methods with their parameters and defaults, then exit.
    #[arg(long)]
    pub list: bool,
}

/// Clean accuracy and, with a trigger, the attack success rate of `model` on `test`.
fn measure(model: &Classifier, test: &Dataset, truth: Option<&GroundTruth>) -> Result<Value> {
    Ok(match truth {
        Some(t) => {
            let a = assess_model(t, model, test)?;
            json!({"clean_accuracy": a.clean_accuracy, "attack_success_rate": a.attack_success_rate})
        }
        None => json!({"clean_accuracy": accuracy(model, test)?, "attack_success_rate": null}),
    })
}

pub fn run(args: RepairArgs, ctx: &Context) -> Result<()> {
    if args.list {
        return output::print_registry(ctx, "repairs", &REPAIRS);
    }
    let (Some(model_path), Some(data_name), Some(out)) = (&args.model, &args.data, &args.output)
    else {
        anyhow::bail!("--model, --data and --output are required");
    };
    let params = mithridate_core::registry::params_from_pairs(&args.params)
        .map_err(|e| anyhow::anyhow!("-p: {e}"))?;
    let repair = mithridate_repair::build(&args.method, &params)?;
    if mithridate_onnx::is_onnx_path(model_path) {
        anyhow::bail!(
            "{} is an ONNX import: Mithridate can run and differentiate it (evaluate, scan) but not retrain it; repair it in the framework that trained it",
            model_path.display()
        );
    }
    let (model, card) = Classifier::load(model_path)
        .with_context(|| format!("loading model {}", model_path.display()))?;
    let home = DataHome::from_env()?;
    let trusted = mithridate_data::load(&home, data_name, args.split)
        .with_context(|| format!("loading '{data_name}'"))?;
    let trusted =
        subsample(trusted, Some(args.max_samples), ctx.seed)?.widen_classes(model.num_classes());
    let test_name = args
        .test
        .clone()
        .or_else(|| mithridate_pipeline::data::is_builtin(data_name).then(|| data_name.clone()));
    let test = match &test_name {
        Some(name) => {
            let t = mithridate_data::load(&home, name, Split::Test)
                .with_context(|| format!("loading test data '{name}'"))?
                .widen_classes(model.num_classes());
            if t.is_empty() {
                anyhow::bail!("the test set '{name}' is empty");
            }
            model.check_compatible(&t)?;
            Some(t)
        }
        None => None,
    };
    let truth = match &args.trigger {
        Some(path) => Some(GroundTruth::read(path)?),
        None => None,
    };
    if truth.is_some() && test.is_none() {
        anyhow::bail!("--trigger needs evaluation data: give --test");
    }
    let before = match &test {
        Some(t) => Some(measure(&model, t, truth.as_ref())?),
        None => None,
    };
    let started = std::time::Instant::now();
    let repaired = repair.repair(&model, &trusted, ctx.seed)?;
    let seconds = started.elapsed().as_secs_f64();
    let after = match &test {
        Some(t) => Some(measure(&repaired.model, t, truth.as_ref())?),
        None => None,
    };
    let mut new_card = card.clone();
    new_card.dataset = format!(
        "{} (repaired by {} on {} samples of {data_name})",
        card.dataset,
        repair.name(),
        trusted.len()
    );
    if let Some(a) = &after {
        if let Some(acc) = a["clean_accuracy"].as_f64() {
            new_card.metrics.insert("test_accuracy".into(), acc);
        }
    }
    repaired
        .model
        .save(out, &new_card)
        .with_context(|| format!("writing {}", out.display()))?;
    let report = json!({
        "model": model_path,
        "method": repair.name(),
        "parameters": repair.parameters(),
        "trusted": {"data": data_name, "split": args.split.to_string(), "samples": trusted.len()},
        "test": test_name,
        "before": before,
        "after": after,
        "details": repaired.details,
        "output": out,
        "seconds": seconds,
    });
    if ctx.json {
        return ctx.print_json(&report);
    }
    let pct = |v: &Value| {
        v.as_f64()
            .map_or("-".to_string(), |x| format!("{:.2}%", 100.0 * x))
    };
    if let (Some(b), Some(a)) = (&before, &after) {
        let rows = vec![
            vec![
                "before".to_string(),
                pct(&b["clean_accuracy"]),
                pct(&b["attack_success_rate"]),
            ],
            vec![
                "after".to_string(),
                pct(&a["clean_accuracy"]),
                pct(&a["attack_success_rate"]),
            ],
        ];
        println!(
            "{}",
            output::table(&["model", "clean accuracy", "attack success"], &rows)
        );
    }
    // Scalars only: the per-class and per-unit lists are in --json.
    let summary: Vec<String> = repaired
        .details
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| !(v.is_array() || v.is_object()))
        .map(|(k, v)| match v.as_f64() {
            Some(x) if v.is_f64() => format!("{k} {x:.4}"),
            _ => format!("{k} {v}"),
        })
        .collect();
    println!(
        "{} on {} trusted samples in {seconds:.1} s: {}",
        repair.name(),
        trusted.len(),
        summary.join(", ")
    );
    println!("repaired model written to {}", out.display());
    Ok(())
}
