//! Differences between two manifests, by sample id.

use crate::manifest::{Manifest, SampleEntry};
use crate::merkle::Digest;
use crate::{ProvenanceError, Result};
use mithridate_core::ParamGuard;
use mithridate_data::Dataset;
use serde::Serialize;
use std::cmp::Ordering;

/// Parameters of a manifest diff. Validate with [`DiffParams::check`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiffParams {
    /// A class is flagged when its share of the dataset moved by more than this many
    /// (absolute) fractions, e.g. `0.01` = one percentage point. Must lie in `(0, 1)`.
    pub share_threshold: f64,
}

impl Default for DiffParams {
    fn default() -> Self {
        DiffParams {
            share_threshold: 0.01,
        }
    }
}

impl ParamGuard for DiffParams {
    type Checked = CheckedDiffParams;
    type Error = ProvenanceError;

    fn check_ref(&self) -> Result<()> {
        let t = self.share_threshold;
        if !(t.is_finite() && t > 0.0 && t < 1.0) {
            return Err(ProvenanceError::invalid(format!(
                "share threshold must lie strictly between 0 and 1, got {t}"
            )));
        }
        Ok(())
    }

    fn build(self) -> CheckedDiffParams {
        CheckedDiffParams {
            share_threshold: self.share_threshold,
        }
    }
}

/// [`DiffParams`] that passed validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckedDiffParams {
    share_threshold: f64,
}

impl CheckedDiffParams {
    pub fn share_threshold(&self) -> f64 {
        self.share_threshold
    }
}

impl Default for CheckedDiffParams {
    fn default() -> Self {
        CheckedDiffParams {
            share_threshold: DiffParams::default().share_threshold,
        }
    }
}

/// A sample whose label differs between the two manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LabelChange {
    pub id: u64,
    pub old: u32,
    pub new: u32,
}

/// A dataset-level property that differs (modality, number of classes, class names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetadataChange {
    pub field: String,
    pub old: String,
    pub new: String,
}

/// One class's count and share before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassShift {
    pub class: usize,
    pub name: String,
    pub old_count: usize,
    pub new_count: usize,
    pub old_share: f64,
    pub new_share: f64,
    /// `new_share - old_share`.
    pub delta: f64,
    /// `|delta| > share_threshold`.
    pub flagged: bool,
}

/// What changed from an old manifest to a new one, every sample named by id.
///
/// Samples are matched by stable id in one merge pass over both id-sorted sample lists
/// (`O(n + m)`): an id only in the new manifest is *added*, only in the old one *removed*;
/// a shared id whose features hash differs is *feature-changed*, whose label differs is
/// *label-changed* (a sample can be both).
///
/// The class-share alarm targets label-flipping poisoning (Xiao, Xiao and Eckert, 2012,
/// "Adversarial label flips attack on support vector machines"): for each class `c`,
/// `share_c = count_c / n` in each manifest and the class is flagged when
/// `|share_new_c - share_old_c| > share_threshold`. It assumes the attack moves the class
/// balance; flips that swap equal numbers between two classes, or added samples that keep
/// the proportions, do not trip it (the per-id lists above still name them).
///
/// ```
/// use mithridate_core::ParamGuard;
/// use mithridate_data::{Dataset, Features, Modality};
/// use mithridate_provenance::{DiffParams, Manifest, ManifestDiff};
/// let ds = |labels: Vec<u32>| Dataset::new(Modality::Tabular { features: 1 },
///     Features::Dense(vec![0.0; labels.len()]), labels, vec![1, 2, 3, 4], 2, vec![]).unwrap();
/// let old = Manifest::build(&ds(vec![0, 0, 1, 1]), None, None);
/// let new = Manifest::build(&ds(vec![0, 1, 1, 1]), None, None);
/// let diff = ManifestDiff::between(&old, &new, &DiffParams::default().check().unwrap());
/// assert_eq!(diff.changed_labels[0].id, 2);
/// assert!(diff.class_shifts[1].flagged); // class 1 went from 50% to 75%
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManifestDiff {
    pub old_root: Digest,
    pub new_root: Digest,
    pub old_samples: usize,
    pub new_samples: usize,
    pub metadata_changes: Vec<MetadataChange>,
    pub added: Vec<u64>,
    pub removed: Vec<u64>,
    pub changed_features: Vec<u64>,
    pub changed_labels: Vec<LabelChange>,
    pub class_shifts: Vec<ClassShift>,
    pub share_threshold: f64,
}

