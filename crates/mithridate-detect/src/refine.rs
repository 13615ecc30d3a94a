//! Refining a marked class's flags in the model's representation: the flags of a model-free
//! check (noisy: the poisons plus the class's natural confusions, minus poisons that look
//! like the target) become the training labels of a one-direction discriminant.
//!
//! Method (Fisher 1936's linear discriminant, with SCAn's shared within-class variation,
//! Tang, Wang, Zhang & Wang 2021, as its covariance):
//! 1. Whiten the class's embeddings with the pooled within-class covariance of the *other*
//!    classes, `Σ₋c` (estimated without the tested class so its poisons cannot inflate it;
//!    ridge `ρ λ̄`): `z_i = Σ₋c^{-1/2} (e_i - μ_c)`.
//! 2. The direction `w = mean(z | flagged) - mean(z | not flagged)` (Fisher's direction in
//!    the whitened space), projections `p_i = z_i · w / |w|`.
//! 3. Otsu's split (Otsu 1979) of the projections; the high side is the new flagged set.
//!    Steps 2-3 repeat until the set is stable (at most [`ITERATIONS`]).
//! 4. The result is used only when the final split is clear: its separation (split
//!    consistency's pooled Ashman's D) is at least [`MIN_SEPARATION`].
//! 5. Then the unflagged rows that are outliers of their own side towards the flagged mode
//!    (one-sided robust z >= [`EXTEND_Z`]) are flagged too: missing a poison costs more than
//!    dropping a clean row (`extend_towards_the_mode`).
//!
//! Why: every poison carries the trigger, so the poisons share one offset from the class in
//! the backdoored model's representation, which the whitened mean difference finds even
//! when a quarter of the seeds are natural confusions; natural confusions share no offset
//! and fall back to the class. Whitening keeps the class's largest *natural* variation
//! (slant, thickness) from deciding the split, which is what plain Euclidean 2-means did.
//!
//! Assumptions: the model has learned the trigger (an unlearned trigger makes no offset);
//! classes share roughly one within-class covariance; the seeds hold more poisons than
//! anything else. The result is kept only when the flagged side is non-empty and at most
//! [`crate::auto::DECISIVE_MAX_SHARE`] of the class; otherwise the seeds are returned.
//! Cost: `O(n d²)` for the scatter, `O(d³)` for the inverse square root, `O(n_c d)` per
//! iteration.
//!
//! ```text
//! class 0 in 2-D: clean rows spread along x (natural variation), poisons offset along y.
//! seeds = 3 poisons + 1 clean row with a large x -> direction ≈ +y -> the 4 poisons flagged.
//! ```

use crate::auto::{decisive_share_is_plausible, otsu_split};
use crate::split_consistency::WithinClass;
use crate::{Embeddings, Result};
use faer::Mat;

/// Rounds of steps 2-3 at most.
const ITERATIONS: usize = 5;

/// Separation (gap of the two sides' means over their pooled standard deviation) the final
/// split needs, about twice a single Gaussian's 2.65. Measured on 6,000-image sets (seed 11,
/// CNN): learned triggers split at 5.8-7.9 (MNIST SIG 2%, 4px checkerboards 2% on MNIST and
/// Fashion-MNIST); a random-position patch the model learned only partly (ASR ~35%), a
/// Fashion blend and a Fashion SIG at 3.8-3.9, where the refinement lost precision.
const MIN_SEPARATION: f64 = 5.0;

/// Ridge of the whitening, relative to the mean eigenvalue (split consistency's default).
const RIDGE: f64 = 1e-3;

