//! Bring your own data: readers for CSV tables, JSONL text, class-per-folder image trees
//! (and Parquet tables with the `parquet` feature; Weka ARFF tables in [`crate::arff`]),
//! selected by file extension, each producing the same [`Dataset`] as the built-in sets and
//! `.npz` files.
//!
//! Every reader treats its input as untrusted: sizes are checked against [`ReadLimits`]
//! *before* memory is allocated for them, and malformed input gives a one-line
//! [`DataError::Format`] naming the file, the line/row/entry and the problem, never a panic
//! (each parser is fuzzed by `examples/fuzz_readers.rs`).
//!
//! **Stable ids.** A sample's id is the value of the id column/field when there is one (an
//! unsigned integer as is, any other text through [`hashed_id`]); otherwise a content hash
//! of the sample (the row's fields, the JSONL text and label, the image file's bytes). Ids
//! therefore do not depend on row order: shuffling a file gives every sample the same id.
//! Identical samples get distinct ids by hashing their occurrence number too (the k-th copy
//! of a content always gets the same id, and copies are indistinguishable anyway).

pub mod csv;
pub mod fuzz;
pub mod image_folder;
pub mod jsonl;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod table;
#[cfg(feature = "parquet")]
mod thrift_guard;

use crate::{DataError, Dataset, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

pub use table::{ColumnEncoding, TableEncoding};

/// Size limits every reader checks before allocating. The defaults admit MNIST-sized
/// (and much larger) sets while refusing absurd declared sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest input in bytes: a file on disk, an image, or one `.npz` array once
    /// decompressed (`--max-input-bytes`).
    pub max_file_bytes: u64,
    /// Most columns in a table (after one-hot encoding too).
    pub max_columns: usize,
    /// Most distinct values in one categorical column (or label classes).
    pub max_categories: usize,
    /// Most rows / records / images.
    pub max_samples: usize,
    /// Most feature values held in memory (`samples x values per sample`).
    pub max_values: usize,
    /// Largest image side in pixels (checked from the header, before decoding).
    pub max_image_side: u32,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_file_bytes: 4 << 30,
            max_columns: 100_000,
            max_categories: 10_000,
            max_samples: 50_000_000,
            max_values: 1 << 30,
            max_image_side: 16_384,
        }
    }
}

/// How to read a bring-your-own-data file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadOptions {
    /// Name of the label column / field; default `label`.
    pub label_column: Option<String>,
    /// Name of the id column / field; default `id` when present, else content-hash ids.
    pub id_column: Option<String>,
    /// Image folders: resize every image to `(height, width)`; without it images of
    /// different sizes are refused.
    pub image_size: Option<(u32, u32)>,
    /// Tables: apply this recorded encoding (e.g. the train file's) instead of inferring
    /// one, so a test table gets the same columns, categories and classes.
    pub encoding: Option<TableEncoding>,
    /// JSONL text: encode with this vocabulary (e.g. the train file's) instead of building
    /// one from the file.
    pub vocabulary: Option<Vec<String>>,
    pub limits: ReadLimits,
}

impl ReadOptions {
    pub(crate) fn label_name(&self) -> &str {
        self.label_column.as_deref().unwrap_or("label")
    }
}

/// Options used by [`crate::load`] for files (set once, e.g. from command-line flags).
static PROCESS_OPTIONS: OnceLock<ReadOptions> = OnceLock::new();

/// Sets the options [`crate::load`] uses for bring-your-own-data files in this process
/// (the CLI's `--label-column`, `--id-column`, `--image-size`). Errors if already set.
pub fn set_process_options(options: ReadOptions) -> Result<()> {
    PROCESS_OPTIONS
        .set(options)
        .map_err(|_| DataError::invalid("reader options were already set in this process"))
}

pub(crate) fn process_options() -> ReadOptions {
    PROCESS_OPTIONS.get().cloned().unwrap_or_default()
}

/// The file kinds the readers understand, by extension (a directory is an image folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Npz,
    Csv,
    Arff,
    Jsonl,
    Parquet,
    ImageFolder,
}

impl FileKind {
    /// The kind of `path` from its extension (case-insensitive), or a directory.
    pub fn of(path: &Path) -> Option<FileKind> {
        if path.is_dir() {
            return Some(FileKind::ImageFolder);
        }
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "npz" => Some(FileKind::Npz),
            "csv" => Some(FileKind::Csv),
            "arff" => Some(FileKind::Arff),
            "jsonl" => Some(FileKind::Jsonl),
            "parquet" => Some(FileKind::Parquet),
            _ => None,
        }
    }
}

