//! Confusion training: poison detection by decoupling the benign correlations (Qi, Xie, Wang,
//! Wu, Mahloujifar & Mittal, "Towards A Proactive ML Approach for Detecting Backdoor Poison
//! Samples", USENIX Security 2023; code name "Fight Poison with Poison").
//!
//! **Idea.** A model trained on the scanned set learns two kinds of correlation: the benign
//! one (an image's content predicts its label) and the backdoor (a trigger predicts the target).
//! Confusion training keeps training it on the scanned set while also training it, with a much
//! larger weight, on the defender's *trusted clean* samples under **random wrong labels**. The
//! clean samples carry no trigger, so they do not contradict the backdoor; they do contradict
//! every content-to-label mapping. The confused model therefore forgets the benign correlation
//! (a clean training sample's own label becomes one guess among `K`) while a trigger still
//! predicts its target: the poisons are the samples the confused model still assigns to their
//! labels. Unlike the detectors that read the poisoned model after the fact, this does not need
//! the poisons to form a separate cluster or a fast-learned tail; it needs the trigger to be a
//! correlation the model can keep without the content (faint blends and sinusoids qualify).
//!
//! **Procedure** (one round of the paper's distillation loop):
//! 1. Pre-train a fresh model (the context's [`crate::TrainSpec`] architecture and
//!    optimiser, seeded) on the scanned set, so the backdoor is learned first: `pretrain-epochs`
//!    epochs, fewer where they would visit more than `pretrain-rows` rows (at least one epoch;
//!    see [`ConfusionParams::pretraining_epochs`]). The paper counts training in iterations,
//!    not epochs: the content the confusion has to erase grows with the pre-training rows, and
//!    the confusion's rows are capped (`confusion-rows`), so the pre-training is capped too.
//! 2. `confusion-epochs` epochs of confusion: each epoch visits `confusion-rows` scanned rows
//!    (every row of a set that small; else a seeded draw), mixed with `(λ - 1)` confusion rows
//!    per scanned row, drawn uniformly from the clean set, each
//!    with a fresh label drawn uniformly from the `K - 1` wrong ones (the paper's
//!    `target_confusion`). In a mini-batch the expected loss is
//!    `((λ - 1) L_confusion + L_scanned) / λ`, the paper's weighting with confusion factor `λ`.
//!    Memory is bounded by feeding the epoch in blocks of at most [`BLOCK_ROWS`] scanned rows.
//! 3. Score each sample by how much the confused model still believes its label:
//!    `s_i = z(ln p_i(y_i))`, the robust z-score (median, 1.4826 MAD) within its label.
//!
//! One clean sample in five (a seeded draw; none below 50 clean samples) is kept out of the
//! confusion, to check the verdict: a flagged mode that holds at least [`HELD_OUT_VETO`] of
//! its flagged share of the class's held-out clean samples is content the confusion did not
//! erase, and the class is not marked (a trigger's mode holds no clean sample). This check is
//! ours; the paper has no held-out set.
//!
//! **Verdict and flags** (the rule shared with [`crate::dynamics`], see [`crate::tails`]): each
//! class's scores are split by exact 1-D 2-means; a class is suspicious when the split's
//! Ashman's D is at least `min-separation` and, with 5 or more classes, a robust outlier among
//! the classes' (z >= `class-outlier`); its upper cluster is flagged, at most
//! `max-class-share` of the class. The paper's final step (a constrained Gaussian mixture in the
//! confused model's feature space with a likelihood-ratio threshold) is replaced by this rule,
//! which the project's other training-run detectors share: the confused model's label
//! probability is already near-binary, so a 1-D split of it is what the mixture estimates.
//!
//! Measured on clean Fashion-MNIST and MNIST (6,000 images, CNN, 1,000 clean test images as the
//! clean set, two seeds each), the largest class separation after two confusion epochs was 4.1,
//! and on dirty-label SIG at 2% of Fashion-MNIST the target class's was 10.5 (see the crate
//! README); the default floor of 6 sits between. More confusion epochs let the model memorise
//! clean rows again (separations rise on clean data), so the default is 2.
//!
//! Assumptions: a trusted clean set of the scanned data's kind (the paper uses 1,000-2,000
//! samples; it must hold at least 2 classes), dirty-label or clean-label poisons whose trigger
//! the model learns during pre-training, and a model that can fit its rows (the context's
//! architecture). Cost: `e · n + confusion-epochs · λ · min(n, confusion-rows)` training rows,
//! with `e · n <= max(n, pretrain-rows)` (6,000 MNIST images: 276,000 rows, ~42 s on 2 cores
//! with the CNN; 60,000: 300,000 rows, ~26 s) and one forward pass over the set, so beyond
//! 60,000 samples it grows as `n`; memory `O(BLOCK_ROWS · λ)` rows beyond the data.
//!
//! ```
//! use mithridate_detect::ParamGuard;
//! use mithridate_detect::confusion::ConfusionParams;
//! let p = ConfusionParams::default();
//! assert_eq!((p.lambda, p.pretrain_epochs, p.confusion_epochs), (20, 6, 2));
//! assert_eq!((p.confusion_rows, p.pretrain_rows), (6000, 60_000));
//! // 6 epochs up to 10,000 samples, then at most 60,000 rows, and at least one epoch.
//! assert_eq!(p.pretraining_epochs(6_000), 6);
//! assert_eq!(p.pretraining_epochs(15_000), 4);
//! assert_eq!(p.pretraining_epochs(60_000), 1);
//! assert_eq!(p.pretraining_epochs(200_000), 1);
//! assert!(p.check().is_ok());
//! let err = ConfusionParams { lambda: 1, ..p }.check().unwrap_err().to_string();
//! assert!(err.contains("lambda"), "{err}");
//! assert!(ConfusionParams { confusion_epochs: 0, ..p }.check().is_err());
//! ```

