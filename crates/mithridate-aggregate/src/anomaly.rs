//! Per-round anomaly scores for client updates, reputations across rounds, and detection
//! quality against ground truth.
//!
//! Signals per client (all from one f64 Gram matrix plus one coordinate median):
//! - **norm**: `||x_i||`, scored two-sided (boosted and shrunk updates are both odd);
//! - **cosine to the robust aggregate** (coordinate-wise median): low is suspicious
//!   (sign flips, IPM);
//! - **mean cosine to the other clients**: low is suspicious;
//! - **max cosine to any other client**: high is suspicious (colluders and sybils send
//!   near-duplicates, e.g. ALIE rows are identical; FoolsGold's signal);
//! - **distance outlyingness**: the Krum score over the `n - f - 2` nearest others (at least 1),
//!   high is suspicious.
//!
//! Each signal is turned into a robust z-score `(s - median) / (1.4826 MAD)` across the round's
//! clients (Iglewicz & Hoaglin 1993's modified z-score; 3.5 is their outlier threshold), signed
//! so that larger means more suspicious, and the **suspicion** is the largest of them (any
//! single strong signal flags). A MAD of zero (all equal) is replaced by a small fraction of the
//! median's magnitude so exact duplicates of a typical value do not blow up.

use crate::error::Result;
use crate::kernels::{gram, k_smallest, row_dots, sq_distances_from_gram};
use crate::order::{coordinatewise, Window};
use crate::updates::Updates;
use std::collections::{BTreeMap, BTreeSet};

/// The conventional threshold on modified z-scores (Iglewicz & Hoaglin 1993).
pub const DEFAULT_THRESHOLD: f64 = 3.5;

/// One client's signals and robust z-scores in one round.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClientScore {
    pub norm: f64,
    pub cosine_to_aggregate: f64,
    pub mean_cosine_to_others: f64,
    pub max_cosine_to_others: f64,
    pub krum_score: f64,
    /// Robust z of the norm (two-sided: absolute value).
    pub z_norm: f64,
    /// Robust z of the negated cosine to the aggregate.
    pub z_cosine_to_aggregate: f64,
    /// Robust z of the negated mean cosine to the others.
    pub z_mean_cosine: f64,
    /// Robust z of the max cosine to the others.
    pub z_max_cosine: f64,
    /// Robust z of the Krum score.
    pub z_krum: f64,
    /// Max of the z-scores above: the client's suspicion this round.
    pub suspicion: f64,
}

