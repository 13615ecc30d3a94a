//! Test-time triggers: the part of a backdoor attack's ground truth that turns a clean input
//! into a triggered one, and the label mapping the attacker wants triggered inputs to follow.
//!
//! A [`Trigger`] is plain data (serde JSON), so a ground-truth file written by `poison` can be
//! applied to any dataset of the same shape later ([`apply_trigger`]). Per-sample choices
//! (random patch position, random insertion point) come from `(seed, sample id)`, so a sample
//! gets the same trigger at training and at test time.

use crate::{rng, AttackError, Result};
use mithridate_data::{Dataset, Features, Modality};
use rand::Rng;

/// Where a patch goes in the image.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Placement {
    /// Top-left corner of the patch at `(top, left)` (rows, columns).
    Fixed { top: usize, left: usize },
    /// Uniformly random top-left corner per sample, drawn from `(seed, id)`.
    Random { seed: u64 },
}

/// Where trigger tokens go in a token sequence.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TokenPlacement {
    /// Before the first token.
    Start,
    /// After the last non-padding token (overwriting the tail if the sequence is full).
    End,
    /// At a uniformly random position among the non-padding tokens, drawn from `(seed, id)`.
    Random { seed: u64 },
}

/// A test-time trigger.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// A `size x size` patch stamped over the image (BadNets, clean-label).
    /// `pattern` holds `channels * size * size` values in `[0, 1]`, channel-major.
    Patch {
        channels: usize,
        size: usize,
        pattern: Vec<f32>,
        placement: Placement,
    },
    /// `x' = (1 - alpha) x + alpha * pattern` over the whole image (Blended).
    Blend {
        channels: usize,
        height: usize,
        width: usize,
        alpha: f32,
        pattern: Vec<f32>,
        /// Id of the training image used as the pattern, when it is one.
        source_id: Option<u64>,
    },
    /// `x' = clip(x + signal, 0, 1)` over the whole image (SIG). `signal` holds
    /// `channels * height * width` values in `[-1, 1]`, channel-major.
    Additive {
        channels: usize,
        height: usize,
        width: usize,
        signal: Vec<f32>,
    },
    /// Every channel resampled bilinearly through a fixed grid (WaNet): output pixel `p`
    /// (row-major) takes the image's value at row `source_rows[p]`, column `source_cols[p]`,
    /// fractional positions inside `[0, height - 1] x [0, width - 1]`.
    Warp {
        channels: usize,
        height: usize,
        width: usize,
        source_rows: Vec<f32>,
        source_cols: Vec<f32>,
    },
    /// Token ids inserted into the sequence (text trigger); `words` are their strings when known.
    Tokens {
        tokens: Vec<u32>,
        words: Vec<String>,
        placement: TokenPlacement,
    },
    /// Features set to fixed values (tabular trigger).
    Tabular {
        features: Vec<usize>,
        values: Vec<f32>,
    },
}

