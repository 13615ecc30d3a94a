//! Confident learning (Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty
//! in Dataset Labels", JAIR 2021): finds mislabeled samples (e.g. label flipping).
//!
//! With out-of-sample predicted probabilities `p̂(j | x)` (k-fold cross-validation, so no
//! sample is scored by a model that saw it; [`crate::cross_val_probabilities`]):
//! - per-class thresholds `t_j` = mean self-confidence `p̂(j | x)` over samples labelled `j`;
//! - the confident joint `C[i][j]` counts samples labelled `i` whose confidently-predicted
//!   class is `j`, where a sample's confident class is `argmax_{j : p̂(j|x) >= t_j} p̂(j|x)`
//!   (no class above its threshold: the sample is not counted);
//! - [`Method::OffDiagonal`] flags every sample counted off the diagonal (`j != i`);
//!   [`Method::PruneByNoiseRate`] calibrates `C` so each row sums to the label count `n_i`
//!   (`Ĉ[i][j] = C[i][j] / Σ_j' C[i][j'] · n_i`), rounds each row to integers that still sum to
//!   `n_i` (largest remainder, as cleanlab's `round_preserving_row_totals`; rounding entries
//!   one by one can prune one sample more or less than the row holds) and, for each `i != j`,
//!   flags that many samples labelled `i` with the largest margin `p̂(j|x) - p̂(i|x)`;
//!   [`Method::Both`] flags samples both rules flag;
//!   [`Method::ClassPairs`] flags, for targeted flips, the samples labelled `i` whose
//!   out-of-sample arg-max is `j` for the ordered pairs `(i -> j)` whose *confident*
//!   disagreements (`C[i][j]`) fail the symmetric-confusion test of [`crate::class_pairs`]
//!   (per-pair calibration from the data, so a clean set's ordinary mistakes, and clean
//!   samples the flips pushed across a boundary, are not flagged).
//!
//! Score: `1 - p̂(y | x)` (one minus self-confidence, cleanlab's default label quality).
//! Flagged samples get a suggested label: their confident class (or the arg-max when no class
//! passes its threshold). A class without samples has an undefined threshold: nothing is
//! counted into its column. Class verdict statistic: the estimated noise rate
//! `1 - Ĉ[i][i] / n_i`; the class looks poisoned when it is at least 5%.
//! Assumption: the classifier's errors are class-conditional (noise depends on the true class,
//! not on the sample), the paper's model. Cost after the probabilities: `O(n k)` plus sorting.
//!
//! ```
//! use mithridate_detect::confident::{confident_joint};
//! // Labels 0,0,0,1,1,1; sample 2 (labelled 0) is confidently class 1.
//! let probs = [0.9, 0.1,  0.8, 0.2,  0.2, 0.8,  0.1, 0.9,  0.3, 0.7,  0.2, 0.8];
//! let cj = confident_joint(&probs, &[0, 0, 0, 1, 1, 1], 2)?;
//! // t_0 = (0.9 + 0.8 + 0.2) / 3, t_1 = (0.9 + 0.7 + 0.8) / 3 = 0.8
//! assert!((cj.thresholds[0] - 1.9 / 3.0).abs() < 1e-6);
//! assert_eq!(cj.counts, vec![vec![2, 1], vec![0, 2]]);
//! # Ok::<(), mithridate_detect::DetectError>(())
//! ```

use crate::class_pairs::{opinion_sizes, rows_in_pairs, suspicious_pairs, PairTest};
use crate::context::class_rows;
use crate::detection::Rows;
use crate::{cross_val_probabilities, DetectError, Detection, Detector, Result, ScanContext};
use mithridate_core::ParamGuard;
use std::sync::Arc;

/// Which rule turns the confident joint into flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    OffDiagonal,
    PruneByNoiseRate,
    Both,
    ClassPairs,
}

/// The confident joint of a probability matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfidentJoint {
    /// `t_j` per class (`f64::INFINITY` for a class with no samples).
    pub thresholds: Vec<f64>,
    /// `counts[i][j]`: samples labelled `i` confidently in class `j`.
    pub counts: Vec<Vec<usize>>,
    /// Each sample's confident class, if any class passed its threshold.
    pub confident_class: Vec<Option<u32>>,
}