/// Reads `path` with the reader its extension selects (see [`FileKind`]).
pub fn read_path(path: &Path, options: &ReadOptions) -> Result<Dataset> {
    match FileKind::of(path) {
        Some(FileKind::Npz) => crate::npz::read_limited(path, &options.limits),
        Some(FileKind::Csv) => csv::read(path, options).map(|(data, _)| data),
        Some(FileKind::Arff) => crate::arff::read(path, options).map(|(data, _)| data),
        Some(FileKind::Jsonl) => jsonl::read(path, options),
        Some(FileKind::ImageFolder) => image_folder::read(path, options),
        Some(FileKind::Parquet) => read_parquet(path, options),
        None => Err(format_err(
            path,
            "unknown file type (expected .npz, .csv, .arff, .jsonl, .parquet or a folder of class folders)",
        )),
    }
}

/// Like [`read_path`], also returning the encoding a table (`.csv`, `.arff`, `.parquet`) was
/// read with (`None` for other kinds), e.g. to record it next to an export.
pub fn read_path_with_encoding(
    path: &Path,
    options: &ReadOptions,
) -> Result<(Dataset, Option<TableEncoding>)> {
    match FileKind::of(path) {
        Some(FileKind::Csv) => csv::read(path, options).map(|(d, e)| (d, Some(e))),
        Some(FileKind::Arff) => crate::arff::read(path, options).map(|(d, e)| (d, Some(e))),
        #[cfg(feature = "parquet")]
        Some(FileKind::Parquet) => parquet::read(path, options).map(|(d, e)| (d, Some(e))),
        _ => read_path(path, options).map(|d| (d, None)),
    }
}

/// [`read_path_with_encoding`] with the process's options ([`set_process_options`]).
pub fn read_with_process_options(path: &Path) -> Result<(Dataset, Option<TableEncoding>)> {
    read_path_with_encoding(path, &process_options())
}

/// The sidecar [`TableEncoding`] file written next to an export: `OUT.encoding.json`.
pub fn encoding_sidecar_path(output: &Path) -> std::path::PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".encoding.json");
    name.into()
}

#[cfg(feature = "parquet")]
fn read_parquet(path: &Path, options: &ReadOptions) -> Result<Dataset> {
    parquet::read(path, options).map(|(data, _)| data)
}

#[cfg(not(feature = "parquet"))]
fn read_parquet(path: &Path, _: &ReadOptions) -> Result<Dataset> {
    Err(format_err(
        path,
        "this build reads no Parquet (rebuild with `--features mithridate-data/parquet`, or convert to .csv)",
    ))
}

/// A one-line format error naming `path`.
pub(crate) fn format_err(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Refuses files larger than the limit before reading them.
pub(crate) fn check_file_size(path: &Path, limits: &ReadLimits) -> Result<u64> {
    let meta = std::fs::metadata(path).map_err(crate::fsutil::io_err(path))?;
    if meta.len() > limits.max_file_bytes {
        return Err(format_err(
            path,
            format!(
                "file is {} bytes, over the {}-byte limit",
                meta.len(),
                limits.max_file_bytes
            ),
        ));
    }
    Ok(meta.len())
}

/// The id of a textual id value: the first 53 bits of its SHA-256 (53 bits so ids stay
/// exact in JSON and in float64 consumers such as pandas).
pub fn hashed_id(text: &str) -> u64 {
    digest_to_id(&Sha256::digest(text.as_bytes()).into())
}

fn digest_to_id(digest: &[u8; 32]) -> u64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(head) >> 11
}

/// Content-hash ids: sample `i`'s id is the 53-bit hash of its content digest and its
/// occurrence number among samples with the same digest (see the module docs).
pub(crate) fn content_ids(digests: &[[u8; 32]]) -> Vec<u64> {
    let mut seen: HashMap<[u8; 32], u64> = HashMap::new();
    digests
        .iter()
        .map(|d| {
            let k = seen.entry(*d).or_insert(0);
            let mut h = Sha256::new();
            h.update(d);
            h.update(k.to_le_bytes());
            *k += 1;
            digest_to_id(&h.finalize().into())
        })
        .collect()
}

/// An id-column value: an unsigned integer as is, any other text hashed ([`hashed_id`]).
pub(crate) fn parse_id(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(text.parse::<u64>().unwrap_or_else(|_| hashed_id(text)))
}

/// Errors on the first repeated id, naming both places (`where_` names sample `i`).
pub(crate) fn check_unique_ids(
    path: &Path,
    ids: &[u64],
    where_: impl Fn(usize) -> String,
) -> Result<()> {
    let mut first: HashMap<u64, usize> = HashMap::with_capacity(ids.len());
    for (i, &id) in ids.iter().enumerate() {
        if let Some(&j) = first.get(&id) {
            return Err(format_err(
                path,
                format!("{}: duplicate id {id} (first at {})", where_(i), where_(j)),
            ));
        }
        first.insert(id, i);
    }
    Ok(())
}