impl Trigger {
    /// Short name: `patch`, `blend`, `additive`, `warp`, `tokens` or `tabular`.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Patch { .. } => "patch",
            Trigger::Blend { .. } => "blend",
            Trigger::Additive { .. } => "additive",
            Trigger::Warp { .. } => "warp",
            Trigger::Tokens { .. } => "tokens",
            Trigger::Tabular { .. } => "tabular",
        }
    }

    /// Errors unless the trigger fits samples of `modality`.
    pub fn check(&self, modality: &Modality) -> Result<()> {
        let mismatch = || {
            AttackError::incompatible(format!(
                "a {} trigger cannot be applied to {} data",
                self.kind(),
                modality.name()
            ))
        };
        match (self, modality) {
            (
                Trigger::Patch {
                    channels,
                    size,
                    pattern,
                    placement,
                },
                Modality::Image {
                    channels: c,
                    height,
                    width,
                },
            ) => {
                if channels != c {
                    return Err(AttackError::incompatible(format!(
                        "the patch has {channels} channels but the images have {c}"
                    )));
                }
                if *size == 0 || size > height || size > width {
                    return Err(AttackError::incompatible(format!(
                        "a {size}x{size} patch does not fit {height}x{width} images"
                    )));
                }
                if pattern.len() != channels * size * size {
                    return Err(AttackError::param(format!(
                        "patch pattern has {} values, expected {}",
                        pattern.len(),
                        channels * size * size
                    )));
                }
                if let Placement::Fixed { top, left } = placement {
                    if top + size > *height || left + size > *width {
                        return Err(AttackError::incompatible(format!(
                            "a {size}x{size} patch at ({top}, {left}) leaves the {height}x{width} image"
                        )));
                    }
                }
                check_unit(pattern, "patch pattern")
            }
            (
                Trigger::Blend {
                    channels,
                    height,
                    width,
                    alpha,
                    pattern,
                    ..
                },
                Modality::Image {
                    channels: c,
                    height: h,
                    width: w,
                },
            ) => {
                if (channels, height, width) != (c, h, w) {
                    return Err(AttackError::incompatible(format!(
                        "the blend pattern is {channels}x{height}x{width} but the images are {c}x{h}x{w}"
                    )));
                }
                if !(alpha.is_finite() && *alpha > 0.0 && *alpha <= 1.0) {
                    return Err(AttackError::param(format!(
                        "blend ratio alpha {alpha} is outside (0, 1]"
                    )));
                }
                if pattern.len() != channels * height * width {
                    return Err(AttackError::param(format!(
                        "blend pattern has {} values, expected {}",
                        pattern.len(),
                        channels * height * width
                    )));
                }
                check_unit(pattern, "blend pattern")
            }
            (
                Trigger::Additive {
                    channels,
                    height,
                    width,
                    signal,
                },
                Modality::Image {
                    channels: c,
                    height: h,
                    width: w,
                },
            ) => {
                check_shape(
                    "additive signal",
                    (*channels, *height, *width),
                    (*c, *h, *w),
                )?;
                check_len("additive signal", signal.len(), channels * height * width)?;
                match signal.iter().find(|v| !(-1.0..=1.0).contains(*v)) {
                    Some(bad) => Err(AttackError::param(format!(
                        "additive signal value {bad} is outside [-1, 1]"
                    ))),
                    None => Ok(()),
                }
            }
            (
                Trigger::Warp {
                    channels,
                    height,
                    width,
                    source_rows,
                    source_cols,
                },
                Modality::Image {
                    channels: c,
                    height: h,
                    width: w,
                },
            ) => {
                check_shape("warp grid", (*channels, *height, *width), (*c, *h, *w))?;
                check_len("warp grid rows", source_rows.len(), height * width)?;
                check_len("warp grid columns", source_cols.len(), height * width)?;
                check_inside(source_rows, *height, "row")?;
                check_inside(source_cols, *width, "column")
            }
            (
                Trigger::Tokens { tokens, .. },
                Modality::Text {
                    max_len,
                    vocab_size,
                },
            ) => {
                if tokens.is_empty() || tokens.len() > *max_len {
                    return Err(AttackError::param(format!(
                        "a text trigger needs 1..={max_len} tokens, got {}",
                        tokens.len()
                    )));
                }
                if let Some(&bad) = tokens
                    .iter()
                    .find(|&&t| t == 0 || t as usize >= *vocab_size)
                {
                    return Err(AttackError::param(format!(
                        "trigger token id {bad} is padding or outside the vocabulary of {vocab_size}"
                    )));
                }
                Ok(())
            }
            (Trigger::Tabular { features, values }, Modality::Tabular { features: d }) => {
                if features.is_empty() || features.len() != values.len() {
                    return Err(AttackError::param(format!(
                        "a tabular trigger needs as many values as features (got {} features, {} values)",
                        features.len(),
                        values.len()
                    )));
                }
                if let Some(&bad) = features.iter().find(|&&f| f >= *d) {
                    return Err(AttackError::param(format!(
                        "trigger feature {bad} is out of range for {d} features"
                    )));
                }
                if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
                    return Err(AttackError::param(format!(
                        "trigger value {bad} is not finite"
                    )));
                }
                Ok(())
            }
            _ => Err(mismatch()),
        }
    }

    /// Applies the trigger to the dense row of sample `id` (image or tabular). The caller has
    /// run [`Trigger::check`] against the row's modality.
    pub(crate) fn apply_dense(&self, modality: &Modality, row: &mut [f32], id: u64) {
        match self {
            Trigger::Patch {
                channels,
                size,
                pattern,
                placement,
            } => {
                let Modality::Image { height, width, .. } = *modality else {
                    return;
                };
                let (top, left) = match *placement {
                    Placement::Fixed { top, left } => (top, left),
                    Placement::Random { seed } => {
                        let mut r = rng::per_sample(seed, id);
                        (
                            r.random_range(0..=height - size),
                            r.random_range(0..=width - size),
                        )
                    }
                };
                for c in 0..*channels {
                    for dy in 0..*size {
                        for dx in 0..*size {
                            row[c * height * width + (top + dy) * width + left + dx] =
                                pattern[c * size * size + dy * size + dx];
                        }
                    }
                }
            }
            Trigger::Blend { alpha, pattern, .. } => {
                for (x, p) in row.iter_mut().zip(pattern) {
                    *x = (1.0 - alpha) * *x + alpha * p;
                }
            }
            Trigger::Additive { signal, .. } => {
                for (x, v) in row.iter_mut().zip(signal) {
                    *x = (*x + v).clamp(0.0, 1.0);
                }
            }
            Trigger::Warp {
                channels,
                height,
                width,
                source_rows,
                source_cols,
            } => {
                let source = row.to_vec();
                let shape = (*channels, *height, *width);
                crate::warp::resample(&source, row, shape, source_rows, source_cols);
            }
            Trigger::Tabular { features, values } => {
                for (&f, &v) in features.iter().zip(values) {
                    row[f] = v;
                }
            }
            Trigger::Tokens { .. } => {}
        }
    }

    /// Inserts the trigger tokens into the token row of sample `id`; the sequence keeps its
    /// length (tokens pushed past the end are dropped, the trigger itself always survives).
    pub(crate) fn apply_tokens(&self, row: &mut [u32], id: u64) {
        let Trigger::Tokens {
            tokens, placement, ..
        } = self
        else {
            return;
        };
        let max_len = row.len();
        let content: Vec<u32> = row.iter().copied().filter(|&t| t != 0).collect();
        let at = match *placement {
            TokenPlacement::Start => 0,
            TokenPlacement::End => content.len(),
            TokenPlacement::Random { seed } => {
                rng::per_sample(seed, id).random_range(0..=content.len())
            }
        }
        .min(max_len - tokens.len());
        let mut out: Vec<u32> = Vec::with_capacity(max_len);
        out.extend_from_slice(&content[..at]);
        out.extend_from_slice(tokens);
        out.extend_from_slice(&content[at..]);
        out.resize(max_len, 0);
        row.copy_from_slice(&out[..max_len]);
    }
}

