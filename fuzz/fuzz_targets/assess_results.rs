#![no_main]
// Harness and its rationale: `mithridate_fuzz::assess_results`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mithridate_fuzz::assess_results(data));
