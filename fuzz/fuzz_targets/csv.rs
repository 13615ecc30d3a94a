#![no_main]
// Harness and its rationale: `mithridate_fuzz::csv`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mithridate_fuzz::csv(data));
