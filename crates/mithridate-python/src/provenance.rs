//! Dataset manifests, Ed25519 signatures, manifest diffs and the hash-chained audit log.
//!
//! The same library calls as `mithridate provenance` and `mithridate audit`: a manifest built
//! here from arrays equals, byte for byte except its `created` time, the one the CLI builds
//! from an `.npz` holding those arrays (same modality rules as the `.npz` reader: `[N, D]`
//! tabular, `[N, H, W]` / `[N, C, H, W]` images in `[0, 1]`, integer `[N, L]` token ids).
//! Files are written atomically by the library's writers; nothing is written on failure.

use crate::errors::{detached, invalid, json_to_py, py_to_json, to_py};
use crate::failure::{Failure, OrFailure};
use mithridate_core::ParamGuard;
use mithridate_data::{DataHome, Dataset, Split};
use mithridate_provenance::{
    keys, AuditLog, CheckedDiffParams, DiffParams, Digest, Manifest, ManifestDiff, RecordKind,
    VerifyOptions,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::{Path, PathBuf};

/// A dataset built from NumPy arrays by [`crate::data::dataset_from_arrays`] (the `.npz`
/// reader's modality rules, so a manifest of the arrays equals the CLI's manifest of the same
/// arrays saved as `.npz`), with optional class names.
pub(crate) fn dataset_from_arrays(
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    sample_ids: Option<&Bound<'_, PyAny>>,
    num_classes: Option<usize>,
    class_names: Vec<String>,
) -> PyResult<Dataset> {
    let data = crate::data::dataset_from_arrays(x, y, sample_ids, num_classes, "")?;
    if class_names.is_empty() {
        return Ok(data);
    }
    let (modality, features, labels, ids, k, _) = data.into_parts();
    Dataset::new(modality, features, labels, ids, k, class_names).map_err(|e| to_py(&e))
}

/// A built-in dataset (by name) or an `.npz` file, as the CLI's `--data` loads it.
pub(crate) fn load_named(source: &str, split: Split) -> Result<Dataset, Failure> {
    let home = DataHome::from_env().failed()?;
    mithridate_data::load(&home, source, split).context(|| format!("loading '{source}'"))
}

pub(crate) fn parse_split(split: &str) -> PyResult<Split> {
    match split {
        "train" => Ok(Split::Train),
        "test" => Ok(Split::Test),
        other => Err(invalid(format!(
            "split must be 'train' or 'test', got '{other}'"
        ))),
    }
}

fn diff_params(share_threshold: f64) -> PyResult<CheckedDiffParams> {
    DiffParams { share_threshold }
        .check()
        .map_err(|e| to_py(&e))
}

/// `serde_json::to_value(..)` with its (never expected) error as a `ValueError`.
macro_rules! to_json_value {
    ($value:expr) => {
        serde_json::to_value($value).map_err(|e| invalid(e.to_string()))
    };
}

/// A dataset manifest (per-sample BLAKE3 hashes under a Merkle root, class counts,
/// provenance metadata, optional Ed25519 signature).
#[pyclass(name = "Manifest", module = "mithridate._native", frozen)]
struct PyManifest {
    inner: Manifest,
}

#[pymethods]
impl PyManifest {
    /// Reads and validates a manifest file.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = detached(py, || Manifest::load(&path))?;
        Ok(PyManifest { inner })
    }

    /// Parses and validates manifest JSON (bytes or str).
    #[staticmethod]
    fn from_json(text: &[u8]) -> PyResult<Self> {
        let inner = Manifest::from_slice(text, Path::new("<manifest>")).map_err(|e| to_py(&e))?;
        Ok(PyManifest { inner })
    }

    /// The manifest file's bytes (pretty JSON, as `save` writes them).
    fn to_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_json())
    }

    /// Writes the manifest atomically (temporary file + rename).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        detached(py, || self.inner.save(&path))
    }

    /// A copy signed with the secret key file `key` (replacing any earlier signature).
    fn signed(&self, py: Python<'_>, key: PathBuf) -> PyResult<Self> {
        let key = detached(py, || keys::read_signing_key(&key))?;
        let mut inner = self.inner.clone();
        inner.sign(&key);
        Ok(PyManifest { inner })
    }

    #[getter]
    fn root(&self) -> String {
        self.inner.root().to_hex()
    }

    #[getter]
    fn num_samples(&self) -> usize {
        self.inner.num_samples()
    }

    #[getter]
    fn class_counts(&self) -> Vec<usize> {
        self.inner.class_counts().to_vec()
    }

    #[getter]
    fn signed_by(&self) -> Option<String> {
        self.inner.signature().map(|s| s.key_id.clone())
    }

    /// Checks the signature against the public key file `pubkey` and, when `data` is given
    /// (a dataset), that the data is exactly what the manifest lists. A dict:
    /// `signature_valid`, `signature_error`, `key_id`, `data` (the diff, or None).
    #[pyo3(signature = (pubkey, data=None, share_threshold=0.01))]
    fn verify<'py>(
        &self,
        py: Python<'py>,
        pubkey: PathBuf,
        data: Option<PyRef<'py, PyDataset>>,
        share_threshold: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let params = diff_params(share_threshold)?;
        let key = detached(py, || keys::read_verifying_key(&pubkey))?;
        let signature = self.inner.verify_signature(&key);
        let diff = data
            .map(|d| {
                let dataset: &Dataset = &d.inner;
                detached(py, || {
                    Ok::<_, std::convert::Infallible>(self.inner.verify_data(dataset, &params))
                })
            })
            .transpose()?;
        let out = PyDict::new(py);
        out.set_item("root", self.inner.root().to_hex())?;
        out.set_item("signature_valid", signature.is_ok())?;
        out.set_item("signature_error", signature.err().map(|e| e.to_string()))?;
        out.set_item("key_id", keys::key_id(&key))?;
        let diff = diff.map(|d| to_json_value!(&d)).transpose()?;
        out.set_item("data", diff.map(|d| json_to_py(py, &d)).transpose()?)?;
        Ok(out)
    }
}