use crate::context::class_rows;
use crate::detection::Rows;
use crate::dynamics::check_tail_rule;
use crate::tails::{robust_z, TailRule};
use crate::{DetectError, Detection, Detector, Result, ScanContext};
use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Features};
use mithridate_engine::{Classifier, TrainConfig};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Most scanned rows per confusion block; a block holds `λ` times as many rows in all.
pub const BLOCK_ROWS: usize = 2048;

/// Largest confusion factor accepted: beyond it a block of [`BLOCK_ROWS`] scanned rows would
/// hold over 200,000 rows, and the scanned rows' weight (`1 / λ`) too little to keep the
/// backdoor.
pub const MAX_LAMBDA: usize = 100;

/// Unchecked parameters of [`ConfusionTraining`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct ConfusionParams {
    /// Confusion factor `λ` in `[2, 100]`: confusion rows per scanned row, plus one.
    pub lambda: usize,
    /// Most epochs of ordinary training on the scanned set before the confusion, at least 1.
    pub pretrain_epochs: usize,
    /// Most rows the pre-training visits (at least one epoch), at least 1. Why: the model must
    /// learn the backdoor, but not the content so well that `confusion-epochs` capped epochs
    /// cannot erase it. Full MNIST, dirty SIG 2%: 6 epochs (360,000 rows) left the target
    /// class's separation at 4.87 and 2 epochs at 5.68 (floor 6), 1 epoch at 8.46. Too few
    /// rows and the backdoor is not learned yet: Fashion-MNIST dirty SIG 2% on 15,000 and
    /// 30,000 images separated at 2.93 and 3.41 with 30,000 rows, at 18.3 and 18.9 with 60,000.
    pub pretrain_rows: usize,
    /// Epochs of confusion, at least 1; each visits `confusion-rows` scanned rows.
    pub confusion_epochs: usize,
    /// Scanned rows visited per confusion epoch (all of them in a smaller set; else a fresh
    /// seeded draw each epoch), at least 1. Why a cap: every clean sample is repeated
    /// `(λ - 1) · rows / m` times per epoch; at 60,000 rows and 1,000 clean samples (1,140
    /// repeats) the model memorised the clean samples instead of forgetting the content, and
    /// nothing separated (MNIST dirty SIG 2%: AUROC 0.81, no class), while at 6,000 rows (114
    /// repeats) every measurement of the crate README holds.
    pub confusion_rows: usize,
    /// Robust z-score a class's separation must reach among the classes (>= 0; 0 disables).
    pub class_outlier: f64,
    /// Smallest Ashman's D of a suspicious class's split (> 0).
    pub min_separation: f64,
    /// Most of a suspicious class that is flagged, in `(0, 1]`.
    pub max_class_share: f64,
}

