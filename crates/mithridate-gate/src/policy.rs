//! The gate policy: the thresholds a candidate must stay within, read from TOML and checked
//! once into a [`CheckedPolicy`].

use crate::{GateError, Result};
use mithridate_core::ParamGuard;
use serde::{Deserialize, Serialize};

/// Unchecked gate thresholds, as written in a `gate.toml` file. Every key is optional; a
/// missing key takes its default (see [`GatePolicy::default`] and the crate's `examples/gate.toml`, which
/// also says how each default was chosen). Unknown keys are an error, so a misspelt key can
/// never silently disable a check.
///
/// All rates are fractions in `[0, 1]` of the trusted holdout (or of the samples a check
/// looks at); a check fails when its measured value is strictly greater than its threshold.
///
/// ```
/// use mithridate_gate::GatePolicy;
/// let policy = GatePolicy::from_toml_str("max_accuracy_drop = 0.02\n")?;
/// assert_eq!(policy.params().max_accuracy_drop, 0.02);
/// assert_eq!(policy.params().max_flip_rate, GatePolicy::default().max_flip_rate);
/// assert!(GatePolicy::from_toml_str("max_acuracy_drop = 0.02\n").is_err());
/// # Ok::<(), mithridate_gate::GateError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatePolicy {
    /// Largest allowed `accuracy(baseline) - accuracy(candidate)` on the holdout.
    pub max_accuracy_drop: f64,
    /// Largest allowed drop in any one class's recall (classes with fewer than
    /// `min_class_support` holdout samples are reported but not judged).
    pub max_class_recall_drop: f64,
    /// Classes with fewer holdout samples than this are too noisy to judge on recall.
    pub min_class_support: usize,
    /// Largest allowed prediction churn: the share of holdout samples whose predicted class
    /// differs between baseline and candidate, right or wrong.
    pub max_flip_rate: f64,
    /// Largest allowed negative flip rate: the share of holdout samples the baseline got
    /// right and the candidate gets wrong.
    pub max_negative_flip_rate: f64,
    /// Largest allowed share of the negative flips that land on one single predicted class
    /// (a backdoor or targeted-poisoning signature).
    pub max_target_concentration: f64,
    /// The concentration check only judges when there are at least this many negative flips
    /// (with a handful of flips, one class getting most of them is chance).
    pub min_disagreements: usize,
    /// Largest allowed increase, candidate minus baseline, in a trigger probe's success rate.
    pub max_probe_success_increase: f64,
    /// Largest allowed trigger shrink (with `--reverse-trigger`): how many times smaller the
    /// reverse-engineered trigger of some class is under the candidate than under the
    /// baseline. At least 1.
    pub max_trigger_shrink: f64,
}

impl Default for GatePolicy {
    /// Defaults measured on MNIST with the MLP (see the crate README): a clean retrain with
    /// another seed stays well inside every threshold; a 1% BadNets candidate fails the
    /// concentration check (and, with its trigger probe, the probe check).
    fn default() -> Self {
        GatePolicy {
            max_accuracy_drop: 0.01,
            max_class_recall_drop: 0.05,
            min_class_support: 20,
            max_flip_rate: 0.05,
            max_negative_flip_rate: 0.02,
            max_target_concentration: 0.5,
            min_disagreements: 20,
            max_probe_success_increase: 0.10,
            max_trigger_shrink: 2.0,
        }
    }
}

/// A [`GatePolicy`] whose values were checked by [`GatePolicy::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedPolicy(GatePolicy);

impl CheckedPolicy {
    /// The checked values.
    pub fn params(&self) -> &GatePolicy {
        &self.0
    }

    /// The policy as JSON (recorded with every gate decision).
    pub fn to_json(&self) -> serde_json::Value {
        // A struct of numbers always serializes.
        serde_json::to_value(&self.0).unwrap_or(serde_json::Value::Null)
    }
}

impl ParamGuard for GatePolicy {
    type Checked = CheckedPolicy;
    type Error = GateError;