/// A dataset held by the binding (from arrays or a named source), hashed or verified
/// without another conversion.
#[pyclass(name = "LoadedData", module = "mithridate._native", frozen)]
pub(crate) struct PyDataset {
    pub(crate) inner: Dataset,
}

#[pymethods]
impl PyDataset {
    #[getter]
    fn num_samples(&self) -> usize {
        self.inner.len()
    }
}

/// A dataset from arrays (see [`dataset_from_arrays`]).
#[pyfunction]
#[pyo3(signature = (x, y, ids=None, num_classes=None, class_names=None))]
fn data_from_numpy(
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    ids: Option<&Bound<'_, PyAny>>,
    num_classes: Option<usize>,
    class_names: Option<Vec<String>>,
) -> PyResult<PyDataset> {
    let inner = dataset_from_arrays(x, y, ids, num_classes, class_names.unwrap_or_default())?;
    Ok(PyDataset { inner })
}

/// A built-in dataset or `.npz` file (`split`: "train" or "test").
#[pyfunction]
#[pyo3(signature = (source, split="train"))]
fn data_named(py: Python<'_>, source: String, split: &str) -> PyResult<PyDataset> {
    let split = parse_split(split)?;
    let inner = detached(py, || load_named(&source, split))?;
    Ok(PyDataset { inner })
}

/// Hashes every sample of `data` into a manifest (signed with the secret key file `key`).
#[pyfunction]
#[pyo3(signature = (data, source=None, license=None, key=None))]
fn manifest_build(
    py: Python<'_>,
    data: PyRef<'_, PyDataset>,
    source: Option<String>,
    license: Option<String>,
    key: Option<PathBuf>,
) -> PyResult<PyManifest> {
    let dataset = &data.inner;
    let inner = detached(py, || {
        let key = key.as_deref().map(keys::read_signing_key).transpose()?;
        let mut manifest = Manifest::build(dataset, source, license);
        if let Some(key) = &key {
            manifest.sign(key);
        }
        Ok::<_, mithridate_provenance::ProvenanceError>(manifest)
    })?;
    Ok(PyManifest { inner })
}

/// Added, removed, feature-changed and label-changed samples and class-share shifts from
/// `old` to `new`, as a dict.
#[pyfunction]
#[pyo3(signature = (old, new, share_threshold=0.01))]
fn manifest_diff<'py>(
    py: Python<'py>,
    old: PyRef<'py, PyManifest>,
    new: PyRef<'py, PyManifest>,
    share_threshold: f64,
) -> PyResult<Py<PyAny>> {
    let params = diff_params(share_threshold)?;
    let (old, new): (&Manifest, &Manifest) = (&old.inner, &new.inner);
    let diff = detached(py, || {
        Ok::<_, std::convert::Infallible>(ManifestDiff::between(old, new, &params))
    })?;
    let mut value = to_json_value!(&diff)?;
    value["summary"] = diff.summary().into();
    value["is_clean"] = diff.is_clean().into();
    json_to_py(py, &value)
}

/// Writes a fresh Ed25519 key pair: `path` (secret, mode 0600) and `path.pub`.
#[pyfunction]
#[pyo3(signature = (path, force=false))]
fn keys_generate<'py>(py: Python<'py>, path: PathBuf, force: bool) -> PyResult<Bound<'py, PyDict>> {
    let (public, id) = detached(py, || {
        let key = keys::generate()?;
        let public = keys::write_keypair(&path, &key, force)?;
        Ok::<_, mithridate_provenance::ProvenanceError>((
            public,
            keys::key_id(&key.verifying_key()),
        ))
    })?;
    let out = PyDict::new(py);
    out.set_item("secret_key", path)?;
    out.set_item("public_key", public)?;
    out.set_item("key_id", id)?;
    Ok(out)
}

