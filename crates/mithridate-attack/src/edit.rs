//! A copy-on-write view of a training set that attacks edit in place, and that turns the
//! edits into the poisoned set plus a ground truth measured as the diff from the clean set.

use crate::truth::{BudgetRecord, ChangeKind, Goal, GroundTruth, SampleChange, FORMAT};
use crate::{AttackError, Poisoned, Result, Taxonomy};
use mithridate_data::{Dataset, Features};

/// Attack metadata recorded next to the measured changes.
pub(crate) struct Record {
    pub attack: &'static str,
    pub parameters: serde_json::Value,
    pub seed: u64,
    pub budget: BudgetRecord,
    pub taxonomy: Taxonomy,
    pub goal: Goal,
}

pub(crate) struct Edits<'a> {
    clean: &'a Dataset,
    features: Features,
    labels: Vec<u32>,
    ids: Vec<u64>,
    /// The clean set's own class names (empty when it had none), kept verbatim.
    class_names: Vec<String>,
    /// Source id of each appended row, in order.
    added_from: Vec<u64>,
    next_id: u64,
}

impl<'a> Edits<'a> {
    pub fn new(clean: &'a Dataset) -> Self {
        let (_, features, labels, ids, _, class_names) = clean.clone().into_parts();
        Edits {
            clean,
            features,
            labels,
            ids,
            class_names,
            added_from: Vec::new(),
            next_id: clean.ids().iter().max().map_or(0, |&m| m.saturating_add(1)),
        }
    }

    fn per(&self) -> usize {
        self.clean.modality().sample_len()
    }

    /// Mutable dense features of `row` (image or tabular data).
    pub fn dense_row_mut(&mut self, row: usize) -> Result<&mut [f32]> {
        let per = self.per();
        match &mut self.features {
            Features::Dense(v) => Ok(&mut v[row * per..(row + 1) * per]),
            Features::Tokens(_) => Err(AttackError::incompatible(
                "this attack needs dense (image or tabular) features, not tokens",
            )),
        }
    }

    /// Mutable token ids of `row` (text data).
    pub fn tokens_row_mut(&mut self, row: usize) -> Result<&mut [u32]> {
        let per = self.per();
        match &mut self.features {
            Features::Tokens(v) => Ok(&mut v[row * per..(row + 1) * per]),
            Features::Dense(_) => Err(AttackError::incompatible(
                "this attack needs text (token) features",
            )),
        }
    }

    /// Id of row `row` (fresh for appended rows).
    pub fn id(&self, row: usize) -> u64 {
        self.ids[row]
    }

    pub fn set_label(&mut self, row: usize, label: u32) {
        self.labels[row] = label;
    }

    /// Appends a copy of clean row `row` with a fresh id; returns the new row's index.
    pub fn append_copy(&mut self, row: usize) -> Result<usize> {
        if self.next_id == u64::MAX {
            return Err(AttackError::incompatible(
                "no fresh sample id left above the existing ids",
            ));
        }
        let per = self.per();
        match &mut self.features {
            Features::Dense(v) => v.extend_from_within(row * per..(row + 1) * per),
            Features::Tokens(v) => v.extend_from_within(row * per..(row + 1) * per),
        }
        self.labels.push(self.clean.labels()[row]);
        self.ids.push(self.next_id);
        self.added_from.push(self.clean.ids()[row]);
        self.next_id += 1;
        Ok(self.labels.len() - 1)
    }

    /// The poisoned set and its ground truth (changes = exact diff against the clean set).
    pub fn finish(self, record: Record) -> Result<Poisoned> {
        let n = self.clean.len();
        let per = self.per();
        let row_differs = |r: usize| match (&self.features, self.clean.features()) {
            (Features::Dense(a), Features::Dense(b)) => {
                // Bitwise, so that e.g. -0.0 vs 0.0 or a NaN-free rewrite is still a change.
                a[r * per..(r + 1) * per]
                    .iter()
                    .zip(&b[r * per..(r + 1) * per])
                    .any(|(x, y)| x.to_bits() != y.to_bits())
            }
            (Features::Tokens(a), Features::Tokens(b)) => {
                a[r * per..(r + 1) * per] != b[r * per..(r + 1) * per]
            }
            _ => true,
        };
        let mut changes = Vec::new();
        for r in 0..n {
            let features_changed = row_differs(r);
            let (from, to) = (self.clean.labels()[r], self.labels[r]);
            if features_changed || from != to {
                changes.push(SampleChange {
                    id: self.ids[r],
                    kind: ChangeKind::Modified,
                    label_from: Some(from),
                    label_to: to,
                    features_changed,
                    source_id: None,
                });
            }
        }
        for (k, &source) in self.added_from.iter().enumerate() {
            changes.push(SampleChange {
                id: self.ids[n + k],
                kind: ChangeKind::Added,
                label_from: None,
                label_to: self.labels[n + k],
                features_changed: true,
                source_id: Some(source),
            });
        }
        changes.sort_by_key(|c| c.id);
        let (modality, num_classes, class_names) = (
            self.clean.modality().clone(),
            self.clean.num_classes(),
            self.class_names,
        );
        let mut data = Dataset::new(
            modality.clone(),
            self.features,
            self.labels,
            self.ids,
            num_classes,
            class_names,
        )?;
        if let Some(vocabulary) = self.clean.vocabulary() {
            data = data.with_vocabulary(vocabulary.to_vec())?;
        }
        let truth = GroundTruth {
            format: FORMAT.to_string(),
            attack: record.attack.to_string(),
            parameters: record.parameters,
            seed: record.seed,
            budget: record.budget,
            modality,
            num_classes,
            samples_before: n,
            samples_after: data.len(),
            taxonomy: record.taxonomy,
            goal: record.goal,
            changes,
        };
        Ok(Poisoned { data, truth })
    }
}
