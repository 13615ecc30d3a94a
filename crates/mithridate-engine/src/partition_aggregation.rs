//! Deep Partition Aggregation (DPA; Levine & Feizi, "Deep Partition Aggregation: Provable
//! Defenses against General Poisoning Attacks", ICLR 2021): a certified defence against
//! training-set poisoning.
//!
//! The training set is split into `k` disjoint partitions by a hash of each sample's features
//! (not its position or id, so inserting or deleting one sample changes exactly one
//! partition and leaves every other sample where it was). One base classifier is trained on
//! each partition alone, and the ensemble predicts by plurality vote, ties going to the
//! smaller class index. For a test input with vote counts `n_c`, prediction `c*`:
//!
//! `radius = floor((n_{c*} - max_{c != c*} (n_c + 1[c < c*])) / 2)`
//!
//! is certified: any `radius` insertions, deletions or label changes of training samples
//! change at most `radius` base classifiers (a relabelled sample stays in its partition; a
//! changed image moves to another, a deletion plus an insertion, so it counts twice), each of
//! which can move one vote from `c*` to a rival, and the prediction cannot change. Certified accuracy at `r` is the share of test inputs predicted
//! correctly with radius at least `r`.
//!
//! Assumptions: base training is deterministic given its partition (the same seed for every
//! partition), so the certificate covers the training procedure, not a lucky draw; the
//! optional shifted copies ([`DpaParams::shift`]) and per-image feature maps
//! ([`DpaParams::features`], [`crate::base_features`]) are functions of each sample alone,
//! fitted on nothing, so they are part of that procedure; the hash is
//! BLAKE3 of the feature bytes (an attacker cannot place a sample in a chosen partition
//! without finding a hash preimage bucket, which the certificate does not even need: it holds
//! for any placement). Cost: `k` trainings on `n / k` samples each (in parallel) and `k`
//! predictions of the test set; memory `O(k)` models alive one at a time per thread.
//!
//! ```
//! use mithridate_engine::partition_aggregation::certified_radius;
//! // 1,200 votes: 1,000 for class 3, 150 for class 1, 50 for class 7.
//! let mut votes = vec![0u32; 10];
//! votes[3] = 1000; votes[1] = 150; votes[7] = 50;
//! // Class 1 wins ties against 3, so it needs one vote fewer: (1000 - 151) / 2.
//! assert_eq!(certified_radius(&votes), (3, 424));
//! // A tie the smaller class wins is certified at radius 0.
//! assert_eq!(certified_radius(&[5, 5]), (0, 0));
//! ```

use crate::base_features::BaseFeatures;
use crate::{Architecture, Classifier, EngineError, TrainParams};
use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Features};
use rayon::prelude::*;

/// DPA's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DpaParams {
    /// Partitions `k` (base classifiers).
    pub partitions: usize,
    pub architecture: Architecture,
    /// Optimiser steps per base classifier.
    pub steps: usize,
    /// Seed of every base classifier's initialisation and shuffling.
    pub seed: u64,
    /// Images only: each partition's samples are also trained on shifted by up to this many
    /// pixels in each direction (zero fill), `(2s + 1)^2` copies; 0 turns it off. A function
    /// of the partition alone, so the certificate is unchanged.
    pub shift: usize,
    /// The per-image transform in front of every base classifier (applied to its training
    /// samples before the shifted copies, and to the test inputs): data-independent, so the
    /// certificate is unchanged. See [`BaseFeatures`].
    pub features: BaseFeatures,
}

impl Default for DpaParams {
    /// The CLI's defaults: 1,200 logistic-regression base classifiers of 200 steps, seed 0,
    /// no shifted copies, raw pixels.
    fn default() -> Self {
        DpaParams {
            partitions: 1200,
            architecture: Architecture::LogReg,
            steps: 200,
            seed: 0,
            shift: 0,
            features: BaseFeatures::Raw,
        }
    }
}

/// The vote and certificate for one test input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certificate {
    pub prediction: u32,
    /// Insertions or deletions of training samples that provably cannot change `prediction`.
    pub radius: u32,
}

/// What a DPA run measured on its test set.
#[derive(Debug, Clone, PartialEq)]
pub struct DpaOutcome {
    pub certificates: Vec<Certificate>,
    /// Training samples per partition: smallest, median, largest.
    pub partition_sizes: [usize; 3],
    /// Partitions with no sample (their classifier abstains: no vote).
    pub empty_partitions: usize,
    /// Mean accuracy of the base classifiers on the test set.
    pub base_accuracy: f64,
}

