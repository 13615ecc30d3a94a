//! Spreading a class's flags to the inputs that sit among them: k-nearest-neighbour label
//! propagation inside the class, with a strong-majority threshold.
//!
//! Method (a hard-threshold form of label propagation, Zhu & Ghahramani 2002): with `F` the
//! flagged rows of a class and `N_k(i)` the `k` nearest other rows of the same class in the
//! input check's projected input space ([`crate::input_consistency`]), an unflagged row `i` is
//! flagged when `|N_k(i) ∩ F| >= 0.8 k` ([`MIN_FLAGGED_SHARE`]). Each round reads the flags as
//! they were before it; rounds repeat until none adds a row (at most [`MAX_ROUNDS`]). Growth
//! needs a strong majority, so it fills the inside of a flagged cluster and stops at its edge,
//! where a row has about half of its neighbours on each side.
//!
//! Why: the poisons of one backdoor carry one trigger and come from the same source images
//! that the other poisons come from, so within their (relabelled) class their nearest inputs
//! are other poisons; a clean row's nearest inputs in its own class are clean rows. The
//! model-based split that picks the poisons (split consistency, the refined discriminant)
//! misses the poisons the model learned least, and those keep a backdoor alive after
//! retraining (MNIST, blended image at 5%, 6,000 images, `auto` P 0.88 / R 0.68: flagging a
//! class-5 row when half of its 10 nearest class-5 inputs were flagged added 40-46 of the 96
//! missed poisons for 3-5 clean rows, `k` = 5, 10, 20, measured before this was built; the
//! stricter share is explained at [`MIN_FLAGGED_SHARE`]).
//!
//! Assumptions: the class's flags are mostly poisons (it only widens what a verdict chose; a
//! class with no flags is untouched, so a clean set stays clean) and the poisons' inputs are
//! close to one another (a trigger at a random position still leaves a poison nearest to the
//! other poisons of its source class). Cost: `O(n_c² c)` per flagged class of `n_c` rows in
//! `c` projected dimensions.
//!
//! ```
//! use mithridate_detect::propagate::spread_within_class;
//! // 1-D: rows 0-5 clean at 0.0-0.5; rows 6-9 a poison cluster near 10, of which 6-8 are
//! // flagged: row 9 sits among them and is flagged too, no clean row is.
//! let points = [0.0f32, 0.1, 0.2, 0.3, 0.4, 0.5, 10.0, 10.1, 10.2, 10.3];
//! let mut flags = [false, false, false, false, false, false, true, true, true, false];
//! let added = spread_within_class(&points, 1, &mut flags, 3);
//! assert_eq!(added, 1);
//! assert!(flags[9] && flags[..6].iter().all(|&f| !f));
//! ```

use crate::knn::nearest_neighbours;
use faer::MatRef;

/// Share of a row's neighbours that must be flagged. A row inside a flagged cluster has
/// nearly all of its neighbours flagged; a clean row on the cluster's edge has about half on
/// each side, so a bare majority (measured first) also took Fashion-MNIST's clean rows that
/// resemble the poisons' source class (9-15 per class, at most one poison among them).
pub const MIN_FLAGGED_SHARE: f64 = 0.8;

/// Neighbours each row consults (the measured setting; 5 and 20 gave the same rows within 6).
pub const NEIGHBOURS: usize = 10;

/// Rounds at most (each costs `O(n_c k)` once the neighbours are known).
pub const MAX_ROUNDS: usize = 20;

/// The rule of the [module](self) docs on one class: `points` are its rows' coordinates,
/// row-major with `dim` columns, `flags` one per row. Returns how many rows were added.
/// Classes with fewer than `k + 1` rows, no flags or only flags are left as they are.
pub fn spread_within_class(points: &[f32], dim: usize, flags: &mut [bool], k: usize) -> usize {
    let n = flags.len();
    let flagged = flags.iter().filter(|&&f| f).count();
    if k == 0 || dim == 0 || points.len() != n * dim || n <= k || flagged == 0 || flagged == n {
        return 0;
    }
    let space = MatRef::from_row_major_slice(points, n, dim);
    let neighbours = nearest_neighbours(space, space, k, &|q, r| q == r);
    let mut added = 0;
    for _ in 0..MAX_ROUNDS {
        let before = flags.to_vec();
        let mut this_round = 0;
        for (i, nearest) in neighbours.iter().enumerate() {
            let hits = nearest.iter().filter(|&&j| before[j]).count();
            if !before[i] && hits as f64 >= MIN_FLAGGED_SHARE * k as f64 {
                flags[i] = true;
                this_round += 1;
            }
        }
        added += this_round;
        if this_round == 0 {
            break;
        }
    }
    added
}

