#![no_main]
// Harness and its rationale: `mithridate_fuzz::gate_policy`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mithridate_fuzz::gate_policy(data));
