//! The in-memory dataset every Mithridate stage consumes and produces.

use crate::{DataError, Result};
use std::sync::Arc;

/// How one sample's features are laid out. Determines which model families apply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Modality {
    /// `channels x height x width` pixels in `[0, 1]`, stored row-major per sample.
    Image {
        channels: usize,
        height: usize,
        width: usize,
    },
    /// A flat vector of `features` real values.
    Tabular { features: usize },
    /// A sequence of `max_len` token ids in `[0, vocab_size)`; id 0 is padding.
    Text { max_len: usize, vocab_size: usize },
}

impl Modality {
    /// Number of scalars per sample (`C*H*W`, `features`, or `max_len`).
    pub fn sample_len(&self) -> usize {
        match *self {
            Modality::Image {
                channels,
                height,
                width,
            } => channels * height * width,
            Modality::Tabular { features } => features,
            Modality::Text { max_len, .. } => max_len,
        }
    }

    /// Per-sample shape as the `.npz` interchange format stores it (without the leading `N`).
    pub fn sample_shape(&self) -> Vec<usize> {
        match *self {
            Modality::Image {
                channels,
                height,
                width,
            } => vec![channels, height, width],
            Modality::Tabular { features } => vec![features],
            Modality::Text { max_len, .. } => vec![max_len],
        }
    }

    /// Short name: `image`, `tabular` or `text`.
    pub fn name(&self) -> &'static str {
        match self {
            Modality::Image { .. } => "image",
            Modality::Tabular { .. } => "tabular",
            Modality::Text { .. } => "text",
        }
    }
}

/// Sample features, row-major, `n * modality.sample_len()` values.
#[derive(Debug, Clone, PartialEq)]
pub enum Features {
    /// Images and tabular rows.
    Dense(Vec<f32>),
    /// Token ids of text samples, padded with 0.
    Tokens(Vec<u32>),
}

impl Features {
    fn len(&self) -> usize {
        match self {
            Features::Dense(v) => v.len(),
            Features::Tokens(v) => v.len(),
        }
    }
}

/// A labelled dataset with a stable id per sample.
///
/// Ids survive shuffling, splitting, subsetting and poisoning, so every later stage
/// (attack ground truth, detector flags, provenance diffs) names samples by id, never
/// by row position. Invariants (checked by [`Dataset::new`]): the features hold exactly
/// `n * modality.sample_len()` values, `labels` and `ids` have `n` entries, every label
/// is `< num_classes`, ids are unique, dense features are finite, token ids are
/// `< vocab_size`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    modality: Modality,
    features: Features,
    labels: Vec<u32>,
    ids: Vec<u64>,
    num_classes: usize,
    class_names: Vec<String>,
    /// Token strings of a text dataset (`vocabulary[id]`), shared between subsets.
    vocabulary: Option<Arc<[String]>>,
}

