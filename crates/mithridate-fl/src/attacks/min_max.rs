//! Min-max and min-sum.

use crate::attacks::{mean_std, AttackView, BuiltAttack, UpdateAttack, MODEL_POISONING};
use crate::attacks::{AttackFamily, UpdateAttackBuilder};
use crate::error::{FlError, Result};
use mithridate_core::registry::Requirement;
use mithridate_core::registry::{Entry, Role};

/// Registry entry: `min-max`.
pub const MIN_MAX_ENTRY: Entry<UpdateAttackBuilder> = Entry {
    name: "min-max",
    role: Role::UpdateAttack,
    modalities: &[],
    summary: "sends mu + gamma p, the largest gamma keeping its farthest honest distance within the honest diameter; min-max:std|unit|sign direction p (default std)",
    paper: "Shejwalkar, Houmansadr 2021",
    taxonomy: MODEL_POISONING,
    requires: &[Requirement::HonestUpdates],
    provides: &[],
    build: UpdateAttackBuilder {
        family: AttackFamily::ModelPoisoning,
        build: |param| build(Objective::MinMax, param),
    },
};

/// Registry entry: `min-sum`.
pub const MIN_SUM_ENTRY: Entry<UpdateAttackBuilder> = Entry {
    name: "min-sum",
    role: Role::UpdateAttack,
    modalities: &[],
    summary: "sends mu + gamma p, the largest gamma keeping its summed squared distances within the largest honest sum; min-sum:std|unit|sign direction p (default std)",
    paper: "Shejwalkar, Houmansadr 2021",
    taxonomy: MODEL_POISONING,
    requires: &[Requirement::HonestUpdates],
    provides: &[],
    build: UpdateAttackBuilder {
        family: AttackFamily::ModelPoisoning,
        build: |param| build(Objective::MinSum, param),
    },
};

/// Min-max or min-sum with the direction named by `param` (`std`, `unit`, `sign`).
fn build(objective: Objective, param: Option<&str>) -> Result<BuiltAttack> {
    let deviation = match param {
        None | Some("std") => Deviation::Std,
        Some("unit") => Deviation::Unit,
        Some("sign") => Deviation::Sign,
        Some(other) => {
            return Err(FlError::param(
                "deviation",
                format!("{other:?} is not one of std, unit, sign"),
            ))
        }
    };
    Ok(Some(Box::new(MinMax {
        objective,
        deviation,
    })))
}

/// The perturbation direction `p` of the min-max / min-sum attacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deviation {
    /// `p = -σ` (coordinate-wise standard deviation of the honest updates; the paper's default).
    Std,
    /// `p = -μ / ‖μ‖` (inverse unit vector).
    Unit,
    /// `p = -sign(μ)`.
    Sign,
}

/// Which distance constraint the γ search keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// `max_i ‖x - h_i‖ <= max_{i,j} ‖h_i - h_j‖`.
    MinMax,
    /// `Σ_i ‖x - h_i‖² <= max_i Σ_j ‖h_i - h_j‖²`.
    MinSum,
}

/// Min-max and min-sum (Shejwalkar & Houmansadr 2021, "Manipulating the Byzantine: Optimizing
/// Model Poisoning Attacks and Defenses for Federated Learning", NDSS), AGR-agnostic with
/// knowledge of the honest updates (omniscient): `x = μ + γ p` with the largest `γ` whose `x`
/// keeps the [`Objective`]'s constraint, found by the paper's halving search (γ₀ = 10,
/// stop when the step is below 1e-5; `γ = 0`, i.e. the mean, if nothing larger passes).
///
/// Definition used here: the paper's text — the min-sum bound is the **largest** honest sum
/// of squared distances, and distances are among honest updates only. The authors' released
/// code compares min-sum against the *smallest* honest sum (a stricter bound, smaller γ);
/// min-max is the same in both (squared or not, the comparison agrees).
///
/// ```
/// use mithridate_fl::{AttackView, Deviation, MinMax, Objective, UpdateAttack};
/// let honest = vec![vec![0.0, 0.0], vec![2.0, 0.0], vec![1.0, 1.0]];
/// let view = AttackView { own: &[0.0, 0.0], honest: &honest, participants: 4, malicious: 1, seed: 0 };
/// let attack = MinMax { objective: Objective::MinMax, deviation: Deviation::Unit };
/// let x = attack.craft(&view).unwrap();
/// let max_benign = 2.0f64; // ‖h0 - h1‖
/// let worst = honest.iter().map(|h| ((x[0] - h[0]) as f64).hypot((x[1] - h[1]) as f64)).fold(0.0, f64::max);
/// assert!(worst <= max_benign + 1e-4 && worst > max_benign - 1e-3);
/// ```
#[derive(Debug, Clone)]
pub struct MinMax {
    pub objective: Objective,
    pub deviation: Deviation,
}