/// Computes thresholds and the confident joint from `n * k` row-major probabilities
/// (see the module docs). Errors on a shape mismatch, a label `>= k` or non-finite values.
pub fn confident_joint(probs: &[f32], labels: &[u32], k: usize) -> Result<ConfidentJoint> {
    let n = labels.len();
    if k < 2 || probs.len() != n * k {
        return Err(DetectError::input(format!(
            "{} probabilities for {n} samples of {k} classes (need k >= 2)",
            probs.len()
        )));
    }
    if probs.iter().any(|p| !p.is_finite()) {
        return Err(DetectError::input(
            "probabilities contain non-finite values",
        ));
    }
    if let Some(&y) = labels.iter().find(|&&y| y as usize >= k) {
        return Err(DetectError::input(format!(
            "label {y} is not a class (classes 0..{k})"
        )));
    }
    let p = |r: usize, j: usize| f64::from(probs[r * k + j]);
    let mut sums = vec![0f64; k];
    let mut counts_per_label = vec![0usize; k];
    for (r, &y) in labels.iter().enumerate() {
        sums[y as usize] += p(r, y as usize);
        counts_per_label[y as usize] += 1;
    }
    let thresholds: Vec<f64> = sums
        .iter()
        .zip(&counts_per_label)
        .map(|(&s, &c)| if c > 0 { s / c as f64 } else { f64::INFINITY })
        .collect();
    let mut counts = vec![vec![0usize; k]; k];
    let confident_class: Vec<Option<u32>> = labels
        .iter()
        .enumerate()
        .map(|(r, &y)| {
            let best =
                (0..k)
                    .filter(|&j| p(r, j) >= thresholds[j])
                    .fold(None, |acc: Option<usize>, j| match acc {
                        Some(b) if p(r, b) >= p(r, j) => Some(b),
                        _ => Some(j),
                    });
            if let Some(j) = best {
                counts[y as usize][j] += 1;
            }
            best.map(|j| j as u32)
        })
        .collect();
    Ok(ConfidentJoint {
        thresholds,
        counts,
        confident_class,
    })
}

/// Rounds non-negative `values` to integers summing to the rounded sum of `values`: round
/// each (half to even, as NumPy), then move the difference onto the entries whose rounding
/// lost (or gained) the most. This is cleanlab's `round_preserving_sum`, which keeps each
/// calibrated row of the confident joint summing to its label count; ties go where its
/// reversed stable sort puts them (adding: the higher index; removing: the lower).
pub fn round_preserving_sum(values: &[f64]) -> Vec<usize> {
    let mut ints: Vec<f64> = values.iter().map(|v| v.round_ties_even()).collect();
    let target = values.iter().sum::<f64>().round_ties_even();
    let diff = target - ints.iter().sum::<f64>();
    if diff != 0.0 {
        let step = diff.signum();
        // Remainders in increasing order (stable); adding takes the largest first.
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| (values[a] - ints[a]).total_cmp(&(values[b] - ints[b])));
        if step > 0.0 {
            order.reverse();
        }
        for &i in order.iter().take(diff.abs() as usize) {
            ints[i] += step;
        }
    }
    ints.iter().map(|&v| v.max(0.0) as usize).collect()
}

/// Unchecked parameters of [`ConfidentLearning`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct ConfidentParams {
    /// Cross-validation folds: at least 2, or 0 for the size rule of
    /// [`ConfidentParams::folds_for`] (the default).
    pub folds: usize,
    pub method: Method,
    /// [`Method::ClassPairs`]: family-wise false-alarm rate of the pair test, in `(0, 1)`.
    pub pair_alpha: f64,
    /// [`Method::ClassPairs`]: disagreements a pair needs before it is flagged, `>= 1`.
    pub pair_min_count: usize,
    /// [`Method::ClassPairs`]: times the symmetric expectation a pair's count must reach, `>= 1`.
    pub pair_min_ratio: f64,
}

impl Default for ConfidentParams {
    fn default() -> Self {
        let pairs = PairTest::default();
        ConfidentParams {
            folds: 0,
            method: Method::PruneByNoiseRate,
            pair_alpha: pairs.alpha,
            pair_min_count: pairs.min_count,
            pair_min_ratio: pairs.min_ratio,
        }
    }
}

/// From this many samples the automatic fold count drops from 5 to 3.
pub const FEWER_FOLDS_FROM: usize = 30_000;

