//! Inner-product manipulation.

use crate::attacks::{mean_std, number, positive, AttackView, UpdateAttack, MODEL_POISONING};
use crate::attacks::{AttackFamily, UpdateAttackBuilder};
use crate::error::Result;
use mithridate_core::registry::Requirement;
use mithridate_core::registry::{Entry, Role};

/// Registry entry: `ipm`.
pub const ENTRY: Entry<UpdateAttackBuilder> = Entry {
    name: "ipm",
    role: Role::UpdateAttack,
    modalities: &[],
    summary: "sends -epsilon x the honest mean; ipm:epsilon (default 0.1)",
    paper: "Xie, Koyejo, Gupta 2020",
    taxonomy: MODEL_POISONING,
    requires: &[Requirement::HonestUpdates],
    provides: &[],
    build: UpdateAttackBuilder {
        family: AttackFamily::ModelPoisoning,
        build: |param| {
            let epsilon = number(param, "ipm epsilon", 0.1)?;
            Ok(Some(Box::new(Ipm {
                epsilon: positive("ipm epsilon", epsilon)?,
            })))
        },
    },
};

/// Inner-product manipulation (Xie, Koyejo & Gupta 2020, "Fall of Empires: Breaking
/// Byzantine-tolerant SGD by Inner Product Manipulation", UAI): every attacker sends
/// `-ε μ`, `μ` the mean of the honest updates, so the aggregate's inner product with the true
/// direction turns negative (large ε against averaging; small ε, e.g. 0.1, slips through
/// median and Krum). Omniscient.
///
/// ```
/// use mithridate_fl::{AttackView, Ipm, UpdateAttack};
/// let honest = vec![vec![1.0, 2.0], vec![3.0, 2.0]];
/// let view = AttackView { own: &[0.0, 0.0], honest: &honest, participants: 3, malicious: 1, seed: 0 };
/// assert_eq!(Ipm { epsilon: 0.5 }.craft(&view).unwrap(), vec![-1.0, -1.0]);
/// ```
#[derive(Debug, Clone)]
pub struct Ipm {
    pub epsilon: f64,
}

impl UpdateAttack for Ipm {
    fn name(&self) -> &'static str {
        "ipm"
    }
    fn uses_own_update(&self) -> bool {
        false
    }
    fn omniscient(&self) -> bool {
        true
    }
    fn craft(&self, view: &AttackView<'_>) -> Result<Vec<f32>> {
        let (mean, _) = mean_std(view.honest, view.own.len())?;
        Ok(mean.iter().map(|m| (-self.epsilon * m) as f32).collect())
    }
}
