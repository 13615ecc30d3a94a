//! The ingestion screen: does a new batch carry labels the deployed model confidently
//! contradicts, piled onto one class?
//!
//! A sample is *contradicted* when the deployed model (trained on data already accepted)
//! gives a class other than its label probability at least `confidence`; the idea of
//! checking given labels against a trusted model's confident predictions is confident
//! learning's (Northcutt, Jiang & Chuang, 2021, JAIR). Natural label noise and model errors
//! contradict a few samples of every class; dirty-label poisons (BadNets, targeted flips) and
//! PGD-hardened clean-label poisons are contradicted and all carry the attacker's label.
//!
//! Test, per labelled class `c` with `n_c` samples of which `k_c` are contradicted: the null
//! rate is the rest of the batch's, `p_c = (k_rest + 1) / (n_rest + 2)` (Laplace-smoothed), and
//! the class alarms when the one-sided binomial tail `P(Bin(n_c, p_c) >= k_c) < alpha / K`
//! (Bonferroni over the `K` classes, so a clean batch alarms with probability at most about
//! `alpha`). Comparing with the same batch's other classes makes the test indifferent to how
//! noisy the feed is this week. The screen names, in every alarmed class, each sample the
//! deployed model predicts as another class (contradicted or not): the suspects.
//!
//! [`screen_batch`] adds, for image and tabular batches, the cohesion test
//! ([`crate::cohesion`]): do a class's contradicted samples share a perturbation? It catches a
//! few poisons that the count cannot tell from natural noise. With it on, each of the two
//! tests runs at `alpha / (2K)`, so the family-wise rate stays about `alpha`.
//!
//! ```
//! use mithridate_continual::screen::{screen, ScreenParams};
//! // 10 classes x 100 samples; the model is sure of every label except 12 samples labelled 0
//! // that it places in class 5 (a dirty-label poison) and one noisy label per class.
//! let (k, per) = (10usize, 100usize);
//! let mut labels = Vec::new();
//! let mut probs = Vec::new();
//! for c in 0..k {
//!     for i in 0..per {
//!         labels.push(c as u32);
//!         let predicted = if (c == 0 && i < 12) || i == 50 { (c + 5) % k } else { c };
//!         let mut row = vec![0.0f32; k];
//!         row[predicted] = 0.99;
//!         row[(predicted + 1) % k] = 0.01;
//!         probs.extend(row);
//!     }
//! }
//! let ids: Vec<u64> = (0..labels.len() as u64).collect();
//! let params = ScreenParams { alpha: 1e-3, confidence: 0.9, cohesion: None };
//! let result = screen(&probs, &labels, &ids, k, &params);
//! assert!(result.alarm);
//! assert_eq!(result.alarmed_classes(), vec![0]);
//! assert_eq!(result.named.len(), 13); // the 12 poisons and class 0's noisy label
//! ```

use crate::cohesion::{cohesion, ClassCohesion, CohesionParams};
use crate::stats::{binomial_upper_tail, round9};
use mithridate_data::{Dataset, Features};
use serde::{Deserialize, Serialize};

/// The screen's thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScreenParams {
    /// Family-wise false-alarm rate per batch.
    pub alpha: f64,
    /// Probability of another class at which a label counts as contradicted.
    pub confidence: f64,
    /// The cohesion test's sizes ([`screen_batch`] runs it when set; it also halves the count
    /// test's share of `alpha`).
    pub cohesion: Option<CohesionParams>,
}

impl ScreenParams {
    /// The per-class, per-test alarm level: `alpha / K`, halved when two tests share it.
    pub fn limit(&self, k: usize) -> f64 {
        let tests = if self.cohesion.is_some() { 2.0 } else { 1.0 };
        self.alpha / (tests * k.max(1) as f64)
    }
}

/// One class's test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScreen {
    pub class: u32,
    pub samples: usize,
    pub contradicted: usize,
    /// The null contradiction rate (the rest of the batch's).
    pub null_rate: f64,
    pub p_value: f64,
    pub alarm: bool,
}

/// The screen's verdict on one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScreenResult {
    pub classes: Vec<ClassScreen>,
    pub alarm: bool,
    /// Suspects in alarmed classes, ascending ids.
    pub named: Vec<u64>,
    /// Every contradicted sample (ascending ids), for the audit log.
    pub contradicted: Vec<u64>,
    /// The cohesion test of every class with enough suspects (empty when it did not run).
    #[serde(default)]
    pub cohesion: Vec<ClassCohesion>,
}

