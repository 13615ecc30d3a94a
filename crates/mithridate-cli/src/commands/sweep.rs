//! `mithridate attack-sweep`: train one model per poison rate and seed (plus a clean baseline
//! per seed) and report clean accuracy and the attack's success rate with mean and spread.

use crate::commands::poison::AttackOptions;
use crate::output::{self, Context};
use anyhow::Result;
use clap::Args;
use mithridate_core::ParamGuard;
use mithridate_data::{DataHome, Dataset};
use mithridate_engine::Architecture;
use mithridate_pipeline::data::{non_empty, subsample, train_and_test};
use mithridate_pipeline::sweep::{attack_sweep, mean_std, SeedData};
use mithridate_pipeline::train::ModelParams;
use serde_json::json;

#[derive(Args)]
pub struct SweepArgs {
    /// Built-in dataset name or .npz file (an .npz gets a seeded 20% test hold-out).
    #[arg(long)]
    pub data: String,
    #[command(flatten)]
    pub attack: AttackOptions,
    /// Poison rates in [0, 1], comma-separated (each attack documents what the rate is of).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.001,0.005,0.01,0.05,0.1"
    )]
    pub rates: Vec<f64>,
    /// Number of seeds (`--seed`, `--seed + 1`, ...); each trains its own clean baseline.
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// Victim model family (default: per modality).
    #[arg(long)]
    pub model: Option<Architecture>,
    /// Training epochs of every model (default: the family's default).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Train on a seeded stratified subset of at most this many samples.
    #[arg(long)]
    pub max_train: Option<usize>,
    /// Evaluate on a seeded stratified subset of at most this many test samples.
    #[arg(long)]
    pub max_test: Option<usize>,
    /// Train the attacker's surrogate separately (other init seed) instead of reusing the
    /// clean baseline model of the same seed.
    #[arg(long)]
    pub independent_surrogate: bool,
}

pub(crate) fn pct(values: &[f64]) -> String {
    let (m, s) = mean_std(values);
    if m.is_nan() {
        "-".into()
    } else {
        format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s)
    }
}

pub(crate) fn stats(values: &[f64]) -> serde_json::Value {
    let (mean, std) = mean_std(values);
    json!({"mean": mean, "std": std, "values": values})
}

/// The data of each seed: seeded subsets of the full sets of `source`.
pub(crate) fn seed_data(
    full: &(Dataset, Dataset),
    source: &str,
    max_train: Option<usize>,
    max_test: Option<usize>,
    seeds: &[u64],
) -> Result<Vec<SeedData>> {
    seeds
        .iter()
        .map(|&seed| {
            Ok(SeedData {
                seed,
                train: non_empty(subsample(full.0.clone(), max_train, seed)?, source)?,
                test: subsample(full.1.clone(), max_test, seed)?,
            })
        })
        .collect()
}

/// `--seed`, `--seed + 1`, ... (`count` of them, at least one).
pub(crate) fn seed_list(base: u64, count: u64) -> Result<Vec<u64>> {
    if count == 0 {
        anyhow::bail!("--seeds must be at least 1");
    }
    Ok((0..count).map(|i| base.wrapping_add(i)).collect())
}

pub fn run(args: SweepArgs, ctx: &Context) -> Result<()> {
    let attack = args.attack.spec()?;
    let seeds = seed_list(ctx.seed, args.seeds)?;
    if args.rates.is_empty() {
        anyhow::bail!("--rates needs at least one rate");
    }
    let model = ModelParams {
        architecture: args.model,
        epochs: args.epochs,
    }
    .check()?;
    let home = DataHome::from_env()?;
    let full = train_and_test(&home, &args.data, None, ctx.seed)?;
    let data = seed_data(&full, &args.data, args.max_train, args.max_test, &seeds)?;
    let per_seed =
        1 + args.rates.len() + usize::from(attack.needs_surrogate() && args.independent_surrogate);
    let bar = ctx.progress(args.seeds * per_seed as u64, "sweep");
    let sweep = attack_sweep(
        &attack,
        &args.rates,
        &data,
        &model,
        args.independent_surrogate,
        &mut |message| {
            bar.set_message(message);
            bar.inc(1);
        },
    )?;
    bar.finish_and_clear();
    let (rows, goal_kind) = (&sweep.rows, sweep.success_metric);
    let clean_mean = mean_std(&rows[0].clean_accuracy).0;
    if ctx.json {
        let table: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "rate": r.rate,
                    "poisoned_samples": stats(&r.poisoned),
                    "clean_accuracy": stats(&r.clean_accuracy),
                    "success": if r.success.is_empty() { serde_json::Value::Null } else { stats(&r.success) },
                })
            })
            .collect();
        ctx.print_json(&json!({
            "attack": attack.name(),
            "parameters": attack.attack().parameters(),
            "taxonomy": attack.attack().taxonomy(),
            "data": args.data,
            "model": args.model.map(|m| m.to_string()),
            "epochs": args.epochs,
            "seeds": seeds,
            "success_metric": goal_kind,
            "rows": table,
        }))?;
    } else {
        let success_header = if goal_kind.is_empty() {
            "success"
        } else {
            goal_kind
        };
        let header = [
            "rate",
            "poisoned",
            "clean acc % (mean ± sd)",
            "Δ acc (pts)",
            &format!("{success_header} % (mean ± sd)"),
        ];
        let body: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.rate.map_or("clean".into(), |x| x.to_string()),
                    format!("{:.0}", mean_std(&r.poisoned).0),
                    pct(&r.clean_accuracy),
                    format!(
                        "{:+.2}",
                        100.0 * (mean_std(&r.clean_accuracy).0 - clean_mean)
                    ),
                    if r.success.is_empty() {
                        "-".into()
                    } else {
                        pct(&r.success)
                    },
                ]
            })
            .collect();
        println!("{}", output::table(&header, &body));
        println!(
            "{} on '{}', {} seed(s) from {}; {} train / {} test samples",
            attack.name(),
            args.data,
            args.seeds,
            ctx.seed,
            data[0].train.len(),
            data[0].test.len()
        );
    }
    Ok(())
}
