//! Every retrieval attack and defence by name: adding one is one file declaring its `ENTRY`
//! and one line in [`ATTACKS`] or [`DEFENCES`]. `mithridate rag attack --list` and the docs
//! read these lists.

use crate::attacks::{hotflip, naive, poisoned_rag, prompt_injection, split_view, RetrievalAttack};
use crate::defences::{
    manifest, perplexity, query_echo, spectral, two_means, wider, RetrievalDefence,
};
use crate::{RagError, Result};
use mithridate_core::registry::{Entry, Registry, Role};
use mithridate_core::taxonomy::Ids;
use mithridate_core::ParamGuard;
use serde::de::DeserializeOwned;

/// Builds a checked attack from its JSON parameters.
pub type AttackBuilder = fn(&serde_json::Value) -> Result<Box<dyn RetrievalAttack>>;
pub type AttackEntry = Entry<AttackBuilder>;
/// Builds a checked defence from its JSON parameters.
pub type DefenceBuilder = fn(&serde_json::Value) -> Result<Box<dyn RetrievalDefence>>;
pub type DefenceEntry = Entry<DefenceBuilder>;

/// RAG poisoning: MITRE ATLAS AML.T0070 (RAG Poisoning), OWASP LLM04 (Data and Model
/// Poisoning) and LLM08 (Vector and Embedding Weaknesses), NIST AI 100-2 3.4 (GenAI
/// poisoning).
pub const RAG_POISONING: Ids = Ids {
    mitre_atlas: &["AML.T0070"],
    owasp_ml: &[],
    owasp_llm: &["LLM04", "LLM08"],
    nist_ai_100_2: "3.4",
};

/// Indirect prompt injection through retrieved content: ATLAS AML.T0051.001, OWASP LLM01.
pub const PROMPT_INJECTION: Ids = Ids {
    mitre_atlas: &["AML.T0070", "AML.T0051.001"],
    owasp_ml: &[],
    owasp_llm: &["LLM01", "LLM08"],
    nist_ai_100_2: "3.4",
};

/// Filtering what is retrieved: ATLAS AML.M0015 (Adversarial Input Detection), OWASP LLM08.
pub const RETRIEVAL_FILTERING: Ids = Ids {
    mitre_atlas: &["AML.M0015"],
    owasp_ml: &[],
    owasp_llm: &["LLM04", "LLM08"],
    nist_ai_100_2: "3.4",
};

/// Integrity of the indexed corpus: ATLAS AML.M0014 (Verify ML Artifacts), OWASP LLM04.
pub const CORPUS_INTEGRITY: Ids = Ids {
    mitre_atlas: &["AML.M0014"],
    owasp_ml: &[],
    owasp_llm: &["LLM04", "LLM08"],
    nist_ai_100_2: "3.4",
};

/// The retrieval attacks Mithridate ships.
pub static ATTACKS: Registry<AttackBuilder> = Registry::new(
    Role::RetrievalAttack,
    &[
        naive::ENTRY,
        poisoned_rag::ENTRY,
        prompt_injection::ENTRY,
        split_view::ENTRY,
        hotflip::ENTRY,
    ],
);

/// The retrieval defences Mithridate ships.
pub static DEFENCES: Registry<DefenceBuilder> = Registry::new(
    Role::RetrievalDefence,
    &[
        query_echo::ENTRY,
        perplexity::ENTRY,
        two_means::ENTRY,
        manifest::ENTRY,
        spectral::ENTRY,
        wider::ENTRY,
    ],
);

/// Builds and checks attack `name` (`null` or `{}`: defaults; unknown keys are errors).
pub fn build_attack(name: &str, params: &serde_json::Value) -> Result<Box<dyn RetrievalAttack>> {
    let entry = ATTACKS
        .get(name)
        .map_err(|e| RagError::invalid(e.to_string()))?;
    (entry.build)(params)
}

/// Builds and checks defence `name`.
pub fn build_defence(name: &str, params: &serde_json::Value) -> Result<Box<dyn RetrievalDefence>> {
    let entry = DEFENCES
        .get(name)
        .map_err(|e| RagError::invalid(e.to_string()))?;
    (entry.build)(params)
}

pub(crate) fn checked_attack<P>(
    name: &str,
    params: &serde_json::Value,
) -> Result<Box<dyn RetrievalAttack>>
where
    P: DeserializeOwned + ParamGuard<Error = RagError>,
    P::Checked: RetrievalAttack + 'static,
{
    let parsed = mithridate_core::registry::params::<P>(name, params).map_err(RagError::Invalid)?;
    Ok(Box::new(parsed.check()?))
}

pub(crate) fn checked_defence<P>(
    name: &str,
    params: &serde_json::Value,
) -> Result<Box<dyn RetrievalDefence>>
where
    P: DeserializeOwned + ParamGuard<Error = RagError>,
    P::Checked: RetrievalDefence + 'static,
{
    let parsed = mithridate_core::registry::params::<P>(name, params).map_err(RagError::Invalid)?;
    Ok(Box::new(parsed.check()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_unknown_names_list_the_known() {
        let mut names = ATTACKS.names();
        names.extend(DEFENCES.names());
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        let err = build_attack("nope", &serde_json::Value::Null)
            .unwrap_err()
            .to_string();
        assert!(err.contains("known: naive, poisoned-rag"), "{err}");
        let err = build_defence("two-means", &serde_json::json!({"threshold": 2.0}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("threshold"), "{err}");
        assert!(build_attack("naive", &serde_json::json!({"x": 1})).is_err());
    }
}
