//! Datasets between NumPy and the library: the built-in datasets loaded as arrays (same cache
//! under `MITHRIDATE_HOME`, same SHA-256 checks as `mithridate data fetch`), and the one
//! conversion every other module uses to turn `x, y, ids` arrays into a checked [`Dataset`]
//! and back.
//!
//! Layout is the library's (and the `.npz` interchange format's): images `N x C x H x W`
//! (channel-first, pixels in `[0, 1]`), tabular rows `N x D`, text token ids `N x L` (0 is
//! padding). A `Dataset` owns its features, so building one copies `x` once; attacks write a
//! new set anyway.

use crate::arrays::{borrow, finite_f32, ids, labels};
use crate::errors::{detached, invalid, json_to_py};
use mithridate_data::{DataHome, Dataset, Features, Modality, Split};
use numpy::{IntoPyArray, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The dtype kind of `obj` (`"f"`, `"i"`, `"u"`, ...), if it is an array.
fn dtype_kind(obj: &Bound<'_, PyAny>) -> Option<String> {
    obj.getattr("dtype")
        .and_then(|d| d.getattr("kind"))
        .and_then(|k| k.extract())
        .ok()
}

/// Builds a checked dataset from `x` (float32 `[N, D]`, `[N, H, W]` or `[N, C, H, W]`, or
/// uint32 token ids `[N, L]`), `y` (integers), `ids` (integers; default `0..N`) and
/// `num_classes` (default `max(y) + 1`), with the `.npz` reader's rules: images must lie in
/// `[0, 1]`, features be finite, ids unique. `what` prefixes errors (`"x"`, `"victims x"`).
pub fn dataset_from_arrays(
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    sample_ids: Option<&Bound<'_, PyAny>>,
    num_classes: Option<usize>,
    what: &str,
) -> PyResult<Dataset> {
    let x_name = format!("{what}x");
    let labels = labels(y, &format!("{what}y"))?;
    let n = labels.len();
    let sample_ids = match sample_ids {
        Some(i) => ids(i, &format!("{what}ids"))?,
        None => (0..n as u64).collect(),
    };
    let kind = dtype_kind(x);
    if kind.as_deref() == Some("i") {
        return Err(invalid(format!(
            "{x_name}: signed integers; features must be float32 and text token ids uint32 \
             (convert with .astype(np.float32) or .astype(np.uint32))"
        )));
    }
    let (modality, features) = if kind.as_deref() == Some("u") {
        let tokens = borrow::<u32>(x, &x_name, "uint32", Some(2))?;
        let max_len = tokens.shape()[1];
        let values = tokens.as_slice().to_vec();
        let vocab_size = values.iter().copied().max().unwrap_or(0) as usize + 1;
        let modality = Modality::Text {
            max_len,
            vocab_size,
        };
        (modality, Features::Tokens(values))
    } else {
        let values = finite_f32(x, &x_name, None)?;
        let modality = match *values.shape() {
            [_, features] => Modality::Tabular { features },
            [_, height, width] => Modality::Image {
                channels: 1,
                height,
                width,
            },
            [_, channels, height, width] => Modality::Image {
                channels,
                height,
                width,
            },
            ref shape => {
                return Err(invalid(format!(
                    "{x_name}: expected a 2-D (N x D), 3-D (N x H x W) or 4-D (N x C x H x W) \
                     array, got shape {shape:?}"
                )))
            }
        };
        let per = modality.sample_len();
        if matches!(modality, Modality::Image { .. }) {
            if let Some(pos) = values
                .as_slice()
                .iter()
                .position(|v| !(0.0..=1.0).contains(v))
            {
                return Err(invalid(format!(
                    "{x_name}: image pixel value {} outside [0, 1] in row {} (scale pixels to \
                     [0, 1], or reshape to N x D for tabular data)",
                    values.as_slice()[pos],
                    pos / per
                )));
            }
        }
        (modality, Features::Dense(values.as_slice().to_vec()))
    };
    let rows = features_rows(&features, modality.sample_len());
    if rows != n || sample_ids.len() != n {
        return Err(invalid(format!(
            "{x_name} has {rows} rows but {what}y has {n} labels and {what}ids {} ids",
            sample_ids.len()
        )));
    }
    let max_label = labels.iter().copied().max().unwrap_or(0) as usize;
    let num_classes = match num_classes {
        Some(k) if k <= max_label => {
            return Err(invalid(format!(
                "num_classes is {k} but {what}y contains label {max_label}"
            )))
        }
        Some(k) => k,
        None => max_label + 1,
    };
    Dataset::new(
        modality,
        features,
        labels,
        sample_ids,
        num_classes,
        Vec::new(),
    )
    .map_err(|e| invalid(format!("{what}dataset: {e}")))
}

fn features_rows(features: &Features, per: usize) -> usize {
    match features {
        Features::Dense(v) => v.len() / per.max(1),
        Features::Tokens(v) => v.len() / per.max(1),
    }
}

/// `x` of `data` as a NumPy array of shape `[N, ...sample shape]` (float32, or uint32 tokens).
pub fn features_to_py<'py>(py: Python<'py>, data: &Dataset) -> PyResult<Bound<'py, PyAny>> {
    let mut shape = vec![data.len()];
    shape.extend(data.modality().sample_shape());
    Ok(match data.features() {
        Features::Dense(v) => v.clone().into_pyarray(py).reshape(shape)?.into_any(),
        Features::Tokens(v) => v.clone().into_pyarray(py).reshape(shape)?.into_any(),
    })
}

