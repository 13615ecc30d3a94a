//! Running a plan: cells in plan order on a few worker threads, skipping cells already in the
//! store, each finished cell appended atomically the moment it ends.
//!
//! Cells are independent and seeded, so the results do not depend on which worker ran a cell
//! or in what order cells finished; killing the process loses only the cells in flight.

use crate::plan::{Cell, Shard};
use crate::record::{CellRecord, Outcome};
use crate::store::{Store, StoreError};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cell {id}: {message}")]
    Cell { id: String, message: String },
}

/// What the caller hears while the plan runs (e.g. to drive a progress bar).
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    Started(&'a Cell),
    Finished(&'a Cell, f64),
}

/// Counts of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// Cells in the whole plan.
    pub planned: usize,
    /// Cells of this shard.
    pub in_shard: usize,
    /// Cells of this shard already in the store (resumed).
    pub skipped: usize,
    /// Cells run now.
    pub ran: usize,
}

/// The cells of `shard` that `store` does not hold yet, in plan order.
pub fn pending<'a>(
    cells: &'a [Cell],
    store: &Store,
    shard: Shard,
) -> Result<Vec<&'a Cell>, StoreError> {
    let done: HashSet<String> = store.records()?.into_iter().map(|r| r.id).collect();
    Ok(cells
        .iter()
        .filter(|c| shard.contains(c) && !done.contains(&c.id))
        .collect())
}

/// Runs every pending cell of `shard` with `exec` on `workers` threads (at least 1).
///
/// On the first failing cell no new cell starts; cells in flight finish and are stored, then
/// the error names the failed cell.
pub fn run<E>(
    cells: &[Cell],
    store: &Store,
    shard: Shard,
    workers: usize,
    exec: E,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<RunSummary, RunError>
where
    E: Fn(&Cell) -> Result<Outcome, String> + Sync,
{
    let todo = pending(cells, store, shard)?;
    let in_shard = cells.iter().filter(|c| shard.contains(c)).count();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let ran = AtomicUsize::new(0);
    let failure: Mutex<Option<RunError>> = Mutex::new(None);
    let fail = |e: RunError| {
        stop.store(true, Ordering::SeqCst);
        let mut slot = failure.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(e);
    };
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1).min(todo.len().max(1)) {
            scope.spawn(|| loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Some(&cell) = todo.get(next.fetch_add(1, Ordering::SeqCst)) else {
                    break;
                };
                on_event(Event::Started(cell));
                let start = Instant::now();
                match exec(cell) {
                    Ok(outcome) => {
                        let seconds = start.elapsed().as_secs_f64();
                        let record = CellRecord {
                            id: cell.id.clone(),
                            index: cell.index,
                            dataset: cell.spec.dataset().to_string(),
                            seed: cell.spec.seed(),
                            outcome,
                            seconds,
                        };
                        match store.append(&record) {
                            Ok(()) => {
                                ran.fetch_add(1, Ordering::SeqCst);
                                on_event(Event::Finished(cell, seconds));
                            }
                            Err(e) => fail(e.into()),
                        }
                    }
                    Err(message) => fail(RunError::Cell {
                        id: cell.id.clone(),
                        message,
                    }),
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(RunSummary {
        planned: cells.len(),
        in_shard,
        skipped: in_shard - todo.len(),
        ran: ran.into_inner(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::plan::{plan, CellSpec};
    use crate::record::{CentralizedOutcome, ModelScore};

    fn cells() -> Vec<Cell> {
        let config = Config::parse(
            "[[centralized]]\ndataset = \"digits\"\ndefences = [\"spectral\", \"knn\"]\n\
             [[centralized.attacks]]\nname = \"badnets\"\nrates = [0.01, 0.05, 0.1]\n",
        )
        .unwrap();
        plan(&config, 2, 0)
    }

    /// A deterministic fake experiment: accuracy depends on the cell only.
    fn fake(cell: &Cell) -> Result<Outcome, String> {
        let CellSpec::Centralized(c) = &cell.spec else {
            return Err("unexpected".into());
        };
        let rate = c.attack.as_ref().map_or(0.0, |a| a.rate);
        Ok(Outcome::Centralized(CentralizedOutcome {
            model: "mlp".into(),
            train_samples: 100,
            test_samples: 10,
            attack: None,
            undefended: ModelScore {
                clean_accuracy: 1.0 - rate - c.seed as f64 / 100.0,
                success_rate: None,
            },
            success_rate_floor: None,
            defence: None,
        }))
    }

    fn strip(mut records: Vec<CellRecord>) -> Vec<CellRecord> {
        records.sort_by_key(|r| r.index);
        records.iter_mut().for_each(|r| r.seconds = 0.0);
        records
    }

    #[test]
    fn resumes_and_shards_give_the_same_results() {
        let cells = cells();
        let full = tempfile::tempdir().unwrap();
        let store = Store::open(full.path()).unwrap();
        let s = run(&cells, &store, Shard::ALL, 2, fake, &|_| {}).unwrap();
        assert_eq!((s.ran, s.skipped), (cells.len(), 0));
        let again = run(&cells, &store, Shard::ALL, 2, fake, &|_| {}).unwrap();
        assert_eq!((again.ran, again.skipped), (0, cells.len()));
        let expected = strip(store.records().unwrap());

        // A run that fails midway, then resumes.
        let partial = tempfile::tempdir().unwrap();
        let pstore = Store::open(partial.path()).unwrap();
        let cut = cells[5].id.clone();
        let failing = |c: &Cell| {
            if c.id == cut {
                Err("killed".to_string())
            } else {
                fake(c)
            }
        };
        let err = run(&cells, &pstore, Shard::ALL, 1, failing, &|_| {}).unwrap_err();
        assert!(err.to_string().contains(&cut), "{err}");
        assert_eq!(pstore.records().unwrap().len(), 5);
        run(&cells, &pstore, Shard::ALL, 2, fake, &|_| {}).unwrap();
        assert_eq!(strip(pstore.records().unwrap()), expected);

        // Two shards merged.
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for (dir, i) in [(&a, 1), (&b, 2)] {
            let st = Store::open(dir.path()).unwrap();
            run(&cells, &st, Shard::new(i, 2).unwrap(), 2, fake, &|_| {}).unwrap();
        }
        let merged = crate::store::read_merged(&[a.path().into(), b.path().into()]).unwrap();
        assert_eq!(strip(merged), expected);
    }
}
