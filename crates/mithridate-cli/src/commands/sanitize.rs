//! `mithridate sanitize`: drop (or relabel) the samples a `scan data` run flagged.

use crate::output::write_json;
use crate::output::Context;
use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use mithridate_data::{DataHome, Split};
use mithridate_detect::sanitize::{sanitize, Action};
use mithridate_detect::Detection;
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActionArg {
    /// Remove every flagged sample.
    Drop,
    /// Relabel flagged samples that carry a suggested label (confident learning), drop the rest.
    Relabel,
}

#[derive(Args)]
pub struct SanitizeArgs {
    /// The scanned training set: a built-in name (its training split) or an .npz file.
    #[arg(long)]
    pub data: String,
    /// flags.json written by `mithridate scan data` (one detection or an array: the union of
    /// their flags is applied).
    #[arg(long)]
    pub flags: PathBuf,
    /// Use only the detections of this detector from --flags.
    #[arg(long)]
    pub only: Option<String>,
    #[arg(long, value_enum, default_value = "relabel")]
    pub action: ActionArg,
    /// The sanitized set (.npz).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also write the report (dropped and relabelled ids) as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

pub fn run(args: SanitizeArgs, ctx: &Context) -> Result<()> {
    let home = DataHome::from_env()?;
    let data = mithridate_data::load(&home, &args.data, Split::Train)
        .with_context(|| format!("loading '{}'", args.data))?;
    let mut detections = Detection::read_all(&args.flags)?;
    if let Some(only) = &args.only {
        detections.retain(|d| &d.detector == only);
        if detections.is_empty() {
            anyhow::bail!("{} holds no detection of '{only}'", args.flags.display());
        }
    }
    let action = match args.action {
        ActionArg::Drop => Action::Drop,
        ActionArg::Relabel => Action::Relabel,
    };
    let (clean, report) = sanitize(&data, &detections, action)?;
    mithridate_data::npz::write(&args.output, &clean)?;
    if let Some(path) = &args.report {
        write_json(path, &serde_json::to_value(&report)?)?;
    }
    if ctx.json {
        ctx.print_json(&json!({
            "data": args.data,
            "output": args.output,
            "samples_before": report.samples_before,
            "samples_after": report.samples_after,
            "dropped": report.dropped.len(),
            "relabelled": report.relabelled.len(),
        }))?;
    } else {
        println!(
            "{} -> {}: {} samples -> {} ({} dropped, {} relabelled)",
            args.data,
            args.output.display(),
            report.samples_before,
            report.samples_after,
            report.dropped.len(),
            report.relabelled.len()
        );
    }
    Ok(())
}
