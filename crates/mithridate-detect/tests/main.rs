//! All of this crate's integration tests, one module per file, linked into one test binary:
//! each binary statically links the whole dependency tree, so one instead of several saves
//! link time and disk (CI ran out of disk with ~100 test binaries).

mod confusion;
mod detectors;
mod dynamics_and_scale_up;
mod loss_and_strip;
mod real_data;
mod reference;
mod spectre_scan;
mod spectre_scan_digits;
mod targeted_flips;