impl DpaOutcome {
    /// Share of `labels` predicted correctly with a radius of at least `radius`.
    pub fn certified_accuracy(&self, labels: &[u32], radius: u32) -> f64 {
        let hits = self
            .certificates
            .iter()
            .zip(labels)
            .filter(|(c, &y)| c.prediction == y && c.radius >= radius)
            .count();
        hits as f64 / labels.len().max(1) as f64
    }

    /// Median over test inputs of the certified radius, counting a wrong prediction as -1
    /// (the paper's "median certified robustness").
    pub fn median_radius(&self, labels: &[u32]) -> f64 {
        let mut r: Vec<i64> = self
            .certificates
            .iter()
            .zip(labels)
            .map(|(c, &y)| {
                if c.prediction == y {
                    i64::from(c.radius)
                } else {
                    -1
                }
            })
            .collect();
        r.sort_unstable();
        match r.len() {
            0 => 0.0,
            n if n % 2 == 1 => r[n / 2] as f64,
            n => (r[n / 2 - 1] + r[n / 2]) as f64 / 2.0,
        }
    }
}

/// The partition of each training row: BLAKE3 of its feature values' bytes, mod `k`.
pub fn partition_of_rows(data: &Dataset, k: usize) -> Vec<usize> {
    let d = data.modality().sample_len();
    (0..data.len())
        .map(|i| {
            let mut h = blake3::Hasher::new();
            match data.features() {
                Features::Dense(x) => {
                    for v in &x[i * d..(i + 1) * d] {
                        h.update(&v.to_le_bytes());
                    }
                }
                Features::Tokens(t) => {
                    for v in &t[i * d..(i + 1) * d] {
                        h.update(&v.to_le_bytes());
                    }
                }
            }
            let bytes = h.finalize();
            let mut first = [0u8; 8];
            first.copy_from_slice(&bytes.as_bytes()[..8]);
            (u64::from_le_bytes(first) % k as u64) as usize
        })
        .collect()
}

/// `data` with every image also shifted by `(dy, dx)` for `|dy|, |dx| <= shift` (zero fill);
/// other modalities and `shift` 0 unchanged.
fn shifted(data: &Dataset, shift: usize) -> Result<Dataset, EngineError> {
    let (
        mithridate_data::Modality::Image {
            channels,
            height,
            width,
        },
        Features::Dense(x),
    ) = (data.modality(), data.features())
    else {
        return Ok(data.clone());
    };
    if shift == 0 {
        return Ok(data.clone());
    }
    let (c, h, w) = (*channels, *height, *width);
    let s = shift as isize;
    let per = c * h * w;
    let mut values = Vec::new();
    let (mut labels, mut ids) = (Vec::new(), Vec::new());
    for (i, image) in x.chunks_exact(per).enumerate() {
        for dy in -s..=s {
            for dx in -s..=s {
                for ch in 0..c {
                    for r in 0..h as isize {
                        for col in 0..w as isize {
                            let (sr, sc) = (r - dy, col - dx);
                            let inside =
                                (0..h as isize).contains(&sr) && (0..w as isize).contains(&sc);
                            values.push(if inside {
                                image[ch * h * w + sr as usize * w + sc as usize]
                            } else {
                                0.0
                            });
                        }
                    }
                }
                labels.push(data.labels()[i]);
                ids.push(ids.len() as u64);
            }
        }
    }
    Ok(Dataset::new(
        data.modality().clone(),
        Features::Dense(values),
        labels,
        ids,
        data.num_classes(),
        data.class_names(),
    )?)
}

/// The plurality vote (ties to the smaller class) and its certified radius.
pub fn certified_radius(votes: &[u32]) -> (u32, u32) {
    let mut top = 0usize;
    for (c, &v) in votes.iter().enumerate() {
        if v > votes[top] {
            top = c;
        }
    }
    let rival = votes
        .iter()
        .enumerate()
        .filter(|&(c, _)| c != top)
        .map(|(c, &v)| i64::from(v) + i64::from(c < top))
        .max()
        .unwrap_or(0);
    let gap = i64::from(votes[top]) - rival;
    (top as u32, (gap.max(0) / 2) as u32)
}

