//! The one atomic file writer.
//!
//! Every file a user shares (models and cards, truth files, flags, reports, JUnit, manifests,
//! audit logs, exported `.npz`) is written through [`write_atomic`] / [`write_atomic_with`]:
//! a temporary file with an unpredictable name (`tempfile`) is created in the destination's
//! directory with the final permissions, written, fsynced, renamed over the destination, and
//! the directory is fsynced, so a reader or a crash sees the old file or the complete new one.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Permissions of a written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileMode {
    /// 0644: outputs users share.
    #[default]
    Shared,
    /// 0600: secrets (private keys).
    Secret,
}

impl FileMode {
    pub fn bits(self) -> u32 {
        match self {
            FileMode::Shared => 0o644,
            FileMode::Secret => 0o600,
        }
    }
}

/// How an existing destination is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    #[default]
    Replace,
    /// Fail with `AlreadyExists` instead of replacing (keys are never overwritten).
    Refuse,
}

/// The directory a file lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `bytes` to `path` atomically with `mode` (replacing an existing file). The
/// directory must exist. Errors are plain `io::Error`s; callers add the path.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("report.json");
/// mithridate_core::write_atomic(&path, b"{}", mithridate_core::FileMode::Shared)?;
/// assert_eq!(std::fs::read(&path)?, b"{}");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8], mode: FileMode) -> std::io::Result<()> {
    write_atomic_with(path, mode, Existing::Replace, |f| f.write_all(bytes))
}

/// [`write_atomic`] with the content produced by `fill` (streamed into the temporary file)
/// and a choice about an existing destination. Nothing is left behind when `fill` fails.
pub fn write_atomic_with<E>(
    path: &Path,
    mode: FileMode,
    existing: Existing,
    fill: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<std::io::Error>,
{
    let dir = parent_dir(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".mithridate-tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(mode.bits()));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut tmp = builder.tempfile_in(&dir)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    match existing {
        Existing::Replace => tmp.persist(path).map_err(|e| e.error)?,
        Existing::Refuse => tmp.persist_noclobber(path).map_err(|e| e.error)?,
    };
    sync_dir(&dir);
    Ok(())
}

/// Makes a rename durable: fsync the directory (best effort; not every file system allows it).
pub fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode_of(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn shared_files_are_0644_and_secrets_0600_and_nothing_is_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("a.json");
        let secret = dir.path().join("key.pem");
        write_atomic(&shared, b"1", FileMode::Shared).unwrap();
        write_atomic(&secret, b"2", FileMode::Secret).unwrap();
        #[cfg(unix)]
        {
            assert_eq!(mode_of(&shared), 0o644);
            assert_eq!(mode_of(&secret), 0o600);
        }
        let failed: Result<(), std::io::Error> =
            write_atomic_with(&shared, FileMode::Shared, Existing::Replace, |_| {
                Err(std::io::Error::other("boom"))
            });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&shared).unwrap(), b"1");
        let refused = write_atomic_with(&secret, FileMode::Secret, Existing::Refuse, |w| {
            w.write_all(b"3")
        });
        assert_eq!(
            refused.unwrap_err().kind(),
            std::io::ErrorKind::AlreadyExists
        );
        assert_eq!(std::fs::read(&secret).unwrap(), b"2");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