impl ConfidentParams {
    /// The folds used on `samples` rows: `folds` when set, otherwise 5 (cleanlab's default)
    /// below [`FEWER_FOLDS_FROM`] samples and 3 from there.
    ///
    /// Why: k-fold costs `(k - 1) n` training samples, so 3 folds halve 5 folds' cost, and
    /// each fold's model still trains on at least 20,000 rows, where more rows change the
    /// engine's models little. On 20,000 MNIST images 3 folds cost 0.016 mean F1 on targeted
    /// flips (detect README, stop 28), so smaller sets keep 5.
    ///
    /// ```
    /// use mithridate_detect::confident::ConfidentParams;
    /// let auto = ConfidentParams::default();
    /// assert_eq!((auto.folds_for(29_999), auto.folds_for(60_000)), (5, 3));
    /// let fixed = ConfidentParams { folds: 4, ..auto };
    /// assert_eq!(fixed.folds_for(60_000), 4);
    /// ```
    pub fn folds_for(&self, samples: usize) -> usize {
        match self.folds {
            0 if samples >= FEWER_FOLDS_FROM => 3,
            0 => 5,
            k => k,
        }
    }

    fn pair_test(&self) -> PairTest {
        PairTest {
            alpha: self.pair_alpha,
            min_count: self.pair_min_count,
            min_ratio: self.pair_min_ratio,
        }
    }
}

impl ParamGuard for ConfidentParams {
    type Checked = ConfidentLearning;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        if self.folds == 1 {
            return Err(DetectError::param(format!(
                "confident learning needs at least 2 folds (or 0 for the automatic count), got {}",
                self.folds
            )));
        }
        self.pair_test().check()
    }

    fn build(self) -> ConfidentLearning {
        ConfidentLearning { params: self }
    }
}

/// The confident-learning detector with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct ConfidentLearning {
    params: ConfidentParams,
}

impl ConfidentLearning {
    /// Flags samples from out-of-sample probabilities (`labels.len() * k` values, row-major).
    pub fn detect_probabilities(
        &self,
        probs: &[f32],
        labels: &[u32],
        ids: &[u64],
        k: usize,
    ) -> Result<Detection> {
        if ids.len() != labels.len() {
            return Err(DetectError::input("one id per label is required"));
        }
        let cj = confident_joint(probs, labels, k)?;
        let n = labels.len();
        let p = |r: usize, j: usize| f64::from(probs[r * k + j]);
        let off_diagonal: Vec<bool> = (0..n)
            .map(|r| cj.confident_class[r].is_some_and(|j| j != labels[r]))
            .collect();
        let by_class = class_rows(labels, k);
        let mut pruned = vec![false; n];
        let mut noise_rate = vec![0f64; k];
        for i in 0..k {
            let n_i = by_class[i].len();
            let row_total: usize = cj.counts[i].iter().sum();
            if n_i == 0 || row_total == 0 {
                continue;
            }
            let calibrated: Vec<f64> = (0..k)
                .map(|j| cj.counts[i][j] as f64 / row_total as f64 * n_i as f64)
                .collect();
            noise_rate[i] = 1.0 - calibrated[i] / n_i as f64;
            let prune_counts = round_preserving_sum(&calibrated);
            for j in (0..k).filter(|&j| j != i) {
                let take = prune_counts[j];
                if take == 0 {
                    continue;
                }
                let mut rows = by_class[i].clone();
                rows.sort_by(|&a, &b| {
                    (p(b, j) - p(b, i))
                        .total_cmp(&(p(a, j) - p(a, i)))
                        .then(a.cmp(&b))
                });
                for &r in rows.iter().take(take) {
                    pruned[r] = true;
                }
            }
        }
        let arg_max = arg_max(probs, k);
        let mut pair_class = vec![false; k];
        let flags: Vec<bool> = match self.params.method {
            Method::OffDiagonal => off_diagonal,
            Method::PruneByNoiseRate => pruned,
            Method::Both => (0..n).map(|r| off_diagonal[r] && pruned[r]).collect(),
            Method::ClassPairs => {
                // Pairs are found from confident disagreements (a boundary that the flips
                // pushed over clean samples is not confident), then every sample of a
                // found pair whose arg-max is the pair's class is flagged (recall).
                let confident = confident_opinion(&cj, labels);
                let sizes = opinion_sizes(&arg_max, k);
                let pairs = suspicious_pairs(labels, &confident, &sizes, &self.params.pair_test())?;
                for pair in &pairs {
                    pair_class[pair.labelled as usize] = true;
                }
                rows_in_pairs(labels, &arg_max, &pairs)
            }
        };
        let scores: Vec<f64> = (0..n).map(|r| 1.0 - p(r, labels[r] as usize)).collect();
        let mut detection = Detection::from_rows(
            self.name(),
            self.parameters(),
            Rows {
                ids,
                labels,
                num_classes: k,
            },
            &scores,
            &flags,
            |c| {
                let rate = noise_rate[c as usize];
                match self.params.method {
                    Method::ClassPairs => (pair_class[c as usize], rate),
                    _ => (rate >= 0.05, rate),
                }
            },
        );
        detection.relabel = (0..n)
            .filter(|&r| flags[r])
            .map(|r| {
                let suggested = match self.params.method {
                    Method::ClassPairs => arg_max[r],
                    _ => cj.confident_class[r].unwrap_or(arg_max[r]),
                };
                (ids[r], suggested)
            })
            .collect();
        detection.relabel.sort_unstable();
        Ok(detection)
    }
}

