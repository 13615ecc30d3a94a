//! `mithridate continual`: continual retraining under poisoning. Runs (or resumes) the
//! governance loop of mithridate-continual over time-ordered batches of a dataset under a
//! campaign; `continual trace DIR` traces a run's incidents from its audit log;
//! `continual clean DIR -o FILE.npz` removes the named samples and retrains.

use crate::output::Context;
use anyhow::Result;
use clap::{Args, Subcommand};
use mithridate_continual::{incident, named};
use mithridate_data::DataHome;
use std::path::PathBuf;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ContinualArgs {
    #[command(subcommand)]
    pub command: Option<ContinualCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand)]
pub enum ContinualCommand {
    /// Trace every incident of a run (blocked batches, serving alerts) from its audit log:
    /// batches and sample ids responsible, models deployed since, rollback target.
    Trace {
        /// The run directory (`--out` of the run).
        dir: PathBuf,
    },
    /// Remove every sample the run's incidents name (re-screening the batches behind alerts
    /// with the rollback model), write the cleaned training set and retrain from scratch.
    Clean {
        dir: PathBuf,
        /// Where the cleaned training set goes (.npz).
        #[arg(short, long)]
        out: PathBuf,
    },
}

#[derive(Args)]
pub struct RunArgs {
    /// Built-in image dataset (mnist, fashion-mnist).
    #[arg(long, default_value = "mnist")]
    pub data: String,
    /// Batches after the bootstrap set (overrides the config's `batches`).
    #[arg(long)]
    pub batches: Option<usize>,
    /// Campaign (`--list-campaigns` shows them).
    #[arg(long, default_value = "clean")]
    pub campaign: String,
    /// The campaign's per-batch rate (its `rate` parameter).
    #[arg(long, allow_hyphen_values = true)]
    pub rate: Option<f64>,
    /// The campaign's target class (its `target` parameter).
    #[arg(long)]
    pub target: Option<u32>,
    /// Further campaign parameters, KEY=VALUE (e.g. -P start=3 -P attack=blend).
    #[arg(short = 'P', long = "param")]
    pub params: Vec<String>,
    /// Loop configuration (TOML; see crates/mithridate-continual/examples/continual.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run directory: checkpoint, audit log, manifests, stored batches, models. A run killed
    /// at any step resumes from here with identical results.
    #[arg(long, default_value = "continual-run")]
    pub out: PathBuf,
    /// Stop after this many steps (the run resumes on the next call).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// List the campaigns and exit.
    #[arg(long)]
    pub list_campaigns: bool,
}

pub fn run(args: ContinualArgs, ctx: &Context) -> Result<()> {
    match args.command {
        Some(ContinualCommand::Trace { dir }) => trace(dir, ctx),
        Some(ContinualCommand::Clean { dir, out }) => clean(dir, out, ctx),
        None => simulate(args.run, ctx),
    }
}

fn simulate(args: RunArgs, ctx: &Context) -> Result<()> {
    if args.list_campaigns {
        println!("{}", mithridate_continual::CAMPAIGNS.listing());
        return Ok(());
    }
    let spec = match &args.config {
        Some(path) => named::spec_from_file(path, args.batches)?,
        None => named::spec_from_json(&serde_json::json!({}), args.batches)?,
    };
    let mut campaign_params = mithridate_core::registry::params_from_pairs(&args.params)
        .map_err(mithridate_continual::ContinualError::invalid)?;
    if let Some(rate) = args.rate {
        campaign_params["rate"] = serde_json::json!(rate);
    }
    if let Some(target) = args.target {
        campaign_params["target"] = serde_json::json!(target);
    }
    let outcome = named::run(
        &DataHome::from_env()?,
        named::NamedRun {
            data: args.data.clone(),
            campaign: args.campaign.clone(),
            params: campaign_params,
            spec,
            seed: ctx.seed,
            dir: args.out.clone(),
            max_steps: args.max_steps,
        },
    )?;
    if ctx.json {
        let mut value = serde_json::to_value(&outcome)?;
        value["run_dir"] = serde_json::json!(args.out.display().to_string());
        ctx.print_json(&value)?;
    } else {
        print!("{}", outcome.table());
        println!(
            "run directory: {} (audit log: audit.jsonl)",
            args.out.display()
        );
    }
    Ok(())
}

fn trace(dir: PathBuf, ctx: &Context) -> Result<()> {
    let t = incident::trace(&dir)?;
    if ctx.json {
        return ctx.print_json(&serde_json::to_value(&t)?);
    }
    println!(
        "audit log {}; {} deployments, {} incidents",
        if t.log_verified {
            "verifies"
        } else {
            "FAILS VERIFICATION"
        },
        t.deployments.len(),
        t.incidents.len()
    );
    for i in &t.incidents {
        let short = |h: &String| h.chars().take(12).collect::<String>();
        println!(
            "step {} [{}] {}\n  batches {:?}; {} sample ids named{}\n  deployed since: {}; rollback target: {}",
            i.step,
            i.kind,
            i.summary,
            i.batches,
            i.sample_ids.len(),
            if i.sample_ids.is_empty() {
                String::new()
            } else {
                format!(
                    " ({}{})",
                    i.sample_ids.iter().take(10).map(u64::to_string).collect::<Vec<_>>().join(", "),
                    if i.sample_ids.len() > 10 { ", ..." } else { "" }
                )
            },
            if i.deployed_since.is_empty() {
                "none".to_string()
            } else {
                i.deployed_since.iter().map(short).collect::<Vec<_>>().join(", ")
            },
            short(&i.rollback_target)
        );
    }
    Ok(())
}

fn clean(dir: PathBuf, out: PathBuf, ctx: &Context) -> Result<()> {
    let cleaned = incident::clean_and_retrain(&dir, &out)?;
    if ctx.json {
        return ctx.print_json(&serde_json::to_value(&cleaned)?);
    }
    println!(
        "removed {} samples; cleaned set of {} samples written to {}; retrained model {} ({})",
        cleaned.removed.len(),
        cleaned.samples,
        cleaned.dataset.display(),
        &cleaned.model_hash[..12],
        cleaned.model.display()
    );
    Ok(())
}
