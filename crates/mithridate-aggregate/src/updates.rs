//! Validated inputs of one aggregation round.

use crate::error::{AggregateError, Result};

/// One round's client updates: an `n x d` row-major `f32` matrix, one row per client.
///
/// Construction validates everything once: `n >= 1`, `d >= 1`, `rows.len() == n * d`, and
/// every value finite (the error names the first bad row), so the rules never see garbage.
///
/// ```
/// use mithridate_aggregate::Updates;
/// let u = Updates::new(&[1.0, 2.0, 3.0, 4.0], 2, 2).unwrap();
/// assert_eq!(u.row(1), &[3.0, 4.0]);
/// assert!(Updates::new(&[1.0, f32::NAN], 1, 2).is_err());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Updates<'a> {
    rows: &'a [f32],
    n: usize,
    d: usize,
}

impl<'a> Updates<'a> {
    /// Validates `rows` as `n` client updates of dimension `d`.
    pub fn new(rows: &'a [f32], n: usize, d: usize) -> Result<Self> {
        if n == 0 {
            return Err(AggregateError::NoClients);
        }
        if d == 0 {
            return Err(AggregateError::NoCoordinates);
        }
        if n.checked_mul(d) != Some(rows.len()) {
            return Err(AggregateError::Shape {
                len: rows.len(),
                n,
                d,
            });
        }
        if let Some(pos) = rows.iter().position(|v| !v.is_finite()) {
            return Err(AggregateError::NonFinite {
                row: pos / d,
                column: pos % d,
                value: rows[pos],
            });
        }
        Ok(Updates { rows, n, d })
    }

    /// Number of clients (rows).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Dimension of each update (columns).
    pub fn d(&self) -> usize {
        self.d
    }

    /// The whole row-major buffer.
    pub fn as_slice(&self) -> &'a [f32] {
        self.rows
    }

    /// Client `i`'s update.
    pub fn row(&self, i: usize) -> &'a [f32] {
        &self.rows[i * self.d..(i + 1) * self.d]
    }
}

/// Everything a rule may look at in one round: the updates plus optional per-client
/// weights (e.g. local sample counts), the server's root update (FLTrust), stable client ids
/// (FoolsGold's history, reputations) and a seed for rules that add noise.
///
/// ```
/// use mithridate_aggregate::{Round, Updates};
/// let u = Updates::new(&[1.0, 2.0, 3.0, 4.0], 2, 2).unwrap();
/// let round = Round::new(u).with_weights(&[1.0, 3.0]).unwrap();
/// assert_eq!(round.normalized_weights(), vec![0.25, 0.75]);
/// ```
#[derive(Debug, Clone)]
pub struct Round<'a> {
    updates: Updates<'a>,
    weights: Option<&'a [f64]>,
    root: Option<&'a [f32]>,
    client_ids: Option<&'a [u64]>,
    seed: u64,
}

impl<'a> Round<'a> {
    /// A round with uniform client weights, no root update, ids `0..n` and seed 0.
    pub fn new(updates: Updates<'a>) -> Self {
        Round {
            updates,
            weights: None,
            root: None,
            client_ids: None,
            seed: 0,
        }
    }

    /// Per-client weights (finite, non-negative, positive sum), e.g. local dataset sizes.
    pub fn with_weights(mut self, weights: &'a [f64]) -> Result<Self> {
        let n = self.updates.n();
        if weights.len() != n {
            return Err(AggregateError::PerClientLength {
                what: "weights",
                got: weights.len(),
                n,
            });
        }
        if let Some(i) = weights.iter().position(|w| !w.is_finite() || *w < 0.0) {
            return Err(AggregateError::BadWeights(format!(
                "weight {i} is {}",
                weights[i]
            )));
        }
        if weights.iter().sum::<f64>() <= 0.0 {
            return Err(AggregateError::BadWeights("they sum to 0".into()));
        }
        self.weights = Some(weights);
        Ok(self)
    }

    /// The server's update computed on its trusted root dataset (FLTrust).
    pub fn with_root(mut self, root: &'a [f32]) -> Result<Self> {
        check_vector("root update", root, self.updates.d())?;
        self.root = Some(root);
        Ok(self)
    }

