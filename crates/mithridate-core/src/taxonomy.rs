//! Threat taxonomy references.

use serde::{Deserialize, Serialize};

/// Where an attack or defence is filed in the three taxonomies the reports cite: MITRE ATLAS
/// technique / mitigation ids, OWASP ML Top 10 (2023) and LLM Top 10 (2025) ids, and the
/// section of NIST AI 100-2 E2025 (Adversarial Machine Learning: a taxonomy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Taxonomy {
    pub mitre_atlas: Vec<String>,
    pub owasp_ml: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owasp_llm: Vec<String>,
    pub nist_ai_100_2: String,
}

/// A [`Taxonomy`] as constants, for registry entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaxonomyIds {
    pub mitre_atlas: &'static [&'static str],
    pub owasp_ml: &'static [&'static str],
    pub owasp_llm: &'static [&'static str],
    pub nist_ai_100_2: &'static str,
}

impl TaxonomyIds {
    /// No references (e.g. the `none` baseline).
    pub const NONE: TaxonomyIds = TaxonomyIds {
        mitre_atlas: &[],
        owasp_ml: &[],
        owasp_llm: &[],
        nist_ai_100_2: "",
    };

    /// The owned form.
    pub fn to_taxonomy(self) -> Taxonomy {
        let own = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect();
        Taxonomy {
            mitre_atlas: own(self.mitre_atlas),
            owasp_ml: own(self.owasp_ml),
            owasp_llm: own(self.owasp_llm),
            nist_ai_100_2: self.nist_ai_100_2.to_string(),
        }
    }
}

/// Short name for registry entries.
pub type Ids = TaxonomyIds;
