//! Atomic file writes.

use crate::{io_err, ProvenanceError, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The directory a file lives in (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// How [`write_atomic`] treats an existing file at the destination.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    Replace,
    Refuse,
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, created
/// with `mode` (Unix permission bits), is written, synced and renamed over `path`, so
/// readers see the old file or the complete new one, never a partial write. With
/// [`Existing::Refuse`] the final step is a hard link that fails if `path` exists.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32, existing: Existing) -> Result<()> {
    let dir = parent_dir(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".mithridate-tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut tmp = builder.tempfile_in(&dir).map_err(io_err(&dir))?;
    tmp.as_file_mut().write_all(bytes).map_err(io_err(path))?;
    tmp.as_file().sync_all().map_err(io_err(path))?;
    let persisted = match existing {
        Existing::Replace => tmp.persist(path),
        Existing::Refuse => tmp.persist_noclobber(path),
    };
    persisted.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            ProvenanceError::invalid(format!(
                "{} already exists (refusing to overwrite it)",
                path.display()
            ))
        } else {
            ProvenanceError::Io {
                path: path.to_path_buf(),
                source: e.error,
            }
        }
    })?;
    sync_dir(&dir);
    Ok(())
}

/// Makes a rename or creation in `dir` durable. Best effort: not every platform can
/// open a directory for syncing, and the data itself is already synced.
pub(crate) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(io_err(path))
}