/// `(labels, number of classes, class names)`.
pub(crate) type EncodedLabels = (Vec<u32>, usize, Vec<String>);

/// Labels from label texts: all unsigned integers -> those values (classes `0..=max`, no
/// names); otherwise the sorted distinct texts are the class names. A recorded class list
/// (`known`) is applied instead when given; a label outside it is an error.
pub(crate) fn encode_labels(
    texts: &[&str],
    known: Option<&[String]>,
    limits: &ReadLimits,
) -> std::result::Result<EncodedLabels, (usize, String)> {
    if let Some(names) = known {
        let index: HashMap<&str, u32> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i as u32))
            .collect();
        let labels = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                index
                    .get(t.trim())
                    .copied()
                    .ok_or_else(|| (i, format!("label '{}' is not a recorded class", t.trim())))
            })
            .collect::<std::result::Result<Vec<u32>, _>>()?;
        return Ok((labels, names.len(), names.to_vec()));
    }
    let numeric: Option<Vec<u32>> = texts.iter().map(|t| t.trim().parse::<u32>().ok()).collect();
    if let Some(labels) = numeric {
        let max = labels.iter().copied().max().unwrap_or(0) as usize;
        if max >= limits.max_categories {
            let row = labels.iter().position(|&l| l as usize == max).unwrap_or(0);
            return Err((
                row,
                format!(
                    "label {max} is over the {}-class limit",
                    limits.max_categories
                ),
            ));
        }
        let names = (0..=max).map(|c| c.to_string()).collect();
        return Ok((labels, max + 1, names));
    }
    let mut names: Vec<String> = texts.iter().map(|t| t.trim().to_string()).collect();
    names.sort_unstable();
    names.dedup();
    if let Some(row) = texts.iter().position(|t| t.trim().is_empty()) {
        return Err((row, "empty label".into()));
    }
    if names.len() > limits.max_categories {
        return Err((
            0,
            format!(
                "{} distinct labels, over the {}-class limit",
                names.len(),
                limits.max_categories
            ),
        ));
    }
    let index: HashMap<&str, u32> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i as u32))
        .collect();
    let labels = texts.iter().map(|t| index[t.trim()]).collect();
    Ok((labels, names.len(), names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_extensions() {
        assert_eq!(FileKind::of(Path::new("a/b.CSV")), Some(FileKind::Csv));
        assert_eq!(FileKind::of(Path::new("b.jsonl")), Some(FileKind::Jsonl));
        assert_eq!(
            FileKind::of(Path::new("b.parquet")),
            Some(FileKind::Parquet)
        );
        assert_eq!(FileKind::of(Path::new("b.npz")), Some(FileKind::Npz));
        assert_eq!(FileKind::of(Path::new("c.ARFF")), Some(FileKind::Arff));
        assert_eq!(FileKind::of(Path::new("b.txt")), None);
        assert_eq!(FileKind::of(Path::new("/")), Some(FileKind::ImageFolder));
    }

    #[test]
    fn content_ids_separate_copies_and_ignore_order() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let ids = content_ids(&[a, b, a]);
        assert_eq!(ids.len(), 3);
        assert_ne!(ids[0], ids[2]);
        // Reordered: same multiset of ids, the unique sample keeps its id.
        let again = content_ids(&[b, a, a]);
        assert_eq!(again[0], ids[1]);
        let (mut x, mut y) = (ids.clone(), again.clone());
        x.sort_unstable();
        y.sort_unstable();
        assert_eq!(x, y);
        assert!(ids.iter().all(|&id| id < 1 << 53));
    }

    #[test]
    fn ids_parse_as_integers_or_hashes() {
        assert_eq!(parse_id(" 42 "), Some(42));
        assert_eq!(parse_id("user-7"), Some(hashed_id("user-7")));
        assert_eq!(parse_id("  "), None);
    }

    #[test]
    fn labels_are_numbers_or_sorted_names() {
        let limits = ReadLimits::default();
        let (l, k, _) = encode_labels(&["2", "0", "2"], None, &limits).unwrap();
        assert_eq!((l, k), (vec![2, 0, 2], 3));
        let (l, k, names) = encode_labels(&["spam", "ham", "spam"], None, &limits).unwrap();
        assert_eq!(
            (l, k, names),
            (vec![1, 0, 1], 2, vec!["ham".into(), "spam".into()])
        );
        let known = vec!["ham".to_string(), "spam".to_string()];
        let (l, _, _) = encode_labels(&["spam"], Some(&known), &limits).unwrap();
        assert_eq!(l, vec![1]);
        let e = encode_labels(&["ham", "eggs"], Some(&known), &limits).unwrap_err();
        assert_eq!(e.0, 1);
        let e = encode_labels(&["4000000000"], None, &limits).unwrap_err();
        assert!(e.1.contains("class limit"), "{}", e.1);
    }
}