impl Default for ConfusionParams {
    fn default() -> Self {
        ConfusionParams {
            lambda: 20,
            pretrain_epochs: 6,
            pretrain_rows: 60_000,
            confusion_epochs: 2,
            confusion_rows: 6000,
            class_outlier: 3.0,
            min_separation: 6.0,
            max_class_share: 0.5,
        }
    }
}

impl ConfusionParams {
    /// Pre-training epochs on `n` samples: `pretrain-epochs`, or fewer so that they visit at
    /// most `pretrain-rows` rows, but at least one.
    pub fn pretraining_epochs(&self, n: usize) -> usize {
        (self.pretrain_rows / n.max(1)).clamp(1, self.pretrain_epochs.max(1))
    }
}

impl ParamGuard for ConfusionParams {
    type Checked = ConfusionTraining;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        if !(2..=MAX_LAMBDA).contains(&self.lambda) {
            return Err(DetectError::param(format!(
                "confusion training needs lambda in [2, {MAX_LAMBDA}], got {}",
                self.lambda
            )));
        }
        let counts = [
            self.pretrain_epochs,
            self.pretrain_rows,
            self.confusion_epochs,
            self.confusion_rows,
        ];
        if counts.contains(&0) {
            return Err(DetectError::param(format!(
                "confusion training needs pretrain-epochs, pretrain-rows, confusion-epochs and confusion-rows >= 1, got {}, {}, {} and {}",
                counts[0], counts[1], counts[2], counts[3]
            )));
        }
        check_tail_rule(
            self.class_outlier,
            self.min_separation,
            self.max_class_share,
        )
    }

    fn build(self) -> ConfusionTraining {
        ConfusionTraining { params: self }
    }
}

/// The confusion-training detector with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct ConfusionTraining {
    params: ConfusionParams,
}

impl ConfusionTraining {
    /// Pre-trains and confuses a fresh model on `data` with the trusted `clean` samples (see
    /// the [module](self) docs); returns it.
    pub fn confused_model(
        &self,
        data: &Dataset,
        clean: &Dataset,
        recipe: &crate::TrainSpec,
        seed: u64,
    ) -> Result<Classifier> {
        let k = data.num_classes();
        if k < 2 {
            return Err(DetectError::input(
                "confusion training needs at least 2 classes",
            ));
        }
        if clean.modality() != data.modality() {
            return Err(DetectError::input(
                "the trusted clean set's samples differ from the scanned data's",
            ));
        }
        if let Some(&y) = clean.labels().iter().find(|&&y| y as usize >= k) {
            return Err(DetectError::input(format!(
                "the trusted clean set holds label {y}, the scanned data has {k} classes"
            )));
        }
        let one_epoch = epochs(&recipe.config, 1)?;
        let mut model = Classifier::new(recipe.architecture, data.modality(), k, seed)?;
        model.fit(
            data,
            &epochs(&recipe.config, self.params.pretraining_epochs(data.len()))?,
            seed,
            &mut |_| {},
        )?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xC0F5_u64);
        let mut order: Vec<usize> = (0..data.len()).collect();
        let visited = self.params.confusion_rows.min(order.len());
        for epoch in 0..self.params.confusion_epochs {
            order.shuffle(&mut rng);
            for (b, block) in order[..visited].chunks(BLOCK_ROWS).enumerate() {
                let mixed = confusion_block(data, block, clean, self.params.lambda, &mut rng)?;
                let block_seed = seed.wrapping_add(1 + (epoch * 1_000_003 + b) as u64);
                model.fit(&mixed, &one_epoch, block_seed, &mut |_| {})?;
            }
        }
        Ok(model)
    }

    /// Flags from each sample's log-probability of its own label under the confused model.
    pub fn detect_log_probabilities(
        &self,
        log_p: &[f64],
        labels: &[u32],
        ids: &[u64],
        num_classes: usize,
    ) -> Result<Detection> {
        self.detect_with_held_out(log_p, labels, ids, num_classes, None)
    }

    /// [`Self::detect_log_probabilities`], with the held-out clean samples' log-probabilities
    /// of their labels (`held_out`, never seen in the confusion): a class whose flagged mode
    /// holds at least [`HELD_OUT_VETO`] of its flagged share of them is not marked (the mode
    /// is content the confusion failed to erase, which clean samples share; a trigger's mode
    /// holds no clean sample).
    pub fn detect_with_held_out(
        &self,
        log_p: &[f64],
        labels: &[u32],
        ids: &[u64],
        num_classes: usize,
        held_out: Option<(&[f64], &[u32])>,
    ) -> Result<Detection> {
        let n = labels.len();
        if n == 0 || ids.len() != n || log_p.len() != n {
            return Err(DetectError::input(format!(
                "{} log-probabilities and {} ids for {n} samples",
                log_p.len(),
                ids.len()
            )));
        }
        if log_p.iter().any(|v| !v.is_finite() || *v > 0.0) {
            return Err(DetectError::input(
                "log-probabilities must be finite and <= 0",
            ));
        }
        if let Some(&y) = labels.iter().find(|&&y| y as usize >= num_classes) {
            return Err(DetectError::input(format!("label {y} is not a class")));
        }
        let classes = class_rows(labels, num_classes);
        let mut scores = vec![0f64; n];
        for rows in &classes {
            robust_z(log_p, rows, 0.0, &mut scores);
        }
        let rule = TailRule {
            class_outlier: self.params.class_outlier,
            min_separation: self.params.min_separation,
            max_class_share: self.params.max_class_share,
        };
        let rows = Rows {
            ids,
            labels,
            num_classes,
        };
        let mut flags = vec![false; n];
        let mut tails = rule.apply(&scores, &classes, &mut flags);
        if let Some((held_p, held_y)) = held_out {
            for (c, rows) in classes.iter().enumerate() {
                if !tails.suspicious[c] {
                    continue;
                }
                let clean: Vec<f64> = held_y
                    .iter()
                    .zip(held_p)
                    .filter(|(&y, _)| y as usize == c)
                    .map(|(_, &p)| p)
                    .collect();
                if veto_shared_mode(log_p, rows, &clean, &mut flags) {
                    tails.suspicious[c] = false;
                }
            }
        }
        let (suspicious, separation) = (&tails.suspicious, &tails.separation);
        Ok(Detection::from_rows(
            self.name(),
            self.parameters(),
            rows,
            &scores,
            &flags,
            |c| (suspicious[c as usize], separation[c as usize]),
        ))
    }
}

