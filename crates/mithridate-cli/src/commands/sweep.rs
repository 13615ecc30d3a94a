//! `mithridate attack-sweep`: train one model per poison rate and seed (plus a clean baseline
//! per seed) and report clean accuracy and the attack's success rate with mean and spread.

use crate::commands::poison::{
    assess_model, run_attack, subsample, train_and_test, train_model, AttackOptions,
    SURROGATE_SEED_OFFSET,
};
use crate::output::{self, Context};
use anyhow::Result;
use clap::Args;
use mithridate_attack::registry;
use mithridate_attack::{Assessment, Budget, Goal};
use mithridate_data::DataHome;
use mithridate_engine::Architecture;
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

/// Mean and sample standard deviation.
pub(crate) fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// One row of the table: a rate (None = clean baseline) over all seeds.
struct Row {
    rate: Option<f64>,
    poisoned: Vec<f64>,
    clean_accuracy: Vec<f64>,
    success: Vec<f64>,
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

pub fn run(args: SweepArgs, ctx: &Context) -> Result<()> {
    let kind = args.attack.kind()?;
    let params = args.attack.parameters()?;
    let attack = registry::build_kind(kind, &params)?;
    if args.seeds == 0 {
        anyhow::bail!("--seeds must be at least 1");
    }
    if args.rates.is_empty() {
        anyhow::bail!("--rates needs at least one rate");
    }
    for &r in &args.rates {
        Budget::Rate(r).check()?;
    }
    let home = DataHome::from_env()?;
    let (full_train, full_test) = train_and_test(&home, &args.data, ctx.seed)?;
    let needs = attack.requirements();
    let mut rows: Vec<Row> = std::iter::once(None)
        .chain(args.rates.iter().map(|&r| Some(r)))
        .map(|rate| Row {
            rate,
            poisoned: Vec::new(),
            clean_accuracy: Vec::new(),
            success: Vec::new(),
        })
        .collect();
    let per_seed =
        1 + args.rates.len() + usize::from(needs.surrogate && args.independent_surrogate);
    let bar = ctx.progress(args.seeds * per_seed as u64, "sweep");
    let mut goal_kind = "";
    for i in 0..args.seeds {
        let seed = ctx.seed.wrapping_add(i);
        let train = subsample(full_train.clone(), args.max_train, seed)?;
        let test = subsample(full_test.clone(), args.max_test, seed)?;
        if train.is_empty() {
            anyhow::bail!("the training set '{}' is empty", args.data);
        }
        bar.set_message(format!("seed {seed}: clean"));
        let clean = train_model(&train, args.model, args.epochs, seed, &mut |_| {})?;
        bar.inc(1);
        let independent;
        let surrogate = if !needs.surrogate {
            None
        } else if args.independent_surrogate {
            bar.set_message(format!("seed {seed}: surrogate"));
            independent = train_model(
                &train,
                args.model,
                args.epochs,
                seed.wrapping_add(SURROGATE_SEED_OFFSET),
                &mut |_| {},
            )?;
            bar.inc(1);
            Some(&independent)
        } else {
            Some(&clean)
        };
        // Budget 0 changes nothing but fixes the trigger / victim: the clean model's rate.
        let baseline = run_attack(
            kind,
            &params,
            &train,
            Budget::Rate(0.0),
            seed,
            surrogate,
            Some(&test),
        )?;
        goal_kind = match baseline.truth.goal {
            Goal::Availability => "",
            Goal::Backdoor { .. } => "ASR",
            Goal::TargetedMisclassification { .. } => "targeted",
            Goal::Instance { .. } => "victim hit",
        };
        let record = |row: &mut Row, a: &Assessment, poisoned: usize| {
            row.poisoned.push(poisoned as f64);
            row.clean_accuracy.push(a.clean_accuracy);
            if let Some(s) = a.success_rate() {
                row.success.push(s);
            }
        };
        record(
            &mut rows[0],
            &assess_model(&baseline.truth, &clean, &test)?,
            0,
        );
        for (j, &rate) in args.rates.iter().enumerate() {
            bar.set_message(format!("seed {seed}: rate {rate}"));
            let poisoned = run_attack(
                kind,
                &params,
                &train,
                Budget::Rate(rate),
                seed,
                surrogate,
                Some(&test),
            )?;
            let model = train_model(&poisoned.data, args.model, args.epochs, seed, &mut |_| {})?;
            let a = assess_model(&poisoned.truth, &model, &test)?;
            record(&mut rows[j + 1], &a, poisoned.truth.changes.len());
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

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
            "attack": kind.name(),
            "parameters": attack.parameters(),
            "taxonomy": attack.taxonomy(),
            "data": args.data,
            "model": args.model.map(|m| m.to_string()),
            "epochs": args.epochs,
            "seeds": (0..args.seeds).map(|i| ctx.seed.wrapping_add(i)).collect::<Vec<_>>(),
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
            kind.name(),
            args.data,
            args.seeds,
            ctx.seed,
            subsample(full_train, args.max_train, ctx.seed)?.len(),
            subsample(full_test, args.max_test, ctx.seed)?.len()
        );
    }
    Ok(())
}
