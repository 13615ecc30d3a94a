//! Stratified train/test splitting.

use crate::{DataError, Dataset, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Seed of the canonical 80/20 split of datasets without an official split. Fixed (not the
/// user's `--seed`) so every run, user and tool agrees on which rows are the test set.
pub const CANONICAL_SPLIT_SEED: u64 = 0x4d49_5448_5249_4441; // "MITHRIDA"

/// Test fraction of the canonical split.
pub const CANONICAL_TEST_FRACTION: f64 = 0.2;

/// Row indices of a stratified split: within each class, the rows are shuffled with a
/// ChaCha8 RNG seeded by `seed` and the first `round(n_c * test_fraction)` go to the test
/// part. Both parts are returned in ascending row order. Errors if the fraction is not in
/// `(0, 1)` or either part would be empty.
pub(crate) fn stratified_indices(
    labels: &[u32],
    num_classes: usize,
    test_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(DataError::invalid(format!(
            "test fraction {test_fraction} must be strictly between 0 and 1"
        )));
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); num_classes];
    for (row, &label) in labels.iter().enumerate() {
        let class = by_class.get_mut(label as usize).ok_or_else(|| {
            DataError::invalid(format!("label {label} is not below {num_classes} classes"))
        })?;
        class.push(row);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut train = Vec::with_capacity(labels.len());
    let mut test = Vec::new();
    for mut rows in by_class {
        rows.shuffle(&mut rng);
        let n_test = (rows.len() as f64 * test_fraction).round() as usize;
        test.extend_from_slice(&rows[..n_test]);
        train.extend_from_slice(&rows[n_test..]);
    }
    if train.is_empty() || test.is_empty() {
        return Err(DataError::invalid(format!(
            "a {test_fraction} test split of {} samples leaves an empty part",
            labels.len()
        )));
    }
    train.sort_unstable();
    test.sort_unstable();
    Ok((train, test))
}

/// `size` of the indices `0..n` drawn uniformly without replacement with a ChaCha8 RNG seeded
/// by `seed`, in ascending order; all of `0..n` if `n <= size`. Same seed, same sample.
///
/// ```
/// let s = mithridate_data::seeded_sample(100, 10, 3);
/// assert_eq!(s.len(), 10);
/// assert!(s.windows(2).all(|w| w[0] < w[1]) && s[9] < 100);
/// assert_eq!(s, mithridate_data::seeded_sample(100, 10, 3));
/// assert_eq!(mithridate_data::seeded_sample(4, 10, 3), vec![0, 1, 2, 3]);
/// ```
pub fn seeded_sample(n: usize, size: usize, seed: u64) -> Vec<usize> {
    if n <= size {
        return (0..n).collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, n, size).into_vec();
    picked.sort_unstable();
    picked
}

/// Splits `data` into `(train, test)` so that every class keeps (up to rounding) the same
/// share in both parts: per class `c` with `n_c` rows, `round(n_c * test_fraction)` rows,
/// drawn with a ChaCha8 RNG seeded by `seed`, go to test. Rows keep their ids and their
/// relative order. Same seed, same split.
///
/// ```
/// use mithridate_data::{split_stratified, Dataset, Features, Modality};
/// let labels: Vec<u32> = (0..10).map(|i| (i % 2) as u32).collect();
/// let d = Dataset::new(Modality::Tabular { features: 1 }, Features::Dense(vec![0.0; 10]),
///     labels, (0..10).collect(), 2, vec![]).unwrap();
/// let (train, test) = split_stratified(&d, 0.2, 7).unwrap();
/// assert_eq!((train.len(), test.len()), (8, 2));
/// assert_eq!(test.class_counts(), vec![1, 1]);
/// ```
pub fn split_stratified(
    data: &Dataset,
    test_fraction: f64,
    seed: u64,
) -> Result<(Dataset, Dataset)> {
    let (train, test) = stratified_indices(data.labels(), data.num_classes(), test_fraction, seed)?;
    Ok((data.select(&train)?, data.select(&test)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Features, Modality};

    fn dataset(labels: Vec<u32>, k: usize) -> Dataset {
        let n = labels.len();
        Dataset::new(
            Modality::Tabular { features: 1 },
            Features::Dense((0..n).map(|i| i as f32).collect()),
            labels,
            (100..100 + n as u64).collect(),
            k,
            vec![],
        )
        .unwrap()
    }

    #[test]
    fn keeps_class_proportions_and_partitions_rows() {
        // 70 of class 0, 25 of class 1, 5 of class 2.
        let labels: Vec<u32> = (0..100)
            .map(|i| {
                if i < 70 {
                    0
                } else if i < 95 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let d = dataset(labels, 3);
        let (train, test) = split_stratified(&d, 0.2, 1).unwrap();
        assert_eq!(test.class_counts(), vec![14, 5, 1]);
        assert_eq!(train.class_counts(), vec![56, 20, 4]);
        let mut ids: Vec<u64> = train.ids().iter().chain(test.ids()).copied().collect();
        ids.sort_unstable();
        assert_eq!(ids, (100..200).collect::<Vec<u64>>());
        // Ids and features travel together.
        for (row, &id) in test.ids().iter().enumerate() {
            assert_eq!(test.dense_row(row).unwrap()[0], (id - 100) as f32);
        }
        assert!(test.ids().windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn is_deterministic_per_seed() {
        let d = dataset((0..200).map(|i| (i % 4) as u32).collect(), 4);
        let a = split_stratified(&d, 0.25, 9).unwrap();
        let b = split_stratified(&d, 0.25, 9).unwrap();
        let c = split_stratified(&d, 0.25, 10).unwrap();
        assert_eq!(a.1.ids(), b.1.ids());
        assert_ne!(a.1.ids(), c.1.ids());
    }

    #[test]
    fn rejects_bad_fractions_and_empty_parts() {
        let d = dataset(vec![0, 1, 0, 1], 2);
        for f in [0.0, 1.0, -0.5, f64::NAN] {
            assert!(split_stratified(&d, f, 0).is_err(), "{f}");
        }
        let tiny = dataset(vec![0, 1], 2);
        assert!(split_stratified(&tiny, 0.2, 0)
            .unwrap_err()
            .to_string()
            .contains("empty part"));
    }
}