impl Detector for ConfidentLearning {
    fn name(&self) -> &'static str {
        "confident"
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    /// Trains [`ConfidentParams::folds_for`] models with the context's [`crate::TrainSpec`] (the context's model is
    /// not used: its probabilities on its own training data are not out-of-sample).
    fn scan(&self, ctx: &ScanContext) -> Result<Detection> {
        let data = ctx.data();
        let present = data.class_counts().iter().filter(|&&c| c > 0).count();
        if present < 2 {
            return Err(DetectError::input(format!(
                "confident learning needs at least 2 classes with samples, found {present}"
            )));
        }
        let probs = shared_probabilities(ctx, self.params.folds_for(data.len()))?;
        self.detect_probabilities(&probs, data.labels(), data.ids(), data.num_classes())
    }
}

/// The `folds`-fold out-of-sample probabilities of the scanned set, computed once per fold
/// count and scan: every confident learning of one scan (`auto`'s flips step asks with other
/// parameters) reads the same ones.
pub(crate) fn shared_probabilities(ctx: &ScanContext, folds: usize) -> Result<Arc<Vec<f32>>> {
    ctx.shared(format!("cross-val probabilities {folds}"), || {
        cross_val_probabilities(ctx.data(), ctx.train_spec(), folds, ctx.seed())
    })
}

/// The two out-of-sample opinions of the class-pair method, from the default fold count's
/// shared probabilities: each row's confident class (its label when no class passes its
/// threshold) and its arg-max.
pub(crate) fn out_of_sample_opinions(ctx: &ScanContext) -> Result<(Vec<u32>, Vec<u32>)> {
    let data = ctx.data();
    let folds = ConfidentParams::default().folds_for(data.len());
    let probs = shared_probabilities(ctx, folds)?;
    let cj = confident_joint(&probs, data.labels(), data.num_classes())?;
    Ok((
        confident_opinion(&cj, data.labels()),
        arg_max(&probs, data.num_classes()),
    ))
}

/// Each row's confident class, or its label when no class passes its threshold.
fn confident_opinion(cj: &ConfidentJoint, labels: &[u32]) -> Vec<u32> {
    cj.confident_class
        .iter()
        .zip(labels)
        .map(|(c, &y)| c.unwrap_or(y))
        .collect()
}

/// Each row's most probable class (`probs` row-major with `k` columns; ties to the smaller).
fn arg_max(probs: &[f32], k: usize) -> Vec<u32> {
    probs
        .chunks_exact(k.max(1))
        .map(|row| {
            (0..row.len())
                .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                .unwrap_or(0) as u32
        })
        .collect()
}

