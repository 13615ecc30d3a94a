//! Aggregation rules, update anomaly scores and reputations over NumPy arrays.
//!
//! A [`PyRule`] is built once from a checked [`RuleSpec`] (the rule, its parameters and
//! pre-aggregators) and `f`; calling it aggregates one round, borrowing the `n x d` float32
//! matrix in place, with the GIL released. Stateful rules (centered clipping, FoolsGold) keep
//! their state in the object across calls, as a Flower strategy needs across rounds.

use crate::arrays::{finite_f32, finite_f64, ids};
use crate::errors::{detached, guarded, invalid, py_to_json};
use mithridate_aggregate::anomaly::{self, Reputation};
use mithridate_aggregate::{Aggregator, Round, RoundState, RuleSpec, Updates};
use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Mutex;

/// One aggregation rule (with its pre-aggregators) configured for `f` Byzantine clients.
#[pyclass(name = "Rule", module = "mithridate._native", frozen)]
struct PyRule {
    spec: RuleSpec,
    rule: Box<dyn Aggregator>,
    state: Mutex<RoundState>,
}

fn updates_of<'py>(
    updates: &Bound<'py, PyAny>,
) -> PyResult<(crate::arrays::Borrowed<'py, f32>, usize, usize)> {
    let u = finite_f32(updates, "updates", Some(2))?;
    let (n, d) = (u.shape()[0], u.shape()[1]);
    Ok((u, n, d))
}

#[pymethods]
impl PyRule {
    /// `spec`: the rule as text (`"nnm+krum"`) or a table
    /// (`{"rule": "krum", "params": {...}, "pre": [{"name": "nnm"}]}`); `f`: Byzantine clients.
    #[new]
    fn new(spec: &Bound<'_, PyAny>, f: usize) -> PyResult<Self> {
        let json = py_to_json(spec, "rule")?;
        let spec: RuleSpec = serde_json::from_value(json).map_err(|e| invalid(e.to_string()))?;
        let rule = guarded(|| spec.build(f))?;
        Ok(PyRule {
            spec,
            rule,
            state: Mutex::new(RoundState::default()),
        })
    }

    /// The rule in its text form (`"nnm+krum:m=3"`).
    #[getter]
    fn spec(&self) -> String {
        self.spec.to_string()
    }

    #[getter]
    fn name(&self) -> &'static str {
        self.rule.name()
    }

    /// The Byzantine clients it withstands.
    #[getter]
    fn f(&self) -> usize {
        self.rule.byzantine()
    }

    /// The tolerance condition in words (`"n >= 2f + 3"`).
    #[getter]
    fn tolerance(&self) -> &'static str {
        self.rule.tolerance()
    }

    /// Whether the rule weighs clients by the weights it is given (FedAvg, geomed,
    /// norm-bound); the others refuse weights.
    #[getter]
    fn uses_weights(&self) -> bool {
        self.rule.uses_weights()
    }

    /// The largest `f` the rule tolerates among `n` clients.
    fn max_byzantine(&self, n: usize) -> usize {
        self.rule.max_byzantine(n)
    }

    /// Aggregates one round: a dict with `aggregate` (float32, `d`), `weights` (float64, `n`),
    /// `selected` (bool, `n`) and `scores` (float64 or None).
    #[pyo3(signature = (updates, weights=None, root=None, client_ids=None, seed=0))]
    fn aggregate<'py>(
        &self,
        py: Python<'py>,
        updates: &Bound<'py, PyAny>,
        weights: Option<&Bound<'py, PyAny>>,
        root: Option<&Bound<'py, PyAny>>,
        client_ids: Option<&Bound<'py, PyAny>>,
        seed: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (u, n, d) = updates_of(updates)?;
        let weights = weights.map(|w| finite_f64(w, "weights")).transpose()?;
        let root = root.map(|r| finite_f32(r, "root", Some(1))).transpose()?;
        let client_ids = client_ids.map(|c| ids(c, "client_ids")).transpose()?;
        let rows = u.as_slice();
        let weights = weights.as_ref().map(|w| w.as_slice());
        let root = root.as_ref().map(|r| r.as_slice());
        let out = detached(py, || {
            let mut round = Round::new(Updates::new(rows, n, d)?).with_seed(seed);
            if let Some(w) = weights {
                round = round.with_weights(w)?;
            }
            if let Some(r) = root {
                round = round.with_root(r)?;
            }
            if let Some(c) = client_ids.as_deref() {
                round = round.with_client_ids(c)?;
            }
            self.rule.check_clients(n)?;
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            self.rule.aggregate(&round, &mut state)
        })?;
        let dict = PyDict::new(py);
        dict.set_item("aggregate", out.aggregate.into_pyarray(py))?;
        dict.set_item("weights", out.weights.into_pyarray(py))?;
        dict.set_item("selected", out.selected.into_pyarray(py))?;
        dict.set_item("scores", out.scores.map(|s| s.into_pyarray(py)))?;
        Ok(dict)
    }

    /// Forgets the state carried across rounds (centered clipping's centre, FoolsGold's
    /// history).
    fn reset(&self) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = RoundState::default();
    }

    fn __repr__(&self) -> String {
        format!("Rule('{}', f={})", self.spec, self.rule.byzantine())
    }
}

