//! `mithridate train`: fit a classifier on a dataset and save it.

use crate::output::{self, Context};
use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use mithridate_core::ParamGuard;
use mithridate_data::DataHome;
use mithridate_engine::{
    metrics, Architecture, Classifier, DpSgd, ModelCard, Optimizer, TrainProgress,
};
use mithridate_pipeline::data::{non_empty, subsample, train_and_test};
use mithridate_pipeline::train::ModelParams;
use serde_json::json;
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainArgs {
    /// Built-in dataset name (see `mithridate data list`) or an .npz file in the interchange format.
    #[arg(long)]
    pub data: String,
    /// Test set for an .npz training set (default: a seeded, stratified 20% hold-out of it).
    /// Built-in datasets use their own test split.
    #[arg(long)]
    pub test: Option<String>,
    /// Model family; default: `cnn` for images, `mlp` for tabular data, `text` for text.
    #[arg(long)]
    pub model: Option<Architecture>,
    /// Passes over the training set (default: per model family, raised on small datasets so
    /// training takes at least 1,000 optimiser steps).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Mini-batch size (default: per model family).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Optimiser (default: adam).
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Learning rate (default: per model family and optimiser).
    #[arg(long)]
    pub lr: Option<f64>,
    /// SGD momentum in [0, 1).
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// L2 weight decay.
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Train on a seeded random subset of at most this many samples (quick experiments).
    #[arg(long)]
    pub max_train: Option<usize>,
    /// Train with DP-SGD (Abadi et al. 2016) at this noise multiplier sigma > 0: Poisson lots,
    /// each sample's gradient clipped to --dp-clip, N(0, (sigma C)^2) noise on the sum. The
    /// output reports epsilon at --dp-delta (`mithridate privacy noise` finds sigma for a
    /// target epsilon). Supported for logreg, mlp and cnn.
    #[arg(long, value_name = "SIGMA")]
    pub dp_noise: Option<f64>,
    /// DP-SGD per-sample L2 clip norm C.
    #[arg(long, value_name = "C", default_value_t = 1.0, requires = "dp_noise")]
    pub dp_clip: f64,
    /// DP-SGD Poisson sampling rate q in (0, 1]; an epoch is round(1/q) lots (default: batch
    /// size / training samples, so the expected lot is one batch).
    #[arg(long, value_name = "Q", requires = "dp_noise")]
    pub dp_sampling_rate: Option<f64>,
    /// Delta of the reported (epsilon, delta) guarantee.
    #[arg(
        long,
        value_name = "DELTA",
        default_value_t = 1e-5,
        requires = "dp_noise"
    )]
    pub dp_delta: f64,
    /// Where to write the model (safetensors; the JSON sidecar goes to `<output>.json`).
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OptimizerKind {
    Sgd,
    Adam,
}

