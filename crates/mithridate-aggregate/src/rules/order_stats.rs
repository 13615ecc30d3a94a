//! Coordinate-wise median and trimmed mean.

use crate::error::{AggregateError, Result};
use crate::order::{coordinatewise, Window};
use crate::registry::{params, NoParams, RuleBuilder, MITIGATES_MODEL_POISONING};
use crate::rules::{honest_majority, Aggregator, RoundState};
use crate::updates::{Aggregation, Round};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;

/// Registry entry: `median` (no parameters).
pub const MEDIAN_ENTRY: Entry<RuleBuilder> = Entry {
    name: "median",
    role: Role::AggregationRule,
    modalities: &[],
    summary: "coordinate-wise median (no parameters; n > 2f)",
    paper: "Yin, Chen, Ramchandran, Bartlett 2018",
    taxonomy: MITIGATES_MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: |f, p| {
        params::<NoParams>("median", p)?;
        Ok(Box::new(CoordinateMedian::new(f)))
    },
};

/// Registry entry: `trimmed-mean[:beta=<fraction>]`.
pub const TRIMMED_MEAN_ENTRY: Entry<RuleBuilder> = Entry {
    name: "trimmed-mean",
    role: Role::AggregationRule,
    modalities: &[],
    summary: "coordinate-wise trimmed mean: drop k values per side, average the rest; beta = fraction trimmed per side, k = floor(beta n) (default: k = f)",
    paper: "Yin, Chen, Ramchandran, Bartlett 2018",
    taxonomy: MITIGATES_MODEL_POISONING,
    requires: &[],
    provides: &[],
    build: |f, p| {
        let mut params: TrimmedMeanParams = params("trimmed-mean", p)?;
        params.byzantine = f;
        Ok(Box::new(params.check()?))
    },
};

/// Coordinate-wise median (Yin, Chen, Ramchandran, Bartlett 2018, "Byzantine-Robust
/// Distributed Learning: Towards Optimal Statistical Rates").
///
/// `g_j = median_i x_ij`; for even `n` the mean of the two middle values. Tolerates
/// `f < n/2` (`f <= (n - 1)/2`): with an honest majority each coordinate's median lies within
/// the honest values' range. Client weights are not used.
///
/// `weights[i]` is client `i`'s average share of the per-coordinate middle value(s); values
/// tied with a middle value share its slot equally.
///
/// ```
/// use mithridate_aggregate::{Aggregator, CoordinateMedian, Round, RoundState, Updates};
/// let u = Updates::new(&[1.0, 10.0, 2.0, 20.0, 100.0, -5.0], 3, 2).unwrap();
/// let rule = CoordinateMedian::new(1);
/// let out = rule.aggregate(&Round::new(u), &mut RoundState::default()).unwrap();
/// assert_eq!(out.aggregate, vec![2.0, 10.0]);
/// ```
#[derive(Debug, Clone)]
pub struct CoordinateMedian {
    byzantine: usize,
}

impl CoordinateMedian {
    /// A median withstanding `byzantine` clients (checked against `n` per round).
    pub fn new(byzantine: usize) -> Self {
        CoordinateMedian { byzantine }
    }
}

impl Aggregator for CoordinateMedian {
    fn name(&self) -> &'static str {
        "median"
    }
    fn byzantine(&self) -> usize {
        self.byzantine
    }
    fn max_byzantine(&self, n: usize) -> usize {
        honest_majority(n)
    }
    fn tolerance(&self) -> &'static str {
        "n > 2f"
    }
    fn aggregate(&self, round: &Round<'_>, _state: &mut RoundState) -> Result<Aggregation> {
        round.reject_weights(self.name())?;
        let n = round.updates().n();
        self.check_clients(n)?;
        let window = if n % 2 == 1 {
            Window::Fixed(n / 2, n / 2 + 1)
        } else {
            Window::Fixed(n / 2 - 1, n / 2 + 1)
        };
        let rows: Vec<usize> = (0..n).collect();
        let out = coordinatewise(round.updates(), &rows, window);
        Ok(Aggregation::from_weights(out.aggregate, out.shares, None))
    }
}

