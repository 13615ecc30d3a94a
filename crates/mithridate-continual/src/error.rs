//! The error of the continual loop: every stage's error, plus invalid requests.

/// Everything that can go wrong while running the loop. Messages are one line. A blocked
/// retrain or an alert is not an error: it is a recorded decision.
#[derive(Debug, thiserror::Error)]
pub enum ContinualError {
    /// Impossible parameters or input (names the value at fault).
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing the run directory failed.
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Pipeline(#[from] mithridate_pipeline::PipelineError),
    #[error(transparent)]
    Data(#[from] mithridate_data::DataError),
    #[error(transparent)]
    Engine(#[from] mithridate_engine::EngineError),
    #[error(transparent)]
    Attack(#[from] mithridate_attack::AttackError),
    #[error(transparent)]
    Detect(#[from] mithridate_detect::DetectError),
    #[error(transparent)]
    Provenance(#[from] mithridate_provenance::ProvenanceError),
    #[error(transparent)]
    Gate(#[from] mithridate_gate::GateError),
}

impl ContinualError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ContinualError::Invalid(message.into())
    }

    /// Whether the failure is the environment's (I/O, registry unreachable), not the input's.
    pub fn is_environment(&self) -> bool {
        match self {
            ContinualError::Io { .. } => true,
            ContinualError::Pipeline(e) => e.is_environment(),
            ContinualError::Data(e) => matches!(
                e,
                mithridate_data::DataError::Fetch { .. } | mithridate_data::DataError::Io { .. }
            ),
            _ => false,
        }
    }
}

/// Wraps an I/O error with its path.
pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ContinualError + '_ {
    move |source| ContinualError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub type Result<T, E = ContinualError> = std::result::Result<T, E>;