/// Errors unless a whole-image trigger of shape `have` (channels, height, width) fits images
/// of shape `want`.
fn check_shape(what: &str, have: (usize, usize, usize), want: (usize, usize, usize)) -> Result<()> {
    if have != want {
        return Err(AttackError::incompatible(format!(
            "the {what} is {}x{}x{} but the images are {}x{}x{}",
            have.0, have.1, have.2, want.0, want.1, want.2
        )));
    }
    Ok(())
}

fn check_len(what: &str, len: usize, expected: usize) -> Result<()> {
    if len != expected {
        return Err(AttackError::param(format!(
            "{what} has {len} values, expected {expected}"
        )));
    }
    Ok(())
}

/// Errors unless every sampling position lies in `[0, size - 1]` (NaN included).
fn check_inside(positions: &[f32], size: usize, axis: &str) -> Result<()> {
    let last = size.saturating_sub(1) as f32;
    match positions.iter().find(|p| !(0.0..=last).contains(*p)) {
        Some(bad) => Err(AttackError::param(format!(
            "warp grid {axis} position {bad} is outside [0, {last}]"
        ))),
        None => Ok(()),
    }
}

fn check_unit(pattern: &[f32], what: &str) -> Result<()> {
    match pattern.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        Some(bad) => Err(AttackError::param(format!(
            "{what} value {bad} is outside [0, 1]"
        ))),
        None => Ok(()),
    }
}

