//! Text backdoor: rare tokens or a phrase inserted into the token sequence.
//!
//! Papers: Kurita, Michel & Neubig (2020), "Weight Poisoning Attacks on Pre-trained Models"
//! (ACL) — rare-word triggers such as "cf", "mn", "bb"; Chen, Salem, Chen, Backes, Ma,
//! Shen, Wu & Zhang (2021), "BadNL: Backdoor Attacks against NLP Models with
//! Semantic-preserving Improvements" (ACSAC) — word- and phrase-level triggers at the
//! start, middle or end of a sentence.
//!
//! Trigger: the token ids `t_1..t_L` are inserted into a sample's sequence at the start, the
//! end (after the last non-padding token) or a uniformly random position (drawn from
//! `(seed, id)`); the sequence keeps its `max_len`, the trigger always survives (tokens
//! pushed off the end are dropped). Tokens come from `words` (looked up in the dataset's
//! vocabulary), from `tokens` (ids) or, by default, are the `rare` tokens with the lowest
//! document frequency in the training set (ties by id) — a word the clean data almost never
//! uses, as Kurita et al. pick. Poisoning follows BadNets: `m = round(rate * n)` samples of
//! the whole training set drawn from those the mapping moves, triggered and relabelled.
//! Assumes text data.
//!
//! ```
//! use mithridate_attack::{registry, AttackInput, Budget};
//! use mithridate_data::{Dataset, Features, Modality};
//! let text = Modality::Text { max_len: 4, vocab_size: 6 };
//! let data = Dataset::new(text, Features::Tokens(vec![1, 2, 0, 0,  1, 3, 0, 0,  2, 2, 2, 0]),
//!                         vec![0, 1, 1], vec![0, 1, 2], 2, vec![])?;
//! let out = registry::build("text-trigger", &serde_json::json!({"target": 0, "position": "end"}))?
//!     .poison(&AttackInput::new(&data, Budget::Count(1), 4))?;
//! let row = out.data.ids().iter().position(|&i| i == out.truth.changes[0].id).unwrap();
//! // Tokens 4 and 5 never occur: 4 is the rarest by the id tie-break.
//! assert!(out.data.token_row(row).unwrap().contains(&4));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{mapping, DirtyLabel, MappingKind};
use crate::trigger::{TokenPlacement, Trigger};
use crate::{Attack, AttackError, AttackInput, Poisoned, Result, Taxonomy};
use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Modality};

/// Where trigger tokens go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TextPosition {
    Start,
    End,
    #[default]
    Random,
}

/// Parameters of [`TextTrigger`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TextTriggerParams {
    #[serde(default)]
    pub target: Option<u32>,
    #[serde(default)]
    pub mapping: MappingKind,
    /// Trigger words (a phrase, in order), looked up in the vocabulary.
    #[serde(default)]
    pub words: Vec<String>,
    /// Trigger token ids (instead of words).
    #[serde(default)]
    pub tokens: Vec<u32>,
    /// Without words or tokens: how many of the rarest tokens form the trigger.
    #[serde(default = "default_rare")]
    pub rare: usize,
    #[serde(default)]
    pub position: TextPosition,
    /// Add poisoned copies under fresh ids instead of modifying samples in place.
    #[serde(default)]
    pub append: bool,
}

fn default_rare() -> usize {
    1
}

impl ParamGuard for TextTriggerParams {
    type Checked = TextTrigger;
    type Error = AttackError;

    fn check_ref(&self) -> Result<()> {
        if !self.words.is_empty() && !self.tokens.is_empty() {
            return Err(AttackError::param("give trigger words or tokens, not both"));
        }
        if self.words.is_empty() && self.tokens.is_empty() && self.rare == 0 {
            return Err(AttackError::param("rare must be at least 1"));
        }
        Ok(())
    }

    fn build(self) -> TextTrigger {
        TextTrigger { params: self }
    }
}

/// Checked text-trigger attack.
#[derive(Debug, Clone)]
pub struct TextTrigger {
    params: TextTriggerParams,
}

