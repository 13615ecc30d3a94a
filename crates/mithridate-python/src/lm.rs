//! Training-data poisoning of the small generative model (mithridate-lm): the same library
//! calls as `mithridate lm attack` and `mithridate lm defend`, with the same defaults,
//! returning the dict their `--json` prints (the library's `experiment::Report`).
//!
//! As the CLI, the first call makes candle run each tensor operation on its calling thread
//! (`threads::one_thread_per_operation`, unless `CANDLE_NUM_THREADS` or `RAYON_NUM_THREADS`
//! is set) so the run's trainings go side by side; results are the same bytes either way.
//! Progress is silent.

use crate::errors::{detached, json_to_py};
use crate::failure::{Failure, OrFailure};
use mithridate_lm::attacks::{DEFAULT_CONTINUATION, DEFAULT_TRIGGER};
use mithridate_lm::corpus;
use mithridate_lm::experiment;
use mithridate_lm::settings::Settings;
use pyo3::prelude::*;
use serde_json::Value;

/// One run (`mithridate lm attack --json`, or `lm defend --json` with `defend`). `trigger` and
/// `continuation` default to the library's; `defences`: defence names (`"all"` for every one).
#[pyfunction]
#[pyo3(signature = (corpus=String::from("moby-dick"), attack=String::from("dos"), poison_docs=50, defend=false,
    trigger=None, continuation=None, defences=None, docs=None, trusted=200, epochs=2,
    d_model=128, layers=4, heads=4, ctx=64, vocab_size=1024, batch=32, lr=3e-3, prompts=32,
    prompt_len=16, gen_len=24, seed=0))]
#[allow(clippy::too_many_arguments)]
fn lm_run(
    py: Python<'_>,
    corpus: String,
    attack: String,
    poison_docs: usize,
    defend: bool,
    trigger: Option<String>,
    continuation: Option<String>,
    defences: Option<Vec<String>>,
    docs: Option<usize>,
    trusted: usize,
    epochs: usize,
    d_model: usize,
    layers: usize,
    heads: usize,
    ctx: usize,
    vocab_size: usize,
    batch: usize,
    lr: f64,
    prompts: usize,
    prompt_len: usize,
    gen_len: usize,
    seed: u64,
) -> PyResult<Py<PyAny>> {
    let settings = Settings {
        attack,
        poison_docs,
        trigger: trigger.unwrap_or_else(|| DEFAULT_TRIGGER.to_string()),
        continuation: continuation.unwrap_or_else(|| DEFAULT_CONTINUATION.to_string()),
        // A list joins into the CLI's comma-separated `--defence`; an empty list is none.
        defences: defences.map(|list| list.join(",")),
        epochs,
        d_model,
        layers,
        heads,
        ctx,
        vocab_size,
        batch,
        lr,
        prompts,
        prompt_len,
        gen_len,
        seed,
    };
    // As the CLI, before any training thread starts (holding the GIL).
    mithridate_lm::threads::one_thread_per_operation();
    let value = detached(py, move || -> Result<Value, Failure> {
        let spec = settings.spec(defend).failed()?;
        let home = mithridate_data::DataHome::from_env().failed()?;
        let mut loaded = corpus::load(&home, &corpus).failed()?;
        loaded.limit(docs, Some(trusted));
        let report = experiment::run(&loaded, &spec, &mut |_, _, _| {}).failed()?;
        serde_json::to_value(&report).failed()
    })?;
    json_to_py(py, &value)
}

/// The library's default trigger and completion continuation.
#[pyfunction]
fn lm_defaults() -> (&'static str, &'static str) {
    (DEFAULT_TRIGGER, DEFAULT_CONTINUATION)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lm_run, m)?)?;
    m.add_function(wrap_pyfunction!(lm_defaults, m)?)?;
    Ok(())
}
