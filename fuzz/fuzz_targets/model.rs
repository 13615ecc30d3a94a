#![no_main]
// Harness and its rationale: `mithridate_fuzz::model`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mithridate_fuzz::model(data));
