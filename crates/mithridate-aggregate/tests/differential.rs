//! Differential test against the plain NumPy re-implementation in `tests/reference.py`.
//!
//! The fixture `fixtures/reference.json` holds the script's seeded inputs and expected outputs
//! (regenerate with `python3 tests/reference.py`), so this test always runs. If NumPy is
//! importable, the script is also re-run into a temporary copy and compared with the committed
//! fixture, so a drifted fixture cannot hide.

use mithridate_aggregate::{Round, RoundState, Rule, RuleConfig, Updates};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture exists"))
        .expect("valid JSON")
}

fn assert_close(what: &str, got: &[f32], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (j, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = rel * (1.0 + w.abs());
        assert!(
            (*g as f64 - w).abs() <= tol,
            "{what}: coordinate {j}: got {g}, reference {w}"
        );
    }
}

#[test]
fn every_rule_matches_the_numpy_reference() {
    let fx = fixture();
    let cases = fx["cases"].as_array().expect("cases");
    assert!(cases.len() >= 5);
    let mut checked = 0;
    for (c, case) in cases.iter().enumerate() {
        let n = case["n"].as_u64().unwrap() as usize;
        let d = case["d"].as_u64().unwrap() as usize;
        let f = case["f"].as_u64().unwrap() as usize;
        let rows: Vec<f32> = floats(&case["updates"]).iter().map(|x| *x as f32).collect();
        let weights = floats(&case["weights"]);
        let root: Vec<f32> = floats(&case["root"]).iter().map(|x| *x as f32).collect();
        let centre: Vec<f32> = floats(&case["centre"]).iter().map(|x| *x as f32).collect();
        let u = Updates::new(&rows, n, d).unwrap();
        for (name, expected) in case["expected"].as_object().unwrap() {
            let rule: Rule = name.parse().unwrap();
            let byzantine = if rule == Rule::FedAvg { 0 } else { f };
            let mut config = RuleConfig::new(rule.clone(), byzantine);
            if rule == Rule::Flame {
                config.noise_factor = Some(0.0); // the reference draws no noise
            }
            let built = config.build().unwrap();
            let mut round = Round::new(u);
            if matches!(rule, Rule::FedAvg | Rule::GeoMed | Rule::NormBound) {
                round = round.with_weights(&weights).unwrap();
            }
            if rule == Rule::FlTrust {
                round = round.with_root(&root).unwrap();
            }
            let mut state = RoundState {
                centre: Some(centre.clone()),
                ..RoundState::default()
            };
            let out = built.aggregate(&round, &mut state).unwrap();
            let what = format!("case {c} ({}) rule {name}", case["kind"]);
            // Geometric median: both stop at a relative objective tolerance, not at the same iterate.
            let rel = if rule == Rule::GeoMed { 1e-4 } else { 2e-5 };
            assert_close(&what, &out.aggregate, &floats(&expected["aggregate"]), rel);
            if let Some(w) = expected.get("weights") {
                for (i, (g, e)) in out.weights.iter().zip(floats(w)).enumerate() {
                    assert!((g - e).abs() <= 1e-6, "{what}: weight {i}: {g} vs {e}");
                }
            }
            if let Some(sel) = expected.get("selected") {
                let want: Vec<usize> = sel
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as usize)
                    .collect();
                let got: Vec<usize> = (0..n).filter(|i| out.selected[*i]).collect();
                assert_eq!(got, want, "{what}: selection");
            }
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} rule/case pairs checked");
}

#[test]
fn committed_fixture_is_what_the_script_produces() {
    let has_numpy = std::process::Command::new("python3")
        .args(["-c", "import numpy"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !has_numpy {
        eprintln!(
            "skipped: python3 with numpy not available; the committed fixture was still checked"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference.py");
    std::fs::create_dir(dir.path().join("fixtures")).unwrap();
    let copy = dir.path().join("reference.py");
    std::fs::copy(script, &copy).unwrap();
    let status = std::process::Command::new("python3")
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let fresh: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("fixtures/reference.json")).unwrap(),
    )
    .unwrap();
    let committed = fixture();
    // NumPy versions may differ in the last bits; compare the cases, not the version string.
    let (a, b) = (&fresh["cases"], &committed["cases"]);
    let a = a.as_array().unwrap();
    let b = b.as_array().unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(
            x["updates"], y["updates"],
            "inputs drifted: regenerate the fixture"
        );
        for (name, e) in y["expected"].as_object().unwrap() {
            let fresh_agg = floats(&x["expected"][name]["aggregate"]);
            let old_agg = floats(&e["aggregate"]);
            for (p, q) in fresh_agg.iter().zip(&old_agg) {
                assert!(
                    (p - q).abs() <= 1e-9 * (1.0 + q.abs()),
                    "{name}: fixture drifted"
                );
            }
        }
    }
}
