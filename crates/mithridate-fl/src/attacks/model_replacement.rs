//! Model replacement and constrain-and-scale.

use crate::attacks::data_poisoning::badnets;
use crate::attacks::{
    norm, optional_positive, AttackFamily, AttackView, DataPoisoning, UpdateAttack,
    UpdateAttackBuilder, BACKDOOR_MODEL_POISONING,
};
use crate::error::Result;
use mithridate_core::registry::{Entry, Requirement, Role};

/// Registry entry: `model-replacement`.
pub const MODEL_REPLACEMENT_ENTRY: Entry<UpdateAttackBuilder> = Entry {
    name: "model-replacement",
    role: Role::UpdateAttack,
    modalities: &["image"],
    summary: "trains on BadNets rows and boosts its update by gamma; model-replacement:gamma (default n / m)",
    paper: "Bagdasaryan et al. 2020",
    taxonomy: BACKDOOR_MODEL_POISONING,
    requires: &[],
    provides: &[Requirement::Trigger],
    build: UpdateAttackBuilder {
        family: AttackFamily::Backdoor,
        build: |param| {
            Ok(Some(Box::new(ModelReplacement {
                poisoning: badnets(0.5)?,
                boost: optional_positive(param, "model-replacement boost")?,
                bound: None,
            })))
        },
    },
};

/// Registry entry: `constrain-and-scale`.
pub const CONSTRAIN_AND_SCALE_ENTRY: Entry<UpdateAttackBuilder> = Entry {
    name: "constrain-and-scale",
    role: Role::UpdateAttack,
    modalities: &["image"],
    summary: "model replacement scaled down to norm at most S; constrain-and-scale:S (default: the largest honest norm)",
    paper: "Bagdasaryan et al. 2020; Sun et al. 2019",
    taxonomy: BACKDOOR_MODEL_POISONING,
    requires: &[Requirement::HonestUpdates],
    provides: &[Requirement::Trigger],
    build: UpdateAttackBuilder {
        family: AttackFamily::Backdoor,
        build: |param| {
            Ok(Some(Box::new(ModelReplacement {
                poisoning: badnets(0.5)?,
                boost: None,
                bound: Some(optional_positive(param, "constrain-and-scale bound")?),
            })))
        },
    },
};

/// Model replacement / boosted backdoor and constrain-and-scale (Bagdasaryan, Veit, Hua,
/// Estrin & Shmatikov 2020, "How To Backdoor Federated Learning", AISTATS).
///
/// The client trains on BadNets-poisoned rows (half its rows, target class 0) and boosts its
/// update by `γ = n / (η m)` (the paper's `n/η`, shared among the `m` attackers of the round),
/// so that FedAvg's new global model is the backdoored one: `G + (η/n) Σ γ Δ = G + Δ`.
///
/// Constrain-and-scale (`bound = Some(S)`): the boosted update is scaled down to norm `S`
/// when larger (default `S` = the largest honest norm of the round: omniscient), so that it
/// passes norm-based defences whose bound is at least the benign norms (the norm-constrained
/// attack of Sun, Kairouz, Suresh & McMahan 2019, "Can You Really Backdoor Federated
/// Learning?"). The paper's anomaly-loss term during local training is not implemented.
///
/// ```
/// use mithridate_fl::{AttackSpec, AttackView};
/// let boosted = "model-replacement".parse::<AttackSpec>().unwrap().build().unwrap().unwrap();
/// let view = AttackView { own: &[1.0, 0.0], honest: &[vec![0.1, 0.0]], participants: 10, malicious: 2, seed: 0 };
/// assert_eq!(boosted.craft(&view).unwrap(), vec![5.0, 0.0]);
/// let constrained = "constrain-and-scale".parse::<AttackSpec>().unwrap().build().unwrap().unwrap();
/// assert_eq!(constrained.craft(&view).unwrap(), vec![0.1, 0.0]);
/// ```
#[derive(Debug, Clone)]
pub struct ModelReplacement {
    poisoning: DataPoisoning,
    /// Explicit boost `γ`; default `n / m` (η = 1).
    boost: Option<f64>,
    /// `None`: plain model replacement; `Some(None)`: constrain to the largest honest norm;
    /// `Some(Some(S))`: constrain to `S`.
    bound: Option<Option<f64>>,
}

impl UpdateAttack for ModelReplacement {
    fn name(&self) -> &'static str {
        if self.bound.is_some() {
            "constrain-and-scale"
        } else {
            "model-replacement"
        }
    }
    fn data_poisoning(&self) -> Option<&DataPoisoning> {
        Some(&self.poisoning)
    }
    fn omniscient(&self) -> bool {
        matches!(self.bound, Some(None))
    }
    fn craft(&self, view: &AttackView<'_>) -> Result<Vec<f32>> {
        let boost = self
            .boost
            .unwrap_or(view.participants as f64 / view.malicious.max(1) as f64);
        let mut scale = boost;
        if let Some(bound) = self.bound {
            let bound = match bound {
                Some(s) => s,
                None => view.honest.iter().map(|h| norm(h)).fold(0.0, f64::max),
            };
            let boosted_norm = boost * norm(view.own);
            if boosted_norm > bound {
                scale = bound / norm(view.own);
            }
        }
        Ok(view
            .own
            .iter()
            .map(|x| (scale * *x as f64) as f32)
            .collect())
    }
}