    /// Checks every threshold: rates must be finite and in `[0, 1]`, `min_disagreements`
    /// at least 1. The error names the key.
    fn check_ref(&self) -> Result<()> {
        let rates = [
            ("max_accuracy_drop", self.max_accuracy_drop),
            ("max_class_recall_drop", self.max_class_recall_drop),
            ("max_flip_rate", self.max_flip_rate),
            ("max_negative_flip_rate", self.max_negative_flip_rate),
            ("max_target_concentration", self.max_target_concentration),
            (
                "max_probe_success_increase",
                self.max_probe_success_increase,
            ),
        ];
        for (key, value) in rates {
            if !(0.0..=1.0).contains(&value) {
                return Err(GateError::policy(
                    key,
                    None,
                    format!("must be a fraction in [0, 1], got {value}"),
                ));
            }
        }
        if !(self.max_trigger_shrink.is_finite() && self.max_trigger_shrink >= 1.0) {
            return Err(GateError::policy(
                "max_trigger_shrink",
                None,
                format!(
                    "must be a finite ratio of at least 1, got {}",
                    self.max_trigger_shrink
                ),
            ));
        }
        if self.min_disagreements == 0 {
            return Err(GateError::policy(
                "min_disagreements",
                None,
                "must be at least 1",
            ));
        }
        Ok(())
    }

    fn build(self) -> CheckedPolicy {
        CheckedPolicy(self)
    }
}

impl GatePolicy {
    /// Parses a TOML policy and checks it. Errors name the key and, where known, its line.
    pub fn from_toml_str(text: &str) -> Result<CheckedPolicy> {
        let policy: GatePolicy = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| line_of(text, span.start));
            let message = e.message().trim().replace('\n', " ");
            let key = unknown_key(&message)
                .or_else(|| line.and_then(|l| key_on_line(text, l)))
                .unwrap_or_default();
            GateError::policy(&key, line, message)
        })?;
        policy.check().map_err(|err| match err {
            GateError::Policy { key, message, .. } => {
                let line = key_line(text, &key);
                GateError::Policy { key, line, message }
            }
            other => other,
        })
    }
}

/// 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The bare key set on 1-based `line` (`key = value`), if that line sets one.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let (key, _) = text.lines().nth(line.checked_sub(1)?)?.split_once('=')?;
    let key = key.trim();
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    bare.then(|| key.to_string())
}

/// The 1-based line where `key = ...` is set, if it is.
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// The key serde names in an "unknown field `x`" message.
fn unknown_key(message: &str) -> Option<String> {
    if !message.starts_with("unknown field") {
        return None;
    }
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default_policy() {
        let p = GatePolicy::from_toml_str("").unwrap();
        assert_eq!(p.params(), &GatePolicy::default());
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = GatePolicy::from_toml_str("max_flip_rate = 0.1\nmax_fliprate = 0.2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_fliprate"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn wrong_type_is_named_with_its_line() {
        let err = GatePolicy::from_toml_str("\n\nmin_disagreements = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("min_disagreements"), "{err}");
    }

    #[test]
    fn out_of_range_value_names_key_and_line() {
        let err = GatePolicy::from_toml_str("# comment\nmax_target_concentration = 1.5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_target_concentration"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = GatePolicy {
            max_accuracy_drop: f64::NAN,
            ..GatePolicy::default()
        }
        .check()
        .unwrap_err()
        .to_string();
        assert!(err.contains("max_accuracy_drop"), "{err}");
        let err = GatePolicy::from_toml_str("min_disagreements = 0")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("min_disagreements") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn malformed_toml_is_an_error_not_a_panic() {
        for text in [
            "max_flip_rate = ",
            "[[[",
            "max_flip_rate = 0.1\nmax_flip_rate = 0.2",
        ] {
            assert!(GatePolicy::from_toml_str(text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_shipped_example_is_the_default_policy() {
        let text = include_str!("../examples/gate.toml");
        assert_eq!(
            GatePolicy::from_toml_str(text).unwrap().params(),
            &GatePolicy::default()
        );
    }
}
