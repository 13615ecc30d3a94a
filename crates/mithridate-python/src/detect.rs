//! Poisoned-data detectors over what a Python user already has, without a Mithridate model:
//! representations (penultimate activations, embeddings) with labels, out-of-sample
//! `pred_probs` with labels, per-sample losses or loss curves. Each call builds the registry
//! detector from its checked parameters (same names, same defaults, same errors as
//! `mithridate scan`) and returns its detection: scores in row order, flagged ids, per-class
//! verdicts and relabel suggestions. `scan_data` runs full scans with a Mithridate model
//! (any registry detector, as `mithridate scan data`), and `sanitize` applies flags to
//! `x, y, ids` as the CLI's `sanitize` applies a `flags.json`.

use crate::arrays::{finite_f32, ids, labels};
use crate::data::{dataset_from_arrays, dataset_to_py};
use crate::errors::{detached, invalid, json_to_py, py_to_json};
use mithridate_core::ParamGuard;
use mithridate_detect::sanitize::{sanitize as sanitize_data, Action};
use mithridate_detect::{
    clustering, confident, dynamics, knn, loss, mahalanobis, scan_untangling, spectral, spectre,
    split_consistency, Detection, Embeddings,
};
use mithridate_engine::{Architecture, Classifier};
use mithridate_onnx::{InputLayout, InputOptions, OnnxClassifier};
use mithridate_pipeline::defence::DetectorSpec;
use mithridate_pipeline::defend::{scan, scan_onnx, ScanSetup};
use mithridate_pipeline::train::ModelParams;
use mithridate_pipeline::PipelineError;
use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The checked detector of parameter type `$params` named `$name`, from `$json` (a dict
/// with the registry's kebab-case keys). A macro rather than a generic function: the bound
/// would name `serde::de::DeserializeOwned`, and serde is not a dependency of this crate.
macro_rules! checked {
    ($params:ty, $name:expr, $json:expr) => {{
        let parsed: $params = mithridate_core::registry::params($name, $json)
            .map_err(|e| invalid(format!("invalid detector parameter: {e}")))?;
        parsed.check().map_err(|e| invalid(e.to_string()))?
    }};
}

fn params_of(params: Option<&Bound<'_, PyAny>>) -> PyResult<serde_json::Value> {
    Ok(match params {
        Some(p) => py_to_json(p, "params")?,
        None => serde_json::json!({}),
    })
}

/// Labels, ids (default `0..n`) and the class count (default `max(label) + 1`) of `n` rows.
fn rows_of(
    y: &Bound<'_, PyAny>,
    sample_ids: Option<&Bound<'_, PyAny>>,
    num_classes: Option<usize>,
    n: usize,
    what: &str,
) -> PyResult<(Vec<u32>, Vec<u64>, usize)> {
    let labels = labels(y, "labels")?;
    let sample_ids = match sample_ids {
        Some(i) => ids(i, "ids")?,
        None => (0..labels.len() as u64).collect(),
    };
    if labels.len() != n || sample_ids.len() != n {
        return Err(invalid(format!(
            "{what} has {n} rows but labels has {} and ids {}",
            labels.len(),
            sample_ids.len()
        )));
    }
    let max_label = labels.iter().copied().max().unwrap_or(0) as usize;
    let k = match num_classes {
        Some(k) if k <= max_label => {
            return Err(invalid(format!(
                "num_classes is {k} but labels contains {max_label}"
            )))
        }
        Some(k) => k,
        None => max_label + 1,
    };
    Ok((labels, sample_ids, k))
}

/// A detection as a dict: `detector`, `parameters`, `scores` (float64, row order, higher =
/// more suspicious), `flagged` (uint64 ids, ascending), `classes` (per-class verdicts),
/// `relabel_ids` / `relabel_labels` (suggested labels of flagged rows, label-noise detectors).
fn detection_to_py<'py>(py: Python<'py>, d: &Detection) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("detector", &d.detector)?;
    dict.set_item("parameters", json_to_py(py, &d.parameters)?)?;
    let scores: Vec<f64> = d.scores.iter().map(|&(_, s)| s).collect();
    dict.set_item("scores", scores.into_pyarray(py))?;
    dict.set_item("flagged", d.flagged.clone().into_pyarray(py))?;
    let classes = serde_json::to_value(&d.classes).map_err(|e| invalid(e.to_string()))?;
    dict.set_item("classes", json_to_py(py, &classes)?)?;
    let (relabel_ids, relabel_labels): (Vec<u64>, Vec<i64>) =
        d.relabel.iter().map(|&(id, l)| (id, i64::from(l))).unzip();
    dict.set_item("relabel_ids", relabel_ids.into_pyarray(py))?;
    dict.set_item("relabel_labels", relabel_labels.into_pyarray(py))?;
    Ok(dict)
}