/// Share of a class's flagged share that its held-out clean samples may reach in the flagged
/// mode before the class is vetoed: a mode as common among trusted clean samples as half its
/// share of the scanned class is content, not a trigger. Why: on full Fashion-MNIST with a
/// blended-noise poison (5% -> coats), one pre-training epoch left T-shirts and shirts in two
/// modes after the confusion (separations 92 and 341, ~2,800 clean rows flagged in each).
pub const HELD_OUT_VETO: f64 = 0.5;

/// The held-out veto shared by the detectors with trusted clean samples: whether the flagged
/// mode of the class `rows` (its flags in `flags`, scored by `values`) is shared by the
/// class's held-out clean samples (`held_out`, their values on the same scale): at least
/// [`HELD_OUT_VETO`] of its flagged share of them score at or above the mode's lowest flagged
/// value. A shared mode's flags are cleared. No held-out sample: no veto.
pub(crate) fn veto_shared_mode(
    values: &[f64],
    rows: &[usize],
    held_out: &[f64],
    flags: &mut [bool],
) -> bool {
    let flagged: Vec<usize> = rows.iter().copied().filter(|&r| flags[r]).collect();
    let edge = flagged.iter().map(|&r| values[r]).fold(f64::INFINITY, f64::min);
    let in_mode = held_out.iter().filter(|&&v| v >= edge).count();
    let flagged_share = flagged.len() as f64 / rows.len().max(1) as f64;
    let shared = !held_out.is_empty()
        && in_mode as f64 >= HELD_OUT_VETO * flagged_share * held_out.len() as f64;
    if shared {
        flagged.iter().for_each(|&r| flags[r] = false);
    }
    shared
}

/// Trusted clean samples kept out of the confusion to check the flagged modes: every fifth of
/// a seeded order (`None` for fewer than 50 clean samples, which all go to the confusion).
fn held_out_split(clean: &Dataset, seed: u64) -> Result<(Dataset, Option<Dataset>)> {
    if clean.len() < 50 {
        return Ok((clean.clone(), None));
    }
    let mut order: Vec<usize> = (0..clean.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x4E1D));
    let (mut held, mut kept) = (Vec::new(), Vec::new());
    for (position, &row) in order.iter().enumerate() {
        if position % 5 == 0 { held.push(row) } else { kept.push(row) }
    }
    Ok((clean.select(&kept)?, Some(clean.select(&held)?)))
}