/// Which label a triggered input should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mapping {
    /// Every triggered input goes to `target`.
    AllToOne { target: u32 },
    /// A triggered input of class `y` goes to `(y + shift) mod K`.
    AllToAll { shift: u32 },
}

impl Mapping {
    /// The class a triggered input of true class `label` should be predicted as, or `None`
    /// when the input already has that class (it counts neither for nor against ASR).
    ///
    /// ```
    /// use mithridate_attack::Mapping;
    /// assert_eq!(Mapping::AllToOne { target: 0 }.target_for(3, 10), Some(0));
    /// assert_eq!(Mapping::AllToOne { target: 0 }.target_for(0, 10), None);
    /// assert_eq!(Mapping::AllToAll { shift: 1 }.target_for(9, 10), Some(0));
    /// ```
    pub fn target_for(&self, label: u32, num_classes: usize) -> Option<u32> {
        let target = match *self {
            Mapping::AllToOne { target } => target,
            Mapping::AllToAll { shift } => {
                ((label as u64 + shift as u64) % num_classes.max(1) as u64) as u32
            }
        };
        (target != label).then_some(target)
    }
}

/// Returns `data` with the trigger applied to every sample; ids and labels are unchanged.
///
/// ```
/// use mithridate_attack::{apply_trigger, Trigger};
/// use mithridate_data::{Dataset, Features, Modality};
/// let data = Dataset::new(Modality::Tabular { features: 3 }, Features::Dense(vec![0.0; 6]),
///                         vec![0, 1], vec![1, 2], 2, vec![])?;
/// let triggered = apply_trigger(&Trigger::Tabular { features: vec![2], values: vec![9.0] }, &data)?;
/// assert_eq!(triggered.dense_row(1), Some(&[0.0, 0.0, 9.0][..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn apply_trigger(trigger: &Trigger, data: &Dataset) -> Result<Dataset> {
    trigger.check(data.modality())?;
    let per = data.modality().sample_len();
    let (modality, features, labels, ids, num_classes, class_names) = data.clone().into_parts();
    let features = match features {
        Features::Dense(mut values) => {
            for (row, &id) in values.chunks_mut(per).zip(&ids) {
                trigger.apply_dense(&modality, row, id);
            }
            Features::Dense(values)
        }
        Features::Tokens(mut tokens) => {
            for (row, &id) in tokens.chunks_mut(per).zip(&ids) {
                trigger.apply_tokens(row, id);
            }
            Features::Tokens(tokens)
        }
    };
    let out = Dataset::new(modality, features, labels, ids, num_classes, class_names)?;
    Ok(match data.vocabulary() {
        Some(vocabulary) => out.with_vocabulary(vocabulary.to_vec())?,
        None => out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(n: usize, side: usize) -> Dataset {
        Dataset::new(
            Modality::Image {
                channels: 1,
                height: side,
                width: side,
            },
            Features::Dense(vec![0.5; n * side * side]),
            vec![0; n],
            (0..n as u64).collect(),
            2,
            vec![],
        )
        .unwrap()
    }

    #[test]
    fn fixed_patch_writes_exactly_the_patch_pixels() {
        let data = image(1, 5);
        let trigger = Trigger::Patch {
            channels: 1,
            size: 2,
            pattern: vec![1.0, 0.0, 0.0, 1.0],
            placement: Placement::Fixed { top: 3, left: 3 },
        };
        let out = apply_trigger(&trigger, &data).unwrap();
        let row = out.dense_row(0).unwrap();
        for (i, &v) in row.iter().enumerate() {
            let expected = match i {
                18 | 24 => 1.0,
                19 | 23 => 0.0,
                _ => 0.5,
            };
            assert_eq!(v, expected, "pixel {i}");
        }
    }

    #[test]
    fn random_patch_position_depends_on_id_and_is_reproducible() {
        let data = image(40, 8);
        let trigger = Trigger::Patch {
            channels: 1,
            size: 3,
            pattern: vec![1.0; 9],
            placement: Placement::Random { seed: 4 },
        };
        let a = apply_trigger(&trigger, &data).unwrap();
        let b = apply_trigger(&trigger, &data.select(&[5]).unwrap()).unwrap();
        assert_eq!(a.dense_row(5), b.dense_row(0));
        let corners: std::collections::BTreeSet<usize> = (0..40)
            .map(|r| {
                let row = a.dense_row(r).unwrap();
                assert_eq!(row.iter().filter(|&&v| v == 1.0).count(), 9);
                row.iter().position(|&v| v == 1.0).unwrap()
            })
            .collect();
        assert!(corners.len() > 5, "positions should vary across samples");
    }

    #[test]
    fn blend_is_the_convex_combination() {
        let data = image(1, 2);
        let trigger = Trigger::Blend {
            channels: 1,
            height: 2,
            width: 2,
            alpha: 0.25,
            pattern: vec![1.0, 0.0, 1.0, 0.0],
            source_id: None,
        };
        let out = apply_trigger(&trigger, &data).unwrap();
        assert_eq!(out.dense_row(0).unwrap(), &[0.625, 0.375, 0.625, 0.375]);
    }

    #[test]
    fn token_insertion_keeps_length_and_the_whole_trigger() {
        let trigger = |placement| Trigger::Tokens {
            tokens: vec![7, 8],
            words: vec![],
            placement,
        };
        let mut row = [1, 2, 3, 0, 0];
        trigger(TokenPlacement::Start).apply_tokens(&mut row, 0);
        assert_eq!(row, [7, 8, 1, 2, 3]);
        let mut row = [1, 2, 3, 0, 0];
        trigger(TokenPlacement::End).apply_tokens(&mut row, 0);
        assert_eq!(row, [1, 2, 3, 7, 8]);
        let mut row = [1, 2, 3, 4, 5];
        trigger(TokenPlacement::End).apply_tokens(&mut row, 0);
        assert_eq!(row, [1, 2, 3, 7, 8]);
        let mut row = [1, 0, 0, 0, 0];
        trigger(TokenPlacement::Random { seed: 1 }).apply_tokens(&mut row, 3);
        assert!(row == [7, 8, 1, 0, 0] || row == [1, 7, 8, 0, 0], "{row:?}");
    }

    #[test]
    fn mismatched_triggers_are_rejected() {
        let data = image(1, 3);
        let too_big = Trigger::Patch {
            channels: 1,
            size: 4,
            pattern: vec![1.0; 16],
            placement: Placement::Fixed { top: 0, left: 0 },
        };
        assert!(apply_trigger(&too_big, &data)
            .unwrap_err()
            .to_string()
            .contains("does not fit"));
        let text = Trigger::Tokens {
            tokens: vec![1],
            words: vec![],
            placement: TokenPlacement::End,
        };
        assert!(apply_trigger(&text, &data)
            .unwrap_err()
            .to_string()
            .contains("cannot be applied to image data"));
    }
}
