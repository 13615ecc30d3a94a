//! Split consistency: a per-class backdoor test that holds when the poisons are the
//! *majority* of their target class (an all-to-one backdoor at 10% is about half of it) and
//! come from several source classes, the two cases where 2-cluster-minority tests (activation
//! clustering's size rule, SPECTRE's and SCAn's outlier votes) fail.
//!
//! Two independent pieces of evidence must agree, per class `c`:
//!
//! 1. **A second mode in the representation, measured against clean variation.** The class's
//!    centred embeddings are whitened with the pooled within-class covariance of the *other*
//!    classes, `Σ₋c = Σ_{j≠c} Σ_{i∈j} (e_i - μ_j)(e_i - μ_j)ᵀ / (n - n_c)` (SCAn's shared
//!    variation `S_ε`, Tang, Wang, Zhang & Wang 2021, estimated without the tested class so a
//!    poisoned class cannot inflate it; ridge `ρ λ̄`). The whitened class's top principal
//!    direction `v` carries the trigger when there is one (the poison mode's mean offset),
//!    whatever the poisons' share. The projections `p_i = z_i·v` are split by Otsu's 1-D
//!    2-means (Otsu 1979) and the split's separation is `D = (m_hi - m_lo) / s_w` (the gap
//!    of the group means in units of the pooled within-group standard deviation, a pooled
//!    form of Ashman's D; ≈ 2.65 for a Gaussian). `D`'s robust z over the classes
//!    (median/1.4826·MAD) must be at least `separation_outlier`.
//! 2. **One group's labels disagree with the inputs (dirty label).** For each group `G`, a
//!    seeded sample of `queries` members looks up its `k` nearest raw inputs among the
//!    *other classes and the other group* (a seeded reference of at most `reference_size`
//!    rows), never among `G` itself: a blended or patched poison's nearest inputs in the
//!    whole set are other poisons (they share the trigger), which is why a plain k-NN label
//!    check misses them; without its own group, a poison's neighbours are clean samples of its
//!    source class. The share `a_G` of neighbours labelled `c` is the group's agreement; the
//!    class is suspicious when `min_G a_G <= max_agreement`, and the group with the lower
//!    agreement is flagged, whatever its size.
//!
//! Why both: legitimate modes exist (an MNIST 7 with and without its bar, slanted 1s: `D`
//! outliers on clean data), but both of their groups agree with their label in input space;
//! confusable clean classes (Fashion-MNIST shirts and pullovers) have low leave-group-out
//! agreement but no outlying second mode.
//!
//! Assumptions and limits: dirty-label poisons (clean-label poisons agree with their labels:
//! use activation clustering's size rule); the network has learned the trigger as its own
//! feature (a trigger the model has not fitted makes no mode; such poisons are label noise
//! to it and show as low confidence, e.g. random-position patches or WaNet after a short
//! training run); classes share roughly one within-class covariance (the whitening); dense
//! inputs (for token inputs nothing is flagged). Scores: `max(z_c, 0) · (1 - a_min) · side ·
//! (p_i - t) / sd(p)`, positive on the suspect side of well-separated classes.
//!
//! Cost: scatter matrices `O(n d²)`, per class one `d×d` inverse square root and
//! eigendecomposition `O(d³)`; the input check runs only in classes whose `D` is an outlier,
//! `O(2 q R D_in)` each for `q = queries`, `R = reference_size`.
//!
//! ```
//! use mithridate_detect::split_consistency::separation;
//! // Two tight groups 10 apart: the separation is the gap over the within-group spread.
//! let d = separation(&[0.0, 1.0, 0.0, 1.0, 10.0, 11.0, 10.0, 11.0], 5.5);
//! assert!((d - 20.0).abs() < 1e-9);
//! ```

use crate::auto::otsu_split;
use crate::clustering::dense_matrix;
use crate::knn::nearest_neighbours;
use crate::symmetric::{inverse_sqrt, sym_eigen};
use crate::tails::median;
use crate::{check_share, DetectError, Detection, Detector, Embeddings, Result, ScanContext};
use faer::Mat;
use mithridate_core::ParamGuard;
use mithridate_data::{seeded_sample, Dataset};

/// Per-class means and within-class scatter matrices of a set of embeddings, for whitening a
/// class by the *other* classes' pooled covariance `Σ₋c` (SCAn's shared variation `S_ε`,
/// estimated without the tested class so its poisons cannot inflate it).
pub(crate) struct WithinClass {
    /// Each class's mean embedding.
    pub means: Vec<Vec<f64>>,
    scatters: Vec<Mat<f64>>,
    total: Mat<f64>,
    sizes: Vec<usize>,
}

