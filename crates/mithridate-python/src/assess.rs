//! The assessment: an attack x defence matrix from a TOML configuration (text, file or a
//! dict), run by the library's executor into `results.jsonl`, and its report.
//!
//! The same calls, in the same order, as `mithridate assess` and `mithridate report`: the
//! configuration is parsed and validated completely (datasets loaded, every name checked)
//! before the output directory is created, so a mistake writes nothing; records are appended
//! by the library's store and the report is written atomically. Progress is silent.

use crate::errors::{detached, invalid, json_to_py, py_to_json};
use crate::failure::{Failure, OrFailure};
use mithridate_assess::config::{Config, ConfigError};
use mithridate_assess::plan::Shard;
use mithridate_assess::record::CellRecord;
use mithridate_assess::report::Report;
use mithridate_assess::store::{read_merged, Store};
use mithridate_data::DataHome;
use mithridate_pipeline::assessment::{Assessment, Executor};
use mithridate_pipeline::data::DataCache;
use mithridate_pipeline::federated::one_engine_thread_per_worker;
use mithridate_pipeline::PipelineError;
use pyo3::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A configuration error with its source and line, as the CLI prints it (`FILE:LINE: ...`).
/// For a dict, which has no lines, the offending line of its TOML form is quoted.
fn located(source: &str, text: &str, quote: bool, e: &ConfigError) -> Failure {
    match e.line {
        Some(line) if quote => {
            let shown = text.lines().nth(line - 1).unwrap_or("").trim();
            Failure::invalid(format!("{source}: {} (at `{shown}`)", e.message))
        }
        Some(line) => Failure::invalid(format!("{source}:{line}: {}", e.message)),
        None => Failure::invalid(format!("{source}: {}", e.message)),
    }
}

/// A dict configuration as TOML text (the configuration parser keeps positions of TOML).
fn toml_of(value: &Value) -> Result<String, Failure> {
    let table: toml::Table = serde_json::from_value(value.clone())
        .map_err(|e| Failure::invalid(format!("config: not a TOML table ({e})")))?;
    toml::to_string(&table).map_err(|e| Failure::invalid(format!("config: {e}")))
}

/// A configuration's text and how errors name it.
struct ConfigText {
    text: String,
    /// `config`, the file's path, or `config (dict)`.
    source: String,
    /// Quote the offending line (a dict's TOML form, which the user never saw).
    quote_lines: bool,
}

/// Runs the assessment into `out`; returns the run summary, the records (sorted by plan
/// index) and the report path.
fn run_assessment(
    config: &ConfigText,
    out: &Path,
    seeds: Option<u64>,
    seed: u64,
    shard: Shard,
    workers: usize,
) -> Result<Value, Failure> {
    let (text, source, quote_lines) = (&config.text, &config.source, config.quote_lines);
    let config = Config::parse(text).map_err(|e| located(source, text, quote_lines, &e))?;
    let seeds = seeds.unwrap_or(config.seeds);
    if workers > 1 {
        // As the CLI: cells run in parallel, so the engine's own pool keeps one thread.
        one_engine_thread_per_worker();
    }
    let data = DataCache::new(DataHome::from_env().failed()?);
    let kinds = mithridate_continual::assessment::cell_kinds();
    let assessment =
        Assessment::prepare(&config, seeds, seed, &data, &kinds).map_err(|e| match e {
            PipelineError::Config(e) => located(source, text, quote_lines, &e),
            other => Failure::wrap(other),
        })?;
    let store = Store::open(out).failed()?;
    let start = std::time::Instant::now();
    let summary = assessment
        .run(
            &Executor::new(data).with_work_dir(out),
            &store,
            shard,
            workers,
            &|_| {},
        )
        .failed()?;
    let seconds = start.elapsed().as_secs_f64();
    let mut records = store.records().failed()?;
    records.sort_by_key(|r| r.index);
    let report_path = out.join("report.html");
    write_report(&records, "html", &report_path)?;
    Ok(json!({
        "out": out,
        "results": store.results_path(),
        "report": report_path,
        "planned": summary.planned,
        "in_shard": summary.in_shard,
        "resumed": summary.skipped,
        "ran": summary.ran,
        "seconds": seconds,
        "records": records,
    }))
}