/// The registry entry (see [`crate::registry::DETECTORS`]).
pub const ENTRY: crate::registry::DetectorEntry = crate::registry::DetectorEntry {
    name: "confident",
    role: mithridate_core::Role::Detector,
    modalities: &[],
    summary: "k-fold out-of-sample probabilities, confident joint, label issues flagged with a suggested label; folds (0 = 5, or 3 from 30,000 samples), method=prune-by-noise-rate|off-diagonal|both|class-pairs (targeted flips: per-pair symmetric-confusion test), pair-alpha (0.01), pair-min-count (5), pair-min-ratio (3)",
    paper: "Northcutt, Jiang & Chuang 2021",
    taxonomy: crate::registry::SANITIZATION,
    requires: &[mithridate_core::Requirement::Training],
    provides: &[mithridate_core::Requirement::Relabel],
    build: |p| crate::registry::checked::<ConfidentParams>("confident", p),
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Three classes, nine samples; samples 2 and 5 are flipped (true classes 1 and 2).
    fn example() -> (Vec<f32>, Vec<u32>) {
        #[rustfmt::skip]
        let probs = vec![
            0.8, 0.1, 0.1,
            0.7, 0.2, 0.1,
            0.1, 0.8, 0.1, // labelled 0, looks like 1
            0.1, 0.8, 0.1,
            0.2, 0.7, 0.1,
            0.1, 0.1, 0.8, // labelled 1, looks like 2
            0.1, 0.1, 0.8,
            0.1, 0.2, 0.7,
            0.1, 0.1, 0.8,
        ];
        (probs, vec![0, 0, 0, 1, 1, 1, 2, 2, 2])
    }

    #[test]
    fn confident_joint_matches_hand_computation() {
        let (probs, labels) = example();
        let cj = confident_joint(&probs, &labels, 3).unwrap();
        // t_0 = (0.8+0.7+0.1)/3 = 0.5333, t_1 = (0.8+0.7+0.1)/3, t_2 = (0.8+0.7+0.8)/3 = 0.7667.
        assert!((cj.thresholds[0] - 1.6 / 3.0).abs() < 1e-6);
        assert!((cj.thresholds[2] - 2.3 / 3.0).abs() < 1e-6);
        // Sample 2: p = (.1, .8, .1) -> only class 1 passes -> C[0][1].
        // Sample 5: p = (.1, .1, .8) -> class 2 passes (0.8 >= 0.767) -> C[1][2].
        // Sample 1 (.7,.2,.1): class 0 passes. Sample 4 (.2,.7,.1): class 1 passes.
        // Sample 7 (.1,.2,.7): nothing passes (0.7 < 0.767) -> not counted.
        assert_eq!(cj.counts, vec![vec![2, 1, 0], vec![0, 2, 1], vec![0, 0, 2]]);
        assert_eq!(cj.confident_class[7], None);
    }

    #[test]
    fn every_method_finds_the_flips_and_suggests_labels() {
        let (probs, labels) = example();
        let ids: Vec<u64> = (10..19).collect();
        for method in [Method::OffDiagonal, Method::PruneByNoiseRate, Method::Both] {
            let cl = ConfidentParams {
                folds: 2,
                method,
                ..Default::default()
            }
            .check()
            .unwrap();
            let d = cl.detect_probabilities(&probs, &labels, &ids, 3).unwrap();
            assert_eq!(d.flagged, vec![12, 15], "{method:?}");
            assert_eq!(d.relabel, vec![(12, 1), (15, 2)]);
            assert!((d.scores[2].1 - 0.9).abs() < 1e-6);
        }
    }

    #[test]
    fn the_class_pair_opinions_are_the_confident_class_or_label_and_the_arg_max() {
        let (probs, labels) = example();
        let cj = confident_joint(&probs, &labels, 3).unwrap();
        // Sample 7 (.1, .2, .7) passes no threshold (t_2 = 0.767): it keeps its label 2.
        assert_eq!(
            confident_opinion(&cj, &labels),
            vec![0, 0, 1, 1, 1, 2, 2, 2, 2]
        );
        assert_eq!(arg_max(&probs, 3), vec![0, 0, 1, 1, 1, 2, 2, 2, 2]);
        // Ties go to the smaller class.
        assert_eq!(arg_max(&[0.4, 0.4, 0.2, 0.1, 0.45, 0.45], 3), vec![0, 1]);
    }

    #[test]
    fn calibrated_rows_keep_their_totals_when_rounded() {
        // Expected values are cleanlab 2.9's `round_preserving_sum` on the same input.
        // 18.608 + 3.4 + 2.992 = 25 rounds entry by entry to 19 + 3 + 3 already; 2.6 + 2.6 +
        // 1.8 = 7 would round to 3 + 3 + 2 = 8, so the smallest remainder gives one back.
        assert_eq!(round_preserving_sum(&[18.608, 3.4, 2.992]), vec![19, 3, 3]);
        assert_eq!(round_preserving_sum(&[2.6, 2.6, 1.8]), vec![2, 3, 2]);
        assert_eq!(round_preserving_sum(&[1.4, 1.4, 1.2]), vec![1, 2, 1]);
        assert_eq!(round_preserving_sum(&[0.5, 1.5]), vec![0, 2]);
        assert_eq!(round_preserving_sum(&[]), Vec::<usize>::new());
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(confident_joint(&[0.5, 0.5], &[0, 1], 2).is_err());
        assert!(confident_joint(&[0.5, f32::NAN], &[0], 2).is_err());
        assert!(confident_joint(&[0.5, 0.5], &[2], 2).is_err());
        assert!(ConfidentParams {
            folds: 1,
            method: Method::Both,
            ..Default::default()
        }
        .check()
        .is_err());
        assert!(ConfidentParams {
            pair_alpha: 0.0,
            ..Default::default()
        }
        .check()
        .is_err());
        // A class without samples: infinite threshold, nothing counted into it.
        let cj = confident_joint(&[0.9, 0.1, 0.0, 0.8, 0.2, 0.0], &[0, 0], 3).unwrap();
        assert!(cj.thresholds[1].is_infinite());
        assert_eq!(cj.counts[0], vec![1, 0, 0]);
    }
}
