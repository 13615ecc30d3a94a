//! Retrieving more: the generator reads the top `factor x k` passages instead of the top `k`,
//! so a fixed number of poisons is a smaller share of what it reads.
//!
//! Paper: Zou, Geng, Wang & Jia (2025), "PoisonedRAG" (USENIX Security), section 7,
//! "knowledge expansion": retrieve more passages (larger `k`) so that clean knowledge
//! outweighs the poisons. They measure it at the answer level (the LLM's answer) and find it
//! insufficient once the attacker plants as many passages as the wider context holds.
//!
//! At the retrieval level this defence drops nothing; it changes what counts as success. With
//! `factor = f`, every metric at cut-off `k` is taken over the top `f k`, and the attack
//! succeeds for a target when at least `f` of its poisons are there: the same share `1/k` of
//! the generator's context that one poison in the undefended top `k` holds
//! ([`RetrievalMetrics::compute_widened`](crate::metrics::RetrievalMetrics::compute_widened)).
//! `f = 1` is the undefended rule; a larger `f` costs the generator `f` times the context.
//! Clean recall at `k` is the gold passage in the top `f k`, so it can only rise. Assumes the
//! generator weighs passages by their share of its context (the dilution argument); an
//! attacker with `P >= f` passages that all rank high is not stopped.
//!
//! ```
//! use mithridate_rag::defences::RetrievalDefence;
//! let d = mithridate_rag::registry::build_defence("wider", &serde_json::json!({"factor": 3}))?;
//! assert_eq!(d.context_factor(), 3);
//! assert!(mithridate_rag::registry::build_defence("wider", &serde_json::json!({"factor": 0})).is_err());
//! # Ok::<(), mithridate_rag::RagError>(())
//! ```

use super::RetrievalDefence;
use crate::registry::{checked_defence, DefenceEntry};
use crate::{RagError, Result};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;

pub const ENTRY: DefenceEntry = Entry {
    name: "wider",
    role: Role::RetrievalDefence,
    modalities: &["text"],
    summary: "retrieve factor=4 x k passages; success at k needs >= factor poisons in the top factor x k (the same context share as 1 in k)",
    paper: "Zou et al. 2025 (PoisonedRAG, knowledge expansion)",
    taxonomy: crate::registry::RETRIEVAL_FILTERING,
    requires: &[],
    provides: &[],
    build: |p| checked_defence::<WiderParams>("wider", p),
};

/// The largest factor accepted (the run retrieves `3 x factor x max(k)` candidates).
const MAX_FACTOR: usize = 50;

/// Parameters of [`Wider`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct WiderParams {
    /// The generator reads `factor x k` passages, `1..=50`.
    pub factor: usize,
}

impl Default for WiderParams {
    fn default() -> Self {
        WiderParams { factor: 4 }
    }
}

impl ParamGuard for WiderParams {
    type Checked = Wider;
    type Error = RagError;
    fn check_ref(&self) -> Result<()> {
        if !(1..=MAX_FACTOR).contains(&self.factor) {
            return Err(RagError::invalid(format!(
                "wider: factor must lie in 1..={MAX_FACTOR}, got {}",
                self.factor
            )));
        }
        Ok(())
    }
    fn build(self) -> Wider {
        Wider { params: self }
    }
}

/// The checked defence.
#[derive(Debug, Clone)]
pub struct Wider {
    params: WiderParams,
}

impl RetrievalDefence for Wider {
    fn name(&self) -> &'static str {
        "wider"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn context_factor(&self) -> usize {
        self.params.factor
    }
}
