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

fn owned(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

impl Taxonomy {
    /// Availability poisoning (NIST 2.3.1): degrade accuracy across the board.
    pub fn availability() -> Self {
        Taxonomy {
            mitre_atlas: owned(&["AML.T0020", "AML.T0031"]),
            owasp_ml: owned(&["ML02"]),
            nist_ai_100_2: "2.3.1".into(),
        }
    }

    /// Targeted poisoning (NIST 2.3.2): change the prediction on chosen inputs or classes.
    pub fn targeted() -> Self {
        Taxonomy {
            mitre_atlas: owned(&["AML.T0020"]),
            owasp_ml: owned(&["ML02"]),
            nist_ai_100_2: "2.3.2".into(),
        }
    }

    /// Backdoor poisoning (NIST 2.3.3): plant a trigger that flips predictions at test time.
    pub fn backdoor() -> Self {
        Taxonomy {
            mitre_atlas: owned(&["AML.T0020", "AML.T0018.000", "AML.T0043.004"]),
            owasp_ml: owned(&["ML02"]),
            nist_ai_100_2: "2.3.3".into(),
        }
    }
}
