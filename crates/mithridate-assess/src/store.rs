//! `DIR/results.jsonl`: one [`CellRecord`] per line, written so that a killed process never
//! leaves a partial or duplicated row.
//!
//! Every append rewrites the file through a temporary file in the same directory, `fsync` and
//! an atomic rename, under an exclusive lock on `DIR/.results.lock` (so several processes,
//! e.g. shards sharing a directory, keep each other's rows). The file is small (one line per
//! cell, hundreds of cells), so the O(cells) rewrite costs microseconds against cells that
//! take seconds. A reader therefore only ever sees a complete old or a complete new file.

use crate::record::CellRecord;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The results file name inside an assessment directory.
pub const RESULTS_FILE: &str = "results.jsonl";
const LOCK_FILE: &str = ".results.lock";

/// Reading or writing results failed; messages name the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cell '{id}' has different results in {first} and {second}")]
    Conflict {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{0}: no results.jsonl (run `mithridate assess --out` into it first)")]
    Missing(PathBuf),
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Parses a results file; an absent file is empty.
pub fn read_file(path: &Path) -> Result<Vec<CellRecord>, StoreError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err(path, e)),
    }
}

/// Parses the text of a results file (one JSON record per line); `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<Vec<CellRecord>, StoreError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| StoreError::Malformed {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// The results of one assessment directory, appended to atomically.
pub struct Store {
    dir: PathBuf,
    /// Serialises appends of this process's worker threads (the file lock covers processes).
    guard: Mutex<()>,
}

impl Store {
    /// Opens (creating) `dir` and checks that any existing results parse.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let store = Store {
            dir: dir.to_path_buf(),
            guard: Mutex::new(()),
        };
        store.records()?;
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn results_path(&self) -> PathBuf {
        self.dir.join(RESULTS_FILE)
    }

    /// Every stored record, in file order.
    pub fn records(&self) -> Result<Vec<CellRecord>, StoreError> {
        read_file(&self.results_path())
    }

    /// Appends `record` unless a record with its id is already stored (a concurrent process
    /// finished the same cell: deterministic cells give the same result, keep the first).
    pub fn append(&self, record: &CellRecord) -> Result<(), StoreError> {
        let _thread = self.guard.lock().unwrap_or_else(|p| p.into_inner());
        let lock_path = self.dir.join(LOCK_FILE);
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(&lock_path, e))?;
        let mut lock = fd_lock::RwLock::new(lock_file);
        let _process = lock.write().map_err(|e| io_err(&lock_path, e))?;
        let path = self.results_path();
        let current = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io_err(&path, e)),
        };
        if parse(&path, &current)?.iter().any(|r| r.id == record.id) {
            return Ok(());
        }
        let line = serde_json::to_string(record).map_err(|e| io_err(&path, e))?;
        let mut text = current;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&line);
        text.push('\n');
        // Results are shared like any report (0644).
        mithridate_core::write_atomic(&path, text.as_bytes(), mithridate_core::FileMode::Shared)
            .map_err(|e| io_err(&path, e))
    }
}

/// Reads and merges the results of several directories (e.g. shards): identical records
/// are kept once, two different results for one cell id are an error; sorted by plan index.
pub fn read_merged(dirs: &[PathBuf]) -> Result<Vec<CellRecord>, StoreError> {
    let mut by_id: HashMap<String, (CellRecord, PathBuf)> = HashMap::new();
    for dir in dirs {
        let path = dir.join(RESULTS_FILE);
        if !path.is_file() {
            return Err(StoreError::Missing(dir.clone()));
        }
        for record in read_file(&path)? {
            match by_id.get(&record.id) {
                Some((seen, first)) if !seen.same_result(&record) => {
                    return Err(StoreError::Conflict {
                        id: record.id,
                        first: first.clone(),
                        second: path,
                    })
                }
                Some(_) => {}
                None => {
                    by_id.insert(record.id.clone(), (record, path.clone()));
                }
            }
        }
    }
    let sorted: BTreeMap<(usize, String), CellRecord> = by_id
        .into_values()
        .map(|(r, _)| ((r.index, r.id.clone()), r))
        .collect();
    Ok(sorted.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{CentralizedOutcome, ModelScore, Outcome};

    fn record(id: &str, index: usize, accuracy: f64) -> CellRecord {
        CellRecord {
            id: id.into(),
            index,
            dataset: "digits".into(),
            seed: 0,
            outcome: Outcome::Centralized(CentralizedOutcome {
                model: "mlp".into(),
                train_samples: 10,
                test_samples: 5,
                attack: None,
                undefended: ModelScore {
                    clean_accuracy: accuracy,
                    success_rate: None,
                },
                success_rate_floor: None,
                defence: None,
            }),
            seconds: 1.0,
        }
    }

    #[test]
    fn appends_survive_reopen_and_skip_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.append(&record("a", 0, 0.9)).unwrap();
        store.append(&record("b", 1, 0.8)).unwrap();
        store.append(&record("a", 0, 0.9)).unwrap();
        let reopened = Store::open(dir.path()).unwrap();
        let ids: Vec<_> = reopened
            .records()
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let line = serde_json::to_string(&record("a", 0, 0.5)).unwrap();
        std::fs::write(
            dir.path().join(RESULTS_FILE),
            format!("{line}\n{{\"id\": 3\n"),
        )
        .unwrap();
        let e = Store::open(dir.path()).err().unwrap().to_string();
        assert!(e.contains("results.jsonl:2"), "{e}");
    }

    #[test]
    fn merge_dedupes_sorts_and_rejects_conflicts() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (sa, sb) = (
            Store::open(a.path()).unwrap(),
            Store::open(b.path()).unwrap(),
        );
        sa.append(&record("y", 1, 0.5)).unwrap();
        sb.append(&record("x", 0, 0.5)).unwrap();
        let mut again = record("y", 1, 0.5);
        again.seconds = 9.0;
        sb.append(&again).unwrap();
        let dirs = [a.path().to_path_buf(), b.path().to_path_buf()];
        let merged = read_merged(&dirs).unwrap();
        assert_eq!(
            merged.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["x", "y"]
        );
        let c = tempfile::tempdir().unwrap();
        Store::open(c.path())
            .unwrap()
            .append(&record("x", 0, 0.4))
            .unwrap();
        let err = read_merged(&[
            a.path().to_path_buf(),
            b.path().to_path_buf(),
            c.path().to_path_buf(),
        ]);
        assert!(matches!(err, Err(StoreError::Conflict { .. })));
        assert!(matches!(
            read_merged(&[dir_without_results()]),
            Err(StoreError::Missing(_))
        ));
    }

    fn dir_without_results() -> PathBuf {
        std::env::temp_dir().join("mithridate-no-such-assessment")
    }
}
