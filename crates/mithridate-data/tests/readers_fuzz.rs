//! A short run of the readers' mutation fuzzer (the 1,000,000-input run is
//! `examples/fuzz_readers.rs`, recorded in the README): no parser may panic, the valid
//! seeds must parse, and the mutations must make most inputs invalid (else they test little).

use mithridate_data::readers::fuzz::{run, seeds, Target};

#[test]
fn no_reader_panics_on_mutated_inputs() {
    for target in Target::all() {
        let report = run(target, 3_000, 7);
        assert_eq!(report.inputs, 3_000);
        assert_eq!(
            report.panics,
            0,
            "{}: {:?}",
            target.name(),
            report.panic_messages
        );
        assert!(
            report.accepted >= seeds(target).len() as u64,
            "{}: the seeds must parse",
            target.name()
        );
        assert!(report.refused > 1_500, "{}: {report:?}", target.name());
    }
}
