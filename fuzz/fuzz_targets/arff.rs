#![no_main]
// Harness and its rationale: `mithridate_fuzz::arff`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mithridate_fuzz::arff(data));