/// The report of `records` in `format` (html, md, csv, json) written atomically to `path`.
fn write_report(records: &[CellRecord], format: &str, path: &Path) -> Result<(), Failure> {
    let text = render(records, format)?;
    mithridate_core::write_atomic(path, text.as_bytes(), mithridate_core::FileMode::Shared)
        .context(|| format!("writing {}", path.display()))
}

fn render(records: &[CellRecord], format: &str) -> Result<String, Failure> {
    let report = Report::new(records).failed()?;
    Ok(match format {
        "html" => report.to_html(),
        "md" => report.to_markdown(),
        "csv" => report.to_csv().failed()?,
        "json" => format!(
            "{}\n",
            serde_json::to_string_pretty(&report.to_json()).failed()?
        ),
        other => {
            return Err(Failure::invalid(format!(
                "format must be html, md, csv or json, got '{other}'"
            )))
        }
    })
}

/// Runs an assessment. Exactly one of `toml` (text), `file` (a TOML file) or `table` (a
/// dict) is the configuration; `out` the directory of `results.jsonl` (rerun to resume) and
/// `report.html`; `seeds` overrides the configuration's; `seed` is the CLI's `--seed`.
#[pyfunction]
#[pyo3(signature = (out, toml=None, file=None, table=None, seeds=None, seed=0, shard="1/1",
    workers=1))]
#[allow(clippy::too_many_arguments)]
fn assess_run(
    py: Python<'_>,
    out: PathBuf,
    toml: Option<String>,
    file: Option<PathBuf>,
    table: Option<&Bound<'_, PyAny>>,
    seeds: Option<u64>,
    seed: u64,
    shard: &str,
    workers: usize,
) -> PyResult<Py<PyAny>> {
    let shard: Shard = shard.parse().map_err(invalid)?;
    if workers == 0 {
        return Err(invalid("workers must be at least 1"));
    }
    if seeds == Some(0) {
        return Err(invalid("seeds must be at least 1"));
    }
    let table = table.map(|t| py_to_json(t, "config")).transpose()?;
    let value = detached(py, || {
        let (text, source, quote_lines) = match (toml, file, table) {
            (Some(text), None, None) => (text, "config".to_string(), false),
            (None, Some(path), None) => {
                let text = std::fs::read_to_string(&path)
                    .context(|| format!("cannot read {}", path.display()))?;
                (text, path.display().to_string(), false)
            }
            (None, None, Some(table)) => (toml_of(&table)?, "config (dict)".to_string(), true),
            _ => {
                return Err(Failure::invalid(
                    "give exactly one configuration: TOML text, a file or a dict",
                ))
            }
        };
        let config = ConfigText {
            text,
            source,
            quote_lines,
        };
        run_assessment(&config, &out, seeds, seed, shard, workers)
    })?;
    json_to_py(py, &value)
}

/// The records of one or more result directories (shards are merged), sorted by plan index.
#[pyfunction]
fn assess_records(py: Python<'_>, dirs: Vec<PathBuf>) -> PyResult<Py<PyAny>> {
    if dirs.is_empty() {
        return Err(invalid("give at least one result directory"));
    }
    let records = detached(py, || read_merged(&dirs))?;
    json_to_py(
        py,
        &serde_json::to_value(&records).map_err(|e| invalid(e.to_string()))?,
    )
}

/// The report of the merged records of `dirs` in `format`: written atomically to `output`
/// when given (returns None), else returned as text.
#[pyfunction]
#[pyo3(signature = (dirs, format="html", output=None))]
fn assess_report(
    py: Python<'_>,
    dirs: Vec<PathBuf>,
    format: &str,
    output: Option<PathBuf>,
) -> PyResult<Option<String>> {
    if dirs.is_empty() {
        return Err(invalid("give at least one result directory"));
    }
    detached(py, || {
        let records = read_merged(&dirs).failed()?;
        match &output {
            Some(path) => write_report(&records, format, path).map(|()| None),
            None => render(&records, format).map(Some),
        }
    })
}

/// The built-in default configuration (`mithridate assess --print-default`).
#[pyfunction]
fn assess_default_toml() -> &'static str {
    mithridate_assess::config::DEFAULT_TOML
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(assess_run, m)?)?;
    m.add_function(wrap_pyfunction!(assess_records, m)?)?;
    m.add_function(wrap_pyfunction!(assess_report, m)?)?;
    m.add_function(wrap_pyfunction!(assess_default_toml, m)?)?;
    Ok(())
}