/// [`spread_within_class`] in every `suspicious` class, on the rows'
/// coordinates in `space` (the input check's projection); an added row's score gains 1.
pub(crate) fn spread_in_classes(
    space: MatRef<f32>,
    class_rows: &[Vec<usize>],
    suspicious: &[bool],
    flags: &mut [bool],
    combined: &mut [f64],
) {
    let dim = space.ncols();
    for (rows, _) in class_rows.iter().zip(suspicious).filter(|(_, &s)| s) {
        let points: Vec<f32> = rows
            .iter()
            .flat_map(|&r| (0..dim).map(move |j| space[(r, j)]))
            .collect();
        let mut class_flags: Vec<bool> = rows.iter().map(|&r| flags[r]).collect();
        let added = spread_within_class(&points, dim, &mut class_flags, NEIGHBOURS);
        if added == 0 {
            continue;
        }
        for (&r, &f) in rows.iter().zip(&class_flags) {
            if f && !flags[r] {
                flags[r] = true;
                combined[r] += 1.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2-D: a clean blob of 40 rows around the origin and a poison blob of 30 around (5, 5),
    /// 28 of them flagged (so any 10 of a poison's 29 fellows hold at least 9 flagged), plus 2
    /// clean rows wrongly flagged inside the clean blob.
    fn blobs() -> (Vec<f32>, Vec<bool>) {
        let mut pts = Vec::new();
        let mut flags = Vec::new();
        for i in 0..40 {
            let a = i as f32 * 0.7;
            pts.extend([0.5 * a.cos() * (1.0 + (i % 3) as f32), 0.5 * a.sin()]);
            flags.push(i == 3 || i == 17);
        }
        for i in 0..30 {
            let a = i as f32 * 1.3;
            pts.extend([5.0 + 0.4 * a.cos(), 5.0 + 0.4 * a.sin()]);
            flags.push(i < 28);
        }
        (pts, flags)
    }

    #[test]
    fn the_poison_blob_is_completed_and_isolated_false_flags_do_not_spread() {
        let (pts, mut flags) = blobs();
        let added = spread_within_class(&pts, 2, &mut flags, NEIGHBOURS);
        assert!(flags[40..].iter().all(|&f| f), "every poison flagged");
        // Two scattered false flags cannot hold 8 of any clean row's 10 neighbours.
        let clean_flags = flags[..40].iter().filter(|&&f| f).count();
        assert_eq!(clean_flags, 2);
        assert_eq!(added, 2);
    }

    #[test]
    fn edges_stop_the_spread_rounds_fill_the_inside_and_degenerate_classes_are_untouched() {
        // A chain with k = 2: row 1's neighbours {0, 2} are both flagged -> added; row 3's
        // {2, 4} only half (the edge of the flagged run) -> not added, in any round.
        let pts = [0.0f32, 1.0, 2.0, 3.0, 4.0];
        let mut flags = [true, false, true, false, false];
        assert_eq!(spread_within_class(&pts, 1, &mut flags, 2), 1);
        assert_eq!(flags, [true, true, true, false, false]);
        assert_eq!(spread_within_class(&pts, 1, &mut flags, 2), 0);
        // Rounds: row 2 (0.9) has {1, 0} flagged -> round 1; row 3 (2.0) has {2, 4}, of which
        // 2 was unflagged before round 1 -> round 2.
        let pts = [0.0f32, 0.5, 0.9, 2.0, 3.2];
        let mut flags = [true, true, false, false, true];
        assert_eq!(spread_within_class(&pts, 1, &mut flags, 2), 2);
        assert!(flags.iter().all(|&f| f));
        let mut none = [false; 5];
        assert_eq!(spread_within_class(&pts, 1, &mut none, 2), 0);
        let mut all = [true; 5];
        assert_eq!(spread_within_class(&pts, 1, &mut all, 2), 0);
        let mut small = [true, false];
        assert_eq!(spread_within_class(&pts[..2], 1, &mut small, 2), 0);
        // A shape mismatch is refused quietly (nothing added) rather than misread.
        let mut flags = [true, false, false];
        assert_eq!(spread_within_class(&pts, 1, &mut flags, 1), 0);
    }
}