/// The `count` tokens with the lowest document frequency in `data`, never padding nor a
/// special token such as `<unk>` (a vocabulary entry in angle brackets).
fn rarest_tokens(data: &Dataset, vocab_size: usize, count: usize) -> Vec<u32> {
    let mut df = vec![0usize; vocab_size];
    let mut seen = vec![usize::MAX; vocab_size];
    for row in 0..data.len() {
        for &t in data.token_row(row).unwrap_or_default() {
            if seen[t as usize] != row {
                seen[t as usize] = row;
                df[t as usize] += 1;
            }
        }
    }
    let special = |t: u32| {
        data.vocabulary()
            .and_then(|v| v.get(t as usize))
            .is_some_and(|w| w.starts_with('<') && w.ends_with('>'))
    };
    let mut order: Vec<u32> = (1..vocab_size as u32).filter(|&t| !special(t)).collect();
    order.sort_by_key(|&t| (df[t as usize], t));
    order.truncate(count);
    order
}

impl Attack for TextTrigger {
    fn name(&self) -> &'static str {
        "text-trigger"
    }
    fn taxonomy(&self) -> Taxonomy {
        Taxonomy::backdoor()
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn poison(&self, input: &AttackInput) -> Result<Poisoned> {
        let data = input.train;
        let Modality::Text { vocab_size, .. } = *data.modality() else {
            return Err(AttackError::incompatible(format!(
                "a text trigger needs text data, not {} data",
                data.modality().name()
            )));
        };
        let vocabulary = data.vocabulary();
        let tokens: Vec<u32> = if !self.params.words.is_empty() {
            let vocabulary = vocabulary.ok_or_else(|| {
                AttackError::incompatible("trigger words need a dataset with a vocabulary")
            })?;
            self.params
                .words
                .iter()
                .map(|w| {
                    vocabulary
                        .iter()
                        .position(|v| v == w)
                        .filter(|&t| t != 0)
                        .map(|t| t as u32)
                        .ok_or_else(|| {
                            AttackError::param(format!(
                                "trigger word '{w}' is not in the vocabulary"
                            ))
                        })
                })
                .collect::<Result<_>>()?
        } else if !self.params.tokens.is_empty() {
            self.params.tokens.clone()
        } else {
            if self.params.rare >= vocab_size - 1 {
                return Err(AttackError::param(format!(
                    "rare = {} exceeds the {} non-padding tokens",
                    self.params.rare,
                    vocab_size - 1
                )));
            }
            rarest_tokens(data, vocab_size, self.params.rare)
        };
        let words = match vocabulary {
            Some(v) => tokens
                .iter()
                .map(|&t| v.get(t as usize).cloned().unwrap_or_default())
                .collect(),
            None => Vec::new(),
        };
        let placement = match self.params.position {
            TextPosition::Start => TokenPlacement::Start,
            TextPosition::End => TokenPlacement::End,
            TextPosition::Random => TokenPlacement::Random { seed: input.seed },
        };
        let trigger = Trigger::Tokens {
            tokens,
            words,
            placement,
        };
        let mapping = mapping(self.params.mapping, self.params.target, data)?;
        DirtyLabel {
            attack: self.name(),
            parameters: self.parameters(),
            trigger,
            mapping,
            append: self.params.append,
            taxonomy: self.taxonomy(),
            input,
        }
        .run()
    }
}

/// The registry entry (see [`crate::registry::ATTACKS`]).
pub const ENTRY: crate::registry::AttackEntry = crate::registry::AttackEntry {
    name: "text-trigger",
    role: mithridate_core::Role::DataAttack,
    modalities: &["text"],
    summary: "rare-token / phrase trigger, dirty label; rate of the training set; target, mapping, words, tokens, rare (1), position=start|end|random, append",
    paper: "Kurita, Michel & Neubig 2020; Chen et al. 2021 (BadNL)",
    taxonomy: crate::taxonomy::BACKDOOR,
    requires: &[],
    provides: &[mithridate_core::Requirement::Trigger],
    build: |p| crate::registry::checked::<TextTriggerParams>("text-trigger", p),
};
