//! `auto`'s flips step: the class-pair k-NN vote (Peri et al. 2020) in the model's
//! embedding, each pair confirmed by the same test in the raw input space.
//!
//! Why both spaces: a targeted flip leaves the features as they were, so its samples look like
//! their source class to the model's embedding and to the raw inputs alike, while each space
//! also has natural asymmetries of its own that the other does not share.

use crate::{Result, ScanContext};

/// Effect-size floor of the flips vote: a flipped pair must hold 10 times the symmetric
/// expectation. Natural asymmetries of a clean set's confusions reach ~6x (clean
/// Fashion-MNIST 10k, embedding space: trousers -> dresses, 22 samples, flagged at the
/// class-pairs default of 3); flips of 5-10% of a class measure far above 10x (their
/// reverse count is near 0), while a flip between classes that are already confused both
/// ways (T-shirt -> shirt) is missed at any floor.
const FLIP_MIN_RATIO: f64 = 10.0;

/// Smallest flip the flips vote reports, as a share of an average class: `max(5, ceil(0.005 n
/// / K))`. The pair test gains power with `n`, and on all 60,000 clean MNIST images a natural
/// asymmetry of 21 samples (0.4% of class 5) passed it at the 10x floor; a flip that small is
/// below what a retrained model shows (sanitizing the 10% flips above moved clean accuracy by
/// less than a point).
fn flip_min_count(samples: usize, classes: usize) -> usize {
    let per_class = samples as f64 / classes.max(1) as f64;
    ((0.005 * per_class).ceil() as usize).max(5)
}

/// The ordered pairs `(labelled, looks like)` whose disagreements in the *input* space (the
/// input check's neighbour opinions) exceed natural confusion: [`crate::class_pairs`] at
/// [`FLIP_INPUT_MIN_RATIO`] and its default level. A targeted flip leaves the features as
/// they were, so its samples look like their source class to both opinions; the model's
/// embedding alone also shows natural asymmetries of its own (clean Fashion-MNIST 10k,
/// seed 2: 22 trousers flagged at the 10x floor). `None` (no confirmation) for token inputs.
fn input_space_pairs(
    labels: &[u32],
    opinion: Option<&[u32]>,
    k: usize,
) -> Result<Option<std::collections::HashSet<(u32, u32)>>> {
    let Some(opinion) = opinion else {
        return Ok(None);
    };
    let sizes = crate::class_pairs::opinion_sizes(opinion, k);
    let test = crate::class_pairs::PairTest {
        min_ratio: FLIP_INPUT_MIN_RATIO,
        ..Default::default()
    };
    let pairs = crate::class_pairs::suspicious_pairs(labels, opinion, &sizes, &test)?;
    Ok(Some(pairs.iter().map(|p| (p.labelled, p.looks_like)).collect()))
}

/// Effect size a flip needs in the input space (the class-pair default, 3x): the input
/// check's opinion is less accurate than the model's, so its natural confusions are larger
/// and a flip's ratio there is lower.
const FLIP_INPUT_MIN_RATIO: f64 = 3.0;

/// The rows the flips vote flags, each with its suggested label, in row order: the class-pair
/// k-NN vote at [`FLIP_MIN_RATIO`] and [`flip_min_count`], kept when the input check's
/// opinions (`opinion`, `None` for token inputs: no confirmation) show the same ordered pair.
pub(super) fn confirmed_flips(
    ctx: &ScanContext,
    opinion: Option<&[u32]>,
) -> Result<Vec<(usize, u32)>> {
    let data = ctx.data();
    let (labels, ids, k) = (data.labels(), data.ids(), data.num_classes());
    let knn = crate::registry::build(
        "knn",
        &serde_json::json!({
            "vote": "class-pairs",
            "pair-min-ratio": FLIP_MIN_RATIO,
            "pair-min-count": flip_min_count(labels.len(), k),
        }),
    )?;
    let d = ctx.detection(knn.as_ref())?;
    let confirmed = input_space_pairs(labels, opinion, k)?;
    let suggested: std::collections::HashMap<u64, u32> = d.relabel.iter().copied().collect();
    Ok(ids
        .iter()
        .enumerate()
        .filter_map(|(r, id)| suggested.get(id).map(|&looks_like| (r, looks_like)))
        .filter(|&(r, looks_like)| confirmed.as_ref().is_none_or(|c| c.contains(&(labels[r], looks_like))))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flip_floor_is_half_a_percent_of_an_average_class_and_at_least_five() {
        assert_eq!(flip_min_count(60_000, 10), 30);
        assert_eq!(flip_min_count(10_000, 10), 5);
        assert_eq!(flip_min_count(100, 0), 5);
    }
}
