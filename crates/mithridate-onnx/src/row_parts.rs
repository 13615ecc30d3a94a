//! Input gradients of many rows on every core.
//!
//! candle splits each large element-wise operation over its own thread pool and the calling
//! thread spin-waits at a barrier after each one. On the small image models users bring (a
//! LeNet or a BatchNorm CNN on 28x28 inputs) the operations are short, so the wait dominated:
//! a profile of `scan model` on an exported MNIST CNN put 21% of the time in candle's barrier
//! (`BarrierGuard::drop`) and about as much in its workers' idle loops. When candle runs each
//! operation on the calling thread (`CANDLE_NUM_THREADS=1`, see [`one_thread_per_operation`]),
//! the rows are cut into fixed parts of [`PART`] rows and the parts run on separate threads.
//!
//! The parts do not depend on the number of cores, so a row's arithmetic (and the result's
//! bytes) is the same on any machine; each row's gradient depends on that row alone (the graph
//! runs in inference mode), so cutting the batch changes nothing else.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Rows per part: enough for candle's GEMM to run at speed on 28x28 images, small enough that
/// MM-BD's batch (classes x starts, 80 rows by default) spreads over the cores.
pub const PART: usize = 16;

/// Makes candle run each tensor operation on the calling thread (`CANDLE_NUM_THREADS=1`)
/// unless the user set `CANDLE_NUM_THREADS` or `RAYON_NUM_THREADS`; GEMM still uses rayon's
/// pool. Call it first thing in a process, before any other thread starts and before candle's
/// first operation (it sets an environment variable, which candle reads once).
pub fn one_thread_per_operation() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none()
        && std::env::var_os("RAYON_NUM_THREADS").is_none()
    {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

/// Threads to use: every core when candle runs each operation alone, else one (two threads
/// would queue at candle's shared pool).
fn threads() -> usize {
    if candle_core::utils::barrier_pool().n_workers() == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    }
}

/// `rows` cut into consecutive parts of `part` rows (the last one shorter).
pub fn parts(rows: usize, part: usize) -> Vec<Range<usize>> {
    let part = part.max(1);
    (0..rows.div_ceil(part))
        .map(|i| i * part..((i + 1) * part).min(rows))
        .collect()
}

/// `work` on every part of `0..rows`, on up to [`threads`] threads: one result per part, in
/// row order; the first error (in row order) returned.
pub fn on_parts<R: Send, E: Send>(
    rows: usize,
    work: &(dyn Fn(Range<usize>) -> Result<R, E> + Sync),
) -> Result<Vec<R>, E> {
    run_parts(rows, PART, threads(), work)
}

/// A part's result, filled by whichever thread ran it.
type Slot<R, E> = Mutex<Option<Result<R, E>>>;

fn run_parts<R: Send, E: Send>(
    rows: usize,
    part: usize,
    threads: usize,
    work: &(dyn Fn(Range<usize>) -> Result<R, E> + Sync),
) -> Result<Vec<R>, E> {
    let jobs = parts(rows, part);
    let workers = threads.min(jobs.len());
    if workers <= 1 {
        return jobs.into_iter().map(work).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Slot<R, E>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let run = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(range) = jobs.get(i) else { break };
        let out = work(range.clone());
        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
    };
    std::thread::scope(|s| {
        for _ in 1..workers {
            s.spawn(run);
        }
        run();
    });
    slots
        .into_iter()
        .filter_map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_rows_in_order() {
        assert!(parts(0, 16).is_empty());
        assert_eq!(parts(5, 16), vec![0..5]);
        assert_eq!(parts(33, 16), vec![0..16, 16..32, 32..33]);
    }

    #[test]
    fn results_come_back_in_row_order_on_any_thread_count() {
        let work =
            |r: Range<usize>| -> Result<Vec<usize>, String> { Ok(r.map(|i| i * i).collect()) };
        let want: Vec<usize> = (0..100).map(|i| i * i).collect();
        for threads in [1, 2, 3, 16] {
            assert_eq!(
                run_parts(100, 7, threads, &work).unwrap().concat(),
                want,
                "{threads}"
            );
        }
    }

    #[test]
    fn the_first_error_in_row_order_wins() {
        let work = |r: Range<usize>| -> Result<Vec<usize>, String> {
            if r.start >= 20 {
                Err(format!("part at {}", r.start))
            } else {
                Ok(r.collect())
            }
        };
        for threads in [1, 2, 4] {
            assert_eq!(run_parts(50, 10, threads, &work).unwrap_err(), "part at 20");
        }
    }
}