/// Runs the embedding detector `name` (spectral, activation-clustering, knn, mahalanobis,
/// spectre, scan, split-consistency) on `embeddings` (float32 `n x d`) with `labels`.
/// `x` (the raw inputs, same rows) enables activation clustering's dirty-label check and is
/// required by split consistency.
#[pyfunction]
#[pyo3(signature = (name, embeddings, labels, ids=None, params=None, num_classes=None,
                    seed=0, x=None))]
#[allow(clippy::too_many_arguments)]
fn detect_embeddings<'py>(
    py: Python<'py>,
    name: &str,
    embeddings: &Bound<'py, PyAny>,
    labels: &Bound<'py, PyAny>,
    ids: Option<&Bound<'py, PyAny>>,
    params: Option<&Bound<'py, PyAny>>,
    num_classes: Option<usize>,
    seed: u64,
    x: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let params = params_of(params)?;
    let emb = finite_f32(embeddings, "embeddings", Some(2))?;
    let (n, dim) = (emb.shape()[0], emb.shape()[1]);
    let (labels_v, ids_v, k) = rows_of(labels, ids, num_classes, n, "embeddings")?;
    let data = match x {
        Some(x) => Some(dataset_from_arrays(x, labels, ids, Some(k), "")?),
        None => None,
    };
    let values = emb.as_slice();
    macro_rules! run {
        ($params:ty, |$det:ident, $e:ident| $call:expr) => {{
            let $det = checked!($params, name, &params);
            detached(py, || {
                let $e = Embeddings::new(values, dim, &labels_v, &ids_v, k)?;
                $call
            })?
        }};
    }
    let detection = match name {
        "spectral" => run!(spectral::SpectralParams, |d, e| d.detect_embeddings(&e)),
        "knn" => run!(knn::KnnParams, |d, e| d.detect_embeddings(&e)),
        "mahalanobis" => run!(mahalanobis::MahalanobisParams, |d, e| d
            .detect_embeddings(&e)),
        "spectre" => run!(spectre::SpectreParams, |d, e| d.detect_embeddings(&e)),
        "scan" => run!(scan_untangling::ScanUntanglingParams, |d, e| d
            .detect_embeddings(&e, seed)),
        "activation-clustering" => run!(clustering::ClusteringParams, |d, e| match &data {
            Some(data) => d.detect_with_inputs(&e, data, seed),
            None => d.detect_embeddings(&e, seed),
        }),
        "split-consistency" => {
            let Some(data) = &data else {
                return Err(invalid(
                    "split-consistency needs the raw inputs: pass x (same rows as embeddings)",
                ));
            };
            run!(split_consistency::SplitConsistencyParams, |d, e| d
                .detect(&e, data, seed))
        }
        other => {
            return Err(invalid(format!(
                "'{other}' is not an embedding detector (known: spectral, activation-clustering, \
                 knn, mahalanobis, spectre, scan, split-consistency)"
            )))
        }
    };
    detection_to_py(py, &detection)
}

/// Confident learning on out-of-sample `pred_probs` (float32 `n x k`) and `labels`.
#[pyfunction]
#[pyo3(signature = (pred_probs, labels, ids=None, params=None))]
fn detect_probabilities<'py>(
    py: Python<'py>,
    pred_probs: &Bound<'py, PyAny>,
    labels: &Bound<'py, PyAny>,
    ids: Option<&Bound<'py, PyAny>>,
    params: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let params = params_of(params)?;
    let detector = checked!(confident::ConfidentParams, "confident", &params);
    let probs = finite_f32(pred_probs, "pred_probs", Some(2))?;
    let (n, k) = (probs.shape()[0], probs.shape()[1]);
    let (labels_v, ids_v, _) = rows_of(labels, ids, Some(k), n, "pred_probs")?;
    let values = probs.as_slice();
    let detection = detached(py, || {
        detector.detect_probabilities(values, &labels_v, &ids_v, k)
    })?;
    detection_to_py(py, &detection)
}

/// The early-loss detector on per-sample `losses` (float32, `n`).
#[pyfunction]
#[pyo3(signature = (losses, labels, ids=None, params=None, num_classes=None))]
fn detect_losses<'py>(
    py: Python<'py>,
    losses: &Bound<'py, PyAny>,
    labels: &Bound<'py, PyAny>,
    ids: Option<&Bound<'py, PyAny>>,
    params: Option<&Bound<'py, PyAny>>,
    num_classes: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let params = params_of(params)?;
    let detector = checked!(loss::LossParams, "loss", &params);
    let losses = finite_f32(losses, "losses", Some(1))?;
    let n = losses.shape()[0];
    let (labels_v, ids_v, k) = rows_of(labels, ids, num_classes, n, "losses")?;
    let values = losses.as_slice();
    let detection = detached(py, || detector.detect_losses(values, &labels_v, &ids_v, k))?;
    detection_to_py(py, &detection)
}