/// Scores every client of one round. `byzantine` sets the Krum neighbourhood (`n - f - 2`,
/// at least 1).
///
/// ```
/// use mithridate_aggregate::{anomaly, Updates};
/// let mut rows = Vec::new();
/// for i in 0..9 { rows.extend_from_slice(&[1.0 + 0.01 * i as f32, 1.0 - 0.01 * i as f32, 1.0]); }
/// rows.extend_from_slice(&[-10.0, -10.0, -10.0]); // sign-flipped and boosted
/// let u = Updates::new(&rows, 10, 3).unwrap();
/// let scores = anomaly::score_round(&u, 1);
/// let worst = (0..10).max_by(|a, b| scores[*a].suspicion.total_cmp(&scores[*b].suspicion)).unwrap();
/// assert_eq!(worst, 9);
/// ```
pub fn score_round(u: &Updates, byzantine: usize) -> Vec<ClientScore> {
    let n = u.n();
    let g = gram(u);
    let norms: Vec<f64> = (0..n).map(|i| g[i * n + i].sqrt()).collect();
    let rows: Vec<usize> = (0..n).collect();
    let window = if n % 2 == 1 {
        Window::Fixed(n / 2, n / 2 + 1)
    } else {
        Window::Fixed(n / 2 - 1, n / 2 + 1)
    };
    let median = coordinatewise(u, &rows, window).aggregate;
    let median_norm = median
        .iter()
        .map(|x| *x as f64 * *x as f64)
        .sum::<f64>()
        .sqrt();
    let dots = row_dots(u, &median);
    let cosine = |dot: f64, a: f64, b: f64| {
        if a > 0.0 && b > 0.0 {
            dot / (a * b)
        } else {
            0.0
        }
    };
    let to_aggregate: Vec<f64> = (0..n)
        .map(|i| cosine(dots[i], norms[i], median_norm))
        .collect();
    let (mut mean_cos, mut max_cos) = (vec![0.0; n], vec![0.0; n]);
    if n > 1 {
        for i in 0..n {
            let others: Vec<f64> = (0..n)
                .filter(|&j| j != i)
                .map(|j| cosine(g[i * n + j], norms[i], norms[j]))
                .collect();
            mean_cos[i] = others.iter().sum::<f64>() / others.len() as f64;
            max_cos[i] = others.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        }
    }
    let dist = sq_distances_from_gram(&g, n);
    let neighbours = n
        .saturating_sub(byzantine + 2)
        .max(1)
        .min(n.saturating_sub(1));
    let krum: Vec<f64> = (0..n)
        .map(|i| {
            let row: Vec<f64> = (0..n)
                .map(|j| {
                    if j == i {
                        f64::INFINITY
                    } else {
                        dist[i * n + j]
                    }
                })
                .collect();
            k_smallest(&row, neighbours).iter().map(|&j| row[j]).sum()
        })
        .collect();
    // Floors on the scale (see `robust_z_floored`): norms and Krum scores are ratio-scale,
    // so their floor is relative to the median; cosines live in [-1, 1], so theirs is absolute.
    let relative = |v: &[f64]| MIN_RELATIVE_SCALE * crate::kernels::median_f64(v).abs();
    let z_norm: Vec<f64> = robust_z_floored(&norms, relative(&norms))
        .iter()
        .map(|z| z.abs())
        .collect();
    let neg = |v: &[f64]| v.iter().map(|x| -x).collect::<Vec<f64>>();
    let z_agg = robust_z_floored(&neg(&to_aggregate), MIN_COSINE_SCALE);
    let z_mean = robust_z_floored(&neg(&mean_cos), MIN_COSINE_SCALE);
    let z_max = robust_z_floored(&max_cos, MIN_COSINE_SCALE);
    let z_krum = robust_z_floored(&krum, relative(&krum));
    (0..n)
        .map(|i| {
            let suspicion = [z_norm[i], z_agg[i], z_mean[i], z_max[i], z_krum[i]]
                .into_iter()
                .fold(f64::NEG_INFINITY, f64::max);
            ClientScore {
                norm: norms[i],
                cosine_to_aggregate: to_aggregate[i],
                mean_cosine_to_others: mean_cos[i],
                max_cosine_to_others: max_cos[i],
                krum_score: krum[i],
                z_norm: z_norm[i],
                z_cosine_to_aggregate: z_agg[i],
                z_mean_cosine: z_mean[i],
                z_max_cosine: z_max[i],
                z_krum: z_krum[i],
                suspicion,
            }
        })
        .collect()
}

/// The smallest scale of a ratio-scale signal (norms, Krum scores), as a fraction of its
/// median: a norm 10% off the median is not an anomaly, however tightly the others agree.
pub const MIN_RELATIVE_SCALE: f64 = 0.05;
/// The smallest scale of a cosine signal (values in [-1, 1]).
pub const MIN_COSINE_SCALE: f64 = 0.05;

/// Modified z-scores with the scale floored at `min_scale`: `(x - median) / max(1.4826 MAD,
/// min_scale)`.
///
/// Why a floor: when honest clients agree closely (same data distribution, late rounds) the
/// MAD shrinks toward zero and a client whose norm is 9% below the median scores z = 8, so an
/// honest client would be flagged and, over rounds, excluded. With the floor a signal must
/// deviate by more than `3.5 x min_scale` (17.5% of the median norm, or 0.175 in cosine, at
/// the defaults) before it can cross the conventional threshold; boosted, flipped or
/// replaced updates deviate by orders of magnitude more.
///
/// ```
/// use mithridate_aggregate::anomaly::robust_z_floored;
/// // Tight honest norms around 1.0, one 9% low: unremarkable with the floor.
/// let z = robust_z_floored(&[1.0, 1.001, 0.999, 1.0005, 0.91], 0.05);
/// assert!(z[4].abs() < 3.5);
/// // A boosted client is still far out.
/// assert!(robust_z_floored(&[1.0, 1.001, 0.999, 1.0005, 20.0], 0.05)[4] > 100.0);
/// ```
pub fn robust_z_floored(values: &[f64], min_scale: f64) -> Vec<f64> {
    let median = crate::kernels::median_f64(values);
    let deviations: Vec<f64> = values.iter().map(|x| (x - median).abs()).collect();
    let scale = (1.4826 * crate::kernels::median_f64(&deviations)).max(min_scale);
    if scale > 0.0 {
        values.iter().map(|x| (x - median) / scale).collect()
    } else {
        robust_z(values)
    }
}

