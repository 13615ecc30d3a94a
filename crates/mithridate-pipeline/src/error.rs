//! The pipeline's error: every stage's error, plus invalid requests made of the pipeline.

use mithridate_data::DataError;

/// Everything that can go wrong while running an experiment. Messages are one line.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A request the pipeline cannot serve (impossible parameters, a defence that does not
    /// apply to the attack, an empty subset, ...).
    #[error("{0}")]
    Invalid(String),
    /// The value at fault, with what it was (e.g. `loading training data 'x.npz'`).
    #[error("{context}: {source}")]
    Context {
        context: String,
        #[source]
        source: Box<PipelineError>,
    },
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Engine(#[from] mithridate_engine::EngineError),
    #[error(transparent)]
    Attack(#[from] mithridate_attack::AttackError),
    #[error(transparent)]
    Detect(#[from] mithridate_detect::DetectError),
    #[error(transparent)]
    Onnx(#[from] mithridate_onnx::OnnxError),
    #[error(transparent)]
    Aggregate(#[from] mithridate_aggregate::AggregateError),
    #[error(transparent)]
    Fl(#[from] mithridate_fl::FlError),
    #[error(transparent)]
    Rag(#[from] mithridate_rag::RagError),
    #[error(transparent)]
    Store(#[from] mithridate_assess::store::StoreError),
    #[error(transparent)]
    Run(#[from] mithridate_assess::runner::RunError),
    /// A configuration mistake, with its line when known.
    #[error("{}", .0.message)]
    Config(#[from] mithridate_assess::config::ConfigError),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

impl PipelineError {
    pub fn invalid(message: impl Into<String>) -> Self {
        PipelineError::Invalid(message.into())
    }

    /// Whether the failure is the environment's (registry unreachable, I/O), not the input's.
    pub fn is_environment(&self) -> bool {
        match self {
            PipelineError::Data(DataError::Fetch { .. } | DataError::Io { .. }) => true,
            PipelineError::Context { source, .. } => source.is_environment(),
            PipelineError::Rag(e) => e.is_environment(),
            _ => false,
        }
    }
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// Adds what was being done to an error, as `anyhow::Context` does for the CLI.
pub trait WithContext<T> {
    fn context_with(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<PipelineError>> WithContext<T> for std::result::Result<T, E> {
    fn context_with(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| PipelineError::Context {
            context: what(),
            source: Box::new(e.into()),
        })
    }
}

/// The error and its causes on one line (`a: b: c`), each cause once.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        let text = e.to_string().replace('\n', " ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}