impl Dataset {
    /// Builds a dataset, validating every invariant listed on [`Dataset`].
    /// `class_names` may be empty (names default to the class index).
    pub fn new(
        modality: Modality,
        features: Features,
        labels: Vec<u32>,
        ids: Vec<u64>,
        num_classes: usize,
        class_names: Vec<String>,
    ) -> Result<Self> {
        let n = labels.len();
        let per = modality.sample_len();
        if per == 0 {
            return Err(DataError::invalid("samples have zero features"));
        }
        if features.len() != n * per {
            return Err(DataError::invalid(format!(
                "{} feature values for {n} samples of {per} values each (expected {})",
                features.len(),
                n * per
            )));
        }
        if ids.len() != n {
            return Err(DataError::invalid(format!(
                "{} ids for {n} samples",
                ids.len()
            )));
        }
        if num_classes < 1 {
            return Err(DataError::invalid("a dataset needs at least one class"));
        }
        if let Some((row, &label)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= num_classes)
        {
            return Err(DataError::invalid(format!(
                "label {label} at row {row} is out of range for {num_classes} classes"
            )));
        }
        if !class_names.is_empty() && class_names.len() != num_classes {
            return Err(DataError::invalid(format!(
                "{} class names for {num_classes} classes",
                class_names.len()
            )));
        }
        match (&modality, &features) {
            (Modality::Text { vocab_size, .. }, Features::Tokens(tokens)) => {
                if let Some(pos) = tokens.iter().position(|&t| t as usize >= *vocab_size) {
                    return Err(DataError::invalid(format!(
                        "token id {} at row {} is out of range for vocabulary size {vocab_size}",
                        tokens[pos],
                        pos / per
                    )));
                }
            }
            (Modality::Text { .. }, Features::Dense(_)) => {
                return Err(DataError::invalid("text samples need token features"));
            }
            (_, Features::Tokens(_)) => {
                return Err(DataError::invalid(
                    "token features are only valid for text samples",
                ));
            }
            (_, Features::Dense(values)) => {
                if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
                    return Err(DataError::invalid(format!(
                        "non-finite feature value {} at row {}",
                        values[pos],
                        pos / per
                    )));
                }
            }
        }
        // Names "0", "1", ... are the default; store them as "none" so equality does not
        // depend on whether a source spelled the defaults out.
        let class_names = if class_names
            .iter()
            .enumerate()
            .all(|(i, n)| *n == i.to_string())
        {
            Vec::new()
        } else {
            class_names
        };
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(DataError::invalid(format!("duplicate sample id {}", w[0])));
        }
        Ok(Dataset {
            modality,
            features,
            labels,
            ids,
            num_classes,
            class_names,
            vocabulary: None,
        })
    }

    /// Attaches the token strings of a text dataset (`vocabulary[id]` is token `id`; id 0 is
    /// padding). Errors unless the dataset is text and the vocabulary has exactly `vocab_size`
    /// entries. Kept by [`Dataset::select`]; lost by [`Dataset::into_parts`].
    pub fn with_vocabulary(mut self, vocabulary: Vec<String>) -> Result<Self> {
        match self.modality {
            Modality::Text { vocab_size, .. } if vocab_size == vocabulary.len() => {
                self.vocabulary = Some(vocabulary.into());
                Ok(self)
            }
            Modality::Text { vocab_size, .. } => Err(DataError::invalid(format!(
                "vocabulary has {} tokens but the dataset's vocabulary size is {vocab_size}",
                vocabulary.len()
            ))),
            _ => Err(DataError::invalid("only text datasets carry a vocabulary")),
        }
    }

    /// Declares `num_classes` classes where the dataset declared fewer: a triggered test set
    /// labelled with the target, or a single-class holdout, read against a model that knows
    /// more classes (every label is below the old count, so below the new one). Class names,
    /// if any, are extended with the class index. A dataset that already declares
    /// `num_classes` or more is returned unchanged: a model's compatibility check is what
    /// refuses a dataset with more classes than the model.
    ///
    /// ```
    /// use mithridate_data::{Dataset, Features, Modality};
    /// let d = Dataset::new(Modality::Tabular { features: 1 }, Features::Dense(vec![0.5]),
    ///     vec![7], vec![1], 8, vec![]).unwrap();
    /// assert_eq!(d.clone().widen_classes(10).num_classes(), 10);
    /// assert_eq!(d.widen_classes(3).num_classes(), 8);
    /// ```
    pub fn widen_classes(mut self, num_classes: usize) -> Self {
        if num_classes <= self.num_classes {
            return self;
        }
        if !self.class_names.is_empty() {
            let known = self.class_names.len();
            self.class_names
                .extend((known..num_classes).map(|c| c.to_string()));
        }
        self.num_classes = num_classes;
        self
    }

    /// The token strings of a text dataset, when known (`vocabulary()[id]` is token `id`).
    pub fn vocabulary(&self) -> Option<&[String]> {
        self.vocabulary.as_deref()
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the dataset holds no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn modality(&self) -> &Modality {
        &self.modality
    }

    pub fn features(&self) -> &Features {
        &self.features
    }

    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Class names; the class index as text where the source had none.
    pub fn class_names(&self) -> Vec<String> {
        if self.class_names.is_empty() {
            (0..self.num_classes).map(|c| c.to_string()).collect()
        } else {
            self.class_names.clone()
        }
    }

    /// Dense features of row `row` (`None` for text datasets).
    pub fn dense_row(&self, row: usize) -> Option<&[f32]> {
        let per = self.modality.sample_len();
        match &self.features {
            Features::Dense(v) => v.get(row * per..(row + 1) * per),
            Features::Tokens(_) => None,
        }
    }

    /// Token ids of row `row` (`None` for dense datasets).
    pub fn token_row(&self, row: usize) -> Option<&[u32]> {
        let per = self.modality.sample_len();
        match &self.features {
            Features::Tokens(v) => v.get(row * per..(row + 1) * per),
            Features::Dense(_) => None,
        }
    }

    /// Number of samples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The rows at `rows` (in that order), keeping ids, classes and names.
    /// Errors if a row index is out of range or repeated.
    pub fn select(&self, rows: &[usize]) -> Result<Dataset> {
        let n = self.len();
        if let Some(&bad) = rows.iter().find(|&&r| r >= n) {
            return Err(DataError::invalid(format!(
                "row {bad} is out of range for {n} samples"
            )));
        }
        let per = self.modality.sample_len();
        let features = match &self.features {
            Features::Dense(v) => Features::Dense(
                rows.iter()
                    .flat_map(|&r| &v[r * per..(r + 1) * per])
                    .copied()
                    .collect(),
            ),
            Features::Tokens(v) => Features::Tokens(
                rows.iter()
                    .flat_map(|&r| &v[r * per..(r + 1) * per])
                    .copied()
                    .collect(),
            ),
        };
        let mut subset = Dataset::new(
            self.modality.clone(),
            features,
            rows.iter().map(|&r| self.labels[r]).collect(),
            rows.iter().map(|&r| self.ids[r]).collect(),
            self.num_classes,
            self.class_names.clone(),
        )?;
        subset.vocabulary = self.vocabulary.clone();
        Ok(subset)
    }

    /// Consumes the dataset into its parts `(modality, features, labels, ids, num_classes, class_names)`,
    /// e.g. for an attack that rewrites some rows and rebuilds it with [`Dataset::new`].
    pub fn into_parts(self) -> (Modality, Features, Vec<u32>, Vec<u64>, usize, Vec<String>) {
        (
            self.modality,
            self.features,
            self.labels,
            self.ids,
            self.num_classes,
            self.class_names,
        )
    }
}