/// Modified z-scores `(x - median) / (1.4826 MAD)`.
///
/// ```
/// let z = mithridate_aggregate::anomaly::robust_z(&[1.0, 2.0, 3.0, 100.0]);
/// assert!(z[3] > 10.0 && z[1].abs() < 1.0);
/// ```
pub fn robust_z(values: &[f64]) -> Vec<f64> {
    let median = crate::kernels::median_f64(values);
    let deviations: Vec<f64> = values.iter().map(|x| (x - median).abs()).collect();
    let mad = crate::kernels::median_f64(&deviations);
    let scale = 1.4826 * mad;
    // All (or most) values identical: fall back to a relative scale instead of dividing by 0.
    let scale = if scale > 0.0 {
        scale
    } else {
        1e-6 * median.abs().max(1e-12)
    };
    values.iter().map(|x| (x - median) / scale).collect()
}

/// Suspicion accumulated over rounds per client id, as an exponential moving average:
/// `r <- (1 - decay) r + decay s` (the first observation sets `r = s`). Clients absent from a
/// round keep their reputation.
///
/// ```
/// use mithridate_aggregate::anomaly::Reputation;
/// let mut rep = Reputation::new(0.5).unwrap();
/// rep.update(&[7, 8], &[10.0, 0.0]).unwrap();
/// rep.update(&[7], &[0.0]).unwrap();
/// assert_eq!(rep.get(7), Some(5.0));
/// assert_eq!(rep.flagged(3.5), vec![7]);
/// ```
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reputation {
    decay: f64,
    scores: BTreeMap<u64, f64>,
    rounds: BTreeMap<u64, usize>,
}

impl Reputation {
    /// `decay` in `(0, 1]`: the weight of the newest round.
    pub fn new(decay: f64) -> Result<Self> {
        if !(decay > 0.0 && decay <= 1.0) {
            return Err(crate::AggregateError::Param {
                name: "decay",
                reason: format!("must be in (0, 1], got {decay}"),
            });
        }
        Ok(Reputation {
            decay,
            scores: BTreeMap::new(),
            rounds: BTreeMap::new(),
        })
    }

    /// Folds in one round's suspicion scores for the given client ids.
    pub fn update(&mut self, ids: &[u64], suspicion: &[f64]) -> Result<()> {
        if ids.len() != suspicion.len() {
            return Err(crate::AggregateError::PerClientLength {
                what: "suspicion scores",
                got: suspicion.len(),
                n: ids.len(),
            });
        }
        if let Some(s) = suspicion.iter().find(|s| !s.is_finite()) {
            return Err(crate::AggregateError::Param {
                name: "suspicion",
                reason: format!("not finite: {s}"),
            });
        }
        for (&id, &s) in ids.iter().zip(suspicion) {
            let r = self.scores.entry(id).or_insert(s);
            let seen = self.rounds.entry(id).or_insert(0);
            if *seen > 0 {
                *r = (1.0 - self.decay) * *r + self.decay * s;
            }
            *seen += 1;
        }
        Ok(())
    }

    /// A client's reputation (its smoothed suspicion), if seen.
    pub fn get(&self, id: u64) -> Option<f64> {
        self.scores.get(&id).copied()
    }

    /// Client ids whose smoothed suspicion exceeds `threshold`, ascending.
    pub fn flagged(&self, threshold: f64) -> Vec<u64> {
        self.scores
            .iter()
            .filter(|(_, s)| **s > threshold)
            .map(|(id, _)| *id)
            .collect()
    }
}

/// Detection quality of a flagged set against the true attackers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Detection {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    /// `tp / (tp + fp)`; `None` when nothing was flagged.
    pub precision: Option<f64>,
    /// `tp / (tp + fn)`; `None` when there are no attackers.
    pub recall: Option<f64>,
}

/// Precision and recall of `flagged` against `attackers` (duplicates ignored).
///
/// ```
/// let d = mithridate_aggregate::anomaly::detection(&[1, 2, 3], &[2, 3, 4, 5]);
/// assert_eq!(d.precision, Some(2.0 / 3.0));
/// assert_eq!(d.recall, Some(0.5));
/// ```
pub fn detection(flagged: &[u64], attackers: &[u64]) -> Detection {
    let flagged: BTreeSet<u64> = flagged.iter().copied().collect();
    let attackers: BTreeSet<u64> = attackers.iter().copied().collect();
    let tp = flagged.intersection(&attackers).count();
    let fp = flagged.len() - tp;
    let fn_ = attackers.len() - tp;
    Detection {
        true_positives: tp,
        false_positives: fp,
        false_negatives: fn_,
        precision: (!flagged.is_empty()).then(|| tp as f64 / flagged.len() as f64),
        recall: (!attackers.is_empty()).then(|| tp as f64 / attackers.len() as f64),
    }
}