/// The training-dynamics detector on loss `curves` (float32 `T x n`: row `t` holds every
/// sample's loss after stage `t`).
#[pyfunction]
#[pyo3(signature = (curves, labels, ids=None, params=None, num_classes=None))]
fn detect_curves<'py>(
    py: Python<'py>,
    curves: &Bound<'py, PyAny>,
    labels: &Bound<'py, PyAny>,
    ids: Option<&Bound<'py, PyAny>>,
    params: Option<&Bound<'py, PyAny>>,
    num_classes: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let params = params_of(params)?;
    let detector = checked!(dynamics::DynamicsParams, "dynamics", &params);
    let curves = finite_f32(curves, "curves", Some(2))?;
    let n = curves.shape()[1];
    let (labels_v, ids_v, k) = rows_of(labels, ids, num_classes, n, "curves (columns)")?;
    let stages: Vec<Vec<f32>> = curves.as_slice().chunks(n).map(<[f32]>::to_vec).collect();
    let detection = detached(py, || detector.detect_curves(&stages, &labels_v, &ids_v, k))?;
    detection_to_py(py, &detection)
}

/// Removes the rows whose ids are in `flagged` from `x, y, ids` (`action="drop"`), or gives
/// them the suggested labels `relabel_labels` of `relabel_ids` (`action="relabel"`; flagged
/// rows without a suggestion are dropped). Returns the clean set's `x, y, ids` and `report`.
#[pyfunction]
#[pyo3(signature = (x, y, ids, flagged, relabel_ids=None, relabel_labels=None,
                    action="drop", num_classes=None))]
#[allow(clippy::too_many_arguments)]
fn sanitize<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    ids: &Bound<'py, PyAny>,
    flagged: &Bound<'py, PyAny>,
    relabel_ids: Option<&Bound<'py, PyAny>>,
    relabel_labels: Option<&Bound<'py, PyAny>>,
    action: &str,
    num_classes: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let action = match action {
        "drop" => Action::Drop,
        "relabel" => Action::Relabel,
        other => {
            return Err(invalid(format!(
                "unknown action '{other}' (expected 'drop' or 'relabel')"
            )))
        }
    };
    let data = dataset_from_arrays(x, y, Some(ids), num_classes, "")?;
    // An empty flag set is legitimate (nothing to remove): only a non-empty one is read.
    let flagged_len: usize = flagged.len().unwrap_or(1);
    let flagged = if flagged_len == 0 {
        Vec::new()
    } else {
        crate::arrays::ids(flagged, "flagged")?
    };
    let relabel = match (relabel_ids, relabel_labels) {
        (Some(i), Some(l)) => {
            let (i, l) = (
                crate::arrays::ids(i, "relabel_ids")?,
                labels(l, "relabel_labels")?,
            );
            if i.len() != l.len() {
                return Err(invalid(format!(
                    "relabel_ids has {} ids but relabel_labels {} labels",
                    i.len(),
                    l.len()
                )));
            }
            i.into_iter().zip(l).collect()
        }
        (None, None) => Vec::new(),
        _ => return Err(invalid("give relabel_ids and relabel_labels together")),
    };
    let detection = Detection {
        detector: "python".into(),
        parameters: serde_json::Value::Null,
        flagged,
        scores: Vec::new(),
        classes: Vec::new(),
        relabel,
    };
    let (clean, report) = detached(py, || sanitize_data(&data, &[detection], action))?;
    let dict = dataset_to_py(py, &clean)?;
    let report = serde_json::to_value(&report).map_err(|e| invalid(e.to_string()))?;
    dict.set_item("report", json_to_py(py, &report)?)?;
    Ok(dict)
}

/// How dataset values become an ONNX model's inputs, from `scan_data`'s `onnx_input` dict
/// (the CLI's `--input-*` and `--classes` flags): `layout` (`"nchw"`, `"nhwc"`, `"flat"`),
/// `scale`, `mean`, `std` (per channel or one value) and `classes`.
pub(crate) fn onnx_options(given: Option<&Bound<'_, PyAny>>) -> PyResult<InputOptions> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct OnnxInput {
        layout: Option<String>,
        scale: Option<f32>,
        mean: Option<Vec<f32>>,
        std: Option<Vec<f32>>,
        classes: Option<usize>,
    }
    let Some(given) = given else {
        return Ok(InputOptions::default());
    };
    let read: OnnxInput = serde_json::from_value(py_to_json(given, "onnx_input")?)
        .map_err(|e| invalid(format!("onnx_input: {e}")))?;
    let layout = read
        .layout
        .map(|l| l.parse::<InputLayout>())
        .transpose()
        .map_err(|e| invalid(e.to_string()))?;
    Ok(InputOptions {
        layout,
        scale: read.scale.unwrap_or(1.0),
        mean: read.mean.unwrap_or_default(),
        std: read.std.unwrap_or_default(),
        num_classes: read.classes,
    })
}