/// Initial `γ` and stopping step of the halving search (the authors' code).
const GAMMA_INIT: f64 = 10.0;
const GAMMA_TOLERANCE: f64 = 1e-5;

impl MinMax {
    /// Largest `γ` (to the search's tolerance) for which `ok(γ)` holds, by the paper's halving
    /// search from `γ₀`: success moves up by half the last step, failure down; 0 if none passed.
    pub fn gamma_search(mut ok: impl FnMut(f64) -> bool) -> f64 {
        let (mut gamma, mut step, mut succeeded) = (GAMMA_INIT, GAMMA_INIT, 0.0);
        while (succeeded - gamma).abs() > GAMMA_TOLERANCE {
            if ok(gamma) {
                succeeded = gamma;
                gamma += step / 2.0;
            } else {
                gamma -= step / 2.0;
            }
            step /= 2.0;
        }
        succeeded
    }
}

impl UpdateAttack for MinMax {
    fn name(&self) -> &'static str {
        match self.objective {
            Objective::MinMax => "min-max",
            Objective::MinSum => "min-sum",
        }
    }
    fn uses_own_update(&self) -> bool {
        false
    }
    fn omniscient(&self) -> bool {
        true
    }
    fn craft(&self, view: &AttackView<'_>) -> Result<Vec<f32>> {
        let honest = view.honest;
        let (mean, std) = mean_std(honest, view.own.len())?;
        let direction: Vec<f64> = match self.deviation {
            Deviation::Std => std.iter().map(|s| -s).collect(),
            Deviation::Unit => {
                let n = mean.iter().map(|m| m * m).sum::<f64>().sqrt();
                mean.iter()
                    .map(|m| if n > 0.0 { -m / n } else { 0.0 })
                    .collect()
            }
            Deviation::Sign => mean
                .iter()
                .map(|m| -m.signum() * (*m != 0.0) as u8 as f64)
                .collect(),
        };
        let h = honest.len();
        let sq = |a: &[f32], b: &[f32]| -> f64 {
            a.iter()
                .zip(b)
                .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
                .sum()
        };
        let mut pair = vec![0.0; h * h];
        for i in 0..h {
            for j in 0..i {
                let d = sq(&honest[i], &honest[j]);
                pair[i * h + j] = d;
                pair[j * h + i] = d;
            }
        }
        let bound = match self.objective {
            Objective::MinMax => pair.iter().cloned().fold(0.0, f64::max),
            Objective::MinSum => pair
                .chunks(h.max(1))
                .map(|row| row.iter().sum::<f64>())
                .fold(0.0, f64::max),
        };
        let candidate = |gamma: f64| -> Vec<f32> {
            mean.iter()
                .zip(&direction)
                .map(|(m, p)| (m + gamma * p) as f32)
                .collect()
        };
        let objective = self.objective;
        let gamma = MinMax::gamma_search(|gamma| {
            let x = candidate(gamma);
            let distances = honest.iter().map(|hi| sq(&x, hi));
            let value = match objective {
                Objective::MinMax => distances.fold(0.0, f64::max),
                Objective::MinSum => distances.sum(),
            };
            value <= bound
        });
        Ok(candidate(gamma))
    }
}