impl WithinClass {
    /// `O(n d²)`: one scatter matrix per class of `classes` (row indices into `emb`).
    pub fn new(emb: &Embeddings, classes: &[Vec<usize>]) -> WithinClass {
        let d = emb.dim();
        let mut means = Vec::with_capacity(classes.len());
        let mut scatters = Vec::with_capacity(classes.len());
        let mut total = Mat::<f64>::zeros(d, d);
        for rows in classes {
            let mean: Vec<f64> = (0..d)
                .map(|j| {
                    rows.iter().map(|&r| emb.row(r)[j] as f64).sum::<f64>()
                        / rows.len().max(1) as f64
                })
                .collect();
            let centred = Mat::from_fn(rows.len(), d, |i, j| emb.row(rows[i])[j] as f64 - mean[j]);
            let scatter = centred.transpose() * &centred;
            total += &scatter;
            means.push(mean);
            scatters.push(scatter);
        }
        let sizes = classes.iter().map(Vec::len).collect();
        WithinClass {
            means,
            scatters,
            total,
            sizes,
        }
    }

    /// `Σ₋c^{-1/2}` with ridge `ρ λ̄` (the other classes must hold at least 2 rows).
    pub fn whitening_without(&self, c: usize, ridge: f64) -> Result<Mat<f64>> {
        let others = self.sizes.iter().sum::<usize>() - self.sizes[c];
        let covariance = (&self.total - &self.scatters[c]) * faer::Scale(1.0 / others.max(1) as f64);
        inverse_sqrt(&covariance, ridge)
    }
}

/// Classes with fewer samples are not tested (score 0, never flagged).
const MIN_CLASS: usize = 8;

/// Unchecked parameters of [`SplitConsistency`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all(deserialize = "kebab-case"))]
pub struct SplitConsistencyParams {
    /// Ridge `ρ` on `Σ₋c`'s eigenvalues, relative to their mean; finite, `>= 0`.
    pub ridge: f64,
    /// Smallest robust z of the class's split separation `D`; finite.
    pub separation_outlier: f64,
    /// Largest leave-group-out label agreement of the suspect group, in `(0, 1]`.
    pub max_agreement: f64,
    /// Input-space neighbours per query, `>= 1`.
    pub k: usize,
    /// Members queried per group (a seeded sample), `>= 1`.
    pub queries: usize,
    /// Reference inputs searched per group (a seeded sample), `>= 1`.
    pub reference_size: usize,
}

impl Default for SplitConsistencyParams {
    fn default() -> Self {
        SplitConsistencyParams {
            ridge: 1e-3,
            separation_outlier: 2.5,
            max_agreement: 0.1,
            k: 10,
            queries: 300,
            reference_size: 4000,
        }
    }
}

impl ParamGuard for SplitConsistencyParams {
    type Checked = SplitConsistency;
    type Error = DetectError;

    fn check_ref(&self) -> Result<()> {
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            return Err(DetectError::param(format!(
                "ridge must be finite and >= 0, got {}",
                self.ridge
            )));
        }
        if !self.separation_outlier.is_finite() {
            return Err(DetectError::param(format!(
                "separation_outlier must be finite, got {}",
                self.separation_outlier
            )));
        }
        check_share("max agreement", self.max_agreement)?;
        if self.k == 0 || self.queries == 0 || self.reference_size == 0 {
            return Err(DetectError::param(format!(
                "k, queries and reference_size must be >= 1, got {}, {}, {}",
                self.k, self.queries, self.reference_size
            )));
        }
        Ok(())
    }

    fn build(self) -> SplitConsistency {
        SplitConsistency { params: self }
    }
}

/// The split-consistency detector with checked parameters (see the [module](self) docs).
#[derive(Debug, Clone)]
pub struct SplitConsistency {
    params: SplitConsistencyParams,
}

/// One tested class: its rows, projections on the top whitened direction, Otsu threshold.
pub(crate) struct ClassSplit {
    rows: Vec<usize>,
    projection: Vec<f64>,
    threshold: f64,
    separation: f64,
}

impl ClassSplit {
    /// The class's rows (indices into the data) and their projections on the top whitened
    /// direction, in the same order.
    pub(crate) fn projected(&self) -> (&[usize], &[f64]) {
        (&self.rows, &self.projection)
    }
}