/// `config` with `epochs` epochs.
fn epochs(config: &TrainConfig, epochs: usize) -> Result<TrainConfig> {
    let mut params = config.params().clone();
    params.epochs = epochs;
    Ok(params.check()?)
}

/// The scanned rows `block` with `λ - 1` confusion rows each: clean samples drawn uniformly,
/// each under a label drawn uniformly from the `K - 1` wrong ones.
fn confusion_block(
    data: &Dataset,
    block: &[usize],
    clean: &Dataset,
    lambda: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Dataset> {
    let k = data.num_classes() as u32;
    let extra = block.len() * (lambda - 1);
    let total = block.len() + extra;
    let mut labels = Vec::with_capacity(total);
    let mut picks = Vec::with_capacity(total);
    for &r in block {
        picks.push((false, r));
        labels.push(data.labels()[r]);
    }
    for _ in 0..extra {
        let r = rng.random_range(0..clean.len());
        let truth = clean.labels()[r];
        let wrong = rng.random_range(0..k - 1);
        picks.push((true, r));
        labels.push(if wrong >= truth { wrong + 1 } else { wrong });
    }
    let width = total * data.modality().sample_len();
    let source = |from_clean: bool| if from_clean { clean } else { data };
    let features = match (data.features(), clean.features()) {
        (Features::Dense(_), Features::Dense(_)) => Features::Dense(gather(&picks, width, |c, r| {
            source(c).dense_row(r)
        })),
        (Features::Tokens(_), Features::Tokens(_)) => {
            Features::Tokens(gather(&picks, width, |c, r| source(c).token_row(r)))
        }
        _ => {
            return Err(DetectError::input(
                "the trusted clean set's features differ in kind from the scanned data's",
            ))
        }
    };
    let ids = (0..total as u64).collect();
    Ok(Dataset::new(
        data.modality().clone(),
        features,
        labels,
        ids,
        data.num_classes(),
        Vec::new(),
    )?)
}

/// The feature values of `picks` (`(from the clean set, row)`) in order, each row read by
/// `row_of` (a missing row contributes nothing, and `Dataset::new` then refuses the count).
fn gather<'a, T: Copy + 'a>(
    picks: &[(bool, usize)],
    capacity: usize,
    row_of: impl Fn(bool, usize) -> Option<&'a [T]>,
) -> Vec<T> {
    let mut values = Vec::with_capacity(capacity);
    for &(from_clean, r) in picks {
        values.extend_from_slice(row_of(from_clean, r).unwrap_or_default());
    }
    values
}

impl Detector for ConfusionTraining {
    fn name(&self) -> &'static str {
        "confusion"
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    fn scan(&self, ctx: &ScanContext) -> Result<Detection> {
        let clean = ctx.require_clean_set(self.name())?;
        let data = ctx.data();
        let (confusing, held_out) = held_out_split(clean, ctx.seed())?;
        let model = self.confused_model(data, &confusing, ctx.train_spec(), ctx.seed())?;
        let log_p = |set: &Dataset| -> Result<Vec<f64>> {
            Ok(model
                .per_sample_loss(set)?
                .iter()
                .map(|&l| -f64::from(l).clamp(0.0, 1e6))
                .collect())
        };
        let held = match &held_out {
            Some(h) => Some((log_p(h)?, h.labels())),
            None => None,
        };
        self.detect_with_held_out(
            &log_p(data)?,
            data.labels(),
            data.ids(),
            data.num_classes(),
            held.as_ref().map(|(p, y)| (p.as_slice(), *y)),
        )
    }
}

/// The registry entry (see [`crate::registry::DETECTORS`]).
pub const ENTRY: crate::registry::DetectorEntry = crate::registry::DetectorEntry {
    name: "confusion",
    role: mithridate_core::Role::Detector,
    modalities: &[],
    summary: "confusion training: pre-trains on the data, then trains on it mixed with trusted clean samples under random wrong labels (weight lambda), which erases the benign correlations but not a trigger; flags the 2-means high tail of each class's label probability where the class stands out; needs a trusted clean set (a fifth held out: a flagged mode its clean samples share is not a trigger); lambda (20), pretrain-epochs (6), pretrain-rows (60000, caps the pre-training's rows), confusion-epochs (2), confusion-rows (6000, scanned rows per confusion epoch), class-outlier (3), min-separation (6), max-class-share (0.5)",
    paper: "Qi et al. 2023 (confusion training)",
    taxonomy: crate::registry::SANITIZATION,
    requires: &[
        mithridate_core::Requirement::Training,
        mithridate_core::Requirement::CleanSet,
    ],
    provides: &[],
    build: |p| crate::registry::checked::<ConfusionParams>("confusion", p),
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Six classes of 40 samples confused to ln p ≈ ln 0.1 with a little spread; class 3 also
    /// holds 6 samples (rows 240-245) the confused model still assigns to their label
    /// (ln p ≈ 0). Returns the log-probabilities, labels and ids.
    fn planted_class_3() -> (Vec<f64>, Vec<u32>, Vec<u64>) {
        let mut log_p = Vec::new();
        let mut labels = Vec::new();
        for c in 0..6u32 {
            for i in 0..40 {
                log_p.push((0.1 + 0.002 * f64::from(i % 7) + 0.001 * f64::from(c)).ln());
                labels.push(c);
            }
        }
        for i in 0..6 {
            log_p.push(-0.01 - 0.001 * f64::from(i));
            labels.push(3);
        }
        let ids = (0..labels.len() as u64).collect();
        (log_p, labels, ids)
    }

    #[test]
    fn the_class_whose_labels_survive_confusion_is_flagged_and_only_its_poisons() {
        // Six classes of 40 samples confused to ln p ≈ ln 0.1 with a little spread; class 3
        // also holds 6 samples the confused model still assigns to their label (ln p ≈ 0).
        let (log_p, labels, ids) = planted_class_3();
        let det = ConfusionParams::default()
            .check()
            .unwrap()
            .detect_log_probabilities(&log_p, &labels, &ids, 6)
            .unwrap();
        assert_eq!(det.flagged, (240..246).collect::<Vec<u64>>());
        let flagged_classes: Vec<u32> = det
            .classes
            .iter()
            .filter(|c| c.suspicious)
            .map(|c| c.class)
            .collect();
        assert_eq!(flagged_classes, vec![3]);
        // Without the planted samples nothing is flagged.
        let det = ConfusionParams::default()
            .check()
            .unwrap()
            .detect_log_probabilities(&log_p[..240], &labels[..240], &ids[..240], 6)
            .unwrap();
        assert!(det.flagged.is_empty());
    }

    #[test]
    fn a_mode_the_held_out_clean_samples_share_is_vetoed() {
        // Class 3's upper mode (6 of 46 rows at ln p ≈ 0): flagged without held-out samples;
        // vetoed when 4 of 10 held-out clean samples of class 3 are in it too (>= half of the
        // flagged share 6/46); kept when none of them is.
        let (log_p, labels, ids) = planted_class_3();
        let d = ConfusionParams::default().check().unwrap();
        let held_y = vec![3u32; 10];
        let content: Vec<f64> = (0..10).map(|i| if i < 4 { -0.005 } else { 0.1f64.ln() }).collect();
        let vetoed = d
            .detect_with_held_out(&log_p, &labels, &ids, 6, Some((&content, &held_y)))
            .unwrap();
        assert!(vetoed.flagged.is_empty() && !vetoed.classes[3].suspicious);
        let trigger = vec![0.1f64.ln(); 10];
        let kept = d
            .detect_with_held_out(&log_p, &labels, &ids, 6, Some((&trigger, &held_y)))
            .unwrap();
        assert_eq!(kept.flagged, (240..246).collect::<Vec<u64>>());
    }

    #[test]
    fn bad_inputs_are_one_line_errors() {
        let d = ConfusionParams::default().check().unwrap();
        assert!(d.detect_log_probabilities(&[], &[], &[], 2).is_err());
        let err = d
            .detect_log_probabilities(&[0.5], &[0], &[0], 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("<= 0"), "{err}");
        assert!(d
            .detect_log_probabilities(&[-0.5], &[2], &[0], 2)
            .is_err());
    }
}
