//! Panics a parser contains on purpose. `readers::parquet::read_bytes` runs the `parquet`
//! crate under `catch_unwind` because that crate panics on some corrupt pages (a bug of
//! theirs, reported by the reader as a corrupt file). libFuzzer's panic hook aborts the
//! process before any unwinding, which would report every such contained panic as a crash;
//! [`tolerate_panics_in`] lets the panics located in named third-party sources unwind to
//! the reader's `catch_unwind` and passes every other panic to the previous hook (abort).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static INSTALL: Once = Once::new();
static CONTAINED: AtomicU64 = AtomicU64::new(0);

/// Installs (once per process; later calls are no-ops) a panic hook that lets a panic
/// unwind silently when its source file path contains one of `fragments` (e.g.
/// `"/parquet-"` for the registry's `parquet-60.1.0/src/...`), counting it.
pub fn tolerate_panics_in(fragments: &'static [&'static str]) {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let tolerated = info
                .location()
                .is_some_and(|at| fragments.iter().any(|f| at.file().contains(f)));
            if tolerated {
                CONTAINED.fetch_add(1, Ordering::Relaxed);
            } else {
                previous(info);
            }
        }));
    });
}

/// Panics let through by [`tolerate_panics_in`]'s hook so far in this process.
pub fn contained_panics() -> u64 {
    CONTAINED.load(Ordering::Relaxed)
}
