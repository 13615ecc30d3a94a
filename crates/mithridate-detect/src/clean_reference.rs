//! Input consistency against trusted clean samples: the neighbours that vote on a sample's
//! label are the defender's clean samples, not the scanned set, so poisons cannot vote for
//! one another.
//!
//! Why: [`crate::input_consistency`] lets each sample's nearest *scanned* inputs vote. A
//! global trigger at a high rate (a warp or a blended image on 5-10% of the set) makes the
//! poisons taken from one source class one another's nearest inputs, all labelled with the
//! target, so they are not outvoted and the target class looks consistent (Fashion-MNIST
//! WaNet `s = 1` at 10%: class 4's excess share 0.22, no outlier). Against clean references
//! a poison's neighbours are clean samples of its source class.
//!
//! Method (k-NN label consistency, Peri et al. 2020, in input space, with the trusted clean
//! set as the reference, as in Neural Cleanse's and confusion training's threat model):
//! 1. The scanned inputs and the `m` clean inputs are projected on the scanned set's leading
//!    principal directions ([`crate::input_consistency`], step 1).
//! 2. Each scanned sample's `k` nearest clean inputs vote (`ŷ_i`, plurality with strictly more
//!    votes than `y_i`); each clean sample's `k` nearest *other* clean inputs vote the same way
//!    (leave one out), which estimates how often a clean sample of each class is outvoted.
//! 3. Per class `t`: the scanned outvoted share `r_t = #{y_i = t, ŷ_i ≠ y_i} / n_t` against
//!    the clean one `b_t` (from `m_t` clean samples). The class is **marked** when
//!    - `z_t = (r_t - b_t) / sqrt(b'(1 - b')/m_t + r_t(1 - r_t)/n_t) >= Φ⁻¹(1 - α/K)`
//!      (`b'` = `b_t` kept within `[1/m_t, 1 - 1/m_t]`; two proportions, the clean one the
//!      noisy one),
//!    - `r_t - b_t >= `[`MIN_EXCESS`] (an effect, not only a significant difference: with 100
//!      clean samples per class `b_t`'s standard error reaches 0.05), and
//!    - at least `ceil(min-source-share (K - 1))` classes `s` are *sources*: the scanned rows of
//!      `t` outvoted towards `s` exceed the clean rate, `D[t][s] > ñ_t B[t][s] / m_t`, with
//!      `ñ_t = D[t][t] / (1 - b_t)` the class's estimated clean count (the poisons do not
//!      inflate the natural confusions' expectation). An all-to-one backdoor draws from every
//!      class; a class that is merely noisier in the scanned set than in the clean one does not.
//! 4. A marked class's candidates are its rows outvoted by at least
//!    [`CANDIDATE_DISAGREEMENT`] of their clean neighbours (the poisons, and the class's
//!    natural confusions that lie deep in another class; `auto` refines them in the model's
//!    representation).
//!
//! Assumptions: the clean set comes from the scanned data's distribution (a different
//! acquisition shifts every `r_t`) and holds every class several times (at least
//! [`MIN_CLEAN_PER_CLASS`]); dirty labels; poisons keep most of their source's pixels.
//! Cost: the projection as in [`crate::input_consistency`] (inside `auto`, the scan's own
//! input check's map and projected rows are reused), then `O((n + m) m c)` for the
//! searches (60,000 Fashion-MNIST images against 1,000 clean ones: a few seconds on 2 cores).
//!
//! ```
//! use mithridate_detect::clean_reference::mark_classes;
//! // Three classes. Scanned: class 0 holds 40 clean rows and 40 poisons (20 from class 1,
//! // 20 from class 2, all outvoted towards their source); classes 1 and 2 are clean.
//! let mut labels = vec![0u32; 80];
//! let mut opinion: Vec<u32> = (0..80).map(|i| if i < 40 { 0 } else { 1 + (i % 2) }).collect();
//! for c in 1..3u32 {
//!     labels.extend(std::iter::repeat_n(c, 40));
//!     opinion.extend(std::iter::repeat_n(c, 40));
//! }
//! // Clean: 30 per class, each outvoted once (towards the next class).
//! let clean_labels: Vec<u32> = (0..90).map(|i| i / 30).collect();
//! let clean_opinion: Vec<u32> = (0..90u32).map(|i| if i % 30 == 0 { (i / 30 + 1) % 3 } else { i / 30 }).collect();
//! let marks = mark_classes(&labels, &opinion, &clean_labels, &clean_opinion, 3, 0.75, 0.01);
//! assert!(marks[0].marked && !marks[1].marked && !marks[2].marked);
//! assert!((marks[0].scanned_share - 0.5).abs() < 1e-12);
//! ```

