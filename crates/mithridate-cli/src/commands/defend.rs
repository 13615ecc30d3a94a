//! `mithridate defend-sweep`: poison -> train -> scan -> sanitize -> retrain, per seed, and the
//! clean accuracy / attack success before and after with the detection's precision and recall.

use crate::commands::poison::{
    assess_model, run_attack, subsample, train_and_test, train_model, AttackOptions,
};
use crate::commands::scan::{run_detectors, train_spec, DetectorKind, DetectorOptions};
use crate::commands::sweep::{mean_std, pct, stats};
use crate::output::{self, Context};
use anyhow::Result;
use clap::Args;
use mithridate_attack::{registry, Budget};
use mithridate_data::DataHome;
use mithridate_detect::sanitize::{sanitize, Action};
use mithridate_engine::Architecture;
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
    /// The detector (one; `all` flags the union of every detector).
    #[arg(long, value_enum)]
    pub detector: DetectorKind,
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
    let kind = args.attack.kind()?;
    let params = args.attack.parameters()?;
    let attack = registry::build_kind(kind, &params)?;
    if args.seeds == 0 {
        anyhow::bail!("--seeds must be at least 1");
    }
    Budget::Rate(args.rate).check()?;
    let detectors = args.options.build(&[args.detector])?;
    let action = match args.action {
        crate::commands::sanitize::ActionArg::Drop => Action::Drop,
        crate::commands::sanitize::ActionArg::Relabel => Action::Relabel,
    };
    let home = DataHome::from_env()?;
    let (full_train, full_test) = train_and_test(&home, &args.data, ctx.seed)?;
    let mut series: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let bar = ctx.progress(args.seeds * 3, "defend");
    for i in 0..args.seeds {
        let seed = ctx.seed.wrapping_add(i);
        let train = subsample(full_train.clone(), args.max_train, seed)?;
        let test = subsample(full_test.clone(), args.max_test, seed)?;
        if train.is_empty() {
            anyhow::bail!("the training set '{}' is empty", args.data);
        }
        bar.set_message(format!("seed {seed}: clean"));
        let clean = train_model(&train, args.model, args.epochs, seed, &mut |_| {})?;
        let surrogate = attack.requirements().surrogate.then_some(&clean);
        let poisoned = run_attack(
            kind,
            &params,
            &train,
            Budget::Rate(args.rate),
            seed,
            surrogate,
            Some(&test),
        )?;
        let clean_a = assess_model(&poisoned.truth, &clean, &test)?;
        bar.inc(1);
        bar.set_message(format!("seed {seed}: poisoned"));
        let victim = train_model(&poisoned.data, args.model, args.epochs, seed, &mut |_| {})?;
        let before = assess_model(&poisoned.truth, &victim, &test)?;
        bar.inc(1);
        bar.set_message(format!("seed {seed}: scan + retrain"));
        let arch = args.model.unwrap_or(victim.architecture());
        let runs = run_detectors(
            &detectors,
            &poisoned.data,
            &victim,
            train_spec(arch, args.epochs)?,
            seed,
            Some(&poisoned.truth.poisoned_ids()),
        )?;
        let detections: Vec<_> = runs.iter().map(|r| r.detection.clone()).collect();
        let (sanitized, report) = sanitize(&poisoned.data, &detections, action)?;
        let retrained = train_model(&sanitized, args.model, args.epochs, seed, &mut |_| {})?;
        let after = assess_model(&poisoned.truth, &retrained, &test)?;
        bar.inc(1);
        let mut push = |k: &'static str, v: f64| series.entry(k).or_default().push(v);
        push("clean_ca", clean_a.clean_accuracy);
        push("before_ca", before.clean_accuracy);
        push("after_ca", after.clean_accuracy);
        if let (Some(b), Some(a), Some(c)) = (
            before.success_rate(),
            after.success_rate(),
            clean_a.success_rate(),
        ) {
            push("clean_success", c);
            push("before_success", b);
            push("after_success", a);
        }
        push("poisoned", poisoned.truth.changes.len() as f64);
        push("removed", report.dropped.len() as f64);
        push("relabelled", report.relabelled.len() as f64);
        for r in &runs {
            if let Some(m) = r.metrics {
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
            "attack": kind.name(),
            "parameters": attack.parameters(),
            "rate": args.rate,
            "detector": detections_name(&detectors),
            "data": args.data,
            "seeds": (0..args.seeds).map(|i| ctx.seed.wrapping_add(i)).collect::<Vec<_>>(),
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
        kind.name(),
        args.rate,
        args.data,
        args.seeds,
        ctx.seed
    );
    Ok(())
}

fn detections_name(detectors: &[Box<dyn mithridate_detect::Detector>]) -> String {
    detectors
        .iter()
        .map(|d| d.name())
        .collect::<Vec<_>>()
        .join("+")
}
