//! The one error type of this crate: every message names the offending input on one line.

use mithridate_aggregate::AggregateError;
use mithridate_attack::AttackError;
use mithridate_data::DataError;
use mithridate_engine::EngineError;

/// Why a simulation could not be set up or run.
#[derive(Debug, thiserror::Error)]
pub enum FlError {
    /// A simulation or attack hyperparameter outside its valid range.
    #[error("invalid parameter {name}: {reason}")]
    Param { name: &'static str, reason: String },
    /// An unknown update attack name.
    #[error("unknown update attack {0:?}; known: {1}")]
    UnknownAttack(String, String),
    /// The aggregation rule refused the configuration or a round.
    #[error(transparent)]
    Aggregate(#[from] AggregateError),
    /// Training or evaluation failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The dataset or its partition is unusable.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Secure aggregation failed (too many dropouts in a round) or is misconfigured.
    #[error(transparent)]
    SecAgg(#[from] mithridate_secagg::SecAggError),
    /// A data-poisoning client's attack failed.
    #[error(transparent)]
    Attack(#[from] AttackError),
}

impl FlError {
    pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Self {
        FlError::Param {
            name,
            reason: reason.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = FlError> = std::result::Result<T, E>;
