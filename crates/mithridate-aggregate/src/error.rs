//! The one error type of this crate: every message names the offending input on one line.

/// Why an aggregation could not run. Bad input is always reported, never silently repaired.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AggregateError {
    /// No client updates at all.
    #[error("no client updates: need at least one row")]
    NoClients,
    /// Updates of dimension zero.
    #[error("updates have dimension 0: need at least one coordinate")]
    NoCoordinates,
    /// The flat buffer is not `n * d` long.
    #[error("updates buffer holds {len} values, expected n * d = {n} * {d}")]
    Shape { len: usize, n: usize, d: usize },
    /// A NaN or infinite value in a client's update.
    #[error("update row {row} (column {column}) is not finite: {value}")]
    NonFinite {
        row: usize,
        column: usize,
        value: f32,
    },
    /// More Byzantine clients requested than the rule tolerates for this `n`.
    #[error("{rule} tolerates at most {max} Byzantine clients out of n = {n} ({condition}), got f = {f}")]
    TooManyByzantine {
        rule: &'static str,
        f: usize,
        n: usize,
        max: usize,
        condition: &'static str,
    },
    /// A per-client vector (weights, ids) of the wrong length.
    #[error("{what} has {got} entries, expected one per client ({n})")]
    PerClientLength {
        what: &'static str,
        got: usize,
        n: usize,
    },
    /// A client weight that is negative, NaN or infinite, or weights summing to zero.
    #[error("client weights must be finite and non-negative with a positive sum: {0}")]
    BadWeights(String),
    /// A rule that needs an input the round does not provide (FLTrust's root update).
    #[error("{rule} needs {what}")]
    Missing {
        rule: &'static str,
        what: &'static str,
    },
    /// A rule given an input it would ignore (so the caller is not misled).
    #[error("{rule} does not use {what}")]
    Unused {
        rule: &'static str,
        what: &'static str,
    },
    /// A vector (root update, centre) of the wrong dimension or with non-finite values.
    #[error("{what}: {reason}")]
    BadVector { what: &'static str, reason: String },
    /// A hyperparameter outside its valid range.
    #[error("invalid parameter {name}: {reason}")]
    Param { name: &'static str, reason: String },
    /// Parameters that do not deserialize (unknown key, wrong type); names the entry.
    #[error("invalid parameters of {0}")]
    Params(String),
    /// An unknown rule name.
    #[error("unknown aggregation rule {0:?}; known: {1}")]
    UnknownRule(String, String),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, AggregateError>;

/// `Ok` if `value` is finite and `> 0` (`strict`) or `>= 0`; otherwise a parameter error
/// naming `name`.
pub(crate) fn check_finite_at_least_zero(
    name: &'static str,
    value: f64,
    strict: bool,
) -> Result<()> {
    let ok = value.is_finite() && if strict { value > 0.0 } else { value >= 0.0 };
    if ok {
        return Ok(());
    }
    Err(AggregateError::Param {
        name,
        reason: format!(
            "must be finite and {} 0, got {value}",
            if strict { ">" } else { ">=" }
        ),
    })
}

/// Returns an error unless `f <= max` (the rule's tolerance for `n` clients).
pub(crate) fn check_tolerance(
    rule: &'static str,
    f: usize,
    n: usize,
    max: usize,
    condition: &'static str,
) -> Result<()> {
    if f > max {
        return Err(AggregateError::TooManyByzantine {
            rule,
            f,
            n,
            max,
            condition,
        });
    }
    Ok(())
}
