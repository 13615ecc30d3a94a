//! Input consistency: dirty-label poisons still *look like* the classes they were taken from,
//! whatever the trigger, so a backdoor's target class holds many samples whose nearest raw
//! inputs carry other labels, from many source classes at once, and no model is needed to
//! see it.
//!
//! Method (k-NN label consistency, Peri et al. 2020, moved from the model's feature space to
//! the input space; the symmetric-rate calibration of [`crate::class_pairs`]; the pooled per-class
//! rule is this project's):
//! 1. *Space.* The dense inputs are centred and projected on their `components` leading
//!    principal directions, estimated on a seeded sample of `pca-sample` rows
//!    (`z = V_c^T (x - x̄)`); `components = 0` keeps the raw inputs.
//! 2. *Opinion.* Each sample's `k` nearest neighbours (Euclidean in `z`, itself excluded)
//!    among a seeded reference sample of `reference-size` rows vote with their labels; `ŷ_i` is
//!    the plurality label when it has strictly more votes than `y_i`, else `y_i`
//!    (*outvoted* when `ŷ_i != y_i`). Score `s_i` = share of neighbours labelled `!= y_i`.
//! 3. *Class evidence*, computed twice: over every outvoted row (`ŷ_i` as above), and over
//!    the *decisively* outvoted ones (`ŷ'_i = ŷ_i` when at most `decisive-own-share` of the
//!    row's neighbours carry `y_i`, 1 of 10 by default; else `y_i`). For an opinion `ŷ`:
//!    `D[t][s] = #{i : y_i = t, ŷ_i = s}`, `n_c` = how many samples the opinion assigns to
//!    `c`. Natural confusion is symmetric in rate (see [`crate::class_pairs`]), so the
//!    expected count is `E[t][s] = D[s][t] n_t / n_s` and the excess
//!    `x_ts = D[t][s] - E[t][s]`. Per class: the *sources* (classes `s` with `x_ts > 0`), the
//!    *excess share* `e_t = Σ_s max(x_ts, 0) / #{y_i = t}`, and a pooled one-sided test of
//!    `X = Σ_s D[t][s]` against the pair nulls
//!    `D[t][s] ~ Binomial(D[t][s] + D[s][t], n_t / (n_t + n_s))` (normal approximation;
//!    level `alpha / K`).
//! 4. *Classes.* An evidence marks class `t` when (a) at least `ceil(min-source-share (K - 1))`
//!    classes are sources (7 of 9 others by default: an all-to-one backdoor draws from every
//!    class), (b) the pooled test rejects, and (c) with 5 or more classes, `e_t` is an outlier
//!    among the classes' excess shares (robust z `>= class-outlier`, 4). Class `t` is
//!    suspicious when either evidence marks it. (a) alone is met by natural *sink* classes
//!    whose samples resemble many others (MNIST 8 and 2: 7-8 sources, excess share 5-10% on
//!    clean 6k-10k subsets); over every outvoted row MNIST's 8 passed z 3 on 3 of 30 clean
//!    6,000-image subsets (seeds 23, 26, 27; z 3.55 on seed 23). Why two evidences: a sink
//!    class's outvoted samples are ambiguous shapes whose neighbours split between labels
//!    (own label still 1-4 of 10), while a dirty-label poison is a genuine sample of its
//!    source, outvoted by nearly all its neighbours (own label 0-1 of 10 for 60 of 60
//!    random-position patches at 1%, counted offline with scikit-learn). Among the decisive
//!    rows a sink class keeps a 2-4% excess share and a 1% poison stands out: on 6,000-image
//!    subsets the check now marks 6 of the 8 1% poisons of the detect README's stop-51
//!    sweep, where the first evidence alone (at z 3) marked 1 of them. The first evidence still
//!    catches poisons that are one another's neighbours (blends at 5-10%, own label 2+ of
//!    10). Flagged, with `ŷ_i` as the suggested label: every outvoted sample of a class the
//!    first evidence marks, or that the second marks while the first passes at the
//!    candidates' weaker z; every decisively outvoted sample of a class only the second
//!    marks.
//!
//! Scores: `s_i`, plus 1 in suspicious classes (so the flagged samples rank first).
//!
//! Assumptions and limits: poisons keep most of their source's pixels (patches anywhere,
//! blends, additive signals, warps: the trigger must not dominate the Euclidean distance);
//! labels are dirty (clean-label attacks keep labels consistent with the inputs and pass);
//! triggers shared by every poison pull poisons towards each other, so blended *images* are
//! found only partly (MNIST blend image α 0.2 at 5%: recall 0.69); a backdoor drawing from
//! fewer than `min-source-share` of the other classes (source-specific, all-to-all) looks like
//! a targeted flip (run `knn -P vote=class-pairs`); so does a poison too small to make its
//! class an outlier (60 poisons among 6,000 images were missed); the natural confusions of the target class are flagged
//! with the poisons (precision falls when the poison count is small next to them). Token
//! inputs are not scanned (nothing flagged).
//!
//! Cost: PCA `O(m d^2 + d^3)` (`m = pca-sample`), projection `O(n d c)`, search `O(n R c)`
//! with `R = min(n, reference-size)`, memory `O(n c + 256 R)`. All 60,000 MNIST training
//! images: 14 s on 2 cores.
//!
//! ```
//! use mithridate_data::{Dataset, Features, Modality};
//! use mithridate_detect::input_consistency::InputConsistencyParams;
//! use mithridate_detect::ParamGuard;
//! // Four 1-D classes of 40 near 0, 10, 20, 30; class 0 also holds 12 samples taken from
//! // each other class (a dirty-label poison drawn from 3 sources).
//! let (mut x, mut y) = (vec![], vec![]);
//! for c in 0..4u32 {
//!     for i in 0..40 {
//!         x.push(10.0 * c as f32 + 0.01 * i as f32);
//!         y.push(c);
//!     }
//! }
//! for c in 1..4u32 {
//!     for i in 0..12 {
//!         x.push(10.0 * c as f32 + 0.005 + 0.03 * i as f32);
//!         y.push(0);
//!     }
//! }
//! let ids: Vec<u64> = (0..y.len() as u64).collect();
//! let data = Dataset::new(Modality::Tabular { features: 1 }, Features::Dense(x), y, ids, 4, vec![])?;
//! let d = InputConsistencyParams::default().check()?.detect(&data, 0)?;
//! assert_eq!(d.flagged, (160..196).collect::<Vec<u64>>());
//! assert!(d.classes[0].suspicious && !d.classes[1].suspicious);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod projection;

