//! Sign flipping.

use crate::attacks::{number, positive, AttackView, UpdateAttack, MODEL_POISONING};
use crate::attacks::{AttackFamily, UpdateAttackBuilder};
use crate::error::Result;
use mithridate_core::registry::{Entry, Role};

/// Registry entry: `sign-flip`.
pub const ENTRY: Entry<UpdateAttackBuilder> = Entry {
    name: "sign-flip",
    role: Role::UpdateAttack,
    modalities: &[],
    summary: "sends -s x its own update; sign-flip:s, scale s (default 1)",
    paper: "Li et al. 2019",
    taxonomy: MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: UpdateAttackBuilder {
        family: AttackFamily::ModelPoisoning,
        build: |param| {
            let scale = number(param, "sign-flip scale", 1.0)?;
            Ok(Some(Box::new(SignFlip {
                scale: positive("sign-flip scale", scale)?,
            })))
        },
    },
};

/// Sign flipping (Li, Xu, Chen, Giannakis & Ling 2019, "RSA: Byzantine-Robust Stochastic
/// Aggregation Methods for Distributed Learning from Heterogeneous Datasets", AAAI):
/// `x = -s · own`. Not omniscient. With a fraction `β` of attackers FedAvg's aggregate is
/// `((1 - β) - s β) ḡ` in expectation: it reverses once `s β > 1 - β`.
///
/// ```
/// use mithridate_fl::{AttackView, SignFlip, UpdateAttack};
/// let view = AttackView { own: &[1.0, -2.0], honest: &[], participants: 5, malicious: 1, seed: 0 };
/// assert_eq!(SignFlip { scale: 2.0 }.craft(&view).unwrap(), vec![-2.0, 4.0]);
/// ```
#[derive(Debug, Clone)]
pub struct SignFlip {
    pub scale: f64,
}

impl UpdateAttack for SignFlip {
    fn name(&self) -> &'static str {
        "sign-flip"
    }
    fn craft(&self, view: &AttackView<'_>) -> Result<Vec<f32>> {
        Ok(view
            .own
            .iter()
            .map(|x| (-self.scale * *x as f64) as f32)
            .collect())
    }
}