/// `D = (m_hi - m_lo) / s_w` of the split of `values` at `threshold` (`s_w²` the pooled
/// within-group variance); 0 when a group is empty, infinite when both groups are constant.
pub fn separation(values: &[f64], threshold: f64) -> f64 {
    let (hi, lo): (Vec<f64>, Vec<f64>) = values.iter().partition(|&&v| v > threshold);
    if hi.is_empty() || lo.is_empty() {
        return 0.0;
    }
    let mean = |g: &[f64]| g.iter().sum::<f64>() / g.len() as f64;
    let ss = |g: &[f64], m: f64| g.iter().map(|v| (v - m) * (v - m)).sum::<f64>();
    let (mh, ml) = (mean(&hi), mean(&lo));
    let within = ((ss(&hi, mh) + ss(&lo, ml)) / values.len() as f64).sqrt();
    if within > 0.0 {
        (mh - ml) / within
    } else {
        f64::INFINITY
    }
}

impl SplitConsistency {
    /// Scores and flags `data`'s rows from their embeddings `emb` (same order) and raw inputs;
    /// `seed` drives the query and reference samples.
    pub fn detect(&self, emb: &Embeddings, data: &Dataset, seed: u64) -> Result<Detection> {
        if data.len() != emb.len() {
            return Err(DetectError::input(format!(
                "{} embeddings for {} samples",
                emb.len(),
                data.len()
            )));
        }
        let splits = self.class_splits(emb)?;
        let seps: Vec<f64> = splits.iter().flatten().map(|s| s.separation).collect();
        let z = robust_z(
            &splits
                .iter()
                .map(|s| s.as_ref().map(|s| s.separation))
                .collect::<Vec<_>>(),
            &seps,
        );
        let n = emb.len();
        let (mut scores, mut flags) = (vec![0f64; n], vec![false; n]);
        let mut verdicts = vec![(false, 0.0); emb.num_classes()];
        for (c, split) in splits.iter().enumerate() {
            let Some(split) = split else { continue };
            verdicts[c].1 = z[c];
            let (hi, lo): (Vec<usize>, Vec<usize>) =
                (0..split.rows.len()).partition(|&i| split.projection[i] > split.threshold);
            // The input check runs only where the representation has an outlying mode.
            let agreement = if z[c] >= self.params.separation_outlier {
                self.agreements(data, &split.rows, [&hi, &lo], c as u32, seed)
            } else {
                None
            };
            let (side, a_min) = match agreement {
                Some([a_hi, a_lo]) if a_lo < a_hi => (-1.0, a_lo),
                Some([a_hi, _]) => (1.0, a_hi),
                None => (1.0, 1.0),
            };
            let suspicious = agreement.is_some() && a_min <= self.params.max_agreement;
            verdicts[c].0 = suspicious;
            let sd = std_dev(&split.projection);
            for (i, &r) in split.rows.iter().enumerate() {
                let margin = side * (split.projection[i] - split.threshold);
                scores[r] = z[c].max(0.0) * (1.0 - a_min) * margin / sd;
                flags[r] = suspicious && margin > 0.0;
            }
        }
        Ok(Detection::from_rows(
            self.name(),
            self.parameters(),
            emb.rows(),
            &scores,
            &flags,
            |c| verdicts[c as usize],
        ))
    }

    /// Step 1 for every class with at least [`MIN_CLASS`] rows.
    pub(crate) fn class_splits(&self, emb: &Embeddings) -> Result<Vec<Option<ClassSplit>>> {
        let d = emb.dim();
        let classes = emb.class_rows();
        let within = WithinClass::new(emb, &classes);
        let n = emb.len();
        let mut out = Vec::with_capacity(classes.len());
        for (c, rows) in classes.iter().enumerate() {
            if rows.len() < MIN_CLASS || n - rows.len() < 2 {
                out.push(None);
                continue;
            }
            let whiten = within.whitening_without(c, self.params.ridge)?;
            let centred = Mat::from_fn(rows.len(), d, |i, j| {
                emb.row(rows[i])[j] as f64 - within.means[c][j]
            });
            let z = &centred * &whiten;
            let cov = (z.transpose() * &z) * faer::Scale(1.0 / rows.len() as f64);
            let top = sym_eigen(&cov)?;
            let projection: Vec<f64> = (0..rows.len())
                .map(|i| (0..d).map(|j| z[(i, j)] * top.vectors[(j, 0)]).sum())
                .collect();
            let Some(threshold) = otsu_split(&projection) else {
                out.push(None);
                continue;
            };
            let separation = separation(&projection, threshold);
            out.push(Some(ClassSplit {
                rows: rows.clone(),
                projection,
                threshold,
                separation,
            }));
        }
        Ok(out)
    }

