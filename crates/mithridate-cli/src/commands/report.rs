//! `mithridate report`: the assessment report (HTML, Markdown, CSV or JSON) from one or more
//! result directories (shards are merged).

use crate::output::Context;
use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use mithridate_assess::report::{format_rate, Budget, Report};
use mithridate_assess::store::read_merged;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One self-contained HTML file: verdicts, risk summary, plots, tables.
    Html,
    /// Markdown for pull-request comments (no plots).
    Md,
    /// One row per cell record.
    Csv,
    /// The aggregated report as one JSON object.
    Json,
}

#[derive(Args)]
pub struct ReportArgs {
    /// Assessment directories holding results.jsonl (several: shards, merged).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Output file, `-` for stdout. Default: DIR/report.html for html (the first DIR), stdout
    /// for the other formats.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "html")]
    pub format: ReportFormat,
}

pub fn run(args: ReportArgs, ctx: &Context) -> Result<()> {
    let records = read_merged(&args.dirs)?;
    let report = Report::new(&records)?;
    let text = match args.format {
        ReportFormat::Html => report.to_html(),
        ReportFormat::Md => report.to_markdown(),
        ReportFormat::Csv => report.to_csv()?,
        ReportFormat::Json => format!("{}\n", serde_json::to_string_pretty(&report.to_json())?),
    };
    let output = match (&args.output, args.format) {
        (Some(path), _) if path.as_os_str() == "-" => None,
        (Some(path), _) => Some(path.clone()),
        (None, ReportFormat::Html) => Some(args.dirs[0].join("report.html")),
        (None, _) => None,
    };
    let Some(path) = output else {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(text.as_bytes())?;
        stdout.flush()?;
        return Ok(());
    };
    write_atomic(&path, text.as_bytes())?;
    if ctx.json {
        ctx.print_json(&json!({
            "output": path,
            "format": format!("{:?}", args.format).to_lowercase(),
            "records": report.records().len(),
            "plots": report.plot_count(),
            "risk": report.family_risk(),
            "federated_risk": report.federated_risk(),
        }))?;
        return Ok(());
    }
    println!(
        "{}: {} cells, {} plots",
        path.display(),
        report.records().len(),
        report.plot_count()
    );
    let budget = |v: &Option<Budget>| match v {
        Some(b) => format!("{} ({})", format_rate(b.rate), b.attack),
        None => "none within the tested budgets".to_string(),
    };
    for family in report.family_risk() {
        println!(
            "  {} on {} ({}): succeeds undefended at {}; through every defence at {}",
            family.family.name(),
            family.dataset,
            family.model,
            budget(&family.undefended),
            budget(&family.defended)
        );
    }
    for risk in report.federated_risk() {
        let rules = if risk.succeeds_under.is_empty() {
            "no rule".to_string()
        } else {
            risk.succeeds_under.join(", ")
        };
        println!(
            "  federated {} on {}: succeeds under {rules}",
            risk.attack, risk.dataset
        );
    }
    Ok(())
}

/// Reports are shared outputs: written through the workspace's one atomic writer (0644), so
/// a reader never sees a half-written report.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    mithridate_core::write_atomic(path, bytes, mithridate_core::FileMode::Shared)
        .with_context(|| format!("writing {}", path.display()))
}
