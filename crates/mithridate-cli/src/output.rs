//! What every command shares: the global flags, progress bars, JSON output, exit codes.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Global flags every command sees.
pub struct Context {
    pub seed: u64,
    pub json: bool,
}

impl Context {
    pub fn new(seed: u64, json: bool) -> Self {
        Context { seed, json }
    }

    /// A progress bar on stderr, hidden in `--json` mode and when stderr is not a terminal.
    pub fn progress(&self, len: u64, message: &str) -> ProgressBar {
        if self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>12} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
            )
            .expect("static progress template is valid"),
        );
        bar.set_message(message.to_string());
        bar
    }

    /// Prints `value` as one JSON object on stdout.
    pub fn print_json(&self, value: &serde_json::Value) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string(value)?);
        Ok(())
    }
}

/// A check that ran to completion and failed (tampering found, gate failed): exit code 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Verdict(pub String);

/// Maps an error to the documented exit code: 1 verdict, 3 environment, 2 everything else
/// (invalid arguments or input).
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<Verdict>().is_some() {
        return 1;
    }
    for cause in err.chain() {
        if let Some(p) = cause.downcast_ref::<mithridate_pipeline::PipelineError>() {
            return if p.is_environment() { 3 } else { 2 };
        }
        if let Some(r) = cause.downcast_ref::<mithridate_lm::LmError>() {
            return if r.is_environment() { 3 } else { 2 };
        }
        if let Some(r) = cause.downcast_ref::<mithridate_rag::RagError>() {
            return if r.is_environment() { 3 } else { 2 };
        }
        if let Some(t) = cause.downcast_ref::<mithridate_text::TextError>() {
            return if t.is_environment() { 3 } else { 2 };
        }
        if let Some(data) = cause.downcast_ref::<mithridate_data::DataError>() {
            return match data {
                mithridate_data::DataError::Fetch { .. }
                | mithridate_data::DataError::Io { .. } => 3,
                _ => 2,
            };
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return 3;
        }
    }
    2
}

/// The error and its causes on one line (control characters quoted from hostile input, such
/// as a newline or carriage return inside a CSV field, become spaces).
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string().replace(|c: char| c.is_control(), " ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// Renders rows as an aligned plain-text table with a header line.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A registry's `--list`: with `--json` one object `{key: [entries]}` (name, summary,
/// modalities, paper, taxonomy ids), else the text listing.
pub fn print_registry<B>(
    ctx: &Context,
    key: &str,
    registry: &mithridate_core::registry::Registry<B>,
) -> anyhow::Result<()> {
    if ctx.json {
        let entries: Vec<serde_json::Value> = registry
            .entries()
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.name,
                    "summary": e.summary,
                    "modalities": e.modalities,
                    "paper": e.paper,
                    "mitre_atlas": e.taxonomy.mitre_atlas,
                    "nist_ai_100_2": e.taxonomy.nist_ai_100_2,
                })
            })
            .collect();
        return ctx.print_json(&serde_json::json!({ key: entries }));
    }
    println!("{}", registry.listing());
    Ok(())
}

/// Writes `value` as one line of JSON to `path`, atomically (0644).
pub fn write_json(path: &std::path::Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let mut bytes = serde_json::to_vec(value)?;
    bytes.push(b'\n');
    mithridate_core::write_atomic(path, &bytes, mithridate_core::FileMode::Shared)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}

/// `--rule` help, read from the aggregation-rule and pre-aggregator registries.
pub fn rule_help() -> String {
    format!(
        "Aggregation rule: {}; parameters after a colon (trimmed-mean:beta=0.2), pre-aggregators \
         ({}) chained before any rule with + (bucketing:s=2+clipping:tau=1+median); see docs/registry.md",
        mithridate_aggregate::RULES.names().join(", "),
        mithridate_aggregate::PRE_AGGREGATORS.names().join(", "),
    )
}

/// `--attack` help of federated commands, read from the update-attack registry.
pub fn update_attack_help() -> String {
    format!(
        "Update attack: {}, each with an optional main parameter after a colon (ipm:0.5, \
         min-max:unit). With none the Byzantine clients behave honestly (the rule still assumes them)",
        mithridate_fl::UPDATE_ATTACKS.names().join(", "),
    )
}