    /// Step 2: each group's leave-group-out agreement with `class` (indices into `rows`);
    /// `None` for token inputs or when a group or the reference is empty.
    fn agreements(
        &self,
        data: &Dataset,
        rows: &[usize],
        groups: [&Vec<usize>; 2],
        class: u32,
        seed: u64,
    ) -> Option<[f64; 2]> {
        let p = self.params;
        let labels = data.labels();
        let mut out = [0f64; 2];
        for (g, group) in groups.iter().enumerate() {
            let other = groups[1 - g];
            let eligible: Vec<usize> = (0..data.len())
                .filter(|&r| labels[r] != class)
                .chain(other.iter().map(|&i| rows[i]))
                .collect();
            if group.is_empty() || eligible.is_empty() {
                return None;
            }
            let group_seed = seed.wrapping_add(((class as u64) << 1) | g as u64);
            let reference: Vec<usize> = seeded_sample(eligible.len(), p.reference_size, group_seed)
                .into_iter()
                .map(|i| eligible[i])
                .collect();
            let queried: Vec<usize> = seeded_sample(group.len(), p.queries, group_seed)
                .into_iter()
                .map(|i| rows[group[i]])
                .collect();
            let dim = data.modality().sample_len();
            let (queries, refs) = (
                dense_matrix(data, &queried, dim)?,
                dense_matrix(data, &reference, dim)?,
            );
            let neighbours =
                nearest_neighbours(queries.as_ref(), refs.as_ref(), p.k, &|_, _| false);
            let (agree, total) = neighbours
                .iter()
                .flatten()
                .fold((0usize, 0usize), |(a, t), &j| {
                    (a + usize::from(labels[reference[j]] == class), t + 1)
                });
            out[g] = agree as f64 / total.max(1) as f64;
        }
        Some(out)
    }
}

/// Robust z `(v - median) / (1.4826 MAD)` of each present value against `present`; 0 for
/// absent values, and for all with fewer than 3 present or a zero MAD.
fn robust_z(values: &[Option<f64>], present: &[f64]) -> Vec<f64> {
    let finite: Vec<f64> = present.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < 3 {
        return vec![0.0; values.len()];
    }
    let centre = median(&finite);
    let deviations: Vec<f64> = finite.iter().map(|v| (v - centre).abs()).collect();
    let scale = 1.4826 * median(&deviations);
    values
        .iter()
        .map(|v| match v {
            Some(v) if scale > 0.0 => ((v - centre) / scale).min(1e6),
            _ => 0.0,
        })
        .collect()
}

fn std_dev(values: &[f64]) -> f64 {
    let m = values.iter().sum::<f64>() / values.len().max(1) as f64;
    let var = values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / values.len().max(1) as f64;
    var.sqrt().max(f64::MIN_POSITIVE)
}

impl Detector for SplitConsistency {
    fn name(&self) -> &'static str {
        "split-consistency"
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(self.params).unwrap_or_default()
    }

    fn scan(&self, ctx: &ScanContext) -> Result<Detection> {
        self.detect(&ctx.embeddings()?, ctx.data(), ctx.seed())
    }
}

/// The registry entry (see [`crate::registry::DETECTORS`]).
pub const ENTRY: crate::registry::DetectorEntry = crate::registry::DetectorEntry {
    name: "split-consistency",
    role: mithridate_core::Role::Detector,
    modalities: &[],
    summary: "per class: top direction of the embeddings whitened by the other classes' within-class covariance, Otsu split; a class with an outlying split whose one group's inputs disagree with the label (k-NN among other classes and the other group) has that group flagged, whatever its size; ridge (0.001), separation-outlier (2.5), max-agreement (0.1), k (10), queries (300), reference-size (4000)",
    paper: "Tang et al. 2021 (S_eps whitening); Otsu 1979; Chen et al. 2018 (label consistency)",
    taxonomy: crate::registry::SANITIZATION,
    requires: &[mithridate_core::Requirement::Model],
    provides: &[],
    build: |p| crate::registry::checked::<SplitConsistencyParams>("split-consistency", p),
};