/// Hyperparameters of [`TrimmedMean`]; `.check()` validates them once.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct TrimmedMeanParams {
    /// Byzantine clients to withstand (from the scenario, not from the parameters).
    #[serde(skip)]
    pub byzantine: usize,
    /// Fraction `beta` in `[0, 1/2)` trimmed per side: `k = floor(beta n)` per round (Yin et
    /// al.'s beta-trimmed mean); `None` trims exactly `f`.
    pub beta: Option<f64>,
}

impl ParamGuard for TrimmedMeanParams {
    type Checked = TrimmedMean;
    type Error = AggregateError;
    fn check_ref(&self) -> Result<()> {
        match self.beta {
            Some(b) if !(0.0..0.5).contains(&b) => Err(AggregateError::Param {
                name: "beta",
                reason: format!("must be in [0, 0.5), got {b}"),
            }),
            _ => Ok(()),
        }
    }
    fn build(self) -> TrimmedMean {
        TrimmedMean {
            byzantine: self.byzantine,
            beta: self.beta,
        }
    }
}

/// Coordinate-wise trimmed mean (Yin, Chen, Ramchandran, Bartlett 2018).
///
/// Per coordinate, sort the `n` values, drop exactly `k` from each end and average the middle
/// `n - 2k`: `g_j = (1/(n-2k)) sum_{i=k}^{n-k-1} x_(i),j`. By default `k = f` (byzfl's
/// convention); with `beta` set, `k = floor(beta n)` (Yin et al.'s beta; Flower's fraction
/// variant). Tolerates `f < n/2`. `k = 0` is the plain mean. Client weights are not used.
///
/// `weights[i]` is client `i`'s average share of the kept values (boundary ties split equally).
///
/// ```
/// use mithridate_aggregate::{Aggregator, TrimmedMean, Round, RoundState, Updates};
/// let u = Updates::new(&[1.0, 2.0, 3.0, 4.0, 1000.0], 5, 1).unwrap();
/// let out = TrimmedMean::new(1).aggregate(&Round::new(u), &mut RoundState::default()).unwrap();
/// assert_eq!(out.aggregate, vec![3.0]);
/// ```
#[derive(Debug, Clone)]
pub struct TrimmedMean {
    byzantine: usize,
    beta: Option<f64>,
}

impl TrimmedMean {
    /// A trimmed mean dropping `byzantine` values per side.
    pub fn new(byzantine: usize) -> Self {
        TrimmedMean {
            byzantine,
            beta: None,
        }
    }

    /// Values dropped per side for `n` clients.
    fn trim(&self, n: usize) -> usize {
        self.beta
            .map_or(self.byzantine, |b| (b * n as f64).floor() as usize)
    }
}

impl Aggregator for TrimmedMean {
    fn name(&self) -> &'static str {
        "trimmed-mean"
    }
    fn byzantine(&self) -> usize {
        self.byzantine
    }
    fn max_byzantine(&self, n: usize) -> usize {
        honest_majority(n)
    }
    fn tolerance(&self) -> &'static str {
        "n > 2f"
    }
    fn aggregate(&self, round: &Round<'_>, _state: &mut RoundState) -> Result<Aggregation> {
        round.reject_weights(self.name())?;
        let n = round.updates().n();
        self.check_clients(n)?;
        let k = self.trim(n);
        if n <= 2 * k {
            return Err(AggregateError::Param {
                name: if self.beta.is_some() {
                    "beta"
                } else {
                    "byzantine"
                },
                reason: format!("trimming {k} per side leaves nothing of n = {n}"),
            });
        }
        let rows: Vec<usize> = (0..n).collect();
        let out = coordinatewise(round.updates(), &rows, Window::Fixed(k, n - k));
        Ok(Aggregation::from_weights(out.aggregate, out.shares, None))
    }
}
