//! The output of every detector and its `flags.json` form.

use crate::{DetectError, Result};
use std::path::Path;

/// What one detector concluded about one class.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassVerdict {
    pub class: u32,
    /// Samples carrying this label.
    pub samples: usize,
    /// Of those, flagged.
    pub flagged: usize,
    /// Whether the detector considers this class poisoned.
    pub suspicious: bool,
    /// The detector's per-class statistic (documented per detector), e.g. the silhouette of
    /// the 2-means split for activation clustering.
    pub statistic: f64,
}

/// A detector's verdict on a training set: the `flags.json` object.
///
/// `flags.json` holds one such object (one detector) or a JSON array of them (several
/// detectors, e.g. `--detector all`); [`Detection::read_all`] accepts both.
/// Fields: `detector` (name), `parameters`, `flagged` (ids, ascending), `scores`
/// (`[id, score]` pairs in dataset row order, higher = more suspicious), `classes`
/// (per-class verdicts) and `relabel` (`[id, label]` pairs: the label the detector believes
/// is right, for label-noise detectors; empty otherwise).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Detection {
    pub detector: String,
    #[serde(default)]
    pub parameters: serde_json::Value,
    pub flagged: Vec<u64>,
    pub scores: Vec<(u64, f64)>,
    #[serde(default)]
    pub classes: Vec<ClassVerdict>,
    #[serde(default)]
    pub relabel: Vec<(u64, u32)>,
}

impl Detection {
    /// Builds a detection from row-ordered scores and a per-row flag, filling per-class
    /// counts (`suspicious`/`statistic` come from `class_info(class) -> (suspicious, statistic)`).
    pub(crate) fn from_rows(
        detector: &str,
        parameters: serde_json::Value,
        rows: Rows<'_>,
        scores: &[f64],
        flags: &[bool],
        class_info: impl Fn(u32) -> (bool, f64),
    ) -> Detection {
        let Rows {
            ids,
            labels,
            num_classes,
        } = rows;
        let mut flagged: Vec<u64> = ids
            .iter()
            .zip(flags)
            .filter(|(_, &f)| f)
            .map(|(&id, _)| id)
            .collect();
        flagged.sort_unstable();
        let mut samples = vec![0usize; num_classes];
        let mut per_class_flags = vec![0usize; num_classes];
        for (&y, &f) in labels.iter().zip(flags) {
            samples[y as usize] += 1;
            per_class_flags[y as usize] += usize::from(f);
        }
        let classes = (0..num_classes as u32)
            .map(|c| {
                let (suspicious, statistic) = class_info(c);
                ClassVerdict {
                    class: c,
                    samples: samples[c as usize],
                    flagged: per_class_flags[c as usize],
                    suspicious,
                    statistic,
                }
            })
            .collect();
        Detection {
            detector: detector.to_string(),
            parameters,
            flagged,
            scores: ids.iter().copied().zip(scores.iter().copied()).collect(),
            classes,
            relabel: Vec::new(),
        }
    }

    /// Classes the detector considers poisoned.
    pub fn suspicious_classes(&self) -> Vec<u32> {
        self.classes
            .iter()
            .filter(|c| c.suspicious)
            .map(|c| c.class)
            .collect()
    }

    /// Writes one detection as an object, several as an array, through the workspace's one
    /// atomic writer (0644: flags are shared with whoever sanitises).
    pub fn write_all(detections: &[Detection], path: &Path) -> Result<()> {
        let fail = |message: String| DetectError::File {
            path: path.to_path_buf(),
            message,
        };
        let value = match detections {
            [one] => serde_json::to_value(one),
            many => serde_json::to_value(many),
        }
        .map_err(|e| fail(e.to_string()))?;
        let mut json = serde_json::to_vec(&value).map_err(|e| fail(e.to_string()))?;
        json.push(b'\n');
        mithridate_core::write_atomic(path, &json, mithridate_core::FileMode::Shared)
            .map_err(|e| fail(e.to_string()))
    }

    /// Reads a `flags.json` written by [`Detection::write_all`] (an object or an array).
    pub fn read_all(path: &Path) -> Result<Vec<Detection>> {
        let fail = |message: String| DetectError::File {
            path: path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        Self::from_slice(&bytes, path)
    }

    /// [`Detection::read_all`] on a flags file held in memory; `path` names it in errors.
    pub fn from_slice(bytes: &[u8], path: &Path) -> Result<Vec<Detection>> {
        let fail = |message: String| DetectError::File {
            path: path.to_path_buf(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| fail(format!("not JSON: {e}")))?;
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<Detection>(v)
                .map_err(|e| fail(format!("not a detection object: {e}")))
        };
        match value {
            serde_json::Value::Array(items) => items.into_iter().map(parse).collect(),
            other => Ok(vec![parse(other)?]),
        }
    }
}

/// The sample index every detection is reported against: ids, labels and class count, row-aligned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub ids: &'a [u64],
    pub labels: &'a [u32],
    pub num_classes: usize,
}

/// Number of samples to flag out of `n` for a share `share` (rounded up, at most `n`; a
/// product within 1e-9 of an integer counts as that integer, so 1.5 x 5% of 400 is 30).
pub(crate) fn flag_count(n: usize, share: f64) -> usize {
    ((n as f64 * share - 1e-9).ceil().max(0.0) as usize).min(n)
}

/// Per-class verdicts from one statistic per class: a class is suspicious when its statistic
/// is positive and more than twice the median class's (one class far from the others).
pub(crate) fn twice_median_verdict(stats: Vec<f64>) -> impl Fn(u32) -> (bool, f64) {
    let mut sorted = stats.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    move |c| {
        let stat = stats[c as usize];
        (stat > 2.0 * median && stat > 0.0, stat)
    }
}

/// Marks the `count` highest-scoring rows among `rows` (ties broken by row order, so the
/// result is deterministic).
pub(crate) fn flag_top(scores: &[f64], rows: &[usize], count: usize, flags: &mut [bool]) {
    let mut order = rows.to_vec();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    for &r in order.iter().take(count) {
        flags[r] = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_as_object_and_array() {
        let d = Detection::from_rows(
            "x",
            serde_json::json!({"a": 1}),
            Rows {
                ids: &[5, 3, 9],
                labels: &[0, 1, 1],
                num_classes: 2,
            },
            &[0.1, 0.9, 0.5],
            &[false, true, true],
            |c| (c == 1, 0.0),
        );
        assert_eq!(d.flagged, vec![3, 9]);
        assert_eq!(d.classes[1].flagged, 2);
        assert_eq!(d.suspicious_classes(), vec![1]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        Detection::write_all(std::slice::from_ref(&d), &path).unwrap();
        assert_eq!(Detection::read_all(&path).unwrap(), vec![d.clone()]);
        #[cfg(unix)]
        {
            // Flags are shared with whoever sanitises: 0644, not a private temp file's 0600.
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644);
        }
        Detection::write_all(&[d.clone(), d.clone()], &path).unwrap();
        assert_eq!(Detection::read_all(&path).unwrap().len(), 2);
        std::fs::write(&path, "{\"detector\": 1}").unwrap();
        assert!(Detection::read_all(&path).is_err());
    }

    #[test]
    fn top_flags_are_deterministic_under_ties() {
        let mut flags = vec![false; 4];
        flag_top(&[1.0, 2.0, 2.0, 0.0], &[0, 1, 2, 3], 1, &mut flags);
        assert_eq!(flags, vec![false, true, false, false]);
        assert_eq!(flag_count(10, 0.15), 2);
        assert_eq!(flag_count(3, 1.0), 3);
    }
}
