//! All of this crate's integration tests, one module per file, linked into one test binary:
//! each binary statically links the whole dependency tree, so one instead of several saves
//! link time and disk (CI ran out of disk with ~100 test binaries).

mod api;
mod common;
mod dp_fit;
mod file_modes;
mod partition_aggregation;
mod persist_fuzz;
mod real_data;
