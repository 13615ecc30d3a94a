//! `mithridate defend-sweep`: poison -> train -> scan -> sanitize -> retrain, per seed, and the
//! clean accuracy / attack success before and after with the detection's precision and recall.

use crate::commands::poison::AttackOptions;
use crate::commands::scan::DetectorOptions;
use crate::commands::sweep::{pct, seed_data, seed_list, stats};
use crate::output::{self, Context};
use anyhow::Result;
use clap::Args;
use mithridate_core::ParamGuard;
use mithridate_data::DataHome;
use mithridate_detect::sanitize::Action;
use mithridate_engine::Architecture;
use mithridate_pipeline::defence::DetectorSpec;
use mithridate_pipeline::sweep::{defend_sweep, mean_std};
use mithridate_pipeline::train::ModelParams;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Args)]
pub struct DefendSweepArgs {
    /// Built-in dataset name or .npz file (an .npz gets a seeded 20% test hold-out).
    #[arg(long)]
    pub data: String,
    #[command(flatten)]
    pub attack: AttackOptions,
    /// Poison rate in [0, 1] (as the attack documents it).
    #[arg(long)]
    pub rate: f64,
    /// The detector (one, or `all` for the union of every detector's flags; see
    /// `mithridate scan data --list`).
    #[arg(long)]
    pub detector: String,
    #[command(flatten)]
    pub options: DetectorOptions,
    /// Number of seeds (`--seed`, `--seed + 1`, ...).
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
    /// Drop flagged samples, or relabel those with a suggested label.
    #[arg(long, value_enum, default_value = "relabel")]
    pub action: crate::commands::sanitize::ActionArg,
}

pub fn run(args: DefendSweepArgs, ctx: &Context) -> Result<()> {
    let attack = args.attack.spec()?;
    let seeds = seed_list(ctx.seed, args.seeds)?;
    let detectors = args.options.build(std::slice::from_ref(&args.detector))?;
    let action = match args.action {
        crate::commands::sanitize::ActionArg::Drop => Action::Drop,
        crate::commands::sanitize::ActionArg::Relabel => Action::Relabel,
    };
    let model = ModelParams {
        architecture: args.model,
        epochs: args.epochs,
    }
    .check()?;
    mithridate_attack::Budget::Rate(args.rate).check()?;
    let home = DataHome::from_env()?;
    let full = mithridate_pipeline::data::train_and_test(&home, &args.data, None, ctx.seed)?;
    let data = seed_data(&full, &args.data, args.max_train, args.max_test, &seeds)?;
    let bar = ctx.progress(args.seeds * 3, "defend");
    let results = defend_sweep(
        &attack,
        args.rate,
        &detectors,
        action,
        &data,
        &model,
        &mut |message| {
            bar.set_message(message);
            bar.inc(1);
        },
    )?;
    let mut series: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in &results {
        let mut push = |k: &'static str, v: f64| series.entry(k).or_default().push(v);
        push("clean_ca", r.clean.clean_accuracy);
        push("before_ca", r.before.clean_accuracy);
        push("after_ca", r.after.clean_accuracy);
        if let (Some(b), Some(a), Some(c)) = (
            r.before.success_rate(),
            r.after.success_rate(),
            r.clean.success_rate(),
        ) {
            push("clean_success", c);
            push("before_success", b);
            push("after_success", a);
        }
        push("poisoned", r.poisoned as f64);
        push("removed", r.sanitize.dropped.len() as f64);
        push("relabelled", r.sanitize.relabelled.len() as f64);
        for run in &r.runs {
            if let Some(m) = run.metrics {
                push("precision", m.precision);
                push("recall", m.recall);
                push("f1", m.f1);
                if let Some(a) = m.auroc {
                    push("auroc", a);
                }
            }
        }
    }
    bar.finish_and_clear();
    let get = |k: &str| series.get(k).cloned().unwrap_or_default();
    if ctx.json {
        let body: serde_json::Map<String, serde_json::Value> = series
            .iter()
            .map(|(k, v)| (k.to_string(), stats(v)))
            .collect();
        ctx.print_json(&json!({
            "attack": attack.name(),
            "parameters": attack.attack().parameters(),
            "rate": args.rate,
            "detector": detections_name(&detectors),
            "data": args.data,
            "seeds": seeds,
            "results": body,
        }))?;
        return Ok(());
    }
    let rows = vec![
        vec![
            "clean model".into(),
            pct(&get("clean_ca")),
            pct(&get("clean_success")),
        ],
        vec![
            "poisoned model".into(),
            pct(&get("before_ca")),
            pct(&get("before_success")),
        ],
        vec![
            "sanitized + retrained".into(),
            pct(&get("after_ca")),
            pct(&get("after_success")),
        ],
    ];
    println!(
        "{}",
        output::table(
            &["model", "clean acc % (mean ± sd)", "success % (mean ± sd)"],
            &rows
        )
    );
    let f = |k: &str| {
        let (m, s) = mean_std(&get(k));
        format!("{m:.3} ± {s:.3}")
    };
    println!(
        "{} on {} poisoned samples (mean): precision {}, recall {}, F1 {}, AUROC {}; removed {:.0}, relabelled {:.0}",
        detections_name(&detectors),
        mean_std(&get("poisoned")).0,
        f("precision"),
        f("recall"),
        f("f1"),
        f("auroc"),
        mean_std(&get("removed")).0,
        mean_std(&get("relabelled")).0,
    );
    println!(
        "{} at rate {} on '{}', {} seed(s) from {}",
        attack.name(),
        args.rate,
        args.data,
        args.seeds,
        ctx.seed
    );
    Ok(())
}

fn detections_name(detectors: &[DetectorSpec]) -> String {
    detectors
        .iter()
        .map(|d| d.name())
        .collect::<Vec<_>>()
        .join("+")
}
