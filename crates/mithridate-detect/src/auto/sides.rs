//! How `auto` reads a class split: which side of a member's split to take, each row's rank
//! within its class, and the Otsu threshold between a high minority and the rest.

/// Largest share of a class a decisive member may flag: an all-to-one backdoor at rate `r`
/// of a set with `K` balanced classes is `r K / (1 + r K - r)` of its target class, 53% at
/// `r = 10%` and `K = 10`, 2/3 only beyond ~18%. A decisive verdict that flags more than this
/// has picked the clean side of a split (seen on MNIST-20k BadNets at 1%: 1,982 of ~2,180
/// class-0 samples flagged, poisons missed) and is ignored for that class.
pub const DECISIVE_MAX_SHARE: f64 = 2.0 / 3.0;

/// Whether `flagged` of a class of `size` is a share a decisive member may flag.
pub(crate) fn decisive_share_is_plausible(flagged: usize, size: usize) -> bool {
    flagged > 0 && (flagged as f64) <= DECISIVE_MAX_SHARE * size as f64
}

/// A decisive member's class split: the side it flagged (`group`) when that is a plausible
/// share of the class, else the other side (`rest`) when that is plausible and its samples
/// disagree with their input-space neighbours at least [`SIDE_DISAGREEMENT_RATIO`] times as
/// often (dirty-label poisons look like their source classes), else none. A plausible
/// flagged side also gives way to such a `rest` when the rest is outvoted on average (mean
/// disagreement at least [`OUTVOTED_SIDE`]): a clean side is not. In a class the input
/// check `marked`, a split that needs turning gives none instead: the check's own flags,
/// refined, are the better seeds there (a turned side lacks the poisons the member put on
/// the clean side: Fashion-MNIST dirty SIG 5%, 76 of 300). Why: split consistency's
/// leave-group-out agreement picks the side whose neighbours outside itself carry other
/// labels; when the poisons are a small minority, the clean majority's only same-label
/// references are the poisons, so it can pick the clean side (20,000 MNIST images, BadNets
/// 1%: 1,974 of the 2,174 class-0 images flagged, the 200 poisons not; 6,000 MNIST images,
/// random-position 4x4 patch at 5%: 613 of 926 class-7 images, 66.2% of the class, just
/// under [`DECISIVE_MAX_SHARE`], with 3 of the 300 poisons).
pub(super) fn plausible_side(
    group: Vec<usize>,
    rest: Vec<usize>,
    disagreement: &[f64],
    size: usize,
    marked: bool,
) -> Option<Vec<usize>> {
    let mean = |rows: &[usize]| rows.iter().map(|&r| disagreement[r]).sum::<f64>() / rows.len().max(1) as f64;
    let rest_looks_relabelled = decisive_share_is_plausible(rest.len(), size)
        && mean(&rest) >= SIDE_DISAGREEMENT_RATIO * mean(&group) + 1e-12;
    let turned = match decisive_share_is_plausible(group.len(), size) {
        true if rest_looks_relabelled && mean(&rest) >= OUTVOTED_SIDE => rest,
        true => return Some(group),
        false if rest_looks_relabelled => rest,
        false => return None,
    };
    (!marked).then_some(turned)
}

/// Mean input-space disagreement above which the unflagged side of a plausible split is
/// taken as the poisons (see [`plausible_side`]): most of its samples' neighbours carry
/// other labels, which no clean side shows.
const OUTVOTED_SIDE: f64 = 0.5;

/// How much more often the unflagged side of an implausible split must disagree with its
/// input-space neighbours to be taken instead (see [`plausible_side`]).
const SIDE_DISAGREEMENT_RATIO: f64 = 2.0;

/// Each row's percentile (0..1, ties averaged) among the rows of its class.
pub(super) fn class_percentiles(scores: &[f64], class_rows: &[Vec<usize>]) -> Vec<f64> {
    let mut out = vec![0.0; scores.len()];
    for rows in class_rows {
        let mut order = rows.clone();
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        let denom = (rows.len().max(2) - 1) as f64;
        let mut i = 0;
        while i < order.len() {
            let mut j = i;
            while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
                j += 1;
            }
            let rank = (i + j) as f64 / 2.0 / denom;
            for &r in &order[i..=j] {
                out[r] = rank;
            }
            i = j + 1;
        }
    }
    out
}