pub(crate) use projection::Projection;

use crate::class_pairs::{disagreement_counts, opinion_sizes};
use crate::tails::{robust_z, MIN_CLASSES_FOR_OUTLIER};
use crate::detection::Rows;
use crate::knn::{nearest_neighbours, neighbour_vote};
use crate::{DetectError, Detection, Detector, Result, ScanContext};
use faer::Mat;
use mithridate_core::ParamGuard;
use mithridate_data::{seeded_sample, Dataset, Features};
use statrs::distribution::{ContinuousCDF, Normal};

/// Unchecked parameters of [`InputConsistency`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct InputConsistencyParams {
    /// Neighbours per sample, at least 1.
    pub k: usize,
    /// Principal components of the inputs searched (0: the raw inputs).
    pub components: usize,
    /// Rows the principal directions are estimated on (a seeded sample), at least 2.
    pub pca_sample: usize,
    /// Rows the neighbours are searched among (a seeded sample), at least 1.
    pub reference_size: usize,
    /// Share of the other `K - 1` classes that must be sources of a class's excess
    /// disagreement to mark it (at least one class), in `(0, 1]`.
    pub min_source_share: f64,
    /// Family-wise false-alarm rate of the pooled per-class test, in `(0, 1)`.
    pub alpha: f64,
    /// Robust z a class's excess share needs among the classes' (5 or more classes), `> 0`.
    pub class_outlier: f64,
    /// A row counts in the *decisive* evidence when at most this share of its neighbours
    /// carry its own label, in `[0, 1)`.
    pub decisive_own_share: f64,
}

impl Default for InputConsistencyParams {
    fn default() -> Self {
        InputConsistencyParams {
            k: 10,
            components: 64,
            pca_sample: 5000,
            reference_size: 20_000,
            min_source_share: 0.75,
            alpha: 0.01,
            class_outlier: 4.0,
            decisive_own_share: 0.1,
        }
    }
}

impl ParamGuard for InputConsistencyParams {
    type Checked = InputConsistency;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        let positive = [
            ("k", self.k),
            ("reference-size", self.reference_size),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(DetectError::param(format!(
                "input-consistency {name} must be at least 1"
            )));
        }
        crate::check_share("input-consistency min-source-share", self.min_source_share)?;
        if self.pca_sample < 2 {
            return Err(DetectError::param(format!(
                "input-consistency pca-sample must be at least 2, got {}",
                self.pca_sample
            )));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(DetectError::param(format!(
                "input-consistency alpha must be in (0, 1), got {}",
                self.alpha
            )));
        }
        if !(self.class_outlier.is_finite() && self.class_outlier > 0.0) {
            return Err(DetectError::param(format!(
                "input-consistency class-outlier must be positive, got {}",
                self.class_outlier
            )));
        }
        if !(self.decisive_own_share >= 0.0 && self.decisive_own_share < 1.0) {
            return Err(DetectError::param(format!(
                "input-consistency decisive-own-share must be in [0, 1), got {}",
                self.decisive_own_share
            )));
        }
        Ok(())
    }

    fn build(self) -> InputConsistency {
        InputConsistency { params: self }
    }
}

