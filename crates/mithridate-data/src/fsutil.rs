//! Small file-system helpers shared by the cache and the `.npz` writer.

use crate::{DataError, Result};
use mithridate_core::fsutil::{parent_dir, Existing};
use mithridate_core::FileMode;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `path` atomically through the workspace's one writer
/// ([`mithridate_core::write_atomic_with`]): `fill` streams into a temporary file in the same
/// directory that is synced and renamed over `path` (0644) only if `fill` succeeds, so
/// readers see the old file or the complete new one. The directory must exist.
pub(crate) fn write_atomic<F>(path: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<&mut File>) -> Result<()>,
{
    /// Keeps `fill`'s own error apart from the writer's I/O errors, which get the path.
    enum Failure {
        Io(std::io::Error),
        Fill(DataError),
    }
    impl From<std::io::Error> for Failure {
        fn from(e: std::io::Error) -> Self {
            Failure::Io(e)
        }
    }
    mithridate_core::write_atomic_with(path, FileMode::Shared, Existing::Replace, |w| {
        fill(w).map_err(Failure::Fill)
    })
    .map_err(|failure| match failure {
        Failure::Io(source) => io_err(path)(source),
        Failure::Fill(e) => e,
    })
}

/// Writes `bytes` to `path` atomically (0644), creating its directory.
pub(crate) fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    mithridate_core::write_atomic(path, bytes, FileMode::Shared).map_err(io_err(path))
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(io_err(path))
}

/// Lower-case hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
