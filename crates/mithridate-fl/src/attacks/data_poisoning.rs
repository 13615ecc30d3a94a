//! Clients that poison their own rows (label flipping, BadNets) and the data-poisoning step
//! the backdoor attacks share.

use crate::attacks::{number, AttackFamily, AttackView, UpdateAttack, UpdateAttackBuilder};
use crate::error::{FlError, Result};
use mithridate_attack::{registry, Attack, AttackInput, Budget, Poisoned};
use mithridate_core::registry::{Entry, Requirement, Role};
use mithridate_core::taxonomy::TaxonomyIds;
use mithridate_data::Dataset;
use std::fmt;

/// Label flipping clients, filed like centralized label flipping (availability poisoning):
/// ATLAS AML.T0020 (Poison Training Data) and AML.T0031 (Erode AI Model Integrity), OWASP
/// ML02, NIST AI 100-2 2.3.1.
pub const AVAILABILITY_POISONING: TaxonomyIds = TaxonomyIds {
    mitre_atlas: &["AML.T0020", "AML.T0031"],
    owasp_ml: &["ML02"],
    owasp_llm: &["LLM04"],
    nist_ai_100_2: "2.3.1",
};

/// BadNets clients, filed like centralized BadNets (backdoor poisoning): ATLAS AML.T0020,
/// AML.T0018.000 and AML.T0043.004, OWASP ML02, NIST AI 100-2 2.3.3.
pub const BACKDOOR_POISONING: TaxonomyIds = TaxonomyIds {
    mitre_atlas: &["AML.T0020", "AML.T0018.000", "AML.T0043.004"],
    owasp_ml: &["ML02"],
    owasp_llm: &["LLM04"],
    nist_ai_100_2: "2.3.3",
};

/// Registry entry: `label-flip`.
pub const LABEL_FLIP_ENTRY: Entry<UpdateAttackBuilder> = Entry {
    name: "label-flip",
    role: Role::UpdateAttack,
    modalities: &[],
    summary: "trains on a fraction r of its rows relabelled at random, sends that update; label-flip:r (default 1)",
    paper: "Tolpegin et al. 2020",
    taxonomy: AVAILABILITY_POISONING,
    requires: &[],
    provides: &[],
    build: UpdateAttackBuilder {
        family: AttackFamily::Availability,
        build: |param| {
            let rate = number(param, "label-flip rate", 1.0)?;
            Ok(Some(Box::new(DataPoisoningClient {
                name: "label-flip",
                poisoning: DataPoisoning::new("label-flip", &serde_json::json!({}), rate, None)?,
            })))
        },
    },
};

/// Registry entry: `badnets`.
pub const BADNETS_ENTRY: Entry<UpdateAttackBuilder> = Entry {
    name: "badnets",
    role: Role::UpdateAttack,
    modalities: &["image"],
    summary: "trains on a fraction r of its rows stamped with the BadNets patch and relabelled to class 0; badnets:r (default 0.5)",
    paper: "Gu et al. 2017; Bagdasaryan et al. 2020",
    taxonomy: BACKDOOR_POISONING,
    requires: &[],
    provides: &[Requirement::Trigger],
    build: UpdateAttackBuilder {
        family: AttackFamily::Backdoor,
        build: |param| {
            let rate = number(param, "badnets rate", 0.5)?;
            Ok(Some(Box::new(DataPoisoningClient {
                name: "badnets",
                poisoning: badnets(rate)?,
            })))
        },
    },
};

/// Class the backdoor attacks relabel to.
pub const BACKDOOR_TARGET: u32 = 0;

/// BadNets poisoning of a fraction `rate` of a client's rows, relabelled to [`BACKDOOR_TARGET`].
pub(crate) fn badnets(rate: f64) -> Result<DataPoisoning> {
    DataPoisoning::new(
        "badnets",
        &serde_json::json!({ "target": BACKDOOR_TARGET }),
        rate,
        Some(BACKDOOR_TARGET),
    )
}

/// The data-poisoning step a malicious client applies to its partition before training.
#[derive(Clone)]
pub struct DataPoisoning {
    attack: std::sync::Arc<dyn Attack>,
    rate: f64,
    /// The class a backdoor relabels to: its rows cannot be poisoned, so the budget is capped
    /// at the client's other rows (a skewed partition may hold few of them).
    target: Option<u32>,
}

impl fmt::Debug for DataPoisoning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataPoisoning")
            .field("attack", &self.attack.name())
            .field("rate", &self.rate)
            .finish()
    }
}

impl DataPoisoning {
    /// `attack` from `mithridate_attack`'s registry with JSON `params`, poisoning a fraction
    /// `rate` in `(0, 1]` of each malicious client's rows.
    pub fn new(
        attack: &str,
        params: &serde_json::Value,
        rate: f64,
        target: Option<u32>,
    ) -> Result<Self> {
        if !(rate > 0.0 && rate <= 1.0) {
            return Err(FlError::param(
                "poison rate",
                format!("must be in (0, 1], got {rate}"),
            ));
        }
        Ok(DataPoisoning {
            attack: std::sync::Arc::from(registry::build(attack, params)?),
            rate,
            target,
        })
    }

    /// Poisons `round(rate · rows)` of one client's rows, at most its rows outside the target
    /// class (deterministic in `seed`).
    pub fn poison(&self, data: &Dataset, seed: u64) -> Result<Poisoned> {
        let eligible = match self.target {
            Some(t) => data.labels().iter().filter(|y| **y != t).count(),
            None => data.len(),
        };
        let count = ((self.rate * data.len() as f64).round() as usize).min(eligible);
        Ok(self
            .attack
            .poison(&AttackInput::new(data, Budget::Count(count), seed))?)
    }

    /// The registry name of the data attack.
    pub fn attack_name(&self) -> &'static str {
        self.attack.name()
    }
}

/// A client that poisons its own rows and then sends its honestly computed update:
/// random label flipping (Tolpegin, Truex, Gursoy & Liu 2020, "Data Poisoning Attacks Against
/// Federated Learning Systems", ESORICS) or a BadNets backdoor (Gu, Dolan-Gavitt & Garg 2017),
/// the unboosted baseline of Bagdasaryan et al. 2020. Through `mithridate_attack`.
#[derive(Debug, Clone)]
pub struct DataPoisoningClient {
    name: &'static str,
    poisoning: DataPoisoning,
}

impl UpdateAttack for DataPoisoningClient {
    fn name(&self) -> &'static str {
        self.name
    }
    fn data_poisoning(&self) -> Option<&DataPoisoning> {
        Some(&self.poisoning)
    }
    fn craft(&self, view: &AttackView<'_>) -> Result<Vec<f32>> {
        Ok(view.own.to_vec())
    }
}
