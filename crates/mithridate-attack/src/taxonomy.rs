//! Taxonomy identifiers so reports can file each attack under the frameworks red and blue
//! teams use: MITRE ATLAS techniques, OWASP Machine Learning Security Top 10 (2023) and
//! NIST AI 100-2 E2023 ("Adversarial Machine Learning: A Taxonomy and Terminology").

/// Where one attack sits in the public taxonomies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Taxonomy {
    /// MITRE ATLAS technique ids, e.g. `AML.T0020` (Poison Training Data).
    pub mitre_atlas: Vec<String>,
    /// OWASP ML Top 10 (2023) ids, e.g. `ML02` (Data Poisoning Attack).
    pub owasp_ml: Vec<String>,
    /// NIST AI 100-2 E2023 section, e.g. `2.3.3` (Backdoor Poisoning).
    pub nist_ai_100_2: String,
}

use mithridate_core::taxonomy::Ids;

/// Availability poisoning (NIST 2.3.1): degrade accuracy across the board.
pub const AVAILABILITY: Ids = Ids {
    mitre_atlas: &["AML.T0020", "AML.T0031"],
    owasp_ml: &["ML02"],
    owasp_llm: &["LLM04"],
    nist_ai_100_2: "2.3.1",
};

/// Targeted poisoning (NIST 2.3.2): change the prediction on chosen inputs or classes.
pub const TARGETED: Ids = Ids {
    mitre_atlas: &["AML.T0020"],
    owasp_ml: &["ML02"],
    owasp_llm: &["LLM04"],
    nist_ai_100_2: "2.3.2",
};

/// Backdoor poisoning (NIST 2.3.3): plant a trigger that flips predictions at test time.
pub const BACKDOOR: Ids = Ids {
    mitre_atlas: &["AML.T0020", "AML.T0018.000", "AML.T0043.004"],
    owasp_ml: &["ML02"],
    owasp_llm: &["LLM04"],
    nist_ai_100_2: "2.3.3",
};

impl Taxonomy {
    /// The ground-truth record's form of registry ids (OWASP LLM ids are not recorded there).
    pub fn from_ids(ids: Ids) -> Self {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Taxonomy {
            mitre_atlas: own(ids.mitre_atlas),
            owasp_ml: own(ids.owasp_ml),
            nist_ai_100_2: ids.nist_ai_100_2.to_string(),
        }
    }

    /// Availability poisoning (NIST 2.3.1): degrade accuracy across the board.
    pub fn availability() -> Self {
        Taxonomy::from_ids(AVAILABILITY)
    }

    /// Targeted poisoning (NIST 2.3.2): change the prediction on chosen inputs or classes.
    pub fn targeted() -> Self {
        Taxonomy::from_ids(TARGETED)
    }

    /// Backdoor poisoning (NIST 2.3.3): plant a trigger that flips predictions at test time.
    pub fn backdoor() -> Self {
        Taxonomy::from_ids(BACKDOOR)
    }
}
