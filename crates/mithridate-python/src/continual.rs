//! Continual retraining under poisoning: the same library calls as `mithridate continual`
//! (`mithridate_continual::named::run`, `incident::trace`, `incident::clean_and_retrain`),
//! returning the dicts the CLI's `--json` prints.

use crate::errors::{detached, json_to_py, py_to_json};
use crate::failure::{Failure, OrFailure};
use mithridate_continual::{incident, named};
use mithridate_data::DataHome;
use pyo3::prelude::*;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Runs (or resumes) the loop. `config`: a dict of `continual.toml` keys (None: defaults) or
/// `config_file`, a TOML file; `params`: the campaign's parameters (`rate` and `target`
/// included). Returns the `mithridate continual --json` dict with `run_dir`.
#[pyfunction]
#[pyo3(signature = (data, campaign, params, config=None, config_file=None, batches=None,
    seed=0, out=PathBuf::from("continual-run"), max_steps=None))]
#[allow(clippy::too_many_arguments)]
fn continual_run(
    py: Python<'_>,
    data: String,
    campaign: String,
    params: &Bound<'_, PyAny>,
    config: Option<&Bound<'_, PyAny>>,
    config_file: Option<PathBuf>,
    batches: Option<usize>,
    seed: u64,
    out: PathBuf,
    max_steps: Option<usize>,
) -> PyResult<Py<PyAny>> {
    let params = match py_to_json(params, "params")? {
        Value::Null => json!({}),
        other => other,
    };
    let config = config
        .map(|c| py_to_json(c, "config"))
        .transpose()?
        .unwrap_or(Value::Null);
    let value = detached(py, || -> Result<Value, Failure> {
        let spec = match &config_file {
            Some(path) => named::spec_from_file(path, batches).failed()?,
            None => named::spec_from_json(&config, batches).failed()?,
        };
        let outcome = named::run(
            &DataHome::from_env().failed()?,
            named::NamedRun {
                data,
                campaign,
                params,
                spec,
                seed,
                dir: out.clone(),
                max_steps,
            },
        )
        .failed()?;
        let mut value = serde_json::to_value(&outcome).failed()?;
        value["run_dir"] = json!(out.display().to_string());
        Ok(value)
    })?;
    json_to_py(py, &value)
}

/// Every incident of a run traced from its audit log (`mithridate continual trace --json`).
#[pyfunction]
fn continual_trace(py: Python<'_>, run_dir: PathBuf) -> PyResult<Py<PyAny>> {
    let value = detached(py, || -> Result<Value, Failure> {
        serde_json::to_value(incident::trace(&run_dir).failed()?).failed()
    })?;
    json_to_py(py, &value)
}

/// Removes every named sample, writes the cleaned set (`.npz`, atomically) and retrains
/// (`mithridate continual clean --json`).
#[pyfunction]
fn continual_clean(py: Python<'_>, run_dir: PathBuf, out: PathBuf) -> PyResult<Py<PyAny>> {
    let value = detached(py, || -> Result<Value, Failure> {
        serde_json::to_value(incident::clean_and_retrain(&run_dir, &out).failed()?).failed()
    })?;
    json_to_py(py, &value)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(continual_run, m)?)?;
    m.add_function(wrap_pyfunction!(continual_trace, m)?)?;
    m.add_function(wrap_pyfunction!(continual_clean, m)?)?;
    Ok(())
}
