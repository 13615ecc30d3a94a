//! `mithridate._native`: the compiled half of the Python package `mithridate`.
//!
//! A thin shell over the library crates, like the CLI: every function validates what Python
//! handed it (dtype, rank, contiguity, finiteness: [`arrays`]), releases the GIL, makes one
//! library call and converts the result. Errors become Python exceptions ([`errors`]):
//! `ValueError` for bad input, `OSError` for the environment (I/O, a registry that cannot be
//! reached), and a panic, should one happen, a `RuntimeError` rather than pyo3's
//! `PanicException`. The pure-Python modules under `python/mithridate/` give these functions
//! their public shape (callable rule classes, keyword arguments, docstrings, type stubs).

mod aggregate;
pub mod arrays;
mod assess;
mod attack;
mod continual;
mod data;
mod detect;
pub mod errors;
mod failure;
mod gate;
mod inspect;
mod lm;
mod provenance;
mod registry;
mod text;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    registry::register(m)?;
    aggregate::register(m)?;
    attack::register(m)?;
    data::register(m)?;
    detect::register(m)?;
    inspect::register(m)?;
    provenance::register(m)?;
    gate::register(m)?;
    assess::register(m)?;
    continual::register(m)?;
    text::register(m)?;
    lm::register(m)?;
    Ok(())
}
