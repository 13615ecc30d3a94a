//! The gate's decision as an audit-log record payload.

use crate::GateReport;
use mithridate_provenance::GateDecisionPayload;
use serde_json::{json, Value};

/// Rounds `x` to 9 decimals. A record's hash covers its payload as printed, and the log is
/// verified by *parsing* it back: serde_json's default float parser is not exact for every
/// 17-digit decimal (its `float_roundtrip` feature is off), so a value such as
/// `0.9955654101995565` can come back one ULP off and break the chain. A decimal of at most
/// 9 places (and 15 significant digits) parses exactly (Clinger's fast path: an exact
/// integer divided by an exact power of ten), so rounded values survive the round trip.
///
/// ```
/// assert_eq!(mithridate_gate::audit::audit_number(0.9955654101995565), 0.99556541);
/// assert_eq!(mithridate_gate::audit::audit_number(-0.003), -0.003);
/// ```
pub fn audit_number(x: f64) -> f64 {
    if !x.is_finite() || x.abs() >= 1e6 {
        return x;
    }
    (x * 1e9).round() / 1e9
}

/// Rounds every float in `value` with [`audit_number`] (integers are left alone).
fn round_floats(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(rounded) = n
                .as_f64()
                .map(audit_number)
                .and_then(serde_json::Number::from_f64)
            {
                *n = rounded;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(round_floats),
        Value::Object(map) => map.values_mut().for_each(round_floats),
        _ => {}
    }
}

/// The `gate_decision` payload of `report`: the typed [`GateDecisionPayload`] fields (model
/// hashes, verdict, the failed checks as reasons, the policy) plus `holdout`,
/// `holdout_samples` and every check's name, value, threshold and status (extra fields are
/// kept and covered by the record's hash). Floats are rounded with [`audit_number`].
pub fn decision_payload(
    report: &GateReport,
    baseline_hash: &str,
    candidate_hash: &str,
    holdout: &str,
) -> Value {
    let payload = GateDecisionPayload {
        candidate_model_hash: candidate_hash.to_string(),
        baseline_model_hash: Some(baseline_hash.to_string()),
        passed: report.passed(),
        reasons: report.reasons(),
        policy: Some(report.policy.clone()),
    };
    let mut value = serde_json::to_value(&payload).unwrap_or_else(|_| json!({}));
    if let Some(object) = value.as_object_mut() {
        object.insert("holdout".into(), json!(holdout));
        object.insert("holdout_samples".into(), json!(report.comparison.samples));
        let checks: Vec<Value> = report
            .checks
            .iter()
            .map(|c| json!({"name": c.name, "value": c.value, "threshold": c.threshold, "status": c.status}))
            .collect();
        object.insert("checks".into(), Value::Array(checks));
    }
    round_floats(&mut value);
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{evaluate, Comparison, GatePolicy, ProbeOutcome};
    use mithridate_core::ParamGuard;

    fn report(candidate_success: f64, max_flip_rate: f64) -> GateReport {
        let labels: Vec<u32> = (0..10_000).map(|i| (i % 10) as u32).collect();
        let mut candidate = labels.clone();
        for row in (0..10_000).step_by(131) {
            candidate[row] = (candidate[row] + 1) % 10;
        }
        let c = Comparison::new(&labels, &labels, &candidate, 10).unwrap();
        let probe = ProbeOutcome {
            name: "p".into(),
            attack: "badnets".into(),
            samples: 9020,
            baseline_success: 16.0 / 9020.0,
            candidate_success,
        };
        let policy = GatePolicy {
            max_flip_rate,
            ..GatePolicy::default()
        };
        evaluate(&policy.check().unwrap(), &c, &[probe])
    }

    #[test]
    fn payload_survives_a_print_parse_round_trip() {
        // Values of the kind that broke the chain before rounding.
        for (success, flip) in [
            (0.9973392461197339, 0.05),
            (8993.0 / 9020.0, 0.123_456_789_012_345_68),
        ] {
            let payload = decision_payload(&report(success, flip), "aa11", "bb22", "mnist");
            let text = serde_json::to_string(&payload).unwrap();
            let parsed: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(serde_json::to_string(&parsed).unwrap(), text);
            assert_eq!(parsed, payload);
        }
    }

    #[test]
    fn payload_is_a_valid_gate_decision() {
        let payload = decision_payload(&report(0.99, 0.05), "aa11", "bb22", "mnist");
        mithridate_provenance::RecordKind::GateDecision
            .validate_payload(&payload)
            .unwrap();
        assert_eq!(payload["passed"], false);
        assert_eq!(payload["candidate_model_hash"], "bb22");
        assert_eq!(payload["baseline_model_hash"], "aa11");
        assert_eq!(payload["holdout_samples"], 10_000);
        assert_eq!(payload["reasons"].as_array().unwrap().len(), 1);
        assert_eq!(payload["checks"].as_array().unwrap().len(), 6);
        assert_eq!(payload["policy"]["min_disagreements"], 20);
    }
}
