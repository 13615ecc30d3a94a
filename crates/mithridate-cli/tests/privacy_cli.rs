//! `mithridate privacy epsilon` end to end: the JSON key `epsilon` against a reference from
//! Google's dp-accounting 0.6.0 (computed once, quoted here), the text form, and the bad
//! inputs the issue names (delta outside (0, 1), noise multiplier <= 0) as one-line errors.

use crate::common;
use common::*;

#[test]
fn epsilon_json_matches_dp_accounting() {
    // dp_accounting.rdp.RdpAccountant, PoissonSampledDpEvent(256/60000, GaussianDpEvent(1.1))
    // composed 14,062 times, delta 1e-5: epsilon 2.5965558697943036 at order 8.1.
    let q = (256.0f64 / 60_000.0).to_string();
    let out = mithridate(&[
        "privacy",
        "epsilon",
        "--noise-multiplier",
        "1.1",
        "--sampling-rate",
        &q,
        "--steps",
        "14062",
        "--delta",
        "1e-5",
        "--json",
    ]);
    let value = json(&out);
    let epsilon = value["epsilon"].as_f64().unwrap();
    assert!((epsilon - 2.596_555_869_794_303_6).abs() < 1e-9, "{value}");
    assert_eq!(value["order"].as_f64(), Some(8.1));
    assert_eq!(value["steps"].as_u64(), Some(14062));
}

#[test]
fn epsilon_text_names_the_budget() {
    let out = mithridate(&[
        "privacy",
        "epsilon",
        "--noise-multiplier",
        "1.0",
        "--sampling-rate",
        "1",
        "--steps",
        "1",
        "--delta",
        "1e-5",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("epsilon = "), "{text}");
    assert!(text.contains("delta = 0.00001"), "{text}");
}

#[test]
fn impossible_parameters_are_one_line_errors() {
    let run = |noise: &str, rate: &str, steps: &str, delta: &str| {
        mithridate(&[
            "privacy",
            "epsilon",
            "--noise-multiplier",
            noise,
            "--sampling-rate",
            rate,
            "--steps",
            steps,
            "--delta",
            delta,
        ])
    };
    assert_one_line_error(&run("1", "0.01", "100", "0"), 2, "delta");
    assert_one_line_error(&run("1", "0.01", "100", "1"), 2, "delta");
    assert_one_line_error(&run("1", "0.01", "100", "-1e-5"), 2, "delta");
    assert_one_line_error(&run("0", "0.01", "100", "1e-5"), 2, "noise multiplier");
    assert_one_line_error(&run("-2", "0.01", "100", "1e-5"), 2, "noise multiplier");
    assert_one_line_error(&run("1", "1.5", "100", "1e-5"), 2, "sampling rate");
    assert_one_line_error(&run("1", "0.01", "-3", "1e-5"), 2, "steps");
}

#[test]
fn noise_for_a_budget_round_trips_through_epsilon() {
    let q = (256.0f64 / 60_000.0).to_string();
    let out = mithridate(&[
        "privacy",
        "noise",
        "--epsilon",
        "2.5965558697943036",
        "--sampling-rate",
        &q,
        "--steps",
        "14062",
        "--delta",
        "1e-5",
        "--json",
    ]);
    let value = json(&out);
    let noise = value["noise_multiplier"].as_f64().unwrap();
    assert!((noise - 1.1).abs() < 2e-6, "{value}");
    assert!(value["epsilon"].as_f64().unwrap() <= 2.596_555_869_794_303_6);
    let run = |eps: &str, steps: &str| {
        mithridate(&[
            "privacy",
            "noise",
            "--epsilon",
            eps,
            "--sampling-rate",
            "0.01",
            "--steps",
            steps,
            "--delta",
            "1e-5",
        ])
    };
    assert_one_line_error(&run("0", "100"), 2, "epsilon");
    assert_one_line_error(&run("-1", "100"), 2, "epsilon");
    assert_one_line_error(&run("1", "0"), 2, "steps");
}
