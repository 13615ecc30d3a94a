//! A little is enough.

use crate::attacks::{mean_std, optional_positive, AttackView, UpdateAttack, MODEL_POISONING};
use crate::attacks::{AttackFamily, UpdateAttackBuilder};
use crate::error::{FlError, Result};
use mithridate_core::registry::Requirement;
use mithridate_core::registry::{Entry, Role};
use statrs::distribution::ContinuousCDF;

/// Registry entry: `alie`.
pub const ENTRY: Entry<UpdateAttackBuilder> = Entry {
    name: "alie",
    role: Role::UpdateAttack,
    modalities: &[],
    summary: "sends mu - z sigma of the honest updates per coordinate; alie:z (default: the paper's z_max for n and m)",
    paper: "Baruch, Baruch, Goldberg 2019",
    taxonomy: MODEL_POISONING,
    requires: &[Requirement::HonestUpdates],
    provides: &[],
    build: UpdateAttackBuilder {
        family: AttackFamily::ModelPoisoning,
        build: |param| {
            Ok(Some(Box::new(Alie {
                z: optional_positive(param, "alie z")?,
            })))
        },
    },
};

/// "A little is enough" (Baruch, Baruch & Goldberg 2019, NeurIPS): every attacker sends
/// `μ_j - z σ_j` per coordinate, where `μ`, `σ` are the mean and sample standard deviation
/// (ddof = 1, as `torch.std`) of the honest updates, and by default
/// `z = Φ⁻¹((n - s) / n)` with `s = ⌊n/2 + 1⌋ - m` (the paper's `z_max`: the most the
/// attackers can shift while enough honest clients stay farther from the mean than them).
/// Omniscient. Requires `0 < (n - s)/n < 1`, i.e. `m <= n/2`.
///
/// ```
/// use mithridate_fl::{Alie, AttackView, UpdateAttack};
/// // n = 50, m = 12: s = 26 - 12 = 14, z = Φ⁻¹(36/50) ≈ 0.5828 (the paper's Table: 0.58... for 24%).
/// assert!((Alie::z_max(50, 12).unwrap() - 0.5828).abs() < 1e-3);
/// let honest = vec![vec![1.0, 0.0], vec![3.0, 0.0]];
/// let view = AttackView { own: &[0.0, 0.0], honest: &honest, participants: 5, malicious: 1, seed: 0 };
/// let x = Alie { z: Some(1.0) }.craft(&view).unwrap();
/// assert!((x[0] - (2.0 - 2f32.sqrt())).abs() < 1e-6 && x[1] == 0.0);
/// ```
#[derive(Debug, Clone)]
pub struct Alie {
    /// Explicit `z`; default from [`Alie::z_max`].
    pub z: Option<f64>,
}

impl Alie {
    /// The paper's `z_max` for `n` participants of which `m` are malicious.
    pub fn z_max(n: usize, m: usize) -> Result<f64> {
        let s = (n / 2 + 1) as f64 - m as f64;
        let p = (n as f64 - s) / n as f64;
        if !(p > 0.0 && p < 1.0) {
            return Err(FlError::param(
                "alie",
                format!("z_max needs 0 < (n - s)/n < 1; n = {n}, m = {m} gives {p}"),
            ));
        }
        let normal = statrs::distribution::Normal::new(0.0, 1.0)
            .map_err(|e| FlError::param("alie", e.to_string()))?;
        Ok(normal.inverse_cdf(p))
    }
}

impl UpdateAttack for Alie {
    fn name(&self) -> &'static str {
        "alie"
    }
    fn uses_own_update(&self) -> bool {
        false
    }
    fn omniscient(&self) -> bool {
        true
    }
    fn craft(&self, view: &AttackView<'_>) -> Result<Vec<f32>> {
        let z = match self.z {
            Some(z) => z,
            None => Alie::z_max(view.participants, view.malicious)?,
        };
        let (mean, std) = mean_std(view.honest, view.own.len())?;
        Ok(mean
            .iter()
            .zip(&std)
            .map(|(m, s)| (m - z * s) as f32)
            .collect())
    }
}
