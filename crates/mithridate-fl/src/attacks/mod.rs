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
//! Each attack lives in its own module and declares its [`Entry`] (name, summary, paper,
//! taxonomy, family, what it requires); [`UPDATE_ATTACKS`] lists them, one line each.
//! `n` is the number of participants in the round, `m` the malicious ones among them and `η`
//! the server learning rate (1 here: the global model moves by the aggregate).

pub mod alie;
pub mod data_poisoning;
pub mod gaussian;
pub mod ipm;
pub mod min_max;
pub mod model_replacement;
pub mod none;
pub mod sign_flip;
#[cfg(test)]
mod tests;

use crate::error::{FlError, Result};
use mithridate_core::registry::{Entry, Registry, Role};
use mithridate_core::taxonomy::{Taxonomy, TaxonomyIds};
use std::fmt;
use std::str::FromStr;

pub use data_poisoning::{DataPoisoning, BACKDOOR_TARGET};

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

/// What an update attack is after: the assessment family its success is measured by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackFamily {
    /// Degrade accuracy across the board (label flipping clients).
    Availability,
    /// Plant a trigger (success = attack success rate on triggered inputs).
    Backdoor,
    /// Manipulate updates to degrade the global model (success = accuracy drop vs no attack).
    ModelPoisoning,
}

impl AttackFamily {
    /// The family's name, as the assessment records spell it.
    pub fn name(self) -> &'static str {
        match self {
            AttackFamily::Availability => "availability",
            AttackFamily::Backdoor => "backdoor",
            AttackFamily::ModelPoisoning => "model poisoning",
        }
    }
}

/// An update attack's builder: its family and a constructor from the `name:value` shorthand's
/// value (`None` builds the defaults; `Ok(None)` is the `none` baseline).
#[derive(Debug, Clone, Copy)]
pub struct UpdateAttackBuilder {
    pub family: AttackFamily,
    pub build: fn(Option<&str>) -> Result<BuiltAttack>,
}

/// A built update attack; `None` is the `none` baseline.
pub type BuiltAttack = Option<Box<dyn UpdateAttack>>;

/// Every update attack, in the order the CLI lists them.
pub static UPDATE_ATTACKS: Registry<UpdateAttackBuilder> = Registry::new(
    Role::UpdateAttack,
    &[
        none::ENTRY,
        sign_flip::ENTRY,
        gaussian::ENTRY,
        data_poisoning::LABEL_FLIP_ENTRY,
        data_poisoning::BADNETS_ENTRY,
        model_replacement::MODEL_REPLACEMENT_ENTRY,
        model_replacement::CONSTRAIN_AND_SCALE_ENTRY,
        alie::ENTRY,
        ipm::ENTRY,
        min_max::MIN_MAX_ENTRY,
        min_max::MIN_SUM_ENTRY,
    ],
);

/// OWASP's LLM Top 10 (2025) files all training-data and model poisoning under LLM04.
const OWASP_LLM_POISONING: &str = "LLM04";

/// Update manipulation: MITRE ATLAS AML.T0018.000 (Poison AI Model), OWASP ML10 (Model
/// Poisoning), NIST AI 100-2 2.3.4 (model poisoning).
pub const MODEL_POISONING: TaxonomyIds = TaxonomyIds {
    mitre_atlas: &["AML.T0018.000"],
    owasp_ml: &["ML10"],
    owasp_llm: &[OWASP_LLM_POISONING],
    nist_ai_100_2: "2.3.4",
};

/// Backdoored, boosted updates: model poisoning plus the backdoor technique AML.T0043.004.
pub const BACKDOOR_MODEL_POISONING: TaxonomyIds = TaxonomyIds {
    mitre_atlas: &["AML.T0018.000", "AML.T0043.004"],
    ..MODEL_POISONING
};

/// Where the update attack `name` is filed: its family and taxonomy (data-poisoning clients
/// like their centralized counterparts, update manipulation as model poisoning; the `none`
/// baseline with the model-poisoning scenarios it is compared against).
///
/// ```
/// use mithridate_fl::attacks::{filing, AttackFamily};
/// let (family, taxonomy) = filing("constrain-and-scale").unwrap();
/// assert_eq!(family, AttackFamily::Backdoor);
/// assert_eq!(taxonomy.mitre_atlas, ["AML.T0018.000", "AML.T0043.004"]);
/// assert_eq!(taxonomy.owasp_llm, ["LLM04"]);
/// assert!(filing("nope").is_err());
/// ```
pub fn filing(name: &str) -> Result<(AttackFamily, Taxonomy)> {
    let entry = UPDATE_ATTACKS.get(name).map_err(|_| unknown(name))?;
    Ok((entry.build.family, entry.taxonomy.to_taxonomy()))
}

/// The error for an attack name no entry has.
fn unknown(name: &str) -> FlError {
    FlError::UnknownAttack(name.to_string(), UPDATE_ATTACKS.names().join(", "))
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

impl FromStr for AttackSpec {
    type Err = FlError;
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, param) = match lower.split_once(':') {
            Some((n, p)) => (n.to_string(), Some(p.to_string())),
            None => (lower.clone(), None),
        };
        if UPDATE_ATTACKS.get(&name).is_err() {
            return Err(unknown(s));
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

impl AttackSpec {
    /// `None` for `"none"`: malicious clients then behave honestly (the rule still assumes them).
    pub fn build(&self) -> Result<Option<Box<dyn UpdateAttack>>> {
        let entry = UPDATE_ATTACKS
            .get(&self.name)
            .map_err(|_| unknown(&self.name))?;
        (entry.build.build)(self.param.as_deref())
    }

    /// The attack's registry entry.
    pub fn entry(&self) -> Result<&'static Entry<UpdateAttackBuilder>> {
        UPDATE_ATTACKS
            .get(&self.name)
            .map_err(|_| unknown(&self.name))
    }

    /// Where the attack is filed (see [`filing`]).
    pub fn filing(&self) -> Result<(AttackFamily, Taxonomy)> {
        filing(&self.name)
    }
}

/// The `:value` shorthand as a number (`default` when absent); `name` is blamed.
pub(crate) fn number(param: Option<&str>, name: &'static str, default: f64) -> Result<f64> {
    match param {
        None => Ok(default),
        Some(p) => p
            .parse::<f64>()
            .map_err(|_| FlError::param(name, format!("{p:?} is not a number"))),
    }
}

/// `v` if finite and `> 0`.
pub(crate) fn positive(name: &'static str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(FlError::param(
            name,
            format!("must be finite and > 0, got {v}"),
        ))
    }
}

/// An optional positive `:value` (absent: the attack's computed default).
pub(crate) fn optional_positive(param: Option<&str>, name: &'static str) -> Result<Option<f64>> {
    match param {
        None => Ok(None),
        Some(_) => Ok(Some(positive(name, number(param, name, 0.0)?)?)),
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
