//! Update-poisoning attacks: what a malicious (Byzantine) client sends instead of its honest
//! update, behind one [`UpdateAttack`] trait.
//!
//! Every malicious client first trains locally like an honest one (from the global weights, on
//! its own partition, poisoned first when [`UpdateAttack::data_poisoning`] says so); the attack
//! then turns that update `own` into the one it sends. Omniscient attacks (ALIE, IPM, min-max,
//! min-sum, constrain-and-scale's default bound) also read the honest updates of the round,
//! which the engine passes in client order, as the papers assume. Colluding attackers that
//! compute from the honest updates alone send identical vectors.
//!
//! | name | paper | sends |
//! |---|---|---|
//! | `sign-flip[:s]` | Li et al. 2019 (RSA) | `-s · own` (default s = 1) |
//! | `gaussian[:σ]` | Blanchard et al. 2017 | `N(0, σ² I)` (default σ = 1) |
//! | `label-flip[:r]` | Tolpegin et al. 2020 | `own`, trained on a fraction `r` of its rows relabelled at random (default 1) |
//! | `badnets[:r]` | Gu et al. 2017 in FL (Bagdasaryan et al. 2020's baseline) | `own`, trained on a fraction `r` stamped with the BadNets patch and relabelled to class 0 (default 0.5) |
//! | `model-replacement[:γ]` | Bagdasaryan et al. 2020 | `γ · own` (BadNets data), default `γ = n / (η m)` |
//! | `constrain-and-scale[:S]` | Bagdasaryan et al. 2020; Sun et al. 2019 | `own` (BadNets data) boosted by `γ`, then scaled to norm ≤ `S` (default: the largest honest norm) |
//! | `alie[:z]` | Baruch et al. 2019 | `μ - z σ` (coordinate-wise over honest updates; default z from the paper) |
//! | `ipm[:ε]` | Xie et al. 2020 | `-ε μ` (default ε = 0.1) |
//! | `min-max[:dev]` | Shejwalkar & Houmansadr 2021 | `μ + γ p`, largest γ with max distance to honest ≤ max honest pairwise distance |
//! | `min-sum[:dev]` | Shejwalkar & Houmansadr 2021 | `μ + γ p`, largest γ with sum of squared distances to honest ≤ the largest such sum of an honest update |
//!
//! `n` is the number of participants in the round, `m` the malicious ones among them and `η`
//! the server learning rate (1 here: the global model moves by the aggregate).

use crate::error::{FlError, Result};
use mithridate_attack::{registry, Attack, AttackInput, Budget, Poisoned};
use mithridate_data::Dataset;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use statrs::distribution::ContinuousCDF;
use std::fmt;
use std::str::FromStr;

/// What a malicious client sees when it crafts its update in one round.
#[derive(Debug, Clone, Copy)]
pub struct AttackView<'a> {
    /// The client's own update: trained from the global weights on its (possibly poisoned) rows.
    pub own: &'a [f32],
    /// The honest updates of the round, in client order (the omniscient view).
    pub honest: &'a [Vec<f32>],
    /// Participants in the round, honest and malicious (`n`).
    pub participants: usize,
    /// Malicious participants in the round (`m`).
    pub malicious: usize,
    /// A seed derived from (run seed, round, client id), for randomised attacks.
    pub seed: u64,
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

/// A malicious client's behaviour.
pub trait UpdateAttack: Send + Sync + fmt::Debug {
    /// The name as accepted by [`AttackSpec`]'s `FromStr`.
    fn name(&self) -> &'static str;
    /// Poisoning applied to the client's rows before local training, if any.
    fn data_poisoning(&self) -> Option<&DataPoisoning> {
        None
    }
    /// Whether [`craft`](UpdateAttack::craft) reads the honest updates of the round.
    fn omniscient(&self) -> bool {
        false
    }
    /// Whether [`craft`](UpdateAttack::craft) reads the client's own trained update (if not,
    /// the engine skips the client's local training and passes zeros).
    fn uses_own_update(&self) -> bool {
        true
    }
    /// The update the client sends.
    fn craft(&self, view: &AttackView<'_>) -> Result<Vec<f32>>;
}

/// An attack by name plus its optional main parameter, e.g. `"alie"`, `"ipm:0.5"`,
/// `"min-max:unit"`; [`build`](AttackSpec::build) validates it.
///
/// ```
/// use mithridate_fl::AttackSpec;
/// let spec: AttackSpec = "ipm:0.5".parse().unwrap();
/// assert_eq!(spec.to_string(), "ipm:0.5");
/// assert_eq!(spec.build().unwrap().unwrap().name(), "ipm");
/// assert!("none".parse::<AttackSpec>().unwrap().build().unwrap().is_none());
/// assert!("ipm:-1".parse::<AttackSpec>().unwrap().build().is_err());
/// assert!("nope".parse::<AttackSpec>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AttackSpec {
    pub name: String,
    pub param: Option<String>,
}