/// Per-client anomaly signals of one round (norm, cosines, Krum score, their robust z-scores
/// and the suspicion, their maximum) as a dict of float64 arrays.
#[pyfunction]
#[pyo3(signature = (updates, f=0))]
fn score_updates<'py>(
    py: Python<'py>,
    updates: &Bound<'py, PyAny>,
    f: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let (u, n, d) = updates_of(updates)?;
    let rows = u.as_slice();
    let scores = detached(py, || {
        Updates::new(rows, n, d).map(|u| anomaly::score_round(&u, f))
    })?;
    let dict = PyDict::new(py);
    macro_rules! column {
        ($($field:ident),*) => {$(
            let v: Vec<f64> = scores.iter().map(|s| s.$field).collect();
            dict.set_item(stringify!($field), v.into_pyarray(py))?;
        )*};
    }
    column!(
        norm,
        cosine_to_aggregate,
        mean_cosine_to_others,
        max_cosine_to_others,
        krum_score,
        z_norm,
        z_cosine_to_aggregate,
        z_mean_cosine,
        z_max_cosine,
        z_krum,
        suspicion
    );
    Ok(dict)
}

/// Exponentially smoothed suspicion per client across rounds.
#[pyclass(name = "Reputation", module = "mithridate._native")]
struct PyReputation {
    inner: Reputation,
}

#[pymethods]
impl PyReputation {
    #[new]
    #[pyo3(signature = (decay=0.5))]
    fn new(decay: f64) -> PyResult<Self> {
        Ok(PyReputation {
            inner: guarded(|| Reputation::new(decay))?,
        })
    }

    /// Folds in one round's suspicion scores for the given client ids.
    fn update(
        &mut self,
        client_ids: &Bound<'_, PyAny>,
        suspicion: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let c = ids(client_ids, "client_ids")?;
        let s = finite_f64(suspicion, "suspicion")?;
        guarded(|| self.inner.update(&c, s.as_slice()))
    }

    /// A client's reputation (smoothed suspicion), or None if never seen.
    fn get(&self, client_id: u64) -> Option<f64> {
        self.inner.get(client_id)
    }

    /// Client ids whose smoothed suspicion exceeds `threshold`, ascending.
    #[pyo3(signature = (threshold=anomaly::DEFAULT_THRESHOLD))]
    fn flagged(&self, threshold: f64) -> Vec<u64> {
        self.inner.flagged(threshold)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRule>()?;
    m.add_class::<PyReputation>()?;
    m.add_function(wrap_pyfunction!(score_updates, m)?)?;
    m.add("DEFAULT_SUSPICION_THRESHOLD", anomaly::DEFAULT_THRESHOLD)?;
    Ok(())
}