impl ScreenResult {
    /// Classes either test alarmed, ascending.
    pub fn alarmed_classes(&self) -> Vec<u32> {
        let mut out: Vec<u32> = self
            .classes
            .iter()
            .filter(|c| c.alarm)
            .map(|c| c.class)
            .chain(self.cohesion.iter().filter(|c| c.alarm).map(|c| c.class))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The deployed model's class of every row and whether it contradicts the label.
fn predictions(probs: &[f32], labels: &[u32], k: usize, confidence: f64) -> Vec<(u32, bool)> {
    labels
        .iter()
        .enumerate()
        .map(|(row, &y)| {
            let p = &probs[row * k..(row + 1) * k];
            let (best, &best_p) = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                .unwrap_or((0, &0.0));
            let best = best as u32;
            (best, best != y && f64::from(best_p) >= confidence)
        })
        .collect()
}

/// Screens one batch with both tests: the count test ([`screen`]) and, when
/// `params.cohesion` is set and the inputs are dense, the cohesion test over the contradicted
/// samples ([`crate::cohesion`], seeded by `seed`). Suspects are named in every class either
/// test alarms, and so are the samples the model keeps in a cohesion-alarmed class that lie
/// along its group's direction.
pub fn screen_batch(
    probs: &[f32],
    batch: &Dataset,
    params: &ScreenParams,
    seed: u64,
) -> ScreenResult {
    let k = batch.num_classes();
    let (mut result, predicted) = count_test(probs, batch.labels(), batch.ids(), k, params);
    let (Some(sizes), Features::Dense(x)) = (params.cohesion, batch.features()) else {
        return result;
    };
    // Every sample placed in another class, confident or not: a blended trigger leaves the
    // model less sure of the poison's true class, and the test needs no count to stand out.
    let suspect: Vec<bool> = predicted
        .iter()
        .zip(batch.labels())
        .map(|(p, y)| p != y)
        .collect();
    let d = batch.modality().sample_len();
    result.cohesion = cohesion(
        x,
        d,
        batch.labels(),
        &predicted,
        &suspect,
        k,
        params.limit(k),
        &sizes,
        seed,
    );
    let alarmed = result.alarmed_classes();
    result.alarm = !alarmed.is_empty();
    let mut named = named_in(&alarmed, batch.labels(), batch.ids(), &predicted);
    named.extend(
        result
            .cohesion
            .iter()
            .flat_map(|c| c.aligned.iter().map(|&row| batch.ids()[row])),
    );
    named.sort_unstable();
    named.dedup();
    result.named = named;
    result
}

/// Samples of the alarmed classes the model places elsewhere, ascending ids.
fn named_in(alarmed: &[u32], labels: &[u32], ids: &[u64], predicted: &[u32]) -> Vec<u64> {
    let mut named: Vec<u64> = labels
        .iter()
        .enumerate()
        .filter(|&(row, y)| alarmed.contains(y) && predicted[row] != *y)
        .map(|(row, _)| ids[row])
        .collect();
    named.sort_unstable();
    named
}

/// The count test on one batch, given the deployed model's probabilities (`n * k`,
/// row-major); [`screen_batch`] adds the cohesion test.
pub fn screen(
    probs: &[f32],
    labels: &[u32],
    ids: &[u64],
    k: usize,
    params: &ScreenParams,
) -> ScreenResult {
    count_test(probs, labels, ids, k, params).0
}

/// The count test's result and the deployed model's class of every row.
fn count_test(
    probs: &[f32],
    labels: &[u32],
    ids: &[u64],
    k: usize,
    params: &ScreenParams,
) -> (ScreenResult, Vec<u32>) {
    let n = labels.len();
    let mut samples = vec![0usize; k];
    let mut contradicted_in = vec![0usize; k];
    let rows = predictions(probs, labels, k, params.confidence);
    let predicted: Vec<u32> = rows.iter().map(|r| r.0).collect();
    let mut contradicted = Vec::new();
    for (row, (&y, &(_, against))) in labels.iter().zip(&rows).enumerate() {
        samples[y as usize] += 1;
        if against {
            contradicted_in[y as usize] += 1;
            contradicted.push(ids[row]);
        }
    }
    let total_k: usize = contradicted_in.iter().sum();
    let limit = params.limit(k);
    let classes: Vec<ClassScreen> = (0..k)
        .map(|c| {
            let (n_c, k_c) = (samples[c], contradicted_in[c]);
            let null_rate = (total_k - k_c) as f64 + 1.0;
            let null_rate = null_rate / ((n - n_c) as f64 + 2.0);
            let p_value = binomial_upper_tail(k_c, n_c, null_rate);
            ClassScreen {
                class: c as u32,
                samples: n_c,
                contradicted: k_c,
                null_rate: round9(null_rate),
                p_value: round9(p_value),
                alarm: k_c > 0 && p_value < limit,
            }
        })
        .collect();
    let alarmed: Vec<u32> = classes
        .iter()
        .filter(|c| c.alarm)
        .map(|c| c.class)
        .collect();
    let named = named_in(&alarmed, labels, ids, &predicted);
    contradicted.sort_unstable();
    let result = ScreenResult {
        alarm: !alarmed.is_empty(),
        classes,
        named,
        contradicted,
        cohesion: Vec::new(),
    };
    (result, predicted)
}
