//! File writes go through the workspace's one atomic writer ([`mithridate_core::fsutil`]);
//! this module only names the path in its errors.

use crate::{io_err, ProvenanceError, Result};
pub(crate) use mithridate_core::fsutil::{parent_dir, sync_dir, Existing};
use mithridate_core::FileMode;
use std::path::Path;

/// Writes `bytes` to `path` atomically with `mode` (0644 shared, 0600 secret). With
/// [`Existing::Refuse`] an existing file is an error and is left untouched.
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    mode: FileMode,
    existing: Existing,
) -> Result<()> {
    mithridate_core::write_atomic_with(path, mode, existing, |w| {
        std::io::Write::write_all(w, bytes)
    })
    .map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            ProvenanceError::invalid(format!(
                "{} already exists (refusing to overwrite it)",
                path.display()
            ))
        } else {
            io_err(path)(e)
        }
    })
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(io_err(path))
}
