//! Debian packages through `apt-get download` and `dpkg-deb -x`.

use super::client::{client_failure, find_with_suffix, run_client};
use super::{fetch_err, manual_hint};
use crate::registry::BuiltinDataset;
use crate::{DataHome, Result};
use std::path::{Path, PathBuf};

/// `apt-get download PACKAGE` (running `apt-get update` once if the package is unknown),
/// then `dpkg-deb -x`. Returns the extraction root.
pub(super) fn apt_extract(
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
