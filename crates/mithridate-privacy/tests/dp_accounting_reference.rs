//! The accountant against Google's `dp-accounting` (0.6.0, `RdpAccountant`): per-step RDP
//! curves and epsilons on a grid of (noise multiplier, sampling rate, steps, delta) and on
//! held-out random points. The reference numbers were computed by
//! `scripts/dp_accounting_reference.py` and committed as a fixture, so this test needs no Python.

use mithridate_privacy::{default_orders, epsilon_for_poisson_gaussian, rdp};
use serde_json::Value;

/// Relative agreement required: both sides evaluate the same formulas in f64; what differs is
/// `ln Gamma` (libm vs SciPy's `gammaln`) and `ln erfc` (libm vs SciPy's `log_ndtr`), a few ulp
/// each, amplified by the cancellation in `ln C(alpha, i)` at alpha = 1024.
const RELATIVE_TOLERANCE: f64 = 1e-9;
/// Below this an epsilon is compared absolutely (at `RELATIVE_TOLERANCE * EPSILON_FLOOR`).
const EPSILON_FLOOR: f64 = 1e-12;
/// Per-step RDPs below this are compared absolutely: `ln A_alpha` is the log of a number near 1,
/// known to ~1e-16 absolute, so an RDP of 1e-9 carries a relative rounding of ~1e-7.
const RDP_FLOOR: f64 = 1e-6;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/dp_accounting_reference.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture present");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// JSON null stands for +inf (Python's json cannot write it as a number).
fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::INFINITY)
}

/// Relative difference, absolute below `floor`; equal infinities agree.
fn relative_error(got: f64, want: f64, floor: f64) -> f64 {
    if got == want {
        return 0.0;
    }
    (got - want).abs() / want.abs().max(floor)
}

#[test]
fn orders_are_dp_accountings_defaults() {
    let data = fixture();
    let orders: Vec<f64> = data["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(number)
        .collect();
    assert_eq!(orders, default_orders());
}

#[test]
fn per_step_rdp_matches_at_every_order() {
    let data = fixture();
    let orders = default_orders();
    let mut worst = (0.0f64, String::new());
    let curves = data["per_step_rdp"].as_array().unwrap();
    assert!(curves.len() >= 50);
    for curve in curves {
        let sigma = number(&curve["noise_multiplier"]);
        let q = number(&curve["sampling_rate"]);
        for (order, want) in orders.iter().zip(curve["rdp"].as_array().unwrap()) {
            let want = number(want);
            let got = rdp::poisson_subsampled_gaussian(sigma, q, *order);
            let err = relative_error(got, want, RDP_FLOOR);
            assert!(
                err <= RELATIVE_TOLERANCE,
                "sigma {sigma} q {q} order {order}: ours {got}, dp-accounting {want} (rel {err:e})"
            );
            if err > worst.0 {
                worst = (err, format!("sigma {sigma} q {q} order {order}"));
            }
        }
    }
    eprintln!(
        "per-step RDP: worst relative difference {:e} at {}",
        worst.0, worst.1
    );
}

#[test]
fn epsilons_match_on_the_grid_and_held_out_points() {
    let data = fixture();
    let points = data["points"].as_array().unwrap();
    let mut worst = [(0.0f64, String::new()), (0.0f64, String::new())];
    let mut counts = [0usize; 2];
    for point in points {
        let sigma = number(&point["noise_multiplier"]);
        let q = number(&point["sampling_rate"]);
        let steps = point["steps"].as_u64().unwrap();
        let delta = number(&point["delta"]);
        let want = number(&point["epsilon"]);
        let held_out = point["kind"] == "held-out";
        let bound = epsilon_for_poisson_gaussian(sigma, q, steps, delta).unwrap();
        let err = relative_error(bound.epsilon, want, EPSILON_FLOOR);
        let what = format!("sigma {sigma} q {q} steps {steps} delta {delta}");
        assert!(
            err <= RELATIVE_TOLERANCE,
            "{what}: ours {}, dp-accounting {want} (rel {err:e})",
            bound.epsilon
        );
        // The same optimal order, wherever one order is optimal (epsilon 0 or inf: any).
        if want > 0.0 && want.is_finite() {
            let want_order = number(&point["order"]);
            assert_eq!(bound.order, want_order, "{what}: optimal order");
        }
        let slot = usize::from(held_out);
        counts[slot] += 1;
        if err > worst[slot].0 {
            worst[slot] = (err, what);
        }
    }
    assert!(counts[0] >= 1000 && counts[1] >= 50, "{counts:?}");
    eprintln!(
        "epsilon: {} grid points, worst relative difference {:e} ({}); {} held-out, worst {:e} ({})",
        counts[0], worst[0].0, worst[0].1, counts[1], worst[1].0, worst[1].1
    );
}
