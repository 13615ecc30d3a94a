//! # mithridate-pipeline
//!
//! The library stage that runs Mithridate's experiments, following the data flow
//! *dataset -> attack -> train/aggregate -> detect/defend -> evaluate -> report*:
//!
//! | module | stage | what it runs |
//! |---|---|---|
//! | [`data`] | dataset | train/test sets of a built-in name or a file, seeded subsets, a shared cache |
//! | [`attack`] | attack | a data attack from a checked [`attack::AttackSpec`] (registry entry + built attack) |
//! | [`train`] | train | training with one default policy ([`train::ModelSpec`]) |
//! | [`federated`] | aggregate | federated simulations and sweeps, the taxonomy of update attacks |
//! | [`defence`], [`defend`] | detect / defend | checked detector and filter specs; scan -> sanitize -> retrain; input-filter evaluation |
//! | [`sweep`] | evaluate | attack and defend sweeps over seeds |
//! | [`assessment`] | evaluate / report | configurations validated into checked cells, the cell executor |
//!
//! The `mithridate` CLI and the Python package are thin shells over this crate: each command
//! parses its arguments, makes one call here and prints the result.

pub mod assessment;
pub mod attack;
pub mod catalog;
pub mod data;
pub mod defence;
pub mod defend;
mod error;
pub mod federated;
pub mod model_defence;
pub mod model_scan;
pub mod run_model;
pub mod sweep;
pub mod train;

pub use error::{one_line, PipelineError, Result, WithContext};
