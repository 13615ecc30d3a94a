#![no_main]
// Harness and its rationale: `mithridate_fuzz::continual_config`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mithridate_fuzz::continual_config(data));