/// The input-consistency detector with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct InputConsistency {
    params: InputConsistencyParams,
}

/// Smallest cross-class spread of the excess shares: differences below about one point of a
/// class are sampling noise (and a set whose clean classes all have zero excess must not
/// make any positive share an infinite outlier).
const SHARE_SPREAD_FLOOR: f64 = 0.01;

/// A candidate class's excess share needs this share of `class-outlier`'s robust z (2 at the
/// default 4). An all-to-one backdoor of 1% (200 poisons among 20,000 MNIST images) gave
/// z = 2.5: a real poisoned class, too weak for the input check alone.
pub(crate) const CANDIDATE_Z_SHARE: f64 = 0.5;

/// The input check's result as `auto` uses it.
pub(crate) struct InputCheck {
    pub detection: Detection,
    /// Per class: (a) and (b) of step 4 hold and the excess share's robust z is at least
    /// [`CANDIDATE_Z_SHARE`] of `class-outlier` (a superset of the suspicious classes). A
    /// candidate is not flagged here; `auto` marks it only when a model-based member finds
    /// a poison mode in it too.
    pub candidate: Vec<bool>,
    /// Each row's neighbour opinion `ŷ_i` (step 2); `None` for token inputs.
    pub opinion: Option<Vec<u32>>,
    /// The searched space (step 1, `n x c`) and the reference rows, for checks of a group of
    /// rows against the others ([`crate::group_check`]); `None` for token inputs.
    pub space: Option<(Mat<f32>, Vec<usize>)>,
    /// Step 1's map that produced `space` (`None` for token inputs, and for a recheck, which
    /// reuses its first check's space): a trusted clean set is projected with it
    /// ([`crate::clean_reference`]).
    pub projection: Option<Projection>,
}

/// Step 4's verdict on one class.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ClassMark {
    /// Marked by the evidence over every outvoted row.
    by_all: bool,
    /// Marked by the evidence over the decisively outvoted rows.
    by_decisive: bool,
    /// Either evidence passes with the candidates' weaker z.
    candidate: bool,
    /// The evidence over every outvoted row passes with the candidates' weaker z.
    all_near: bool,
}

/// Step 3's per-class evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ClassEvidence {
    /// Classes `s` with a positive excess `x_ts`.
    sources: usize,
    /// `Σ_s max(x_ts, 0)` over the samples labelled `t`.
    excess_share: f64,
    /// One-sided p-value of the pooled test (before the `K` factor).
    p_value: f64,
}

/// Step 3 for every class, from the labels and the opinions (`< k`).
fn class_evidence(labels: &[u32], opinion: &[u32], k: usize) -> Vec<ClassEvidence> {
    let sizes = opinion_sizes(opinion, k);
    let labelled = opinion_sizes(labels, k);
    let d = disagreement_counts(labels, opinion, k);
    let standard = Normal::new(0.0, 1.0).expect("the standard normal is valid");
    (0..k)
        .map(|t| {
            let (mut sources, mut excess, mut count, mut mean, mut var) = (0, 0.0, 0.0, 0.0, 0.0);
            for s in (0..k).filter(|&s| s != t) {
                let (forward, reverse) = (d[t][s] as f64, d[s][t] as f64);
                let expected = reverse * sizes[t] as f64 / sizes[s].max(1) as f64;
                if forward > expected {
                    sources += 1;
                    excess += forward - expected;
                }
                let share = sizes[t] as f64 / (sizes[t] + sizes[s]).max(1) as f64;
                let m = forward + reverse;
                (count, mean, var) = (
                    count + forward,
                    mean + m * share,
                    var + m * share * (1.0 - share),
                );
            }
            let p_value = match (count > mean, var > 0.0) {
                (false, _) => 1.0,
                (true, false) => 0.0,
                (true, true) => standard.sf((count - mean) / var.sqrt()),
            };
            ClassEvidence {
                sources,
                excess_share: excess / labelled[t].max(1) as f64,
                p_value,
            }
        })
        .collect()
}