/// `x`, `y` (int64), `ids` (uint64), `num_classes`, `class_names` and `modality` of `data`.
pub fn dataset_to_py<'py>(py: Python<'py>, data: &Dataset) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("x", features_to_py(py, data)?)?;
    let y: Vec<i64> = data.labels().iter().map(|&l| i64::from(l)).collect();
    dict.set_item("y", y.into_pyarray(py))?;
    dict.set_item("ids", data.ids().to_vec().into_pyarray(py))?;
    dict.set_item("num_classes", data.num_classes())?;
    dict.set_item("class_names", data.class_names())?;
    let modality = serde_json::to_value(data.modality()).map_err(|e| invalid(e.to_string()))?;
    dict.set_item("modality", json_to_py(py, &modality)?)?;
    Ok(dict)
}

/// Loads `split` of the built-in dataset `name` (fetching and verifying it into
/// `MITHRIDATE_HOME` if it is not cached) or of an `.npz` file, optionally a seeded stratified
/// subset of at most `max_samples` rows (the CLI's `--max-train` / `--max-test`).
#[pyfunction]
#[pyo3(signature = (name, split="train", max_samples=None, seed=0))]
fn load_dataset<'py>(
    py: Python<'py>,
    name: &str,
    split: &str,
    max_samples: Option<usize>,
    seed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let split: Split = split
        .parse()
        .map_err(|e: mithridate_data::DataError| invalid(e.to_string()))?;
    let name_owned = name.to_string();
    let data = detached(
        py,
        move || -> Result<Dataset, mithridate_pipeline::PipelineError> {
            let home = DataHome::from_env()?;
            let data = mithridate_data::load(&home, &name_owned, split)?;
            let data = mithridate_pipeline::data::non_empty(data, &name_owned)?;
            mithridate_pipeline::data::subsample(data, max_samples, seed)
        },
    )?;
    dataset_to_py(py, &data)
}

/// Reads a bring-your-own-data file (`.npz`, `.csv`, `.arff`, `.jsonl`, a class-per-folder
/// image tree; `.parquet` only in builds with the `parquet` feature) with explicit reader
/// options, as the CLI's `--label-column`, `--id-column`, `--image-size` and
/// `--max-input-bytes` do. Returns `x`, `y`, `ids` and, for tables, the `encoding`.
#[pyfunction]
#[pyo3(signature = (path, label_column=None, id_column=None, image_size=None, max_input_bytes=None))]
fn read_file<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    label_column: Option<String>,
    id_column: Option<String>,
    image_size: Option<(u32, u32)>,
    max_input_bytes: Option<u64>,
) -> PyResult<Bound<'py, PyDict>> {
    if matches!(image_size, Some((h, w)) if h == 0 || w == 0) {
        return Err(invalid(
            "image_size must be two positive sides (height, width)",
        ));
    }
    if max_input_bytes == Some(0) {
        return Err(invalid("max_input_bytes must be at least 1"));
    }
    let mut options = mithridate_data::readers::ReadOptions {
        label_column,
        id_column,
        image_size,
        ..Default::default()
    };
    if let Some(bytes) = max_input_bytes {
        options.limits.max_file_bytes = bytes;
    }
    let (data, encoding) = detached(py, move || {
        mithridate_data::readers::read_path_with_encoding(&path, &options)
    })?;
    let dict = dataset_to_py(py, &data)?;
    let encoding = serde_json::to_value(&encoding).unwrap_or_default();
    dict.set_item("encoding", json_to_py(py, &encoding)?)?;
    Ok(dict)
}

/// The built-in datasets as a list of dicts (name, modality, sizes, classes, source, licence,
/// split, and whether it is cached).
#[pyfunction]
fn builtin_datasets(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let home = DataHome::from_env().ok();
    let list: Vec<serde_json::Value> = mithridate_data::registry::builtins()
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(d).unwrap_or_default();
            if let serde_json::Value::Object(map) = &mut v {
                map.remove("layout");
                let cached = home
                    .as_ref()
                    .is_some_and(|h| mithridate_data::registry::is_cached(h, d.name));
                map.insert("cached".into(), cached.into());
            }
            v
        })
        .collect();
    json_to_py(py, &serde_json::Value::Array(list))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(load_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(builtin_datasets, m)?)?;
    m.add_function(wrap_pyfunction!(read_file, m)?)?;
    Ok(())
}
