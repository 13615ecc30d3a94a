//! Gaussian updates.

use crate::attacks::{number, positive, AttackView, UpdateAttack, MODEL_POISONING};
use crate::attacks::{AttackFamily, UpdateAttackBuilder};
use crate::error::{FlError, Result};
use mithridate_core::registry::{Entry, Role};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Registry entry: `gaussian`.
pub const ENTRY: Entry<UpdateAttackBuilder> = Entry {
    name: "gaussian",
    role: Role::UpdateAttack,
    modalities: &[],
    summary: "sends N(0, sigma^2 I) noise; gaussian:sigma (default 1)",
    paper: "Blanchard et al. 2017",
    taxonomy: MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: UpdateAttackBuilder {
        family: AttackFamily::ModelPoisoning,
        build: |param| {
            let std = number(param, "gaussian std", 1.0)?;
            Ok(Some(Box::new(GaussianNoise {
                std: positive("gaussian std", std)?,
            })))
        },
    },
};

/// Gaussian updates (the "Gaussian Byzantine workers" of Blanchard, El Mhamdi, Guerraoui &
/// Stainer 2017, "Machine Learning with Adversaries: Byzantine Tolerant Gradient Descent",
/// NeurIPS): `x ~ N(0, σ² I)`, drawn from ChaCha8 seeded by (seed, round, client).
///
/// ```
/// use mithridate_fl::{AttackView, GaussianNoise, UpdateAttack};
/// let view = AttackView { own: &[0.0; 4000], honest: &[], participants: 5, malicious: 1, seed: 3 };
/// let x = GaussianNoise { std: 2.0 }.craft(&view).unwrap();
/// let var = x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / 4000.0;
/// assert!((var - 4.0).abs() < 0.3);
/// ```
#[derive(Debug, Clone)]
pub struct GaussianNoise {
    pub std: f64,
}

impl UpdateAttack for GaussianNoise {
    fn name(&self) -> &'static str {
        "gaussian"
    }
    fn uses_own_update(&self) -> bool {
        false
    }
    fn craft(&self, view: &AttackView<'_>) -> Result<Vec<f32>> {
        let normal = Normal::new(0.0, self.std)
            .map_err(|e| FlError::param("gaussian std", e.to_string()))?;
        let mut rng = ChaCha8Rng::seed_from_u64(view.seed);
        Ok((0..view.own.len())
            .map(|_| normal.sample(&mut rng) as f32)
            .collect())
    }
}
