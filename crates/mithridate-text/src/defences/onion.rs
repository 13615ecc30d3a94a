//! ONION: delete the words whose removal makes the text much more fluent.
//!
//! Paper: Qi et al. (2021), "ONION: A Simple and Effective Defense Against Textual Backdoor
//! Attacks" (EMNLP). For a test text `w_1..w_n` with perplexity `p_0` under a language model of
//! clean text, the suspicion of word `i` is `f_i = p_0 - p_i`, `p_i` the perplexity of the text
//! without `w_i`; every word with `f_i > threshold` is deleted before classification. The paper
//! uses GPT-2; here the language model is the interpolated bigram model of
//! [`mithridate_rag::lm::BigramLm`], trained on a clean reference corpus (`lm = "sotu"`: the
//! State of the Union addresses, a corpus the attacker never touched; `lm = "train"`: the
//! (possibly poisoned) training texts, scored leave-one-out). Assumes the trigger consists of
//! words that are individually unlikely in context (rare tokens); a fluent inserted sentence or
//! frame lowers no single word's fluency much, which is ONION's documented weakness.
//!
//! ```
//! use mithridate_rag::lm::BigramLm;
//! use mithridate_text::defences::onion::clean_text;
//! let lm = BigramLm::train(&["the cat sat on the mat", "the dog sat on the mat"]);
//! let (cleaned, worst) = clean_text(&lm, "the cat cf sat on the mat", 0.0);
//! assert!(!cleaned.split(' ').any(|w| w == "cf"), "{cleaned}");
//! assert!(cleaned.ends_with("sat on the mat") && worst > 0.0);
//! ```

use super::{input_detection, share, DefenceContext, DefenceKind, DefenceOutcome, TextDefence};
use crate::registry::{checked_defence, DefenceEntry, TEXT_INPUT_FILTERING};
use crate::words::words;
use crate::{Result, TextError};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;
use mithridate_detect::metrics::score_detection;
use mithridate_rag::lm::BigramLm;

pub const ENTRY: DefenceEntry = Entry {
    name: "onion",
    role: Role::InputDetector,
    modalities: &["text"],
    summary: "deletes test-input words whose removal lowers LM perplexity by more than threshold (threshold=0, lm=sotu|train)",
    paper: "Qi et al. 2021 (ONION)",
    taxonomy: TEXT_INPUT_FILTERING,
    requires: &[],
    provides: &[],
    build: |p| checked_defence::<OnionParams>("onion", p),
};

/// Parameters of [`Onion`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct OnionParams {
    /// Perplexity drop above which a word is deleted (finite).
    pub threshold: f64,
    /// The language model's corpus: `sotu` or `train`.
    pub lm: String,
}

impl Default for OnionParams {
    fn default() -> Self {
        OnionParams {
            threshold: 0.0,
            lm: "sotu".into(),
        }
    }
}

impl ParamGuard for OnionParams {
    type Checked = Onion;
    type Error = TextError;
    fn check_ref(&self) -> Result<()> {
        if !self.threshold.is_finite() {
            return Err(TextError::invalid("onion: threshold must be finite"));
        }
        if !["sotu", "train"].contains(&self.lm.as_str()) {
            return Err(TextError::invalid(format!(
                "onion: lm must be sotu or train, got '{}'",
                self.lm
            )));
        }
        Ok(())
    }
    fn build(self) -> Onion {
        Onion(self)
    }
}

/// The checked defence.
#[derive(Debug, Clone)]
pub struct Onion(OnionParams);

/// `text` without its suspicious words, and the largest suspicion `max_i f_i` (0 for an empty
/// or one-word text).
pub fn clean_text(lm: &BigramLm, text: &str, threshold: f64) -> (String, f64) {
    let w = words(text);
    if w.len() < 2 {
        return (text.to_string(), 0.0);
    }
    let p0 = lm.perplexity(text, false);
    let mut kept = Vec::with_capacity(w.len());
    let mut worst = f64::NEG_INFINITY;
    for i in 0..w.len() {
        let without: Vec<&str> = w
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, s)| *s)
            .collect();
        let f = p0 - lm.perplexity(&without.join(" "), false);
        worst = worst.max(f);
        if f <= threshold {
            kept.push(w[i]);
        }
    }
    (kept.join(" "), worst)
}

impl TextDefence for Onion {
    fn name(&self) -> &'static str {
        "onion"
    }
    fn kind(&self) -> DefenceKind {
        DefenceKind::Inference
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }
    fn run(&self, ctx: &mut DefenceContext, _poisoned_ids: &[u64]) -> Result<DefenceOutcome> {
        let lm = match self.0.lm.as_str() {
            "sotu" => {
                let docs =
                    mithridate_rag::assets::sotu_addresses(ctx.home).map_err(TextError::Rag)?;
                BigramLm::train(&docs.iter().map(|d| d.1.as_str()).collect::<Vec<_>>())
            }
            _ => BigramLm::train(
                &ctx.train
                    .iter()
                    .map(|s| s.text.as_str())
                    .collect::<Vec<_>>(),
            ),
        };
        let t = self.0.threshold;
        let clean: Vec<(String, f64)> = ctx
            .test
            .iter()
            .map(|s| clean_text(&lm, &s.text, t))
            .collect();
        let trig: Vec<(String, f64)> = ctx
            .triggered
            .iter()
            .map(|s| clean_text(&lm, &s.text, t))
            .collect();
        let changed = clean
            .iter()
            .zip(ctx.test)
            .filter(|(c, s)| c.0 != s.text)
            .count()
            + trig
                .iter()
                .zip(ctx.triggered)
                .filter(|(c, s)| c.0 != s.text)
                .count();
        let clean_emb = ctx.embed(&clean.iter().map(|c| c.0.clone()).collect::<Vec<_>>())?;
        let trig_emb = ctx.embed(&trig.iter().map(|c| c.0.clone()).collect::<Vec<_>>())?;
        let pc = ctx.head.predict(&clean_emb);
        let pt = ctx.head.predict(&trig_emb);
        let (asr_after, asr_after_beyond_clean) = ctx.floor.rates(
            pt.iter()
                .zip(ctx.triggered)
                .map(|(p, s)| (s.id, *p == ctx.target)),
        );
        // As a detector: an input is flagged when ONION deletes a word from it, scored by its
        // largest suspicion.
        let rows =
            |samples: &[crate::data::Sample], out: &[(String, f64)]| -> Vec<(u64, f64, bool)> {
                samples
                    .iter()
                    .zip(out)
                    .map(|(s, o)| (s.id, o.1, o.0 != s.text))
                    .collect()
            };
        let (d, positives) = input_detection(
            "onion",
            &rows(ctx.test, &clean),
            &rows(ctx.triggered, &trig),
        );
        Ok(DefenceOutcome {
            defence: self.name().into(),
            kind: DefenceKind::Inference,
            parameters: self.parameters(),
            detection: score_detection(&d, &positives).map_err(TextError::Detect)?,
            ca_after: share(
                pc.iter()
                    .zip(ctx.test)
                    .filter(|(p, s)| **p == s.label)
                    .count(),
                ctx.test.len(),
            ),
            asr_after,
            asr_after_beyond_clean,
            acted_on: changed,
            details: serde_json::json!({"words_deleted_per_input": share(
                clean.iter().zip(ctx.test).map(|(c, s)| words(&s.text).len() - words(&c.0).len()).sum::<usize>()
                + trig.iter().zip(ctx.triggered).map(|(c, s)| words(&s.text).len() - words(&c.0).len()).sum::<usize>(),
                clean.len() + trig.len())}),
        })
    }
}