/// Every attack name [`AttackSpec`] accepts.
pub const ATTACK_NAMES: [&str; 11] = [
    "none",
    "sign-flip",
    "gaussian",
    "label-flip",
    "badnets",
    "model-replacement",
    "constrain-and-scale",
    "alie",
    "ipm",
    "min-max",
    "min-sum",
];

impl FromStr for AttackSpec {
    type Err = FlError;
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, param) = match lower.split_once(':') {
            Some((n, p)) => (n.to_string(), Some(p.to_string())),
            None => (lower.clone(), None),
        };
        if !ATTACK_NAMES.contains(&name.as_str()) {
            return Err(FlError::UnknownAttack(
                s.to_string(),
                ATTACK_NAMES.join(", "),
            ));
        }
        Ok(AttackSpec { name, param })
    }
}

impl fmt::Display for AttackSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.param {
            Some(p) => write!(f, "{}:{p}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Class the backdoor attacks relabel to.
pub const BACKDOOR_TARGET: u32 = 0;

fn badnets(rate: f64) -> Result<DataPoisoning> {
    DataPoisoning::new(
        "badnets",
        &serde_json::json!({ "target": BACKDOOR_TARGET }),
        rate,
        Some(BACKDOOR_TARGET),
    )
}

impl AttackSpec {
    /// `None` for `"none"`: malicious clients then behave honestly (the rule still assumes them).
    pub fn build(&self) -> Result<Option<Box<dyn UpdateAttack>>> {
        let number = |name: &'static str, default: f64| -> Result<f64> {
            match &self.param {
                None => Ok(default),
                Some(p) => p
                    .parse::<f64>()
                    .map_err(|_| FlError::param(name, format!("{p:?} is not a number"))),
            }
        };
        let positive = |name: &'static str, v: f64| -> Result<f64> {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(FlError::param(
                    name,
                    format!("must be finite and > 0, got {v}"),
                ))
            }
        };
        let optional = |name: &'static str| -> Result<Option<f64>> {
            match &self.param {
                None => Ok(None),
                Some(_) => Ok(Some(positive(name, number(name, 0.0)?)?)),
            }
        };
        Ok(Some(match self.name.as_str() {
            "none" => {
                if self.param.is_some() {
                    return Err(FlError::param("attack", "none takes no parameter"));
                }
                return Ok(None);
            }
            "sign-flip" => Box::new(SignFlip {
                scale: positive("sign-flip scale", number("sign-flip scale", 1.0)?)?,
            }),
            "gaussian" => Box::new(GaussianNoise {
                std: positive("gaussian std", number("gaussian std", 1.0)?)?,
            }),
            "label-flip" => Box::new(DataPoisoningClient {
                name: "label-flip",
                poisoning: DataPoisoning::new(
                    "label-flip",
                    &serde_json::json!({}),
                    number("label-flip rate", 1.0)?,
                    None,
                )?,
            }),
            "badnets" => Box::new(DataPoisoningClient {
                name: "badnets",
                poisoning: badnets(number("badnets rate", 0.5)?)?,
            }),
            "model-replacement" => Box::new(ModelReplacement {
                poisoning: badnets(0.5)?,
                boost: optional("model-replacement boost")?,
                bound: None,
            }),
            "constrain-and-scale" => Box::new(ModelReplacement {
                poisoning: badnets(0.5)?,
                boost: None,
                bound: Some(optional("constrain-and-scale bound")?),
            }),
            "alie" => Box::new(Alie {
                z: optional("alie z")?,
            }),
            "ipm" => Box::new(Ipm {
                epsilon: positive("ipm epsilon", number("ipm epsilon", 0.1)?)?,
            }),
            "min-max" | "min-sum" => {
                let deviation = match self.param.as_deref() {
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
                let objective = if self.name == "min-max" {
                    Objective::MinMax
                } else {
                    Objective::MinSum
                };
                Box::new(MinMax {
                    objective,
                    deviation,
                })
            }
            other => {
                return Err(FlError::UnknownAttack(
                    other.into(),
                    ATTACK_NAMES.join(", "),
                ))
            }
        }))
    }
}

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

/// Euclidean norm in f64.
pub(crate) fn norm(x: &[f32]) -> f64 {
    x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt()
}

