//! Byzantine-robust aggregation for federated learning.
//!
//! One round's client updates are an `n x d` row-major `f32` matrix ([`Updates`], validated
//! once); a [`Round`] adds optional client weights, the server's root update (FLTrust), client
//! ids and a seed. Every rule implements [`Aggregator`] and returns an [`Aggregation`]: the
//! aggregate plus per-client effective weights, selection and scores. Stateful rules (centered
//! clipping, FoolsGold) keep their state in a caller-owned [`RoundState`], so calls are pure.
//! Every rule is an entry of the [`registry::RULES`] registry and every pre-aggregator (NNM,
//! bucketing, static clipping; module [`pre`]) of [`registry::PRE_AGGREGATORS`], each declared
//! in its own file with its paper, taxonomy and parameters. A [`RuleSpec`] is a checked chain
//! (`"nnm+krum"`, `"bucketing:s=2+clipping:tau=1+median"`, or a TOML/JSON table) that builds
//! the boxed rule; [`Rule`] and [`RuleConfig`] are the parameterless enum and option struct of
//! earlier versions, kept for callers.
//! The [`anomaly`] module scores clients per round and accumulates reputations.
//!
//! Pure numerics: faer for GEMM, rayon for parallelism; results are bit-for-bit reproducible
//! (fixed reduction orders, independent of the thread count).
//!
//! ```
//! use mithridate_aggregate::{Round, RoundState, RuleSpec, Updates};
//! let rows = [1.0, 1.0, 1.1, 0.9, 0.9, 1.1, 50.0, -50.0, 1.0, 1.0];
//! let u = Updates::new(&rows, 5, 2).unwrap();
//! let rule = "median".parse::<RuleSpec>().unwrap().build(1).unwrap();
//! let out = rule.aggregate(&Round::new(u), &mut RoundState::default()).unwrap();
//! assert_eq!(out.aggregate, vec![1.0, 1.0]);
//! ```

pub mod anomaly;
mod error;
mod kernels;
mod order;
pub mod pre;
pub mod registry;
mod rule;
pub mod rules;
mod spec;
mod updates;

pub use error::{AggregateError, Result};
pub use kernels::read_pass;
pub use mithridate_core::ParamGuard;
pub use pre::bucketing::{Bucketing, BucketingParams};
pub use pre::clipping::{Clipping, ClippingParams};
pub use pre::nnm::Nnm;
pub use pre::{PreAggregated, PreAggregator};
pub use registry::{PRE_AGGREGATORS, RULES};
pub use rule::{Rule, RuleConfig};
pub use rules::bulyan::Bulyan;
pub use rules::centered_clipping::{CenteredClipping, CenteredClippingParams};
pub use rules::dp_fedavg::{DpFedAvg, DpFedAvgParams};
pub use rules::fedavg::FedAvg;
pub use rules::flame::{Flame, FlameParams};
pub use rules::fltrust::FlTrust;
pub use rules::foolsgold::{FoolsGold, FoolsGoldHistory, FoolsGoldParams};
pub use rules::geomed::{GeometricMedian, GeometricMedianParams};
pub use rules::krum::{Krum, KrumParams};
pub use rules::norm_bound::{NormBound, NormBoundParams};
pub use rules::order_stats::{CoordinateMedian, TrimmedMean, TrimmedMeanParams};
pub use rules::sum_form::SumForm;
pub use rules::{Aggregator, RoundState};
pub use spec::{Component, RuleSpec};
pub use updates::{Aggregation, Round, Updates};
