//! Rust errors and panics into Python exceptions.
//!
//! Every library error is one line (its `Display`); the binding raises `ValueError` with it
//! unless the failure is the environment's (I/O, fetching), which raises `OSError`. Heavy work
//! runs in [`detached`], which releases the GIL and turns a panic into a `RuntimeError` naming
//! it, so no `PanicException` (a `BaseException`) ever reaches the caller.

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A library error: `OSError` when the environment failed, else `ValueError`.
pub fn to_py(err: &(dyn std::error::Error + 'static)) -> PyErr {
    let message = mithridate_pipeline::one_line(err);
    if is_environment(err) {
        PyOSError::new_err(message)
    } else {
        PyValueError::new_err(message)
    }
}

fn is_environment(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.is::<std::io::Error>() {
            return true;
        }
        if let Some(p) = e.downcast_ref::<mithridate_pipeline::PipelineError>() {
            if p.is_environment() {
                return true;
            }
        }
        if let Some(
            mithridate_data::DataError::Fetch { .. } | mithridate_data::DataError::Io { .. },
        ) = e.downcast_ref::<mithridate_data::DataError>()
        {
            return true;
        }
        if let Some(t) = e.downcast_ref::<mithridate_text::TextError>() {
            if t.is_environment() {
                return true;
            }
        }
        if let Some(l) = e.downcast_ref::<mithridate_lm::LmError>() {
            if l.is_environment() {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

/// `ValueError(message)`.
pub fn invalid(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

/// Runs `work` without the GIL; a library error becomes a Python exception ([`to_py`]) and a
/// panic a `RuntimeError`.
pub fn detached<T, E, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    E: std::error::Error + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send,
{
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(work)));
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(to_py(&err)),
        Err(panic) => Err(panic_error(panic)),
    }
}

/// Runs light `work` holding the GIL (constructors, small updates); a library error becomes a
/// Python exception and a panic a `RuntimeError`, as in [`detached`].
pub fn guarded<T, E, F>(work: F) -> PyResult<T>
where
    E: std::error::Error + 'static,
    F: FnOnce() -> Result<T, E>,
{
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(to_py(&err)),
        Err(panic) => Err(panic_error(panic)),
    }
}

/// A panic payload as a `RuntimeError`.
pub fn panic_error(panic: Box<dyn std::any::Any + Send>) -> PyErr {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    PyRuntimeError::new_err(format!(
        "internal error in mithridate (please report): {what}"
    ))
}

/// A JSON value into a Python object (dicts, lists, floats, ints, strings, None).
pub fn json_to_py(py: Python<'_>, value: &serde_json::Value) -> PyResult<Py<PyAny>> {
    let json = py.import("json")?;
    let text = serde_json::to_string(value).map_err(|e| invalid(e.to_string()))?;
    Ok(json.call_method1("loads", (text,))?.unbind())
}

/// A Python object (dicts, lists, numbers, strings, None) into JSON; `what` names it in errors.
pub fn py_to_json(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<serde_json::Value> {
    if obj.is_none() {
        return Ok(serde_json::Value::Null);
    }
    let py = obj.py();
    let json = py.import("json")?;
    // NumPy scalars (np.float32(0.1), np.int64(3)) are not JSON types: `.item()` unwraps them.
    let kwargs = pyo3::types::PyDict::new(py);
    let item = py
        .import("operator")?
        .call_method1("methodcaller", ("item",))?;
    kwargs.set_item("default", item)?;
    kwargs.set_item("allow_nan", false)?;
    let text: String = json
        .call_method("dumps", (obj,), Some(&kwargs))
        .map_err(|e| invalid(format!("{what}: not JSON-serialisable ({e})")))?
        .extract()?;
    serde_json::from_str(&text).map_err(|e| invalid(format!("{what}: {e}")))
}