/// Coordinate-wise mean and sample standard deviation (ddof = 1; 0 for one update).
fn mean_std(rows: &[Vec<f32>], d: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    if rows.is_empty() {
        return Err(FlError::param(
            "attack",
            "an omniscient attack needs at least one honest update in the round",
        ));
    }
    let n = rows.len() as f64;
    let mut mean = vec![0.0f64; d];
    for r in rows {
        for (m, x) in mean.iter_mut().zip(r) {
            *m += *x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0f64; d];
    for r in rows {
        for ((v, x), m) in var.iter_mut().zip(r).zip(&mean) {
            *v += (*x as f64 - m).powi(2);
        }
    }
    let ddof = if rows.len() > 1 { n - 1.0 } else { 1.0 };
    Ok((mean, var.into_iter().map(|v| (v / ddof).sqrt()).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(own: &'a [f32], honest: &'a [Vec<f32>], n: usize, m: usize) -> AttackView<'a> {
        AttackView {
            own,
            honest,
            participants: n,
            malicious: m,
            seed: 1,
        }
    }

    /// Hand-made honest matrix: 4 updates in 3-D.
    fn honest() -> Vec<Vec<f32>> {
        vec![
            vec![1.0, 0.0, 2.0],
            vec![3.0, 0.0, 2.0],
            vec![2.0, 1.0, 2.0],
            vec![2.0, -1.0, 2.0],
        ]
    }

    #[test]
    fn alie_matches_hand_computed_mean_minus_z_std() {
        let h = honest();
        // mean (2, 0, 2); sample std (sqrt(2/3), sqrt(2/3), 0).
        let x = Alie { z: None }.craft(&view(&[0.0; 3], &h, 10, 2)).unwrap();
        // n = 10, m = 2: s = 6 - 2 = 4, p = 0.6, z = Φ⁻¹(0.6) = 0.253347.
        let z = 0.2533471031357997;
        let s = (2.0f64 / 3.0).sqrt();
        let expected = [2.0 - z * s, -z * s, 2.0];
        for (a, b) in x.iter().zip(expected) {
            assert!((*a as f64 - b).abs() < 1e-6, "{a} vs {b}");
        }
        assert!(Alie::z_max(10, 6).is_err());
    }

    #[test]
    fn ipm_is_minus_epsilon_mean() {
        let x = Ipm { epsilon: 2.0 }
            .craft(&view(&[0.0; 3], &honest(), 5, 1))
            .unwrap();
        assert_eq!(x, vec![-4.0, 0.0, -4.0]);
        assert!(Ipm { epsilon: 1.0 }
            .craft(&view(&[0.0; 3], &[], 5, 1))
            .is_err());
    }

    fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum()
    }

    #[test]
    fn min_max_stays_within_the_largest_benign_distance_and_is_tight() {
        let h = honest();
        let max_pair = (0..4)
            .flat_map(|i| (0..4).map(move |j| (i, j)))
            .map(|(i, j)| sq_dist(&h[i], &h[j]))
            .fold(0.0, f64::max);
        for deviation in [Deviation::Std, Deviation::Unit, Deviation::Sign] {
            let attack = MinMax {
                objective: Objective::MinMax,
                deviation,
            };
            let x = attack.craft(&view(&[0.0; 3], &h, 5, 1)).unwrap();
            let worst = h.iter().map(|hi| sq_dist(&x, hi)).fold(0.0, f64::max);
            assert!(
                worst <= max_pair + 1e-6,
                "{deviation:?}: {worst} > {max_pair}"
            );
            // Tight: the search pushes to the boundary (within the tolerance's effect).
            assert!(
                worst > 0.99 * max_pair,
                "{deviation:?}: {worst} << {max_pair}"
            );
        }
    }

    #[test]
    fn min_sum_stays_within_the_largest_benign_sum() {
        let h = honest();
        let bound = (0..4)
            .map(|i| (0..4).map(|j| sq_dist(&h[i], &h[j])).sum::<f64>())
            .fold(0.0, f64::max);
        let attack = MinMax {
            objective: Objective::MinSum,
            deviation: Deviation::Std,
        };
        let x = attack.craft(&view(&[0.0; 3], &h, 5, 1)).unwrap();
        let sum: f64 = h.iter().map(|hi| sq_dist(&x, hi)).sum();
        assert!(
            sum <= bound + 1e-6 && sum > 0.99 * bound,
            "{sum} vs {bound}"
        );
    }

    #[test]
    fn gamma_search_finds_the_threshold() {
        let g = MinMax::gamma_search(|g| g <= 3.7);
        assert!((g - 3.7).abs() < 1e-4 && g <= 3.7, "{g}");
        assert_eq!(MinMax::gamma_search(|_| false), 0.0);
    }

    #[test]
    fn gaussian_is_seeded() {
        let a = GaussianNoise { std: 1.0 }
            .craft(&view(&[0.0; 8], &[], 5, 1))
            .unwrap();
        let b = GaussianNoise { std: 1.0 }
            .craft(&view(&[0.0; 8], &[], 5, 1))
            .unwrap();
        assert_eq!(a, b);
        assert!(a.iter().any(|x| *x != 0.0));
    }

    #[test]
    fn bad_attack_parameters_are_errors() {
        for bad in [
            "sign-flip:0",
            "gaussian:nan",
            "label-flip:1.5",
            "min-max:nope",
            "none:3",
            "alie:-1",
        ] {
            let spec: AttackSpec = bad.parse().unwrap();
            assert!(spec.build().is_err(), "{bad}");
        }
    }
}
