//! `scan_model`: model-level backdoor detection (Neural Cleanse, MM-BD) of a Mithridate or
//! ONNX model over a trusted clean set given as arrays; one library call
//! ([`mithridate_pipeline::model_scan`]), as `mithridate scan model` makes it.

use crate::data::dataset_from_arrays;
use crate::detect::onnx_options;
use crate::errors::{detached, invalid, json_to_py, py_to_json};
use mithridate_pipeline::model_scan::{
    scan_model as scan, selected_inspectors, write_trigger_pictures,
};
use mithridate_pipeline::run_model::RunModel;
use mithridate_pipeline::PipelineError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Inspects the model file `model` (a Mithridate model, or `.onnx` with `onnx_input`) with the
/// model-level `detectors` (registry names or `all`; `params` maps a detector's name to its
/// parameter dict) over the trusted clean set `x, y`. Returns the CLI's JSON report as a dict
/// plus `triggers`: the reverse-engineered trigger of each flagged class as PNG bytes
/// (`(class, bytes)` pairs), written as `class-K.png` into `triggers_dir` when given.
#[pyfunction]
#[pyo3(signature = (model, x, y, detectors, params=None, seed=0, num_classes=None,
                    onnx_input=None, triggers_dir=None))]
#[allow(clippy::too_many_arguments)]
fn scan_model<'py>(
    py: Python<'py>,
    model: PathBuf,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    detectors: Vec<String>,
    params: Option<&Bound<'py, PyAny>>,
    seed: u64,
    num_classes: Option<usize>,
    onnx_input: Option<&Bound<'py, PyAny>>,
    triggers_dir: Option<PathBuf>,
) -> PyResult<Bound<'py, PyDict>> {
    let params: BTreeMap<String, serde_json::Value> = match params {
        Some(p) => serde_json::from_value(py_to_json(p, "params")?).map_err(|e| {
            invalid(format!(
                "params: expected {{detector: {{key: value}}}}: {e}"
            ))
        })?,
        None => BTreeMap::new(),
    };
    let inspectors =
        selected_inspectors(&detectors, &params).map_err(|e| invalid(e.to_string()))?;
    let is_onnx = mithridate_onnx::is_onnx_path(&model);
    if !is_onnx && onnx_input.is_some() {
        return Err(invalid(
            "onnx_input applies to an ONNX model (model='x.onnx') only",
        ));
    }
    let options = is_onnx.then(|| onnx_options(onnx_input)).transpose()?;
    let trusted = dataset_from_arrays(x, y, None, num_classes, "")?;
    let (report, pngs) = detached(py, move || -> Result<_, PipelineError> {
        let loaded = RunModel::load(&model, options)?;
        let done = scan(&loaded, trusted, &inspectors, seed)?;
        let pngs = done.trigger_pngs()?;
        let pictures = match &triggers_dir {
            Some(dir) => write_trigger_pictures(dir, &pngs)?,
            None => Vec::new(),
        };
        Ok((done.report(&model, "arrays", &pictures), pngs))
    })?;
    let dict = json_to_py(py, &report)?
        .into_bound(py)
        .cast_into::<PyDict>()?;
    let triggers: Vec<(usize, Bound<'py, PyBytes>)> = pngs
        .iter()
        .map(|(class, png)| (*class, PyBytes::new(py, png)))
        .collect();
    dict.set_item("triggers", triggers)?;
    Ok(dict)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(scan_model, m)?)?;
    Ok(())
}
