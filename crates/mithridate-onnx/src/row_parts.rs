//! Input gradients of many rows on every core.
//!
//! candle splits each large element-wise operation over its own thread pool and the calling
//! thread spin-waits at a barrier after each one. On the small image models users bring (a
//! LeNet or a BatchNorm CNN on 28x28 inputs) the operations are short, so the wait dominated:
//! a profile of `scan model` on an exported MNIST CNN put 21% of the time in candle's barrier
//! (`BarrierGuard::drop`) and about as much in its workers' idle loops. When candle runs each
//! operation on the calling thread (`CANDLE_NUM_THREADS=1`, see [`one_thread_per_operation`]),
//! the rows are cut into fixed parts of [`PART`] rows and the parts run on rayon's pool.
//!
//! Why rayon's pool and not threads of our own: callers run on that pool too (Neural Cleanse
//! reverses its classes in parallel there), and candle's convolution calls into it. Threads
//! spawned by a pool worker that then waits for them deadlock once every worker is waiting:
//! their convolutions queue for a pool with no free worker (seen: `scan model --detector
//! neural-cleanse` on an exported CNN hung at 0% CPU). A worker waiting inside rayon runs
//! other queued jobs instead.
//!
//! The parts do not depend on the number of cores, so a row's arithmetic (and the result's
//! bytes) is the same on any machine; each row's gradient depends on that row alone (the graph
//! runs in inference mode), so cutting the batch changes nothing else.

use std::ops::Range;

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

/// Sets `RAYON_NUM_THREADS` to rayon's own default (the available parallelism) unless the user
/// set it, so rayon's pool is unchanged. Why: candle asks for its thread count before every
/// matrix product, and without the variable that re-reads `/proc/cpuinfo` each time
/// (`num_cpus::get_physical`): 7 s of system time in a 33 s Neural Cleanse scan of an exported
/// CNN, 2 s with the variable set (wall 33 s -> 27-29 s). Candle's products then split over
/// the logical CPUs rather than the physical cores (the same on machines without SMT). Call it
/// first thing in a process, after [`one_thread_per_operation`] (which leaves candle's
/// element-wise split alone when the user set this variable) and before any other thread
/// starts.
pub fn fix_rayon_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
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

/// `work` on every part of `0..rows`, on rayon's pool when [`threads`] allows more than one:
/// one result per part, in row order; the first error (in row order) returned.
pub fn on_parts<R: Send, E: Send>(
    rows: usize,
    work: &(dyn Fn(Range<usize>) -> Result<R, E> + Sync),
) -> Result<Vec<R>, E> {
    run_parts(rows, PART, threads(), work)
}

fn run_parts<R: Send, E: Send>(
    rows: usize,
    part: usize,
    threads: usize,
    work: &(dyn Fn(Range<usize>) -> Result<R, E> + Sync),
) -> Result<Vec<R>, E> {
    use rayon::prelude::*;
    let jobs = parts(rows, part);
    if threads.min(jobs.len()) <= 1 {
        return jobs.into_iter().map(work).collect();
    }
    // Every part's result, in row order, so the first error in row order is the one returned.
    let results: Vec<Result<R, E>> = jobs.into_par_iter().with_max_len(1).map(work).collect();
    results.into_iter().collect()
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

    #[test]
    fn parts_called_from_busy_pool_workers_finish() {
        // Every global-pool worker runs an outer job that waits for its parts, and each part
        // calls into the same pool (as candle's convolution does): threads of our own
        // deadlocked here.
        use rayon::prelude::*;
        let (done, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let workers = rayon::current_num_threads();
            let sums: Vec<usize> = (0..2 * workers)
                .into_par_iter()
                .map(|_| {
                    let inner = |r: Range<usize>| -> Result<usize, String> {
                        // A part on a thread outside the pool reaches the pool only after
                        // the workers have run their own parts (10 ms each) and are waiting.
                        let outside = rayon::current_thread_index().is_none();
                        let ms = if outside { 500 } else { 10 };
                        std::thread::sleep(std::time::Duration::from_millis(ms));
                        Ok(r.into_par_iter().sum())
                    };
                    run_parts(64, 4, 2, &inner).unwrap().iter().sum()
                })
                .collect();
            let _ = done.send(sums);
        });
        let sums = wait
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("nested parts deadlocked");
        assert!(sums.iter().all(|&s| s == (0..64).sum::<usize>()));
    }
}