impl ManifestDiff {
    /// Compares `old` with `new` (see the type's docs for the definitions).
    pub fn between(old: &Manifest, new: &Manifest, params: &CheckedDiffParams) -> ManifestDiff {
        let mut diff = ManifestDiff {
            old_root: old.root(),
            new_root: new.root(),
            old_samples: old.num_samples(),
            new_samples: new.num_samples(),
            metadata_changes: metadata_changes(old, new),
            added: Vec::new(),
            removed: Vec::new(),
            changed_features: Vec::new(),
            changed_labels: Vec::new(),
            class_shifts: class_shifts(old, new, params.share_threshold),
            share_threshold: params.share_threshold,
        };
        diff.compare_samples(old.samples(), new.samples());
        diff
    }

    fn compare_samples(&mut self, old: &[SampleEntry], new: &[SampleEntry]) {
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            let order = match (old.get(i), new.get(j)) {
                (Some(a), Some(b)) => a.id.cmp(&b.id),
                (Some(_), None) => Ordering::Less,
                (None, _) => Ordering::Greater,
            };
            match order {
                Ordering::Less => {
                    self.removed.push(old[i].id);
                    i += 1;
                }
                Ordering::Greater => {
                    self.added.push(new[j].id);
                    j += 1;
                }
                Ordering::Equal => {
                    let (a, b) = (&old[i], &new[j]);
                    if a.features != b.features {
                        self.changed_features.push(a.id);
                    }
                    if a.label != b.label {
                        self.changed_labels.push(LabelChange {
                            id: a.id,
                            old: a.label,
                            new: b.label,
                        });
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
    }

    /// True when the two manifests describe exactly the same samples and metadata.
    pub fn is_clean(&self) -> bool {
        self.metadata_changes.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.changed_features.is_empty()
            && self.changed_labels.is_empty()
    }

    /// Classes whose share moved by more than the threshold.
    pub fn flagged_classes(&self) -> impl Iterator<Item = &ClassShift> {
        self.class_shifts.iter().filter(|c| c.flagged)
    }

    /// One line: the counts of each kind of change.
    pub fn summary(&self) -> String {
        let flagged: Vec<String> = self.flagged_classes().map(|c| c.name.clone()).collect();
        let mut text = format!(
            "{} added, {} removed, {} with changed features, {} with changed labels",
            self.added.len(),
            self.removed.len(),
            self.changed_features.len(),
            self.changed_labels.len()
        );
        if !self.metadata_changes.is_empty() {
            let fields: Vec<&str> = self
                .metadata_changes
                .iter()
                .map(|m| m.field.as_str())
                .collect();
            text.push_str(&format!("; metadata changed: {}", fields.join(", ")));
        }
        if !flagged.is_empty() {
            text.push_str(&format!(
                "; class share moved more than {:.2} points in: {}",
                self.share_threshold * 100.0,
                flagged.join(", ")
            ));
        }
        text
    }
}

fn metadata_changes(old: &Manifest, new: &Manifest) -> Vec<MetadataChange> {
    let mut changes = Vec::new();
    let mut compare = |field: &str, a: String, b: String| {
        if a != b {
            changes.push(MetadataChange {
                field: field.into(),
                old: a,
                new: b,
            });
        }
    };
    compare("modality", json(old.modality()), json(new.modality()));
    compare(
        "num_classes",
        old.num_classes().to_string(),
        new.num_classes().to_string(),
    );
    compare(
        "class_names",
        json(old.class_names()),
        json(new.class_names()),
    );
    changes
}

/// A value as compact JSON, for the metadata table.
fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn class_shifts(old: &Manifest, new: &Manifest, threshold: f64) -> Vec<ClassShift> {
    let classes = old.num_classes().max(new.num_classes());
    let share = |count: usize, total: usize| {
        if total == 0 {
            0.0
        } else {
            count as f64 / total as f64
        }
    };
    (0..classes)
        .map(|c| {
            let old_count = old.class_counts().get(c).copied().unwrap_or(0);
            let new_count = new.class_counts().get(c).copied().unwrap_or(0);
            let old_share = share(old_count, old.num_samples());
            let new_share = share(new_count, new.num_samples());
            let delta = new_share - old_share;
            let name = new
                .class_names()
                .get(c)
                .or_else(|| old.class_names().get(c))
                .cloned()
                .unwrap_or_else(|| c.to_string());
            ClassShift {
                class: c,
                name,
                old_count,
                new_count,
                old_share,
                new_share,
                delta,
                flagged: delta.abs() > threshold,
            }
        })
        .collect()
}

// Lives here rather than in `manifest.rs` so that diffs depend on manifests and not the
// other way round.
impl Manifest {
    /// Re-hashes `data` and compares it with this manifest, naming every added, removed,
    /// feature-changed and label-changed sample. Clean iff the data is exactly what the
    /// manifest describes.
    pub fn verify_data(&self, data: &Dataset, params: &CheckedDiffParams) -> ManifestDiff {
        let fresh = Manifest::build(data, None, None);
        ManifestDiff::between(self, &fresh, params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mithridate_data::{Dataset, Features, Modality};

    fn dataset(ids: Vec<u64>, labels: Vec<u32>, values: Vec<f32>) -> Dataset {
        Dataset::new(
            Modality::Tabular { features: 1 },
            Features::Dense(values),
            labels,
            ids,
            3,
            vec![],
        )
        .unwrap()
    }

    #[test]
    fn hand_computed_diff() {
        let old = Manifest::build(
            &dataset(vec![1, 2, 3, 4], vec![0, 1, 2, 0], vec![0.1, 0.2, 0.3, 0.4]),
            None,
            None,
        );
        // 1 unchanged, 2 relabelled 1->0, 3 features changed, 4 removed, 9 added,
        // rows in another order (ids, not positions, decide).
        let new = Manifest::build(
            &dataset(
                vec![9, 3, 2, 1],
                vec![2, 2, 0, 0],
                vec![0.9, 0.35, 0.2, 0.1],
            ),
            None,
            None,
        );
        let diff = ManifestDiff::between(&old, &new, &CheckedDiffParams::default());
        assert_eq!(diff.added, vec![9]);
        assert_eq!(diff.removed, vec![4]);
        assert_eq!(diff.changed_features, vec![3]);
        assert_eq!(
            diff.changed_labels,
            vec![LabelChange {
                id: 2,
                old: 1,
                new: 0
            }]
        );
        assert!(diff.metadata_changes.is_empty());
        assert!(!diff.is_clean());
        // Counts: old [2,1,1], new [2,0,2] of 4 each.
        let shifts: Vec<(usize, usize)> = diff
            .class_shifts
            .iter()
            .map(|c| (c.old_count, c.new_count))
            .collect();
        assert_eq!(shifts, vec![(2, 2), (1, 0), (1, 2)]);
        assert!((diff.class_shifts[1].delta + 0.25).abs() < 1e-12);
        assert!(!diff.class_shifts[0].flagged && diff.class_shifts[1].flagged);
        let back = ManifestDiff::between(&new, &old, &CheckedDiffParams::default());
        assert_eq!(back.added, vec![4]);
        assert_eq!(back.removed, vec![9]);
    }

    #[test]
    fn identical_data_is_clean_whatever_the_row_order() {
        let a = dataset(vec![5, 6, 7], vec![0, 1, 2], vec![1.0, 2.0, 3.0]);
        let b = dataset(vec![7, 5, 6], vec![2, 0, 1], vec![3.0, 1.0, 2.0]);
        let (ma, mb) = (
            Manifest::build(&a, None, None),
            Manifest::build(&b, None, None),
        );
        assert_eq!(ma.root(), mb.root());
        let diff = ManifestDiff::between(&ma, &mb, &CheckedDiffParams::default());
        assert!(diff.is_clean());
        assert_eq!(diff.flagged_classes().count(), 0);
    }

    #[test]
    fn metadata_changes_are_reported() {
        let a = dataset(vec![1], vec![0], vec![1.0]);
        let b = Dataset::new(
            Modality::Tabular { features: 1 },
            Features::Dense(vec![1.0]),
            vec![0],
            vec![1],
            4,
            vec![],
        )
        .unwrap();
        let diff = ManifestDiff::between(
            &Manifest::build(&a, None, None),
            &Manifest::build(&b, None, None),
            &CheckedDiffParams::default(),
        );
        let fields: Vec<&str> = diff
            .metadata_changes
            .iter()
            .map(|m| m.field.as_str())
            .collect();
        assert_eq!(fields, vec!["num_classes", "class_names"]);
        assert_eq!(diff.class_shifts.len(), 4);
    }

    #[test]
    fn threshold_is_validated() {
        for bad in [0.0, 1.0, -0.1, f64::NAN, f64::INFINITY] {
            assert!(
                DiffParams {
                    share_threshold: bad
                }
                .check()
                .is_err(),
                "{bad}"
            );
        }
        assert!(DiffParams {
            share_threshold: 0.05
        }
        .check()
        .is_ok());
    }
}