impl InputConsistency {
    /// Scores and flags `data`'s rows from their raw inputs; `seed` drives the samples.
    pub fn detect(&self, data: &Dataset, seed: u64) -> Result<Detection> {
        self.detect_with_candidates(data, seed).map(|check| check.detection)
    }

    /// [`Self::detect`], plus what `auto` combines with its model-based members.
    pub(crate) fn detect_with_candidates(&self, data: &Dataset, seed: u64) -> Result<InputCheck> {
        let (labels, k, n) = (data.labels(), data.num_classes(), data.len());
        let Features::Dense(values) = data.features() else {
            // Token inputs have no Euclidean geometry to vote in.
            let rows = Rows {
                ids: data.ids(),
                labels,
                num_classes: k,
            };
            let detection = Detection::from_rows(
                self.name(),
                self.parameters(),
                rows,
                &vec![0.0; n],
                &vec![false; n],
                |_| (false, 0.0),
            );
            return Ok(InputCheck {
                detection,
                candidate: vec![false; k],
                opinion: None,
                space: None,
                projection: None,
            });
        };
        let projection = self.projection(values, data, seed)?;
        let space = projection.apply(values);
        let reference = seeded_sample(n, self.params.reference_size, seed.wrapping_add(1));
        let mut check = self.check_in_space(data, space, reference)?;
        check.projection = Some(projection);
        Ok(check)
    }

    /// `previous` (this check's result on `data`) again with the rows marked in `excluded`
    /// left out of the references, in the same projected space (`auto`, once a poison mode is
    /// confirmed: its rows must not outvote the clean samples they resemble). `None` for
    /// token inputs, which have no space.
    pub(crate) fn recheck_without(
        &self,
        data: &Dataset,
        previous: &InputCheck,
        excluded: &[bool],
    ) -> Result<Option<InputCheck>> {
        let Some((space, reference)) = &previous.space else {
            return Ok(None);
        };
        let kept = reference
            .iter()
            .copied()
            .filter(|&r| !excluded.get(r).copied().unwrap_or(false))
            .collect();
        self.check_in_space(data, space.clone(), kept).map(Some)
    }

    /// Steps 2-4 in the projected `space` (`n x c`), each row's neighbours searched among the
    /// `reference` rows.
    fn check_in_space(
        &self,
        data: &Dataset,
        space: Mat<f32>,
        reference: Vec<usize>,
    ) -> Result<InputCheck> {
        let (labels, k, n) = (data.labels(), data.num_classes(), data.len());
        let rows = Rows {
            ids: data.ids(),
            labels,
            num_classes: k,
        };
        let refs = Mat::from_fn(reference.len(), space.ncols(), |i, j| {
            space[(reference[i], j)]
        });
        let neighbours = nearest_neighbours(space.as_ref(), refs.as_ref(), self.params.k, &|i, j| {
            reference[j] == i
        });
        let mut scores = vec![0f64; n];
        let mut opinion = vec![0u32; n];
        for (i, nearest) in neighbours.iter().enumerate() {
            let votes = nearest.iter().map(|&j| labels[reference[j]]);
            (scores[i], opinion[i]) = neighbour_vote(votes, labels[i], k);
        }
        // Step 3 twice: over every outvoted row, and over the decisively outvoted ones.
        let own_share_at_most = self.params.decisive_own_share + 1e-9;
        let decisive_opinion: Vec<u32> = (0..n)
            .map(|i| match 1.0 - scores[i] <= own_share_at_most {
                true => opinion[i],
                false => labels[i],
            })
            .collect();
        let evidence = class_evidence(labels, &opinion, k);
        let decisive = class_evidence(labels, &decisive_opinion, k);
        let marks = self.verdicts(&evidence, &decisive);
        let suspicious: Vec<bool> = marks.iter().map(|m| m.by_all || m.by_decisive).collect();
        let candidate = marks.iter().map(|m| m.candidate).collect();
        // A class marked by the decisive evidence alone has only its decisive rows flagged,
        // unless the other evidence is near its mark too.
        let flags: Vec<bool> = (0..n)
            .map(|i| {
                let m = &marks[labels[i] as usize];
                match (m.by_all || (m.by_decisive && m.all_near), m.by_decisive) {
                    (true, _) => opinion[i] != labels[i],
                    (false, true) => decisive_opinion[i] != labels[i],
                    (false, false) => false,
                }
            })
            .collect();
        for (score, &y) in scores.iter_mut().zip(labels) {
            if suspicious[y as usize] {
                *score += 1.0;
            }
        }
        let mut detection =
            Detection::from_rows(self.name(), self.parameters(), rows, &scores, &flags, |c| {
                (suspicious[c as usize], evidence[c as usize].excess_share)
            });
        detection.relabel = (0..n)
            .filter(|&i| flags[i])
            .map(|i| (data.ids()[i], opinion[i]))
            .collect();
        detection.relabel.sort_unstable();
        Ok(InputCheck {
            detection,
            candidate,
            opinion: Some(opinion),
            space: Some((space, reference)),
            projection: None,
        })
    }

