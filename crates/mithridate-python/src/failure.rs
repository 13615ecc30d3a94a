//! One error type for calls that cross several library crates (a gate loads models, data and
//! an audit log), so [`crate::errors::detached`] can map any of them.
//!
//! [`Failure`] keeps the original error as its `source()`, so `errors::to_py` still finds an
//! I/O or fetch failure anywhere in the chain (`OSError`) and `one_line` prints each cause
//! once; an optional context ("loading baseline model m.safetensors") leads the message.

use std::error::Error;
use std::fmt;

type Inner = Box<dyn Error + Send + Sync + 'static>;

/// A library error, optionally with what was being done when it happened.
#[derive(Debug)]
pub struct Failure {
    context: Option<String>,
    inner: Inner,
}

impl Failure {
    /// `err` with `context` in front of its message.
    pub fn context(context: impl Into<String>, err: impl Into<Inner>) -> Failure {
        Failure {
            context: Some(context.into()),
            inner: err.into(),
        }
    }

    /// `err` as it is.
    pub fn wrap(err: impl Into<Inner>) -> Failure {
        Failure {
            context: None,
            inner: err.into(),
        }
    }

    /// A one-line input error (`ValueError`).
    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure {
            context: None,
            inner: message.into().into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.context {
            Some(context) => f.write_str(context),
            None => write!(f, "{}", self.inner),
        }
    }
}

impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.inner)
    }
}

/// Extension for library results: `.failed()?` or `.context("loading X")?` inside a
/// binding call. (A blanket `From<E: Error>` would collide with `From<Failure>` for itself.)
pub trait OrFailure<T> {
    fn failed(self) -> Result<T, Failure>;
    fn context(self, context: impl FnOnce() -> String) -> Result<T, Failure>;
}

impl<T, E: Error + Send + Sync + 'static> OrFailure<T> for Result<T, E> {
    fn failed(self) -> Result<T, Failure> {
        self.map_err(|e| Failure {
            context: None,
            inner: Box::new(e),
        })
    }

    fn context(self, context: impl FnOnce() -> String) -> Result<T, Failure> {
        self.map_err(|e| Failure::context(context(), e))
    }
}
