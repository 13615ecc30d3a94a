//! The registries, as Python sees them: one list of entries per role, read by the Python
//! package to build its rule classes, docstrings and `available()` listings, exactly as the
//! CLI builds its help from the same entries.

use crate::errors::json_to_py;
use mithridate_core::registry::{Entry, Registry};
use pyo3::prelude::*;

pub(crate) fn entries<B>(registry: &Registry<B>) -> serde_json::Value {
    registry.entries().iter().map(entry).collect()
}

fn entry<B>(e: &Entry<B>) -> serde_json::Value {
    serde_json::json!({
        "name": e.name,
        "role": e.role.name(),
        "summary": e.summary,
        "paper": e.paper,
        "modalities": e.modalities,
        "requires": e.requires.iter().map(|r| r.name()).collect::<Vec<_>>(),
        "provides": e.provides.iter().map(|r| r.name()).collect::<Vec<_>>(),
        "taxonomy": e.taxonomy.to_taxonomy(),
    })
}

/// Every registered entry of `role` (`"aggregation-rule"`, `"pre-aggregator"`,
/// `"data-attack"`, `"update-attack"`, `"detector"`, `"input-detector"`, `"campaign"`,
/// `"model-inspector"`, `"repair"`) as a list of dicts.
#[pyfunction]
fn registry(py: Python<'_>, role: &str) -> PyResult<Py<PyAny>> {
    let value = match role {
        "aggregation-rule" => entries(&mithridate_aggregate::RULES),
        "pre-aggregator" => entries(&mithridate_aggregate::PRE_AGGREGATORS),
        "data-attack" => entries(&mithridate_attack::registry::ATTACKS),
        "update-attack" => entries(&mithridate_fl::attacks::UPDATE_ATTACKS),
        "detector" => entries(&mithridate_detect::registry::DETECTORS),
        "input-detector" => entries(&mithridate_detect::registry::INPUT_DETECTORS),
        "campaign" => entries(&mithridate_continual::CAMPAIGNS),
        "model-inspector" => entries(&mithridate_gate::inspectors::MODEL_INSPECTORS),
        "repair" => entries(mithridate_pipeline::model_defence::repairs()),
        other => {
            return Err(crate::errors::invalid(format!(
                "unknown role '{other}' (known: aggregation-rule, pre-aggregator, data-attack, \
                 update-attack, detector, input-detector, campaign, model-inspector, repair)"
            )))
        }
    };
    json_to_py(py, &value)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(registry, m)?)
}
