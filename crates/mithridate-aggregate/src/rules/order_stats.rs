//! Coordinate-wise median and trimmed mean.

use crate::error::{AggregateError, Result};
use crate::order::{coordinatewise, Window};
use crate::rules::{honest_majority, Aggregator, RoundState};
use crate::updates::{Aggregation, Round};

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

/// Coordinate-wise trimmed mean (Yin, Chen, Ramchandran, Bartlett 2018).
///
/// Per coordinate, sort the `n` values, drop exactly `f` from each end and average the middle
/// `n - 2f`: `g_j = (1/(n-2f)) sum_{k=f}^{n-f-1} x_(k),j`. Tolerates `f < n/2`. Unlike
/// Flower's fraction-based variant, the trim is exactly the configured `f` per side (byzfl's
/// convention). `f = 0` is the plain mean. Client weights are not used.
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
}

impl TrimmedMean {
    /// A trimmed mean dropping `byzantine` values per side.
    pub fn new(byzantine: usize) -> Self {
        TrimmedMean { byzantine }
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
        let f = self.byzantine;
        if n <= 2 * f {
            return Err(AggregateError::Param {
                name: "byzantine",
                reason: format!("trimming {f} per side leaves nothing of n = {n}"),
            });
        }
        let rows: Vec<usize> = (0..n).collect();
        let out = coordinatewise(round.updates(), &rows, Window::Fixed(f, n - f));
        Ok(Aggregation::from_weights(out.aggregate, out.shares, None))
    }
}
