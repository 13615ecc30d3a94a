//! Data-poisoning attacks over NumPy arrays: the same registry, checked parameters, budget
//! and seed as `mithridate poison`, so the same input gives the same poisoned bytes and the
//! same ground-truth record (the `.truth.json` the CLI writes, here as a dict).
//!
//! Attacks that need a surrogate model (greedy label flipping, clean-label, feature collision)
//! train one exactly as the CLI does when none is given: the default architecture for the
//! modality, seed `seed + SURROGATE_SEED_OFFSET`. Feature collision also needs a victim set,
//! which Python passes as arrays (the CLI defaults to the test split).

use crate::data::{dataset_from_arrays, dataset_to_py, features_to_py};
use crate::errors::{detached, invalid, py_to_json};
use mithridate_attack::{Budget, GroundTruth};
use mithridate_core::ParamGuard;
use mithridate_pipeline::attack::AttackSpec;
use mithridate_pipeline::train::{ModelParams, SURROGATE_SEED_OFFSET};
use mithridate_pipeline::PipelineError;
use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The budget from exactly one of `rate` / `count`, checked.
fn budget(rate: Option<f64>, count: Option<usize>) -> PyResult<Budget> {
    let budget = match (rate, count) {
        (Some(r), None) => Budget::Rate(r),
        (None, Some(c)) => Budget::Count(c),
        (Some(_), Some(_)) => {
            return Err(invalid("give the poison budget as rate or count, not both"))
        }
        (None, None) => return Err(invalid("give the poison budget as rate=R or count=N")),
    };
    budget.check().map_err(|e| invalid(e.to_string()))
}

/// Poisons the training set `x, y, ids` with attack `name` (parameters `params`, a dict with
/// the registry's kebab-case keys). Returns a dict: `x`, `y`, `ids`, `num_classes` of the
/// poisoned set and `truth`, the ground-truth record.
#[pyfunction]
#[pyo3(signature = (name, x, y, ids=None, params=None, rate=None, count=None, seed=0,
                    num_classes=None, victims=None, surrogate_epochs=None))]
#[allow(clippy::too_many_arguments)]
fn poison<'py>(
    py: Python<'py>,
    name: &str,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    ids: Option<&Bound<'py, PyAny>>,
    params: Option<&Bound<'py, PyAny>>,
    rate: Option<f64>,
    count: Option<usize>,
    seed: u64,
    num_classes: Option<usize>,
    victims: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    surrogate_epochs: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let params = match params {
        Some(p) => py_to_json(p, "params")?,
        None => serde_json::json!({}),
    };
    // Parameters and budget are checked before any data is converted (as the CLI does).
    let spec = AttackSpec::new(name, &params).map_err(|e| invalid(e.to_string()))?;
    let budget = budget(rate, count)?;
    let surrogate_model = ModelParams {
        architecture: None,
        epochs: surrogate_epochs,
    }
    .check()
    .map_err(|e| invalid(e.to_string()))?;
    let train = dataset_from_arrays(x, y, ids, num_classes, "")?;
    spec.check_modality(train.modality().name(), "x")
        .map_err(|e| invalid(e.to_string()))?;
    let victims = match victims {
        Some((vx, vy, vids)) => Some(dataset_from_arrays(
            &vx,
            &vy,
            Some(&vids),
            Some(train.num_classes()),
            "victims ",
        )?),
        None if spec.needs_victims() => {
            return Err(invalid(format!(
                "{name} needs a victim set: pass victims=(x_test, y_test, ids_test)"
            )))
        }
        None => None,
    };
    let poisoned = detached(py, || -> Result<_, PipelineError> {
        let surrogate = if spec.needs_surrogate() {
            let seed = seed.wrapping_add(SURROGATE_SEED_OFFSET);
            Some(surrogate_model.train(&train, seed, &mut |_| {})?)
        } else {
            None
        };
        spec.run(&train, budget, seed, surrogate.as_ref(), victims.as_ref())
    })?;
    let dict = dataset_to_py(py, &poisoned.data)?;
    // Serialized straight from the record, as the CLI writes `.truth.json`: through a
    // `serde_json::Value` its f32 trigger values would print as f64 (8.310497283935547
    // instead of 8.310497) and the dict would differ from the file's.
    let truth = serde_json::to_string(&poisoned.truth).map_err(|e| invalid(e.to_string()))?;
    dict.set_item("truth", py.import("json")?.call_method1("loads", (truth,))?)?;
    Ok(dict)
}

/// A ground-truth record from a dict (as [`poison`] returns) or the text of a `.truth.json`.
fn truth_of(truth: &Bound<'_, PyAny>) -> PyResult<GroundTruth> {
    let json = match truth.extract::<String>() {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| invalid(format!("truth: not a ground-truth record ({e})")))?,
        Err(_) => py_to_json(truth, "truth")?,
    };
    // The record's structure is the check: a dict that deserializes is a ground truth.
    let truth: GroundTruth = serde_json::from_value(json)
        .map_err(|e| invalid(format!("truth: not a ground-truth record ({e})")))?;
    Ok(truth)
}

/// Applies the backdoor trigger of `truth` to test inputs `x` (their `ids` place per-sample
/// triggers where training put them). Returns a dict: `x` (triggered copy) and `target`
/// (int64: the label the attacker wants for each row, -1 where the row already has it).
#[pyfunction]
#[pyo3(signature = (truth, x, y, ids=None))]
fn apply_trigger<'py>(
    py: Python<'py>,
    truth: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    ids: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let truth = truth_of(truth)?;
    let Some((trigger, mapping)) = truth.trigger() else {
        return Err(invalid(format!(
            "truth: the {} attack plants no test-time trigger (only backdoor attacks do)",
            truth.attack
        )));
    };
    let data = dataset_from_arrays(x, y, ids, Some(truth.num_classes), "")?;
    let triggered = detached(py, || mithridate_attack::apply_trigger(trigger, &data))?;
    let k = truth.num_classes;
    let target: Vec<i64> = data
        .labels()
        .iter()
        .map(|&l| mapping.target_for(l, k).map_or(-1, i64::from))
        .collect();
    let dict = PyDict::new(py);
    dict.set_item("x", features_to_py(py, &triggered)?)?;
    dict.set_item("target", target.into_pyarray(py))?;
    Ok(dict)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(poison, m)?)?;
    m.add_function(wrap_pyfunction!(apply_trigger, m)?)?;
    Ok(())
}