use crate::input_consistency::{InputCheck, InputConsistency};
use crate::knn::{nearest_neighbours, neighbour_vote};
use crate::{DetectError, Result};
use mithridate_data::{Dataset, Features};
use statrs::distribution::{ContinuousCDF, Normal};

/// Smallest excess of a marked class's outvoted share over the clean one (10 points).
pub const MIN_EXCESS: f64 = 0.1;

/// Fewest clean samples of every class the comparison needs.
pub const MIN_CLEAN_PER_CLASS: usize = 10;

/// One class's comparison (step 3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassComparison {
    /// `r_t`: the scanned rows' outvoted share.
    pub scanned_share: f64,
    /// `b_t`: the clean rows' outvoted share (leave one out).
    pub clean_share: f64,
    /// `z_t`.
    pub z: f64,
    /// Classes whose rows the excess comes from.
    pub sources: usize,
    /// Whether the class is marked.
    pub marked: bool,
}

/// Share of a row's clean neighbours that must carry another label for the row to be a
/// candidate of a marked class ([`CleanReferenced::candidates`]). Why: a dirty-label poison's
/// clean neighbours all come from its source class, while a natural confusion sits between
/// classes with mixed neighbours. Measured on the outvoted rows of two marked classes
/// (MNIST blended image 5%, 6,000 images; full Fashion-MNIST blended image 4%): precision /
/// recall 0.780 / 0.990 and 0.850 / 0.997 with any outvote, 0.874 / 0.973 and 0.878 / 0.993
/// with 8 of 10.
pub const CANDIDATE_DISAGREEMENT: f64 = 0.8;

/// The check's result on a scanned set.
pub(crate) struct CleanReferenced {
    /// Per class.
    pub classes: Vec<ClassComparison>,
    /// Per scanned row: the share of its clean neighbours labelled otherwise, and whether
    /// they outvote its label.
    pub votes: Vec<(f64, bool)>,
}

impl CleanReferenced {
    /// The candidates among `rows`: outvoted by at least [`CANDIDATE_DISAGREEMENT`] of their
    /// clean neighbours.
    pub fn candidates(&self, rows: &[usize]) -> Vec<bool> {
        rows.iter()
            .map(|&r| {
                let (share, outvoted) = self.votes[r];
                outvoted && share >= CANDIDATE_DISAGREEMENT - 1e-9
            })
            .collect()
    }
}

/// Step 3 from the scanned labels and opinions and the clean ones (labels `>= k` are ignored).
pub fn mark_classes(
    labels: &[u32],
    opinion: &[u32],
    clean_labels: &[u32],
    clean_opinion: &[u32],
    k: usize,
    min_source_share: f64,
    alpha: f64,
) -> Vec<ClassComparison> {
    let confusion = |ys: &[u32], ops: &[u32]| {
        let mut d = vec![vec![0usize; k]; k];
        // Labels outside `0..k` are not counted (no panic on a caller's bad input).
        for (&y, &o) in ys.iter().zip(ops) {
            if let Some(count) = d
                .get_mut(y as usize)
                .and_then(|row| row.get_mut(o as usize))
            {
                *count += 1;
            }
        }
        d
    };
    let (d, b) = (
        confusion(labels, opinion),
        confusion(clean_labels, clean_opinion),
    );
    let needed = ((min_source_share * k.saturating_sub(1) as f64).ceil() as usize).max(1);
    let z_needed = Normal::new(0.0, 1.0)
        .map(|n| n.inverse_cdf(1.0 - alpha / k.max(1) as f64))
        .unwrap_or(f64::INFINITY);
    (0..k)
        .map(|t| {
            let (n, m) = (d[t].iter().sum::<usize>(), b[t].iter().sum::<usize>());
            if n == 0 || m == 0 {
                return ClassComparison {
                    scanned_share: 0.0,
                    clean_share: 0.0,
                    z: 0.0,
                    sources: 0,
                    marked: false,
                };
            }
            let (n_f, m_f) = (n as f64, m as f64);
            let r = 1.0 - d[t][t] as f64 / n_f;
            let clean = 1.0 - b[t][t] as f64 / m_f;
            let bounded = clean.clamp(1.0 / m_f, 1.0 - 1.0 / m_f);
            let se = (bounded * (1.0 - bounded) / m_f + r * (1.0 - r) / n_f).sqrt();
            let z = (r - clean) / se;
            let clean_count = d[t][t] as f64 / (1.0 - clean).max(1.0 / m_f);
            let sources = (0..k)
                .filter(|&s| s != t && d[t][s] as f64 > clean_count * b[t][s] as f64 / m_f)
                .count();
            ClassComparison {
                scanned_share: r,
                clean_share: clean,
                z,
                sources,
                marked: z >= z_needed && r - clean >= MIN_EXCESS && sources >= needed,
            }
        })
        .collect()
}

