//! Corroborating a model-based member's mode from the raw inputs, with the mode left out.
//!
//! The input check ([`crate::input_consistency`]) marks a class when its samples' raw-input
//! neighbours carry other labels. When the poisons are many and share one global trigger
//! (a blended image), they are one another's nearest neighbours, agree with their label, and
//! the class is not marked: MNIST, blended image -> 9 at 10% (6,000 images, seed 7), where
//! split consistency found the poisons exactly (P 0.99 / R 0.99) but `auto`, lacking the
//! input check's corroboration, flagged none of them. This check asks the input check's
//! question of the member's mode `G` with `G` itself left out of the references:
//! dirty-label poisons then look like their source classes, most of the other classes, while
//! a natural mode of a class (a writing style; shirts among T-shirts, pullovers and coats)
//! still looks like its class or like one or two neighbouring classes.
//!
//! Rule: with `R` the class's other rows, every row of `G` and `R` has its `k` nearest
//! references outside `G` (itself excluded; the input check's projected space and reference
//! sample) vote ([`crate::knn`]'s plurality). `o_G`, `o_R` are the shares outvoted. `G` looks
//! relabelled when
//! - `o_G >= 1/2` (most of the mode looks like other classes),
//! - `o_G >= 2 o_R` (far more than the rest of the class does), and
//! - the labels outvoting `G` include at least `ceil(min_source_share (K - 1))` classes, each
//!   holding at least a quarter of an even share of the outvoted rows (an all-to-one
//!   dirty-label backdoor draws from most classes; two confusable classes are not that).
//!
//! Cost: `O((|G| + |R|) m c)` for `m` references of dimension `c`.

use crate::input_consistency::{InputCheck, InputConsistencyParams};
use crate::knn::{nearest_neighbours, neighbour_vote};
use faer::Mat;

/// The rule's inputs besides the rows: the input check's space and references, the labels.
pub(crate) struct InputSpace<'a> {
    pub space: &'a Mat<f32>,
    pub reference: &'a [usize],
    pub labels: &'a [u32],
    pub num_classes: usize,
    /// Neighbours per row.
    pub k: usize,
    /// Share of the other classes that must outvote the mode.
    pub min_source_share: f64,
}

/// Smallest `o_G` (see the [module](self) docs).
const MIN_GROUP_OUTVOTED: f64 = 0.5;
/// Smallest `o_G / o_R`.
const MIN_OUTVOTED_RATIO: f64 = 2.0;

impl<'a> InputSpace<'a> {
    /// The input check's space with `params`' `k` and source share; `None` for token inputs.
    pub(crate) fn of(
        check: &'a InputCheck,
        labels: &'a [u32],
        num_classes: usize,
        params: &InputConsistencyParams,
    ) -> Option<Self> {
        let (space, reference) = check.space.as_ref()?;
        Some(InputSpace {
            space,
            reference,
            labels,
            num_classes,
            k: params.k,
            min_source_share: params.min_source_share,
        })
    }

    /// Whether `group` (rows labelled `class`) looks relabelled against the class's other
    /// rows (`class_rows` minus `group`), as the [module](self) docs define.
    pub(crate) fn mode_looks_relabelled(
        &self,
        class: u32,
        group: &[usize],
        class_rows: &[usize],
    ) -> bool {
        self.mode_outvoted_by_sources(class, group, class_rows, MIN_GROUP_OUTVOTED)
    }