/// The key id (fingerprint) of a public key file.
#[pyfunction]
fn keys_id(py: Python<'_>, pubkey: PathBuf) -> PyResult<String> {
    let key = detached(py, || keys::read_verifying_key(&pubkey))?;
    Ok(keys::key_id(&key))
}

/// Appends one record to the audit log at `log` (created if missing); returns it as a dict.
#[pyfunction]
#[pyo3(signature = (log, kind, payload, key=None))]
fn audit_append(
    py: Python<'_>,
    log: PathBuf,
    kind: &str,
    payload: &Bound<'_, PyAny>,
    key: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    let kind: RecordKind = kind.parse().map_err(invalid)?;
    let payload = py_to_json(payload, "payload")?;
    let record = detached(py, || {
        let key = key.as_deref().map(keys::read_signing_key).transpose()?;
        AuditLog::open(&log)?.append(kind, payload, key.as_ref())
    })?;
    json_to_py(py, &to_json_value!(&record)?)
}

/// Every record of the audit log, in file order (the chain is not checked: see
/// [`audit_verify`]).
#[pyfunction]
fn audit_records(py: Python<'_>, log: PathBuf) -> PyResult<Py<PyAny>> {
    let records = detached(py, || AuditLog::open(&log)?.records())?;
    json_to_py(py, &to_json_value!(&records)?)
}

/// Checks the log's chain (hashes, links, seq, payloads, signatures, torn tail, head file);
/// the report as a dict, each problem also as one line in `problem_lines`.
#[pyfunction]
#[pyo3(signature = (log, pubkey=None, expect_head=None))]
fn audit_verify(
    py: Python<'_>,
    log: PathBuf,
    pubkey: Option<PathBuf>,
    expect_head: Option<String>,
) -> PyResult<Py<PyAny>> {
    let expect_head = expect_head
        .map(|h| Digest::from_hex(&h).map_err(|e| invalid(format!("expect_head: {e}"))))
        .transpose()?;
    let (mut value, lines) = detached(py, || {
        let options = VerifyOptions {
            pubkey: pubkey
                .as_deref()
                .map(keys::read_verifying_key)
                .transpose()?,
            expect_head,
        };
        let report = AuditLog::open(&log)?.verify(&options)?;
        let lines: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        let value = serde_json::to_value(&report)
            .map_err(|e| mithridate_provenance::ProvenanceError::Invalid(e.to_string()))?;
        Ok::<_, mithridate_provenance::ProvenanceError>((value, lines))
    })?;
    value["problem_lines"] = lines.into();
    json_to_py(py, &value)
}

/// Walks back from a model hash (or a unique prefix of 8+ characters) to the training runs,
/// dataset versions (and ancestors), scans, gate decisions and incidents behind it, and diffs
/// each dataset version against its parent (manifest paths relative to the log's directory),
/// as `mithridate audit trace --json`: a dict with `trace` and `version_diffs`.
#[pyfunction]
#[pyo3(signature = (log, model_hash, share_threshold=0.01))]
fn audit_trace(
    py: Python<'_>,
    log: PathBuf,
    model_hash: String,
    share_threshold: f64,
) -> PyResult<Py<PyAny>> {
    let params = diff_params(share_threshold)?;
    let value = detached(py, || {
        let audit = AuditLog::open(&log)?;
        let trace = audit.trace(&model_hash)?;
        let base = log
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let diffs = trace.version_diffs(base, &params);
        Ok::<_, mithridate_provenance::ProvenanceError>(
            serde_json::json!({ "trace": trace, "version_diffs": diffs }),
        )
    })?;
    json_to_py(py, &value)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyManifest>()?;
    m.add_class::<PyDataset>()?;
    m.add_function(wrap_pyfunction!(data_from_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(data_named, m)?)?;
    m.add_function(wrap_pyfunction!(manifest_build, m)?)?;
    m.add_function(wrap_pyfunction!(manifest_diff, m)?)?;
    m.add_function(wrap_pyfunction!(keys_generate, m)?)?;
    m.add_function(wrap_pyfunction!(keys_id, m)?)?;
    m.add_function(wrap_pyfunction!(audit_append, m)?)?;
    m.add_function(wrap_pyfunction!(audit_records, m)?)?;
    m.add_function(wrap_pyfunction!(audit_verify, m)?)?;
    m.add_function(wrap_pyfunction!(audit_trace, m)?)?;
    Ok(())
}