/// Refines `seeds` (row-aligned with `class_rows[class]`) as the [module](self) describes.
pub(crate) fn refine_by_discriminant(
    class: usize,
    class_rows: &[Vec<usize>],
    seeds: &[bool],
    emb: &Embeddings,
) -> Result<Vec<bool>> {
    let rows = &class_rows[class];
    let d = emb.dim();
    let others: usize = class_rows
        .iter()
        .enumerate()
        .filter(|&(c, _)| c != class)
        .map(|(_, r)| r.len())
        .sum();
    if others < 2 || rows.len() < 4 {
        return Ok(seeds.to_vec());
    }
    let within = WithinClass::new(emb, class_rows);
    let whiten = within.whitening_without(class, RIDGE)?;
    let mean = &within.means[class];
    let centred = Mat::from_fn(rows.len(), d, |i, j| {
        f64::from(emb.row(rows[i])[j]) - mean[j]
    });
    let z = &centred * &whiten;
    let mut flags = seeds.to_vec();
    let mut last: Option<(Vec<f64>, f64)> = None;
    for _ in 0..ITERATIONS {
        let (mut hi, mut lo) = (vec![0f64; d], vec![0f64; d]);
        let (mut n_hi, mut n_lo) = (0usize, 0usize);
        for (i, &f) in flags.iter().enumerate() {
            let (sum, count) = if f {
                (&mut hi, &mut n_hi)
            } else {
                (&mut lo, &mut n_lo)
            };
            for (j, s) in sum.iter_mut().enumerate() {
                *s += z[(i, j)];
            }
            *count += 1;
        }
        if n_hi == 0 || n_lo == 0 {
            return Ok(seeds.to_vec());
        }
        let w: Vec<f64> = (0..d)
            .map(|j| hi[j] / n_hi as f64 - lo[j] / n_lo as f64)
            .collect();
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm <= f64::EPSILON {
            return Ok(seeds.to_vec());
        }
        let projection: Vec<f64> = (0..rows.len())
            .map(|i| (0..d).map(|j| z[(i, j)] * w[j]).sum::<f64>() / norm)
            .collect();
        let Some(t) = otsu_split(&projection) else {
            return Ok(seeds.to_vec());
        };
        let next: Vec<bool> = projection.iter().map(|&p| p > t).collect();
        last = Some((projection, t));
        if next == flags {
            break;
        }
        flags = next;
    }
    // Only a clear second mode is trusted: an Otsu split of a single Gaussian already
    // separates by ~2.65 (see `split_consistency::separation`).
    let clear = last
        .as_ref()
        .is_some_and(|(p, t)| crate::split_consistency::separation(p, *t) >= MIN_SEPARATION);
    if !clear {
        return Ok(seeds.to_vec());
    }
    let Some((projection, _)) = last else {
        return Ok(seeds.to_vec());
    };
    extend_towards_the_mode(&projection, &mut flags);
    let flagged = flags.iter().filter(|&&f| f).count();
    if flagged == 0 || !decisive_share_is_plausible(flagged, rows.len()) {
        return Ok(seeds.to_vec());
    }
    Ok(flags)
}

/// One-sided robust z-score (median and 1.4826 MAD of the unflagged side's projections)
/// from which an unflagged row is flagged too: a Gaussian clean side puts 0.13% of its rows
/// there.
const EXTEND_Z: f64 = 3.0;