/// Full scans, as `mithridate scan data`: the registry detectors `detectors` (a list of
/// names or `(name, params)` pairs) over the training set `x, y, ids` with a Mithridate model
/// (the file `model`, as `--model`; else one trained on the set with `arch` / `epochs`, seed
/// `seed`, as the CLI trains it) or an ONNX classifier (`model` ending in `.onnx`, with
/// `layer` and `onnx_input` as `--layer` and the `--input-*` flags). Detectors that train (confident learning's folds, the loss
/// run) use the scanned model's family. `clean_x, clean_y` are trusted clean samples for the
/// detectors that need them (confusion training), as `--clean-set`. Returns one detection
/// dict per detector.
#[pyfunction]
#[pyo3(signature = (x, y, ids, detectors, model=None, arch=None, epochs=None,
                    expected_rate=None, seed=0, num_classes=None, layer=None, onnx_input=None,
                    clean_x=None, clean_y=None))]
#[allow(clippy::too_many_arguments)]
fn scan_data<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    ids: Option<&Bound<'py, PyAny>>,
    detectors: Vec<(String, Option<Bound<'py, PyAny>>)>,
    model: Option<std::path::PathBuf>,
    arch: Option<&str>,
    epochs: Option<usize>,
    expected_rate: Option<f64>,
    seed: u64,
    num_classes: Option<usize>,
    layer: Option<String>,
    onnx_input: Option<&Bound<'py, PyAny>>,
    clean_x: Option<&Bound<'py, PyAny>>,
    clean_y: Option<&Bound<'py, PyAny>>,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    if detectors.is_empty() {
        return Err(invalid("detectors: give at least one detector name"));
    }
    let specs = detectors
        .iter()
        .map(|(name, params)| {
            let params = params_of(params.as_ref())?;
            DetectorSpec::new(name, &params, expected_rate).map_err(|e| invalid(e.to_string()))
        })
        .collect::<PyResult<Vec<_>>>()?;
    let arch: Option<Architecture> = arch
        .map(str::parse)
        .transpose()
        .map_err(|e: mithridate_engine::EngineError| invalid(e.to_string()))?;
    let model_spec = ModelParams {
        architecture: arch,
        epochs,
    }
    .check()
    .map_err(|e| invalid(e.to_string()))?;
    let data = dataset_from_arrays(x, y, ids, num_classes, "")?;
    let clean = match (clean_x, clean_y) {
        (Some(cx), Some(cy)) => Some(dataset_from_arrays(
            cx,
            cy,
            None,
            Some(data.num_classes()),
            "clean_",
        )?),
        (None, None) => None,
        _ => return Err(invalid("clean_x and clean_y go together")),
    };
    let is_onnx = model.as_ref().is_some_and(|p| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
    });
    if !is_onnx && (layer.is_some() || onnx_input.is_some()) {
        return Err(invalid(
            "layer and onnx_input apply to an ONNX model (model='x.onnx') only",
        ));
    }
    let options = onnx_options(onnx_input)?;
    let runs = detached(py, move || -> Result<_, PipelineError> {
        if let (true, Some(path)) = (is_onnx, &model) {
            let onnx = OnnxClassifier::load(path, options)?;
            let done = scan_onnx(
                data,
                &onnx,
                layer.as_deref(),
                clean.as_ref(),
                &specs,
                &model_spec,
                seed,
                None,
            )?;
            return Ok(done.runs);
        }
        let given = match &model {
            Some(path) => Some(Classifier::load(path)?.0),
            None => None,
        };
        let setup = ScanSetup::new(data, given, &specs, &model_spec, seed, &mut |_, _| {})?;
        scan(
            &specs,
            &setup.data,
            setup.model.as_ref(),
            clean.as_ref(),
            setup.recipe,
            seed,
            None,
        )
    })?;
    runs.iter()
        .map(|run| detection_to_py(py, &run.detection))
        .collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(scan_data, m)?)?;
    m.add_function(wrap_pyfunction!(detect_embeddings, m)?)?;
    m.add_function(wrap_pyfunction!(detect_probabilities, m)?)?;
    m.add_function(wrap_pyfunction!(detect_losses, m)?)?;
    m.add_function(wrap_pyfunction!(detect_curves, m)?)?;
    m.add_function(wrap_pyfunction!(sanitize, m)?)?;
    Ok(())
}
