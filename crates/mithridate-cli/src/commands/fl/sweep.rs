//! `mithridate fl-sweep`: rules x attacks x Byzantine fractions over seeds, final accuracy
//! and ASR (mean ± sd), through `mithridate_pipeline::federated::sweep`.

use super::{percent, FlOptions};
use crate::output::{table, Context};
use anyhow::Result;
use clap::Args;
use mithridate_aggregate::RuleSpec;
use mithridate_fl::AttackSpec;
use mithridate_pipeline::federated::{self, one_engine_thread_per_worker};
use mithridate_pipeline::sweep::mean_std;
use serde_json::json;

#[derive(Args, Debug)]
pub struct FlSweepArgs {
    #[command(flatten)]
    pub options: FlOptions,
    /// Rules, comma-separated (see `mithridate fl --help` for the names and syntax).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "fedavg,median,trimmed-mean,krum"
    )]
    pub rules: Vec<String>,
    /// Update attacks, comma-separated (see `mithridate fl --help`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,sign-flip,alie,ipm,min-max"
    )]
    pub attacks: Vec<String>,
    /// Byzantine fractions, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.2")]
    pub byzantine: Vec<f64>,
    /// Number of seeds (`--seed`, `--seed + 1`, ...) to average over.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
}

/// Rejoins a rule's parameters that the comma delimiter split off: a piece with `=` but no
/// `:` (`noise-multiplier=0.1` after `dp-fedavg:clip=1`) continues the previous rule.
fn merge_parameters(pieces: &[String]) -> Vec<String> {
    let mut rules: Vec<String> = Vec::new();
    for piece in pieces {
        match rules.last_mut() {
            Some(last) if piece.contains('=') && !piece.contains(':') && last.contains(':') => {
                last.push(',');
                last.push_str(piece);
            }
            _ => rules.push(piece.clone()),
        }
    }
    rules
}

pub fn run_sweep(args: FlSweepArgs, ctx: &Context) -> Result<()> {
    one_engine_thread_per_worker();
    if args.seeds == 0 {
        anyhow::bail!("--seeds must be at least 1");
    }
    // Validate every name before loading data or training.
    let setup = args.options.setup()?;
    let rules = merge_parameters(&args.rules)
        .iter()
        .map(|r| r.parse::<RuleSpec>())
        .collect::<Result<Vec<_>, _>>()?;
    let attacks = args
        .attacks
        .iter()
        .map(|a| a.parse::<AttackSpec>())
        .collect::<Result<Vec<_>, _>>()?;
    let mut data = Vec::new();
    for s in 0..args.seeds {
        data.push(args.options.load(ctx.seed + s)?);
    }
    let cells_total = (rules.len() * attacks.len() * args.byzantine.len()) as u64;
    let bar = ctx.progress(
        cells_total * args.seeds * args.options.rounds as u64,
        "rounds",
    );
    let cells = federated::sweep(
        &setup,
        &rules,
        &attacks,
        &args.byzantine,
        &data,
        ctx.seed,
        &mut || bar.inc(1),
    )?;
    let mut results = Vec::new();
    let mut rows = Vec::new();
    for cell in &cells {
        let (rule, attack, byzantine) = (
            cell.rule.to_string(),
            cell.attack.to_string(),
            cell.byzantine,
        );
        if let Some(reason) = &cell.refused {
            rows.push(vec![
                rule.clone(),
                attack.clone(),
                byzantine.to_string(),
                "refused".into(),
                "-".into(),
                reason.clone(),
            ]);
            results.push(
                json!({"rule": rule, "attack": attack, "byzantine": byzantine, "refused": reason}),
            );
            continue;
        }
        let accuracy: Vec<f64> = cell.reports.iter().map(|r| r.final_accuracy).collect();
        let asr: Vec<f64> = cell.reports.iter().filter_map(|r| r.final_asr).collect();
        let (acc_mean, acc_std) = mean_std(&accuracy);
        let asr_stats = (!asr.is_empty()).then(|| mean_std(&asr));
        rows.push(vec![
            rule.clone(),
            attack.clone(),
            byzantine.to_string(),
            format!("{} ± {}", percent(acc_mean), percent(acc_std)),
            asr_stats.map_or("-".into(), |(m, s)| {
                format!("{} ± {}", percent(m), percent(s))
            }),
            String::new(),
        ]);
        results.push(json!({
            "rule": rule, "attack": attack, "byzantine": byzantine,
            "accuracy": accuracy, "accuracy_mean": acc_mean, "accuracy_std": acc_std,
            "asr": asr, "asr_mean": asr_stats.map(|s| s.0),
        }));
    }
    bar.finish_and_clear();
    if ctx.json {
        return ctx.print_json(&json!({ "seeds": args.seeds, "results": results }));
    }
    println!(
        "{}",
        table(
            &[
                "rule",
                "attack",
                "byzantine",
                "final accuracy",
                "asr",
                "note"
            ],
            &rows
        )
    );
    Ok(())
}
