//! FLTrust.

use crate::error::{AggregateError, Result};
use crate::kernels::{row_sq_norms_and_dots, weighted_row_sum};
use crate::registry::{params, NoParams, RuleBuilder, FILTERS_MODEL_POISONING};
use crate::rules::{Aggregator, RoundState};
use crate::updates::{Aggregation, Round};
use mithridate_core::registry::{Entry, Requirement, Role};

/// Registry entry: `fltrust` (no parameters; needs the server's root update).
pub const ENTRY: Entry<RuleBuilder> = Entry {
    name: "fltrust",
    role: Role::AggregationRule,
    modalities: &[],
    summary: "trust score ReLU(cos) to the server's root update, updates rescaled to its norm (no parameters; needs a root set)",
    paper: "Cao, Fang, Liu, Gong 2021",
    taxonomy: FILTERS_MODEL_POISONING,
    requires: &[Requirement::RootSet],
    provides: &[],
    build: |f, p| {
        params::<NoParams>("fltrust", p)?;
        Ok(Box::new(FlTrust::new(f)))
    },
};

/// FLTrust (Cao, Fang, Liu, Gong 2021, "FLTrust: Byzantine-robust Federated Learning via
/// Trust Bootstrapping").
///
/// The server computes its own update `g_0` on a small clean root dataset (passed with
/// [`Round::with_root`]). Trust score `TS_i = ReLU(cos(x_i, g_0))`; each update is rescaled to
/// `||g_0||`; `g = sum_i TS_i (||g_0|| / ||x_i||) x_i / sum_i TS_i`. Zero-norm updates get
/// trust 0. If every trust score is 0 the aggregate is the zero vector (no trusted direction).
/// The guarantee rests on the root update, not on an honest majority, so any `f <= n` is
/// accepted. Client weights are not used. `scores` are the cosines `cos(x_i, g_0)` (higher =
/// more trusted).
///
/// ```
/// use mithridate_aggregate::{Aggregator, FlTrust, Round, RoundState, Updates};
/// let u = Updates::new(&[2.0, 0.0, -5.0, 0.0], 2, 2).unwrap();
/// let root = [1.0, 0.0];
/// let round = Round::new(u).with_root(&root).unwrap();
/// let out = FlTrust::new(1).aggregate(&round, &mut RoundState::default()).unwrap();
/// assert_eq!(out.aggregate, vec![1.0, 0.0]); // rescaled to ||g_0||; the flipped one has trust 0
/// assert_eq!(out.selected, vec![true, false]);
/// ```
#[derive(Debug, Clone)]
pub struct FlTrust {
    byzantine: usize,
}

impl FlTrust {
    /// FLTrust (the `byzantine` count is only checked against `n`).
    pub fn new(byzantine: usize) -> Self {
        FlTrust { byzantine }
    }
}

impl Aggregator for FlTrust {
    fn name(&self) -> &'static str {
        "fltrust"
    }
    fn byzantine(&self) -> usize {
        self.byzantine
    }
    fn max_byzantine(&self, n: usize) -> usize {
        n
    }
    fn tolerance(&self) -> &'static str {
        "f <= n (trust comes from the root update)"
    }
    fn aggregate(&self, round: &Round<'_>, _state: &mut RoundState) -> Result<Aggregation> {
        round.reject_weights(self.name())?;
        let u = round.updates();
        let n = u.n();
        self.check_clients(n)?;
        let root = round.root().ok_or(AggregateError::Missing {
            rule: "fltrust",
            what: "the server's root update (--root)",
        })?;
        let root_norm = root
            .iter()
            .map(|x| *x as f64 * *x as f64)
            .sum::<f64>()
            .sqrt();
        let (norms, dots): (Vec<f64>, Vec<f64>) = row_sq_norms_and_dots(u, root)
            .into_iter()
            .map(|(sq, dot)| (sq.sqrt(), dot))
            .unzip();
        let cosines: Vec<f64> = dots
            .iter()
            .zip(&norms)
            .map(|(dot, norm)| {
                if *norm > 0.0 && root_norm > 0.0 {
                    dot / (norm * root_norm)
                } else {
                    0.0
                }
            })
            .collect();
        let trust: Vec<f64> = cosines.iter().map(|c| c.max(0.0)).collect();
        let total: f64 = trust.iter().sum();
        let weights: Vec<f64> = if total > 0.0 {
            trust
                .iter()
                .zip(&norms)
                .map(|(t, norm)| {
                    if *t > 0.0 {
                        t * root_norm / (norm * total)
                    } else {
                        0.0
                    }
                })
                .collect()
        } else {
            vec![0.0; n]
        };
        let aggregate = weighted_row_sum(u, &weights, None);
        Ok(Aggregation::from_weights(aggregate, weights, Some(cosines)))
    }
}
