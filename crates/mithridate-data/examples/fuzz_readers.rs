//! Mutation-fuzzes every bring-your-own-data parser (see `mithridate_data::readers::fuzz`).
//!
//! ```text
//! cargo run -p mithridate-data --release --features parquet --example fuzz_readers -- [INPUTS] [SEED]
//! ```
//! Runs INPUTS (default 1,000,000) inputs per parser and exits 1 if any panicked.

use mithridate_data::readers::fuzz::{run, Target};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let count: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let mut failed = false;
    println!(
        "| parser | inputs | accepted | refused | panics | contained decoder panics | seconds |"
    );
    println!("|---|---|---|---|---|---|---|");
    for target in Target::all() {
        let start = Instant::now();
        let report = run(target, count, seed);
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.1} |",
            target.name(),
            report.inputs,
            report.accepted,
            report.refused,
            report.panics,
            report.contained_panics,
            start.elapsed().as_secs_f64()
        );
        for (input, message) in report.panic_inputs.iter().zip(&report.panic_messages) {
            eprintln!("{} panic: {message}", target.name());
            eprintln!("{} panic input (hex): {}", target.name(), hex_of(input));
        }
        for message in &report.contained_messages {
            eprintln!("{} contained: {message}", target.name());
        }
        failed |= report.panics > 0;
    }
    std::process::exit(i32::from(failed));
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
