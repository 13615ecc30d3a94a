//! `mithridate evaluate`: accuracy and a per-class table for a saved model.

use super::model_arg::{load_model, OnnxInputArgs, RunModel};
use crate::output::{self, Context};
use anyhow::{Context as _, Result};
use clap::Args;
use mithridate_attack::GroundTruth;
use mithridate_data::Dataset;
use mithridate_data::{DataHome, Split};
use mithridate_engine::metrics;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct EvaluateArgs {
    /// A model written by `mithridate train` (safetensors with its `.json` sidecar), or an
    /// `.onnx` classifier exported from PyTorch (see the --input-* flags).
    #[arg(long)]
    pub model: PathBuf,
    /// Built-in dataset name or an .npz file in the interchange format.
    #[arg(long)]
    pub data: String,
    /// Which split of a built-in dataset to evaluate on (ignored for .npz files).
    #[arg(long, default_value_t = Split::Test)]
    pub split: Split,
    /// Ground truth of a poisoning attack (`<poisoned>.npz.truth.json`): also report the attack
    /// success rate (backdoors), targeted misclassification rate or victim outcome.
    #[arg(long)]
    pub trigger: Option<PathBuf>,
    /// A model trained on the clean data, to report the accuracy drop (with --trigger).
    #[arg(long, requires = "trigger")]
    pub clean_model: Option<PathBuf>,
    #[command(flatten)]
    pub onnx: OnnxInputArgs,
}

pub fn run(args: EvaluateArgs, ctx: &Context) -> Result<()> {
    let model = load_model(&args.model, &args.onnx)?;
    let (architecture, trained_on) = model.describe();
    let home = DataHome::from_env()?;
    let data = mithridate_data::load(&home, &args.data, args.split)
        .with_context(|| format!("loading '{}'", args.data))?;
    if data.is_empty() {
        anyhow::bail!("the evaluation set '{}' is empty", args.data);
    }
    let data = model.adopt_classes(data)?;
    model.check_compatible(&data)?;
    let evaluation = metrics::evaluate(&model.predict(&data)?, data.labels(), data.num_classes())?;
    let names = data.class_names();
    let attack = match &args.trigger {
        Some(truth) => Some(trigger_report(
            truth,
            &model,
            args.clean_model.as_deref(),
            &args.onnx,
            &data,
        )?),
        None => None,
    };
    if ctx.json {
        let per_class: Vec<_> = evaluation
            .per_class
            .iter()
            .map(|c| {
                json!({
                    "class": c.class,
                    "name": names[c.class],
                    "support": c.support,
                    "precision": c.precision,
                    "recall": c.recall,
                })
            })
            .collect();
        ctx.print_json(&json!({
            "model": args.model,
            "architecture": architecture,
            "trained_on": trained_on,
            "data": args.data,
            "samples": data.len(),
            "accuracy": evaluation.accuracy,
            "per_class": per_class,
            "confusion": evaluation.confusion,
            "attack": attack.as_ref().map(|(value, _)| value),
        }))?;
    } else {
        let rows: Vec<Vec<String>> = evaluation
            .per_class
            .iter()
            .map(|c| {
                vec![
                    c.class.to_string(),
                    names[c.class].clone(),
                    c.support.to_string(),
                    format!("{:.2}%", 100.0 * c.precision),
                    format!("{:.2}%", 100.0 * c.recall),
                ]
            })
            .collect();
        println!(
            "{}",
            output::table(&["class", "name", "support", "precision", "recall"], &rows)
        );
        println!(
            "accuracy: {:.2}% on {} samples of '{}' ({} model trained on '{}')",
            100.0 * evaluation.accuracy,
            data.len(),
            args.data,
            architecture,
            trained_on
        );
        for line in attack.iter().flat_map(|(_, lines)| lines) {
            println!("{line}");
        }
    }
    Ok(())
}

/// The `evaluate --trigger` report: the attack's goal measured on `model`, and the accuracy
/// drop against `clean_model` when given. Returns `(json, text lines)`.
fn trigger_report(
    truth_file: &Path,
    model: &RunModel,
    clean_model: Option<&Path>,
    onnx: &OnnxInputArgs,
    test: &Dataset,
) -> Result<(Value, Vec<String>)> {
    let truth = GroundTruth::read(truth_file)?;
    let a = mithridate_attack::assess(&truth, test, |d| {
        model
            .predict(d)
            .map_err(|e| mithridate_attack::AttackError::Model(e.to_string()))
    })?;
    let clean_accuracy = match clean_model {
        Some(path) => {
            let clean = load_model(path, onnx)
                .with_context(|| format!("loading clean model {}", path.display()))?;
            clean.check_compatible(test)?;
            let p = clean.predict(test)?;
            let correct = p.iter().zip(test.labels()).filter(|(a, b)| a == b).count();
            Some(correct as f64 / test.len() as f64)
        }
        None => None,
    };
    let mut lines = vec![format!(
        "attack '{}' (ground truth {}): clean accuracy {:.2}%",
        truth.attack,
        truth_file.display(),
        100.0 * a.clean_accuracy
    )];
    if let Some(c) = clean_accuracy {
        lines.push(format!(
            "clean model accuracy {:.2}%: drop {:.2} points",
            100.0 * c,
            100.0 * (c - a.clean_accuracy)
        ));
    }
    if let Some(asr) = a.attack_success_rate {
        lines.push(format!(
            "attack success rate: {:.2}% of {} triggered test inputs classified as the attacker's class",
            100.0 * asr,
            a.asr_samples
        ));
    }
    if let Some(t) = a.targeted_misclassification {
        lines.push(format!(
            "targeted misclassification: {:.2}% of source-class test inputs classified as the target",
            100.0 * t
        ));
    }
    if let (Some(p), Some(hit)) = (a.victim_prediction, a.victim_hit) {
        lines.push(format!(
            "victim classified as {p}: {}",
            if hit {
                "attack succeeded"
            } else {
                "attack failed"
            }
        ));
    }
    let value = json!({
        "attack": truth.attack,
        "truth": truth_file,
        "assessment": a,
        "clean_model_accuracy": clean_accuracy,
        "accuracy_drop": clean_accuracy.map(|c| c - a.clean_accuracy),
        "taxonomy": truth.taxonomy,
    });
    Ok((value, lines))
}
