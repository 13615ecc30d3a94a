//! # mithridate-fl
//!
//! Federated learning under attack: a seeded, deterministic simulation of FL rounds on real
//! data, with update-poisoning attackers ([`UpdateAttack`]) and any Byzantine-robust rule of
//! `mithridate-aggregate`.
//!
//! One run: `N` clients hold partitions of the training set (IID, Dirichlet label skew or
//! shards, `mithridate_data::partition`); a fixed, seeded subset of `round(β N)` ids is
//! Byzantine. Each round samples `n = round(q N)` participants — exactly `round(β n)` of them
//! malicious, so the rule's assumed `f` is the true count — and every participant runs
//! `E` local epochs of SGD from the global weights on its rows (in parallel over the cores,
//! rayon over clients). Updates are flat parameter deltas `w_local - w_global`; malicious
//! clients replace theirs by the attack's (omniscient attacks see the round's honest updates);
//! the rule aggregates them (state such as centered clipping's centre carried across rounds)
//! and `w_global += aggregate`. After each round: clean test accuracy, backdoor ASR on
//! triggered non-target test samples, which clients the rule dropped or down-weighted, which
//! the anomaly scores flag, and their precision/recall against the true attacker ids.
//!
//! ```no_run
//! use mithridate_aggregate::Rule;
//! use mithridate_data::{load, DataHome, Split};
//! use mithridate_fl::{AttackSpec, FlParams, ParamGuard};
//! let home = DataHome::from_env()?;
//! let (train, test) = (load(&home, "digits", Split::Train)?, load(&home, "digits", Split::Test)?);
//! let mut params = FlParams::new(Rule::Median, "alie".parse::<AttackSpec>()?);
//! params.clients = 20;
//! params.byzantine = 0.2;
//! let report = params.check()?.run(&train, &test, &mut |r| println!("{}", r.accuracy))?;
//! println!("final accuracy {}", report.final_accuracy);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod attacks;
mod error;
mod run;
mod secure;
mod sim;

pub use attacks::alie::Alie;
pub use attacks::data_poisoning::DataPoisoningClient;
pub use attacks::gaussian::GaussianNoise;
pub use attacks::ipm::Ipm;
pub use attacks::min_max::{Deviation, MinMax, Objective};
pub use attacks::model_replacement::ModelReplacement;
pub use attacks::sign_flip::SignFlip;
pub use attacks::{
    filing, AttackFamily, AttackSpec, AttackView, DataPoisoning, UpdateAttack, UpdateAttackBuilder,
    BACKDOOR_TARGET, UPDATE_ATTACKS,
};
pub use error::{FlError, Result};
pub use mithridate_core::ParamGuard;
pub use mithridate_secagg as secagg;
pub use mithridate_secagg::{Cost as SecAggCost, SecAggParams};
pub use sim::{derive_seed, FlConfig, FlParams, FlReport, RoundMetrics, UserPrivacy};