#[cfg(test)]
mod tests {
    use super::*;
    use mithridate_data::{Features, Modality};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    const CLASSES: usize = 6;
    const CLEAN: usize = 60;
    const POISONS: usize = 80;
    const INPUT_DIM: usize = 8;
    const EMB_DIM: usize = 4;

    /// Six classes of 60 clean samples (inputs near `10 e_c`, embeddings near `8 e_c`-like
    /// class means with unit noise). Class 1 has a legitimate second mode (half its
    /// embeddings shifted along one axis; inputs unchanged). Class 0 receives 80 poisons, a
    /// *majority* of it: inputs of classes 1..5 plus a small trigger, embeddings at class 0's
    /// mean plus a trigger offset.
    fn planted() -> (Dataset, Vec<f32>, Vec<bool>) {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut normal = || -> f32 { StandardNormal.sample(&mut rng) };
        let class_mean = |c: usize| -> [f32; EMB_DIM] {
            let angle = c as f32 * std::f32::consts::TAU / CLASSES as f32;
            [20.0 * angle.cos(), 20.0 * angle.sin(), 0.0, 0.0]
        };
        let (mut inputs, mut emb, mut labels, mut poisoned) = (vec![], vec![], vec![], vec![]);
        let mut push = |source: usize,
                        label: usize,
                        trigger: bool,
                        mode: bool,
                        normal: &mut dyn FnMut() -> f32| {
            for j in 0..INPUT_DIM {
                let centre = if j == source { 10.0 } else { 0.0 };
                let mark = if trigger && j == INPUT_DIM - 1 {
                    1.0
                } else {
                    0.0
                };
                inputs.push(centre + mark + 0.5 * normal());
            }
            let mut e = class_mean(label);
            if trigger {
                e[2] += 10.0;
            }
            if mode {
                e[3] += 10.0;
            }
            emb.extend(e.iter().map(|v| v + normal()));
            labels.push(label as u32);
            poisoned.push(trigger);
        };
        for c in 0..CLASSES {
            for i in 0..CLEAN {
                push(c, c, false, c == 1 && i % 2 == 0, &mut normal);
            }
        }
        for i in 0..POISONS {
            push(1 + i % (CLASSES - 1), 0, true, false, &mut normal);
        }
        let n = labels.len();
        let data = Dataset::new(
            Modality::Tabular {
                features: INPUT_DIM,
            },
            Features::Dense(inputs),
            labels,
            (0..n as u64).collect(),
            CLASSES,
            vec![],
        )
        .unwrap();
        (data, emb, poisoned)
    }

    #[test]
    fn flags_a_majority_poison_group_and_not_a_legitimate_mode() {
        let (data, values, poisoned) = planted();
        let emb = Embeddings::new(&values, EMB_DIM, data.labels(), data.ids(), CLASSES).unwrap();
        let detector = SplitConsistencyParams::default().check().unwrap();
        let d = detector.detect(&emb, &data, 0).unwrap();
        let expected: Vec<u64> = (0..poisoned.len() as u64)
            .filter(|&i| poisoned[i as usize])
            .collect();
        assert_eq!(d.flagged, expected);
        assert_eq!(d.suspicious_classes(), vec![0]);
        // Class 1's second mode is at least as separated, but both halves agree with their label.
        assert!(d.classes[1].statistic >= detector.params.separation_outlier);
        let m = crate::metrics::score_detection(&d, &expected).unwrap();
        assert!(m.auroc.unwrap() > 0.99, "{m:?}");
    }

    #[test]
    fn bad_parameters_and_inputs_are_named() {
        let mut p = SplitConsistencyParams {
            max_agreement: 0.0,
            ..Default::default()
        };
        assert!(p
            .check_ref()
            .unwrap_err()
            .to_string()
            .contains("max agreement"));
        p.max_agreement = 0.1;
        p.k = 0;
        assert!(p
            .check_ref()
            .unwrap_err()
            .to_string()
            .contains("k, queries"));
        p.k = 10;
        p.ridge = f64::NAN;
        assert!(p.check_ref().unwrap_err().to_string().contains("ridge"));
        let (data, values, _) = planted();
        let short = &values[..EMB_DIM * 10];
        let emb = Embeddings::new(
            short,
            EMB_DIM,
            &data.labels()[..10],
            &data.ids()[..10],
            CLASSES,
        )
        .unwrap();
        let err = SplitConsistencyParams::default()
            .check()
            .unwrap()
            .detect(&emb, &data, 0);
        assert!(err.unwrap_err().to_string().contains("10 embeddings"));
    }
}
