#![no_main]
// Harness and its rationale: `mithridate_fuzz::audit_log`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mithridate_fuzz::audit_log(data));