    /// Stable client ids (one per row, distinct), used by stateful rules across rounds.
    pub fn with_client_ids(mut self, ids: &'a [u64]) -> Result<Self> {
        let n = self.updates.n();
        if ids.len() != n {
            return Err(AggregateError::PerClientLength {
                what: "client ids",
                got: ids.len(),
                n,
            });
        }
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(AggregateError::Param {
                name: "client ids",
                reason: format!("id {} appears twice", w[0]),
            });
        }
        self.client_ids = Some(ids);
        Ok(self)
    }

    /// Seed for rules that draw random numbers (norm bounding's noise).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The updates.
    pub fn updates(&self) -> &Updates<'a> {
        &self.updates
    }

    /// The raw weights, if given.
    pub fn weights(&self) -> Option<&'a [f64]> {
        self.weights
    }

    /// The root update, if given.
    pub fn root(&self) -> Option<&'a [f32]> {
        self.root
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Client `i`'s id (its row index when no ids were given).
    pub fn client_id(&self, i: usize) -> u64 {
        self.client_ids.map_or(i as u64, |ids| ids[i])
    }

    /// Weights scaled to sum to 1 (uniform `1/n` when none were given).
    pub fn normalized_weights(&self) -> Vec<f64> {
        let n = self.updates.n();
        match self.weights {
            Some(w) => {
                let total: f64 = w.iter().sum();
                w.iter().map(|x| x / total).collect()
            }
            None => vec![1.0 / n as f64; n],
        }
    }

    /// Errors if weights were given to a rule that treats clients uniformly: silently
    /// ignoring them would mislead the caller.
    pub(crate) fn reject_weights(&self, rule: &'static str) -> Result<()> {
        if self.weights.is_some() {
            return Err(AggregateError::Unused {
                rule,
                what: "client weights",
            });
        }
        Ok(())
    }

    /// A copy of this round over pre-aggregated updates: the root and seed carry over; client
    /// ids only while there is still one row per client.
    pub(crate) fn with_mixed_updates(&self, updates: Updates<'a>) -> Round<'a> {
        let same_clients = updates.n() == self.updates.n();
        Round {
            updates,
            client_ids: self.client_ids.filter(|_| same_clients),
            ..self.clone()
        }
    }
}

/// Checks a dense vector's length and finiteness.
pub(crate) fn check_vector(what: &'static str, v: &[f32], d: usize) -> Result<()> {
    if v.len() != d {
        return Err(AggregateError::BadVector {
            what,
            reason: format!("has {} values, expected d = {d}", v.len()),
        });
    }
    if let Some(j) = v.iter().position(|x| !x.is_finite()) {
        return Err(AggregateError::BadVector {
            what,
            reason: format!("value {j} is not finite: {}", v[j]),
        });
    }
    Ok(())
}

/// The result of aggregating one round.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Aggregation {
    /// The aggregated update (length `d`).
    pub aggregate: Vec<f32>,
    /// Each client's effective weight in the aggregate (sums to 1 unless every client was
    /// rejected). For linear rules `aggregate = sum_i weights[i] * row_i` exactly; for
    /// coordinate-wise rules it is the client's average per-coordinate share (see the rule).
    pub weights: Vec<f64>,
    /// Whether the client contributed at all (`weights[i] > 0`, or kept by a selection step).
    pub selected: Vec<bool>,
    /// The rule's own per-client score, where it has one (Krum score, trust score, distance to
    /// the geometric median, FoolsGold similarity...); larger means more suspicious unless the
    /// rule's documentation says otherwise.
    pub scores: Option<Vec<f64>>,
}

impl Aggregation {
    /// An aggregation whose `selected` flags are derived from positive weights.
    pub(crate) fn from_weights(
        aggregate: Vec<f32>,
        weights: Vec<f64>,
        scores: Option<Vec<f64>>,
    ) -> Self {
        let selected = weights.iter().map(|w| *w > 0.0).collect();
        Aggregation {
            aggregate,
            weights,
            selected,
            scores,
        }
    }
}
