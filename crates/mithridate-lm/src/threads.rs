//! How the small model uses the cores: one thread per training, trainings side by side.
//!
//! candle splits every tensor operation across its thread pool, and the main thread
//! spin-waits at a barrier after each one. The models here are small (d 64-128, context 64), so
//! an operation is microseconds of work and the barrier dominates: on this project's 2-core
//! machine, one training of the 137k-parameter curve model ran at 5,066 tokens/s with candle's
//! default two threads and 14,928 tokens/s with one (`RAYON_NUM_THREADS=1`, another job
//! running); the 0.93M-parameter default model at 2,002 and 2,364. Results are identical
//! bit for bit, since each operation's arithmetic does not depend on how it is split.
//!
//! So a run trains its models (baseline, poisoned, each defence's retrain) on separate threads,
//! each running its operations alone, when [`one_thread_per_operation`] has been called, and
//! one after the other otherwise. Each training is seeded on its own, so the order changes
//! nothing but the wall time.

use crate::experiment::Progress;
use crate::{LmError, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Makes candle run each tensor operation on the calling thread (`CANDLE_NUM_THREADS=1`,
/// `RAYON_NUM_THREADS=1`), unless the user set either variable. Call it first thing in a
/// process that trains these models, before any other thread starts: it sets environment
/// variables, which other threads must not be reading at the time.
pub fn one_thread_per_operation() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none()
        && std::env::var_os("RAYON_NUM_THREADS").is_none()
    {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
}

/// How many trainings run at once: every core when candle runs each operation on one thread,
/// else one (two trainings would queue at candle's shared pool).
pub fn concurrent_trainings() -> usize {
    let single = candle_core::utils::get_num_threads() == 1
        && candle_core::utils::barrier_pool().n_workers() == 0;
    if single {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    }
}

/// `work` on every job, on up to [`concurrent_trainings`] threads; results in job order. The
/// calling thread reports `progress` for the jobs it runs, the others report nothing. The
/// first error in job order is returned.
pub fn in_parallel<J: Sync, T: Send>(
    jobs: &[J],
    progress: Progress,
    work: &(dyn Fn(&J, Progress) -> Result<T> + Sync),
) -> Result<Vec<T>> {
    on_threads(concurrent_trainings(), jobs, progress, work)
}

fn on_threads<J: Sync, T: Send>(
    threads: usize,
    jobs: &[J],
    progress: Progress,
    work: &(dyn Fn(&J, Progress) -> Result<T> + Sync),
) -> Result<Vec<T>> {
    let workers = threads.min(jobs.len());
    if workers <= 1 {
        return jobs.iter().map(|j| work(j, &mut *progress)).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<T>>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let run = |report: Progress| loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(job) = jobs.get(i) else { break };
        let out = work(job, &mut *report);
        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
    };
    std::thread::scope(|s| {
        for _ in 1..workers {
            s.spawn(|| run(&mut |_, _, _| {}));
        }
        run(progress);
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| Err(LmError::Model("a training thread stopped".into())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_come_back_in_order_and_the_first_error_wins() {
        let jobs: Vec<usize> = (0..7).collect();
        for threads in [1, 2, 3, 16] {
            let mut reported = 0;
            let out = on_threads(
                threads,
                &jobs,
                &mut |_, _, _| reported += 1,
                &|j, progress| {
                    progress("job", *j, 7);
                    Ok(j * j)
                },
            )
            .unwrap();
            assert_eq!(out, vec![0, 1, 4, 9, 16, 25, 36], "{threads} threads");
            // only the calling thread reports: every job alone, at most every job with helpers
            // (which may take them all before it starts)
            if threads == 1 {
                assert_eq!(reported, 7);
            } else {
                assert!(reported <= 7, "{threads} threads: {reported}");
            }
            let failing = on_threads(threads, &jobs, &mut |_, _, _| {}, &|j: &usize, _| {
                if *j >= 3 {
                    Err(LmError::invalid(format!("job {j}")))
                } else {
                    Ok(*j)
                }
            });
            assert_eq!(failing.unwrap_err().to_string(), "job 3");
        }
    }
}