/// Step 5: flags the unflagged rows whose projection lies beyond [`EXTEND_Z`] of the unflagged
/// side, towards the flagged mode. Why: sanitizing is asymmetric. Otsu's threshold balances
/// the two sides' spreads, but a poison left on the clean side costs far more than a clean
/// row dropped: two checkerboard poisons among 6,000 MNIST images backdoor 27.6% of the
/// triggered test inputs (detect README), while dropping a few clean rows of a 600-row class
/// moves clean accuracy by nothing measurable.
fn extend_towards_the_mode(projection: &[f64], flags: &mut [bool]) {
    let rest: Vec<usize> = (0..flags.len()).filter(|&i| !flags[i]).collect();
    if rest.len() < 2 {
        return;
    }
    // A side without spread (ties) has no scale: `robust_z` with a zero floor then scores 0.
    let mut z = vec![0f64; projection.len()];
    crate::tails::robust_z(projection, &rest, 0.0, &mut z);
    for i in rest {
        flags[i] = z[i] >= EXTEND_Z;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The doc comment's case: class 0's clean rows vary widely along x, its 8 poisons sit
    /// 3 units up in y; class 1 (the covariance reference) varies the same way. Seeds: 6
    /// poisons (2 missed) and 2 clean rows with extreme x.
    #[test]
    fn the_whitened_discriminant_finds_the_shared_offset_not_the_natural_spread() {
        let (mut values, mut labels) = (vec![], vec![]);
        for class in 0..2u32 {
            for i in 0..40 {
                let x = (i as f32 - 20.0) * 0.5; // natural spread along x: sd ~ 5.8
                let y = ((i * 7) % 5) as f32 * 0.1; // small natural spread along y
                values.extend([x, y + 10.0 * class as f32]);
                labels.push(class);
            }
        }
        for i in 0..8 {
            values.extend([(i as f32 - 4.0) * 0.5, 3.0]);
            labels.push(0);
        }
        let ids: Vec<u64> = (0..labels.len() as u64).collect();
        let emb = Embeddings::new(&values, 2, &labels, &ids, 2).unwrap();
        let class_rows = emb.class_rows();
        let poisons: Vec<bool> = class_rows[0].iter().map(|&r| r >= 80).collect();
        let mut seeds = poisons.clone();
        seeds[class_rows[0].iter().position(|&r| r == 86).unwrap()] = false;
        seeds[class_rows[0].iter().position(|&r| r == 87).unwrap()] = false;
        seeds[0] = true; // x = -10
        seeds[39] = true; // x = +9.5
        let refined = refine_by_discriminant(0, &class_rows, &seeds, &emb).unwrap();
        assert_eq!(refined, poisons);
    }

    /// Unflagged side -3..2 plus one more row: median 0, MAD 2, scale 2.9652, so the extra
    /// row joins the flagged mode (at 20) from 8.8956 (z 3) on: 9.0 (z 3.04) does, 8.8
    /// (z 2.97) does not, and neither does -9.0 on the far side.
    #[test]
    fn unflagged_outliers_towards_the_mode_are_flagged_too() {
        for (extra, joins) in [(9.0, true), (8.8, false), (-9.0, false)] {
            let projection = [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, extra, 20.0];
            let mut flags = [false; 8];
            flags[7] = true;
            extend_towards_the_mode(&projection, &mut flags);
            assert_eq!(flags[6], joins, "{extra}");
            assert_eq!(flags.iter().filter(|&&f| f).count(), 1 + usize::from(joins));
        }
        // No spread on the unflagged side: nothing is added.
        let mut tied = [false, false, false, true];
        extend_towards_the_mode(&[1.0, 1.0, 1.0, 5.0], &mut tied);
        assert_eq!(tied, [false, false, false, true]);
    }

    /// One unimodal (uniform) class: Otsu splits it in halves at separation sqrt(12) ~ 3.5,
    /// no clear mode, so the seeds stay as they are.
    #[test]
    fn without_a_clear_second_mode_the_seeds_are_kept() {
        let values: Vec<f32> = (0..80).map(|i| (i % 40) as f32).collect();
        let labels: Vec<u32> = (0..80).map(|i| u32::from(i >= 40)).collect();
        let ids: Vec<u64> = (0..80).collect();
        let emb = Embeddings::new(&values, 1, &labels, &ids, 2).unwrap();
        let class_rows = emb.class_rows();
        let seeds: Vec<bool> = (0..40).map(|i| (18..24).contains(&i) || i > 36).collect();
        let refined = refine_by_discriminant(0, &class_rows, &seeds, &emb).unwrap();
        assert_eq!(refined, seeds);
    }

    #[test]
    fn seeds_that_would_take_most_of_the_class_are_kept() {
        let values: Vec<f32> = (0..12)
            .map(|i| if i == 0 { 0.0 } else { 5.0 + i as f32 * 0.01 })
            .collect();
        let labels = [0u32, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
        let ids: Vec<u64> = (0..12).collect();
        let emb = Embeddings::new(&values, 1, &labels, &ids, 2).unwrap();
        let class_rows = emb.class_rows();
        let seeds = vec![false, true, false, false, false, false];
        let refined = refine_by_discriminant(0, &class_rows, &seeds, &emb).unwrap();
        assert_eq!(refined, seeds);
    }
}
