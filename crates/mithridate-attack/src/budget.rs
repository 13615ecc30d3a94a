//! Poison budgets: a rate of the attack's pool or an absolute count.

use crate::{AttackError, Result};
use mithridate_core::ParamGuard;

/// How many samples an attack may touch.
///
/// Each attack documents its *pool* (the whole training set, the source class, the target
/// class, ...). A rate `r` in `[0, 1]` resolves to `round(r * pool)` samples; a count must not
/// exceed the pool.
///
/// ```
/// use mithridate_attack::Budget;
/// assert_eq!(Budget::Rate(0.01).resolve(1000, "training set")?, 10);
/// assert!(Budget::Rate(1.5).resolve(1000, "training set").is_err());
/// assert!(Budget::Count(11).resolve(10, "target class").is_err());
/// # Ok::<(), mithridate_attack::AttackError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    /// A fraction of the pool in `[0, 1]`.
    Rate(f64),
    /// An absolute number of samples.
    Count(usize),
}

/// Checks the budget on its own (a rate is finite and in `[0, 1]`); a checked budget is
/// still a [`Budget`].
impl ParamGuard for Budget {
    type Checked = Budget;
    type Error = AttackError;

    fn check_ref(&self) -> Result<()> {
        match *self {
            Budget::Rate(r) if !(0.0..=1.0).contains(&r) => Err(AttackError::param(format!(
                "poison rate {r} is outside [0, 1]"
            ))),
            _ => Ok(()),
        }
    }

    fn build(self) -> Budget {
        self
    }
}

impl Budget {
    /// The number of samples this budget allows out of a pool of `pool` samples.
    pub fn resolve(self, pool: usize, pool_name: &str) -> Result<usize> {
        match self.check()? {
            Budget::Rate(r) => Ok(((r * pool as f64).round() as usize).min(pool)),
            Budget::Count(c) if c > pool => Err(AttackError::param(format!(
                "poison count {c} exceeds the {pool} samples of the {pool_name}"
            ))),
            Budget::Count(c) => Ok(c),
        }
    }
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Budget::Rate(r) => write!(f, "rate {r}"),
            Budget::Count(c) => write!(f, "{c} samples"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_round_to_nearest_and_reject_out_of_range() {
        assert_eq!(Budget::Rate(0.0).resolve(10, "x").unwrap(), 0);
        assert_eq!(Budget::Rate(1.0).resolve(10, "x").unwrap(), 10);
        assert_eq!(Budget::Rate(0.25).resolve(10, "x").unwrap(), 3);
        assert_eq!(Budget::Rate(0.04).resolve(10, "x").unwrap(), 0);
        for bad in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
            assert!(Budget::Rate(bad).resolve(10, "x").is_err(), "{bad}");
        }
        assert_eq!(Budget::Count(10).resolve(10, "x").unwrap(), 10);
        assert!(Budget::Count(11).resolve(10, "x").is_err());
    }
}