/// Steps 1-3 on `data` against the trusted `clean` samples, with `check`'s `k`, components,
/// source share and level; `None` for token inputs (no Euclidean geometry). `shared`: the
/// input check already run on `data` with the same parameters and seed (`auto`'s), whose
/// step-1 map and projected rows are reused instead of fitted again.
pub(crate) fn check_against_clean(
    check: &InputConsistency,
    data: &Dataset,
    clean: &Dataset,
    seed: u64,
    shared: Option<&InputCheck>,
) -> Result<Option<CleanReferenced>> {
    let (Features::Dense(values), Features::Dense(clean_values)) =
        (data.features(), clean.features())
    else {
        return Ok(None);
    };
    let k = data.num_classes();
    if clean.modality().sample_len() != data.modality().sample_len() {
        return Err(DetectError::input(
            "the trusted clean set's samples differ in shape from the scanned data's",
        ));
    }
    let clean_labels = clean.labels();
    let mut per_class = vec![0usize; k];
    for &y in clean_labels {
        match per_class.get_mut(y as usize) {
            Some(count) => *count += 1,
            None => {
                return Err(DetectError::input(format!(
                    "the trusted clean set holds label {y}, the scanned data has {k} classes"
                )))
            }
        }
    }
    if per_class.iter().any(|&c| c < MIN_CLEAN_PER_CLASS) {
        // Too few clean samples of some class to estimate its natural rate: no verdict.
        return Ok(None);
    }
    let params = check.params();
    let reused = shared
        .and_then(|s| s.projection.as_ref().zip(s.space.as_ref()))
        .filter(|(_, (space, _))| space.nrows() == data.len());
    let fitted;
    let (projection, space) = match reused {
        Some((projection, (space, _))) => (projection, space.as_ref()),
        None => {
            let projection = check.projection(values, data, seed)?;
            let space = projection.apply(values);
            fitted = (projection, space);
            (&fitted.0, fitted.1.as_ref())
        }
    };
    let clean_space = projection.apply(clean_values);
    let vote =
        |queries: faer::MatRef<f32>, own: &[u32], skip: &(dyn Fn(usize, usize) -> bool + Sync)| {
            nearest_neighbours(queries, clean_space.as_ref(), params.k, skip)
                .iter()
                .zip(own)
                .map(|(nearest, &y)| neighbour_vote(nearest.iter().map(|&j| clean_labels[j]), y, k))
                .collect::<Vec<(f64, u32)>>()
        };
    let scanned = vote(space, data.labels(), &|_, _| false);
    let opinion: Vec<u32> = scanned.iter().map(|v| v.1).collect();
    let clean_opinion: Vec<u32> = vote(clean_space.as_ref(), clean_labels, &|i, j| i == j)
        .iter()
        .map(|v| v.1)
        .collect();
    let classes = mark_classes(
        data.labels(),
        &opinion,
        clean_labels,
        &clean_opinion,
        k,
        params.min_source_share,
        params.alpha,
    );
    let votes = scanned
        .iter()
        .zip(data.labels())
        .map(|(&(share, o), &y)| (share, o != y))
        .collect();
    Ok(Some(CleanReferenced { classes, votes }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input_consistency::InputConsistencyParams;
    use mithridate_core::ParamGuard;
    use mithridate_data::Modality;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    const DIM: usize = 100;

    /// `per_class` rows of each of 6 classes centred at `10 e_c` (noise 0.5 per coordinate),
    /// plus, when `poisoned`, 30 rows from each class 1-5 shifted by one shared offset (norm
    /// 5, a global trigger) and labelled 0.
    fn blobs(per_class: usize, poisoned: bool, seed: u64) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let mut push = |source: usize, label: u32, shifted: bool, rng: &mut ChaCha8Rng| {
            for j in 0..DIM {
                let centre = if j == source { 10.0 } else { 0.0 };
                let offset = if shifted && j >= 50 {
                    5.0 / 50f32.sqrt()
                } else {
                    0.0
                };
                let noise: f32 = StandardNormal.sample(rng);
                x.push(centre + offset + 0.5 * noise);
            }
            y.push(label);
        };
        for c in 0..6 {
            for _ in 0..per_class {
                push(c, c as u32, false, &mut rng);
            }
        }
        if poisoned {
            for s in 1..6 {
                for _ in 0..30 {
                    push(s, 0, true, &mut rng);
                }
            }
        }
        let ids = (0..y.len() as u64).map(|i| i + seed * 1_000_000).collect();
        Dataset::new(
            Modality::Tabular { features: DIM },
            Features::Dense(x),
            y,
            ids,
            6,
            vec![],
        )
        .unwrap()
    }

    #[test]
    fn reusing_the_input_checks_projection_changes_nothing() {
        let check = InputConsistencyParams {
            pca_sample: 400,
            ..Default::default()
        }
        .check()
        .unwrap();
        let (data, clean) = (blobs(150, true, 1), blobs(30, false, 2));
        let shared = check.detect_with_candidates(&data, 7).unwrap();
        assert!(shared.projection.is_some());
        let fitted = check_against_clean(&check, &data, &clean, 7, None)
            .unwrap()
            .unwrap();
        let reused = check_against_clean(&check, &data, &clean, 7, Some(&shared))
            .unwrap()
            .unwrap();
        assert_eq!(fitted.votes, reused.votes);
        assert_eq!(fitted.classes, reused.classes);
    }

    #[test]
    fn poisons_that_vote_for_one_another_are_outvoted_by_clean_neighbours() {
        let check = InputConsistencyParams::default().check().unwrap();
        let data = blobs(150, true, 1);
        let clean = blobs(30, false, 2);
        // Among the scanned rows each poison's nearest inputs are the other poisons of its
        // source: the ordinary check does not mark class 0.
        let own = check.detect(&data, 0).unwrap();
        assert!(!own.classes[0].suspicious, "{:?}", own.classes[0]);
        let against = check_against_clean(&check, &data, &clean, 0, None)
            .unwrap()
            .unwrap();
        let marked: Vec<bool> = against.classes.iter().map(|c| c.marked).collect();
        assert_eq!(
            marked,
            [true, false, false, false, false, false],
            "{:?}",
            against.classes
        );
        // Every poison is a candidate, and no clean row of class 0.
        let rows: Vec<usize> = (0..150).chain(900..1050).collect();
        let candidates = against.candidates(&rows);
        assert_eq!(
            candidates,
            rows.iter().map(|&r| r >= 900).collect::<Vec<_>>()
        );
        // Clean scanned data: nothing marked.
        let against = check_against_clean(&check, &blobs(150, false, 3), &clean, 0, None)
            .unwrap()
            .unwrap();
        assert!(against.classes.iter().all(|c| !c.marked));
    }

    #[test]
    fn a_class_only_noisier_than_the_clean_set_from_few_sources_is_not_marked() {
        // Class 0's scanned rows are outvoted 40% of the time (clean: 10%), but all towards
        // class 1: one source of four others.
        let mut labels = vec![0u32; 100];
        let mut opinion: Vec<u32> = (0..100).map(|i| u32::from(i < 40)).collect();
        for c in 1..5u32 {
            labels.extend(std::iter::repeat_n(c, 100));
            opinion.extend(std::iter::repeat_n(c, 100));
        }
        let clean_labels: Vec<u32> = (0..250).map(|i| i / 50).collect();
        let clean_opinion: Vec<u32> = (0..250u32)
            .map(|i| {
                if i % 10 == 0 {
                    (i / 50 + 1) % 5
                } else {
                    i / 50
                }
            })
            .collect();
        let marks = mark_classes(
            &labels,
            &opinion,
            &clean_labels,
            &clean_opinion,
            5,
            0.75,
            0.01,
        );
        assert!(marks[0].z > 4.0, "{:?}", marks[0]);
        assert_eq!(marks[0].sources, 1);
        assert!(marks.iter().all(|m| !m.marked));
    }

    /// `per_class` rows of each of `k` classes, `outvoted[t]` of class `t`'s outvoted,
    /// spread evenly over the other classes.
    fn rows(k: u32, per_class: u32, outvoted: &[u32]) -> (Vec<u32>, Vec<u32>) {
        let (mut labels, mut opinion) = (Vec::new(), Vec::new());
        for t in 0..k {
            for i in 0..per_class {
                labels.push(t);
                let other = (t + 1 + i % (k - 1)) % k;
                opinion.push(if i < outvoted[t as usize] { other } else { t });
            }
        }
        (labels, opinion)
    }

    #[test]
    fn a_small_excess_is_not_marked_however_significant() {
        // Clean: 10% of 200 per class outvoted. Scanned, 10,000 per class: class 0 at 18%
        // (8 points above, from every class; z ≈ 3.6) is not marked, at 25% it is.
        let (clean_labels, clean_opinion) = rows(5, 200, &[20; 5]);
        for (share, marked) in [(1_800, false), (2_500, true)] {
            let (labels, opinion) = rows(5, 10_000, &[share, 1_000, 1_000, 1_000, 1_000]);
            let marks = mark_classes(
                &labels,
                &opinion,
                &clean_labels,
                &clean_opinion,
                5,
                0.75,
                0.01,
            );
            assert!(marks[0].z > 3.0 && marks[0].sources == 4, "{:?}", marks[0]);
            assert_eq!(marks[0].marked, marked, "{:?}", marks[0]);
            assert!(marks[1..].iter().all(|m| !m.marked));
        }
    }
}
