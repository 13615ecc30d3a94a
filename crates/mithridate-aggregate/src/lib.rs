//! Byzantine-robust aggregation for federated learning.
//!
//! One round's client updates are an `n x d` row-major `f32` matrix ([`Updates`], validated
//! once); a [`Round`] adds optional client weights, the server's root update (FLTrust), client
//! ids and a seed. Every rule implements [`Aggregator`] and returns an [`Aggregation`]: the
//! aggregate plus per-client effective weights, selection and scores. Stateful rules (centered
//! clipping, FoolsGold) keep their state in a caller-owned [`RoundState`], so calls are pure.
//! [`Rule`] parses rule names (`"krum"`, `"nnm+median"`, ...) and builds boxed rules.
//! The [`anomaly`] module scores clients per round and accumulates reputations.
//!
//! Pure numerics: faer for GEMM, rayon for parallelism; results are bit-for-bit reproducible
//! (fixed reduction orders, independent of the thread count).
//!
//! ```
//! use mithridate_aggregate::{Round, RoundState, Rule, RuleConfig, Updates};
//! let rows = [1.0, 1.0, 1.1, 0.9, 0.9, 1.1, 50.0, -50.0, 1.0, 1.0];
//! let u = Updates::new(&rows, 5, 2).unwrap();
//! let rule = RuleConfig::new("median".parse::<Rule>().unwrap(), 1).build().unwrap();
//! let out = rule.aggregate(&Round::new(u), &mut RoundState::default()).unwrap();
//! assert_eq!(out.aggregate, vec![1.0, 1.0]);
//! ```

pub mod anomaly;
mod error;
mod kernels;
mod order;
mod rule;
pub mod rules;
mod updates;

pub use error::{AggregateError, Result};
pub use kernels::read_pass;
pub use rule::{Rule, RuleConfig};
pub use rules::bulyan::Bulyan;
pub use rules::centered_clipping::{CenteredClipping, CenteredClippingParams};
pub use rules::fedavg::FedAvg;
pub use rules::flame::{Flame, FlameParams};
pub use rules::fltrust::FlTrust;
pub use rules::foolsgold::{FoolsGold, FoolsGoldHistory, FoolsGoldParams};
pub use rules::geomed::{GeometricMedian, GeometricMedianParams};
pub use rules::krum::{Krum, KrumParams};
pub use rules::nnm::Nnm;
pub use rules::norm_bound::{NormBound, NormBoundParams};
pub use rules::order_stats::{CoordinateMedian, TrimmedMean};
pub use rules::{Aggregator, RoundState};
pub use updates::{Aggregation, Round, Updates};
