//! Backdoors in a text classifier (mithridate-text): the same library calls as
//! `mithridate text attack`, with the same defaults, returning the dict its `--json` prints
//! (the library's `ExperimentResult`).
//!
//! The spec is built exactly as the CLI builds it (attack parameters, `trigger` over them,
//! defences as `NAME` or `NAME:KEY=VALUE,...`), refused by `experiment::check` before the
//! encoder loads, then run by `experiment::run` with the MiniLM embedder and its cache under
//! `$MITHRIDATE_HOME/text-cache/`. Progress is silent.

use crate::errors::{detached, invalid, json_to_py, py_to_json, to_py};
use crate::failure::{Failure, OrFailure};
use mithridate_text::experiment::{self, ExperimentSpec};
use mithridate_text::finetune_settings::{FineTuneSettings, Spelling};
use mithridate_text::head::HeadConfig;
use mithridate_text::registry::{ATTACKS, DEFENCES};
use pyo3::prelude::*;
use serde_json::Value;

/// One experiment (`mithridate text attack --json`). `params`: further attack parameters (a
/// dict, the CLI's `-P KEY=VALUE`), `trigger` set over them; `defences`: the CLI's
/// `--defence` strings; `fine_tune_*`: `None` takes the library's default, and a setting
/// given with `fine_tune_layers = 0` is refused. Returns `(result, dropped)`: the result dict
/// and how many corrupt embedding-cache records were dropped (the CLI warns about them).
#[pyfunction]
#[pyo3(signature = (data="spamassassin", attack="addsent", rate=0.01, trigger=None, params=None,
    clean_label=false, target=0, defences=Vec::new(), train=2000, test=500,
    hidden=HeadConfig::default().hidden, epochs=HeadConfig::default().epochs,
    fine_tune_layers=0, fine_tune_epochs=None, fine_tune_lr=None, fine_tune_head=None,
    cache=true, seed=0))]
#[allow(clippy::too_many_arguments)]
fn text_attack(
    py: Python<'_>,
    data: &str,
    attack: &str,
    rate: f64,
    trigger: Option<String>,
    params: Option<&Bound<'_, PyAny>>,
    clean_label: bool,
    target: u32,
    defences: Vec<String>,
    train: usize,
    test: usize,
    hidden: usize,
    epochs: usize,
    fine_tune_layers: usize,
    fine_tune_epochs: Option<usize>,
    fine_tune_lr: Option<f64>,
    fine_tune_head: Option<String>,
    cache: bool,
    seed: u64,
) -> PyResult<(Py<PyAny>, usize)> {
    let mut attack_params = match params.map(|p| py_to_json(p, "params")).transpose()? {
        None | Some(Value::Null) => serde_json::json!({}),
        Some(Value::Object(map)) => Value::Object(map),
        Some(_) => return Err(invalid("params: a dict of attack parameters")),
    };
    if let Some(t) = trigger {
        attack_params["trigger"] = Value::String(t);
    }
    let defences = defences
        .iter()
        .map(|d| mithridate_text::registry::parse_defence(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    let spec = ExperimentSpec {
        data: data.to_string(),
        train_size: train,
        test_size: test,
        attack: attack.to_string(),
        attack_params,
        rate,
        target,
        clean_label,
        defences,
        head: HeadConfig {
            hidden,
            epochs,
            ..HeadConfig::default()
        },
        fine_tune: FineTuneSettings {
            layers: Some(fine_tune_layers),
            epochs: fine_tune_epochs,
            lr: fine_tune_lr,
            head_start: fine_tune_head,
        }
        .resolve(Spelling::Keys)
        .map_err(|e| to_py(&e))?,
        seed,
    };
    let (value, dropped) = detached(py, move || -> Result<(Value, usize), Failure> {
        // Parameters are checked before the encoder loads (bad input fails fast).
        experiment::check(&spec).failed()?;
        let home = mithridate_data::DataHome::from_env().failed()?;
        let mut embedder = mithridate_text::embed::Embedder::minilm(&home, cache).failed()?;
        let report = experiment::run(&home, &mut embedder, &spec, &mut |_, _, _| {}).failed()?;
        Ok((serde_json::to_value(&report).failed()?, embedder.dropped))
    })?;
    Ok((json_to_py(py, &value)?, dropped))
}

/// The text attacks (`"attack"`) or defences (`"defence"`) as registry dicts (name, summary,
/// paper, taxonomy), as `mithridate text attack --list` lists them.
#[pyfunction]
fn text_registry(py: Python<'_>, which: &str) -> PyResult<Py<PyAny>> {
    let value = match which {
        "attack" => crate::registry::entries(&ATTACKS),
        "defence" => crate::registry::entries(&DEFENCES),
        other => return Err(invalid(format!("unknown list '{other}' (attack, defence)"))),
    };
    json_to_py(py, &value)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(text_attack, m)?)?;
    m.add_function(wrap_pyfunction!(text_registry, m)?)?;
    Ok(())
}