/// Trains the `k` base classifiers on `train`'s partitions and certifies every row of `test`.
///
/// Errors: `k` of 0 or above the training set's size, an empty test set, steps of 0, data the
/// architecture cannot model.
pub fn run(train: &Dataset, test: &Dataset, params: &DpaParams) -> Result<DpaOutcome, EngineError> {
    let k = params.partitions;
    if k == 0 || k > train.len() {
        return Err(EngineError::InvalidInput(format!(
            "partitions must lie in [1, {}] (the training set's size), got {k}",
            train.len()
        )));
    }
    if test.is_empty() {
        return Err(EngineError::InvalidInput("the test set is empty".into()));
    }
    if params.steps == 0 {
        return Err(EngineError::InvalidInput("steps must be at least 1".into()));
    }
    let classes = train.num_classes();
    // Fails early, naming the mismatch, before k trainings.
    Classifier::new(params.architecture, train.modality(), classes, params.seed)?
        .check_compatible(test)?;
    let part = partition_of_rows(train, k);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (row, &p) in part.iter().enumerate() {
        members[p].push(row);
    }
    // Per-image and data-independent: the same as transforming each partition on its own,
    // done once. Partitions are hashed from the untransformed samples above.
    let train = &params.features.transform_images(train)?;
    let test = &params.features.apply(test)?;
    let mut sizes: Vec<usize> = members.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    let base = TrainParams::default_for(params.architecture);
    let n_test = test.len();
    // Each partition's predictions (None: empty partition, no vote).
    let predictions: Vec<Option<Vec<u32>>> = members
        .par_iter()
        .map(|rows| -> Result<Option<Vec<u32>>, EngineError> {
            if rows.is_empty() {
                return Ok(None);
            }
            let data = params
                .features
                .map_features(&shifted(&train.select(rows)?, params.shift)?)?;
            let cfg = TrainParams {
                epochs: params.steps.div_ceil(rows.len().div_ceil(base.batch_size)),
                ..base.clone()
            }
            .check()?;
            let mut model =
                Classifier::new(params.architecture, test.modality(), classes, params.seed)?;
            model.fit(&data, &cfg, params.seed, &mut |_| {})?;
            Ok(Some(model.predict(test)?))
        })
        .collect::<Result<_, _>>()?;
    let mut votes = vec![0u32; n_test * classes];
    let (mut correct, mut voters) = (0usize, 0usize);
    for p in predictions.iter().flatten() {
        voters += 1;
        for (i, &c) in p.iter().enumerate() {
            votes[i * classes + c as usize] += 1;
            correct += usize::from(c == test.labels()[i]);
        }
    }
    let certificates = votes
        .chunks_exact(classes)
        .map(|v| {
            let (prediction, radius) = certified_radius(v);
            Certificate { prediction, radius }
        })
        .collect();
    Ok(DpaOutcome {
        certificates,
        partition_sizes: [sizes[0], sizes[k / 2], sizes[k - 1]],
        empty_partitions: members.iter().filter(|m| m.is_empty()).count(),
        base_accuracy: correct as f64 / (voters.max(1) * n_test) as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifting_moves_one_pixel_to_every_neighbour() {
        let modality = mithridate_data::Modality::Image {
            channels: 1,
            height: 3,
            width: 3,
        };
        let mut x = vec![0.0f32; 9];
        x[4] = 1.0;
        let one = Dataset::new(modality, Features::Dense(x), vec![1], vec![7], 2, vec![]).unwrap();
        let out = shifted(&one, 1).unwrap();
        assert_eq!(out.len(), 9);
        assert!(out.labels().iter().all(|&y| y == 1));
        let Features::Dense(v) = out.features() else {
            panic!("dense")
        };
        // Each copy holds the pixel once, each at a different place: all nine positions.
        let mut at: Vec<usize> = v
            .chunks_exact(9)
            .map(|img| img.iter().position(|&p| p == 1.0).unwrap())
            .collect();
        at.sort_unstable();
        assert_eq!(at, (0..9).collect::<Vec<_>>());
        assert_eq!(shifted(&one, 0).unwrap().len(), 1);
    }

    #[test]
    fn radius_matches_a_brute_force_search() {
        // Moving `r` votes from the winner to any rival must not change the winner exactly
        // when r <= radius (checked on small vote vectors by trying every rival).
        let cases: Vec<Vec<u32>> = vec![
            vec![7, 3, 0],
            vec![3, 7, 0],
            vec![4, 4, 4],
            vec![0, 5, 5],
            vec![10, 0, 9],
            vec![1, 0, 0],
        ];
        for votes in cases {
            let (top, radius) = certified_radius(&votes);
            let survives = |r: u32| {
                (0..votes.len()).filter(|&c| c != top as usize).all(|c| {
                    let mut v = votes.clone();
                    let moved = r.min(v[top as usize]);
                    v[top as usize] -= moved;
                    v[c] += moved;
                    certified_radius(&v).0 == top
                })
            };
            assert!(survives(radius), "{votes:?}: radius {radius} does not hold");
            assert!(
                !survives(radius + 1),
                "{votes:?}: radius {radius} is not tight"
            );
        }
    }
}