    /// [`Self::mode_looks_relabelled`] with `min_group_outvoted` in place of `o_G >= 1/2`.
    pub(crate) fn mode_outvoted_by_sources(
        &self,
        class: u32,
        group: &[usize],
        class_rows: &[usize],
        min_group_outvoted: f64,
    ) -> bool {
        if group.is_empty() || self.num_classes < 2 {
            return false;
        }
        let mut in_group = vec![false; self.labels.len()];
        group.iter().for_each(|&r| in_group[r] = true);
        let rest: Vec<usize> = class_rows
            .iter()
            .copied()
            .filter(|&r| !in_group[r])
            .collect();
        let refs: Vec<usize> = self
            .reference
            .iter()
            .copied()
            .filter(|&r| !in_group[r])
            .collect();
        if refs.len() < self.k {
            return false;
        }
        let c = self.space.ncols();
        let refs_mat = Mat::from_fn(refs.len(), c, |i, j| self.space[(refs[i], j)]);
        let queries: Vec<usize> = group.iter().chain(&rest).copied().collect();
        let query_mat = Mat::from_fn(queries.len(), c, |i, j| self.space[(queries[i], j)]);
        let neighbours =
            nearest_neighbours(query_mat.as_ref(), refs_mat.as_ref(), self.k, &|q, r| {
                queries[q] == refs[r]
            });
        let opinions: Vec<u32> = neighbours
            .iter()
            .map(|nearest| {
                let votes = nearest.iter().map(|&j| self.labels[refs[j]]);
                neighbour_vote(votes, class, self.num_classes).1
            })
            .collect();
        let (group_opinions, rest_opinions) = opinions.split_at(group.len());
        let outvoted = |ops: &[u32]| ops.iter().filter(|&&o| o != class).count();
        let group_outvoted = outvoted(group_opinions);
        let o_group = group_outvoted as f64 / group.len() as f64;
        let o_rest = outvoted(rest_opinions) as f64 / rest.len().max(1) as f64;
        let others = (self.num_classes - 1) as f64;
        let mut per_source = vec![0usize; self.num_classes];
        group_opinions
            .iter()
            .filter(|&&o| o != class)
            .for_each(|&o| per_source[o as usize] += 1);
        let min_count = (group_outvoted as f64 / (4.0 * others)).ceil().max(1.0) as usize;
        let sources = per_source.iter().filter(|&&n| n >= min_count).count();
        let needed = ((self.min_source_share * others).ceil() as usize).max(1);
        o_group >= min_group_outvoted && o_group >= MIN_OUTVOTED_RATIO * o_rest && sources >= needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1-D inputs, 4 classes at 0, 10, 20, 30 (6 rows each, spread 0.1). Class 0 also holds
    /// a poison mode: 2 rows near each other class, shifted by +0.5 (the shared trigger), so
    /// with the mode among the references every poison's nearest rows are its fellow poisons.
    fn planted() -> (Mat<f32>, Vec<u32>, Vec<usize>, Vec<usize>) {
        let (mut x, mut y) = (vec![], vec![]);
        for c in 0..4u32 {
            for i in 0..6 {
                x.push(10.0 * c as f32 + 0.1 * i as f32);
                y.push(c);
            }
        }
        for c in 1..4u32 {
            for i in 0..2 {
                x.push(10.0 * c as f32 + 0.5 + 0.01 * i as f32);
                y.push(0);
            }
        }
        let space = Mat::from_fn(x.len(), 1, |i, _| x[i]);
        let group: Vec<usize> = (24..30).collect();
        let rest: Vec<usize> = (0..6).collect();
        (space, y, group, rest)
    }

    #[test]
    fn a_mode_drawn_from_every_other_class_looks_relabelled() {
        let (space, labels, group, rest) = planted();
        let reference: Vec<usize> = (0..labels.len()).collect();
        let check = InputSpace {
            space: &space,
            reference: &reference,
            labels: &labels,
            num_classes: 4,
            k: 3,
            min_source_share: 0.75,
        };
        let class: Vec<usize> = rest.iter().chain(&group).copied().collect();
        assert!(check.mode_looks_relabelled(0, &group, &class));
        // Half of the class's clean rows as the "mode": they look like class 0.
        assert!(!check.mode_looks_relabelled(0, &rest[..3], &class));
        // Only the poisons near class 1 (one source of three): not most classes.
        assert!(!check.mode_looks_relabelled(0, &group[..2], &class));
        // The six poisons with two clean rows: 6 of 8 outvoted passes at 1/2, not at 0.8.
        let mixed: Vec<usize> = group.iter().chain(&rest[..2]).copied().collect();
        assert!(check.mode_outvoted_by_sources(0, &mixed, &class, 0.5));
        assert!(!check.mode_outvoted_by_sources(0, &mixed, &class, 0.8));
        assert!(check.mode_outvoted_by_sources(0, &group, &class, 0.8));
    }
}