/// The threshold `t` maximising the between-group variance of `{v <= t}` and `{v > t}`
/// (Otsu 1979 on the sorted values; `t` is the midpoint of the best gap). `None` when all
/// values are equal or there are fewer than two.
pub fn otsu_split(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let cut = crate::tails::best_two_means_cut(&v)?;
    Some((v[cut - 1] + v[cut]) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decisive_verdict_flagging_most_of_a_class_is_ignored() {
        assert!(decisive_share_is_plausible(1014, 1903));
        assert!(decisive_share_is_plausible(200, 2180));
        assert!(!decisive_share_is_plausible(1982, 2180));
        assert!(!decisive_share_is_plausible(0, 100));
        assert!(decisive_share_is_plausible(2, 3));
        assert!(!decisive_share_is_plausible(3, 4));
    }

    #[test]
    fn an_implausible_split_is_turned_to_the_side_that_looks_like_other_classes() {
        // 10 rows: the member flagged rows 0..8 (80%), rows 8, 9 disagree with their
        // neighbours far more often: they are taken instead.
        let mut dis = vec![0.1; 10];
        dis[8] = 0.9;
        dis[9] = 0.8;
        let (group, rest) = ((0..8).collect(), vec![8, 9]);
        assert_eq!(plausible_side(group, rest, &dis, 10, false), Some(vec![8, 9]));
        // Not when the other side is no more outvoted than the flagged one.
        let flat = vec![0.3; 10];
        assert_eq!(plausible_side((0..8).collect(), vec![8, 9], &flat, 10, false), None);
        // A plausible flagged side is kept as it is...
        assert_eq!(plausible_side(vec![8, 9], (0..8).collect(), &dis, 10, false), Some(vec![8, 9]));
        // ...unless the other side is outvoted on average and twice as often: with 15 rows,
        // the member flagged the 10 rows at 0.1 (2/3 of the class, plausible), rows 10..15
        // disagree at 0.85 on average.
        let mut dis = vec![0.1; 15];
        dis[10..].copy_from_slice(&[0.9, 0.8, 0.9, 0.8, 0.85]);
        let (group, rest): (Vec<usize>, Vec<usize>) = ((0..10).collect(), (10..15).collect());
        assert_eq!(plausible_side(group.clone(), rest.clone(), &dis, 15, false), Some(rest.clone()));
        // In a class the input check marked, a split that needs turning gives none.
        assert_eq!(plausible_side(group.clone(), rest.clone(), &dis, 15, true), None);
        assert_eq!(plausible_side((0..11).collect(), (11..15).collect(), &dis, 15, true), None);
        // A rest twice as outvoted but under half on average is a clean side: kept flagged,
        // marked or not.
        dis[10..].copy_from_slice(&[0.4; 5]);
        assert_eq!(plausible_side(group.clone(), rest.clone(), &dis, 15, false), Some(group.clone()));
        assert_eq!(plausible_side(group.clone(), rest, &dis, 15, true), Some(group));
    }

    #[test]
    fn percentiles_are_within_class_and_average_ties() {
        let p = class_percentiles(&[1.0, 3.0, 2.0, 5.0, 5.0], &[vec![0, 1, 2], vec![3, 4]]);
        assert_eq!(p, vec![0.0, 1.0, 0.5, 0.5, 0.5]);
    }

    #[test]
    fn otsu_separates_a_minority_mode() {
        let mut v: Vec<f64> = (0..90).map(|i| 0.3 + 0.002 * i as f64).collect();
        v.extend((0..10).map(|i| 0.9 + 0.005 * i as f64));
        let t = otsu_split(&v).unwrap();
        assert!(v.iter().filter(|&&x| x > t).count() == 10, "{t}");
    }
}
