//! Sanitization: removing (or relabelling) the samples detectors flagged.

use crate::{DetectError, Detection, Result};
use mithridate_data::Dataset;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What to do with flagged samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Remove every flagged sample.
    Drop,
    /// Give flagged samples the label their detector suggests (confident learning); flagged
    /// samples without a suggestion are dropped.
    Relabel,
}

/// What sanitization did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SanitizeReport {
    pub samples_before: usize,
    pub samples_after: usize,
    pub dropped: Vec<u64>,
    /// `(id, old label, new label)`.
    pub relabelled: Vec<(u64, u32, u32)>,
}

/// Applies the union of all detections' flags to `data`. Relabel suggestions of different
/// detections for the same id must agree (else it is dropped). Errors if a flagged id is not in
/// `data` (flags from another dataset) or a suggested label is not a class.
///
/// ```
/// use mithridate_data::{Dataset, Features, Modality};
/// use mithridate_detect::{sanitize::{sanitize, Action}, Detection};
/// let data = Dataset::new(Modality::Tabular { features: 1 }, Features::Dense(vec![0.0, 1.0, 2.0]),
///     vec![0, 1, 1], vec![5, 6, 7], 2, vec![])?;
/// let flags = Detection { detector: "confident".into(), parameters: serde_json::Value::Null,
///     flagged: vec![6, 7], scores: vec![], classes: vec![], relabel: vec![(6, 0)] };
/// let (clean, report) = sanitize(&data, &[flags], Action::Relabel)?;
/// assert_eq!((clean.ids(), clean.labels()), (&[5, 6][..], &[0, 0][..]));
/// assert_eq!(report.dropped, vec![7]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sanitize(
    data: &Dataset,
    detections: &[Detection],
    action: Action,
) -> Result<(Dataset, SanitizeReport)> {
    let flagged: BTreeSet<u64> = detections
        .iter()
        .flat_map(|d| d.flagged.iter().copied())
        .collect();
    let row_of: HashMap<u64, usize> = data
        .ids()
        .iter()
        .enumerate()
        .map(|(r, &id)| (id, r))
        .collect();
    if let Some(id) = flagged.iter().find(|id| !row_of.contains_key(id)) {
        return Err(DetectError::input(format!(
            "flagged id {id} is not in the dataset (flags from another dataset?)"
        )));
    }
    let mut suggestions: BTreeMap<u64, Option<u32>> = BTreeMap::new();
    if action == Action::Relabel {
        for (id, label) in detections.iter().flat_map(|d| d.relabel.iter().copied()) {
            if label as usize >= data.num_classes() {
                return Err(DetectError::input(format!(
                    "suggested label {label} for id {id} is not a class (classes 0..{})",
                    data.num_classes()
                )));
            }
            suggestions
                .entry(id)
                .and_modify(|s| {
                    if *s != Some(label) {
                        *s = None;
                    }
                })
                .or_insert(Some(label));
        }
    }
    let mut keep = Vec::with_capacity(data.len());
    let mut dropped = Vec::new();
    let mut relabelled = Vec::new();
    for (r, &id) in data.ids().iter().enumerate() {
        if !flagged.contains(&id) {
            keep.push(r);
            continue;
        }
        match suggestions.get(&id).copied().flatten() {
            Some(label) => {
                keep.push(r);
                relabelled.push((id, data.labels()[r], label));
            }
            None => dropped.push(id),
        }
    }
    let subset = data.select(&keep)?;
    let clean = if relabelled.is_empty() {
        subset
    } else {
        let new_label: HashMap<u64, u32> = relabelled.iter().map(|&(id, _, l)| (id, l)).collect();
        let vocabulary = subset.vocabulary().map(<[String]>::to_vec);
        let (modality, features, labels, ids, k, names) = subset.into_parts();
        let labels = labels
            .iter()
            .zip(&ids)
            .map(|(&y, id)| new_label.get(id).copied().unwrap_or(y))
            .collect();
        let rebuilt = Dataset::new(modality, features, labels, ids, k, names)?;
        match vocabulary {
            Some(v) => rebuilt.with_vocabulary(v)?,
            None => rebuilt,
        }
    };
    dropped.sort_unstable();
    let report = SanitizeReport {
        samples_before: data.len(),
        samples_after: clean.len(),
        dropped,
        relabelled,
    };
    Ok((clean, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mithridate_data::{Features, Modality};

    #[test]
    fn drop_removes_union_and_rejects_foreign_ids() {
        let data = Dataset::new(
            Modality::Tabular { features: 1 },
            Features::Dense(vec![0.0, 1.0, 2.0, 3.0]),
            vec![0, 1, 1, 0],
            vec![1, 2, 3, 4],
            2,
            vec![],
        )
        .unwrap();
        let det = |flagged: Vec<u64>| Detection {
            detector: "d".into(),
            parameters: serde_json::Value::Null,
            flagged,
            scores: vec![],
            classes: vec![],
            relabel: vec![(2, 0)],
        };
        let (clean, r) = sanitize(&data, &[det(vec![2]), det(vec![4])], Action::Drop).unwrap();
        assert_eq!(clean.ids(), &[1, 3]);
        assert_eq!(r.dropped, vec![2, 4]);
        let e = sanitize(&data, &[det(vec![9])], Action::Drop).unwrap_err();
        assert!(e.to_string().contains("flagged id 9"), "{e}");
        let mut bad = det(vec![2]);
        bad.relabel = vec![(2, 5)];
        assert!(sanitize(&data, &[bad], Action::Relabel).is_err());
    }
}