    /// Step 4 for each class, from the evidence over every outvoted row and over the
    /// decisively outvoted ones.
    fn verdicts(&self, all: &[ClassEvidence], decisive: &[ClassEvidence]) -> Vec<ClassMark> {
        let (level_all, z_all) = self.robust_levels(all);
        let (level_dec, z_dec) = self.robust_levels(decisive);
        let (full, weak) = (
            self.params.class_outlier,
            CANDIDATE_Z_SHARE * self.params.class_outlier,
        );
        (0..all.len())
            .map(|t| {
                let all_near = level_all[t] && z_all[t] >= weak;
                ClassMark {
                    by_all: level_all[t] && z_all[t] >= full,
                    by_decisive: level_dec[t] && z_dec[t] >= full,
                    candidate: all_near || (level_dec[t] && z_dec[t] >= weak),
                    all_near,
                }
            })
            .collect()
    }

    /// Per class: whether (a) and (b) of step 4 hold, and the excess share's robust z among
    /// the classes' (infinite below 5 classes).
    fn robust_levels(&self, evidence: &[ClassEvidence]) -> (Vec<bool>, Vec<f64>) {
        let k = evidence.len();
        let others = k.saturating_sub(1) as f64;
        let needed = ((self.params.min_source_share * others).ceil() as usize).max(1);
        let shares: Vec<f64> = evidence.iter().map(|e| e.excess_share).collect();
        let mut z = vec![f64::INFINITY; k];
        if k >= MIN_CLASSES_FOR_OUTLIER {
            robust_z(&shares, &(0..k).collect::<Vec<_>>(), SHARE_SPREAD_FLOOR, &mut z);
        }
        let level = self.params.alpha / k.max(1) as f64;
        let passes = evidence
            .iter()
            .map(|e| e.sources >= needed && e.p_value <= level)
            .collect();
        (passes, z)
    }

    /// The checked parameters.
    pub(crate) fn params(&self) -> &InputConsistencyParams {
        &self.params
    }

    /// Step 1's map, estimated on `data` (whose dense features are `values`): other rows of
    /// the same kind (a trusted clean set) can be projected into the same space.
    pub(crate) fn projection(&self, values: &[f32], data: &Dataset, seed: u64) -> Result<Projection> {
        Projection::fit(self.params.components, self.params.pca_sample, values, data, seed)
    }
}

impl Detector for InputConsistency {
    fn name(&self) -> &'static str {
        "input-consistency"
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    fn scan(&self, ctx: &ScanContext) -> Result<Detection> {
        Ok(self.shared_check(ctx)?.detection.clone())
    }
}

impl InputConsistency {
    /// The check on the context's data, computed once per parameters in a scan (`auto` runs
    /// it too).
    pub(crate) fn shared_check(&self, ctx: &ScanContext) -> Result<std::sync::Arc<InputCheck>> {
        let key = format!("input check {}", self.parameters());
        ctx.shared(key, || self.detect_with_candidates(ctx.data(), ctx.seed()))
    }
}

/// The registry entry (see [`crate::registry::DETECTORS`]).
pub const ENTRY: crate::registry::DetectorEntry = crate::registry::DetectorEntry {
    name: "input-consistency",
    role: mithridate_core::Role::Detector,
    modalities: &[],
    summary: "no model needed: k-NN label vote among the raw inputs (PCA), per-pair asymmetry test; a class whose excess disagreement (over every outvoted row, or over the decisively outvoted ones) comes from most other classes, passes a pooled test and is an outlier among the classes has its outvoted samples flagged (dirty-label backdoors of any trigger shape); k (10), components (64), pca-sample (5000), reference-size (20000), min-source-share (0.75 of the other classes), alpha (0.01), class-outlier (4), decisive-own-share (0.1: at most 1 of 10 neighbours share the row's label)",
    paper: "Peri et al. 2020 (k-NN label consistency), in input space; class-pair calibration (this project)",
    taxonomy: crate::registry::SANITIZATION,
    requires: &[],
    provides: &[mithridate_core::Requirement::Relabel],
    build: |p| crate::registry::checked::<InputConsistencyParams>("input-consistency", p),
};

#[cfg(test)]
mod tests;