pub fn run(args: TrainArgs, ctx: &Context) -> Result<()> {
    let home = DataHome::from_env()?;
    let (train, test) = train_and_test(&home, &args.data, args.test.as_deref(), ctx.seed)?;
    let train = non_empty(subsample(train, args.max_train, ctx.seed)?, &args.data)?;
    // The one default policy (pipeline::train), with this command's optimiser overrides.
    let spec = ModelParams {
        architecture: args.model,
        epochs: args.epochs,
    }
    .check()?;
    let arch = spec.architecture_for(&train);
    let mut params = spec.params(arch, train.len());
    if let Some(batch) = args.batch_size {
        params.batch_size = batch;
    }
    if let Some(decay) = args.weight_decay {
        params.weight_decay = decay;
    }
    params.optimizer = match (args.optimizer, params.optimizer) {
        (Some(OptimizerKind::Sgd), _) => Optimizer::Sgd {
            lr: args.lr.unwrap_or(0.05),
            momentum: args.momentum,
        },
        (Some(OptimizerKind::Adam), _) => Optimizer::Adam {
            lr: args.lr.unwrap_or(1e-3),
        },
        (None, Optimizer::Sgd { lr, momentum }) => Optimizer::Sgd {
            lr: args.lr.unwrap_or(lr),
            momentum,
        },
        (None, Optimizer::Adam { lr }) => Optimizer::Adam {
            lr: args.lr.unwrap_or(lr),
        },
    };
    if args.dp_noise.is_some() && !(args.dp_delta > 0.0 && args.dp_delta < 1.0) {
        anyhow::bail!("--dp-delta must lie in (0, 1), got {}", args.dp_delta);
    }
    params.dp = args.dp_noise.map(|noise_multiplier| DpSgd {
        noise_multiplier,
        clip: args.dp_clip,
        sampling_rate: args
            .dp_sampling_rate
            .unwrap_or(params.batch_size as f64 / train.len() as f64)
            .min(1.0),
    });
    let config = params.check()?;
    let mut model = Classifier::new(arch, train.modality(), train.num_classes(), ctx.seed)?;
    let test = test.widen_classes(train.num_classes());
    model.check_compatible(&test)?;

    let bar = ctx.progress((train.len() * config.epochs()) as u64, "training");
    let report = model.fit(&train, &config, ctx.seed, &mut |p: TrainProgress| {
        bar.set_position(((p.epoch - 1) * p.samples_total + p.samples_done) as u64);
        bar.set_message(format!(
            "epoch {}/{} loss {:.4}",
            p.epoch, p.epochs, p.running_loss
        ));
    })?;
    bar.finish_and_clear();
    // Checked before saving: a bad delta should not leave a model without its guarantee.
    let epsilon = report
        .dp
        .as_ref()
        .map(|dp| dp.epsilon(args.dp_delta))
        .transpose()?;

    let evaluation = metrics::evaluate(&model.predict(&test)?, test.labels(), test.num_classes())?;
    let mut card = ModelCard::describe(&model, &args.data, ctx.seed, Some(&config));
    card.metrics
        .insert("test_accuracy".into(), evaluation.accuracy);
    card.metrics
        .insert("train_samples_per_sec".into(), report.samples_per_sec);
    if let Some(epsilon) = epsilon {
        card.metrics.insert("dp_epsilon".into(), epsilon);
        card.metrics.insert("dp_delta".into(), args.dp_delta);
    }
    model
        .save(&args.output, &card)
        .with_context(|| format!("saving the model to {}", args.output.display()))?;

    let losses: Vec<f64> = report.epochs.iter().map(|e| e.mean_loss).collect();
    if ctx.json {
        let mut out = json!({
            "model": args.output,
            "dataset": args.data,
            "architecture": arch.to_string(),
            "parameters": model.num_parameters(),
            "seed": ctx.seed,
            "train_samples": train.len(),
            "test_samples": test.len(),
            "epochs": config.epochs(),
            "epoch_mean_loss": losses,
            "seconds": report.seconds,
            "samples_per_sec": report.samples_per_sec,
            "test_accuracy": evaluation.accuracy,
        });
        if let (Some(epsilon), Some(dp)) = (epsilon, &report.dp) {
            out["epsilon"] = json!(epsilon);
            out["delta"] = json!(args.dp_delta);
            out["dp"] = json!(dp);
        }
        ctx.print_json(&out)?;
    } else {
        let rows: Vec<Vec<String>> = report
            .epochs
            .iter()
            .map(|e| vec![e.epoch.to_string(), format!("{:.4}", e.mean_loss)])
            .collect();
        println!("{}", output::table(&["epoch", "mean loss"], &rows));
        println!(
            "trained {arch} ({} parameters) on {} samples of '{}' in {:.1} s ({:.0} samples/s)",
            model.num_parameters(),
            train.len(),
            args.data,
            report.seconds,
            report.samples_per_sec
        );
        println!(
            "test accuracy: {:.2}% on {} samples",
            100.0 * evaluation.accuracy,
            test.len()
        );
        if let (Some(epsilon), Some(dp)) = (epsilon, &report.dp) {
            println!(
                "DP-SGD: sigma {}, clip {}, q {:.6}, {} steps ({:.1}% of per-sample gradients \
                 clipped): epsilon {epsilon:.3} at delta {}",
                dp.noise_multiplier,
                dp.clip,
                dp.sampling_rate,
                dp.steps,
                100.0 * dp.clipped_fraction,
                args.dp_delta
            );
        }
        println!("saved {} (+ .json sidecar)", args.output.display());
    }
    Ok(())
}
