//! Defences against text backdoors, of two kinds:
//!
//! - **training-set** defences ([`DefenceKind::Training`]: activation clustering, spectral
//!   signatures, BKI) score every training text; the flagged texts are removed and the head is
//!   retrained on the rest ([`retrain_without`]); scored against the poisoned ids;
//! - **inference-time** defences ([`DefenceKind::Inference`]: ONION, STRIP) act on each test
//!   input (ONION deletes suspicious words, STRIP rejects low-entropy inputs); scored as a
//!   detector of triggered inputs among clean and triggered test texts.
//!
//! Both report CA and ASR after the defence ([`DefenceOutcome`]).
//!
//! With a fine-tuned encoder ([`DefenceContext::fine_tuning`]) every defence sees the
//! fine-tuned model: the representations that activation clustering and spectral signatures
//! cluster are the fine-tuned layers' pooled features (CUBE's setting, Cui et al. 2022), the
//! texts STRIP, ONION and BKI perturb are encoded by the fine-tuned layers and scored by the
//! jointly trained head, and a training-set defence's retraining fine-tunes fresh copies of
//! the layers (from the pretrained weights) on the texts it kept, since retraining only the
//! head would leave a backdoor learned by the layers in place.

pub mod bki;
pub mod embedding;
pub mod onion;
pub mod strip;

use crate::data::Sample;
use crate::embed::Embedder;
use crate::embed::FEATURES as DIM;
use crate::finetune::{TunedModel, Tuner};
use crate::head::{Head, HeadConfig};
use crate::{Result, TextError};
use mithridate_detect::metrics::{score_detection, DetectionMetrics};
use mithridate_detect::Detection;
use std::collections::BTreeSet;

/// Where a defence acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefenceKind {
    Training,
    Inference,
}

/// Everything a defence may read: the poisoned training set, the clean and triggered test
/// sets, their embeddings, the head trained on the poisoned set, and the encoder.
pub struct DefenceContext<'a> {
    pub home: &'a mithridate_data::DataHome,
    /// The encoder (`None`: defences that encode texts refuse to run).
    pub embedder: Option<&'a mut Embedder>,
    pub train: &'a [Sample],
    pub train_emb: &'a [f32],
    pub test: &'a [Sample],
    pub test_emb: &'a [f32],
    pub triggered: &'a [Sample],
    pub triggered_emb: &'a [f32],
    pub head: &'a Head,
    pub head_config: &'a HeadConfig,
    pub num_classes: usize,
    pub target: u32,
    /// The triggered texts the clean model already sends to the target (for
    /// [`DefenceOutcome::asr_after_beyond_clean`]).
    pub floor: &'a CleanFloor,
    pub seed: u64,
    /// Called with (done, total) while a defence encodes texts.
    pub progress: &'a mut dyn FnMut(usize, usize),
    /// The fine-tuned model behind `head` and the `*_emb` rows (`None`: the frozen encoder).
    pub fine_tuning: Option<FineTuning<'a>>,
}

/// What a defence needs to encode texts with, and retrain, a fine-tuned model.
pub struct FineTuning<'a> {
    pub tuner: &'a mut Tuner,
    pub model: &'a TunedModel,
    /// Frozen-encoder features of `train` (a retrained model's head starts from a head
    /// trained on them, as the experiment's does).
    pub frozen_train_emb: &'a [f32],
}

impl DefenceContext<'_> {
    /// Embeds `texts` with the shared encoder and cache (or the fine-tuned model), reporting
    /// progress.
    pub fn embed(&mut self, texts: &[String]) -> Result<Vec<f32>> {
        let embedder = self
            .embedder
            .as_deref_mut()
            .ok_or_else(|| TextError::invalid("this defence needs the encoder"))?;
        let progress = &mut *self.progress;
        if let Some(ft) = self.fine_tuning.as_mut() {
            let total = texts.len();
            return ft
                .tuner
                .features(embedder.encoder(), ft.model, texts, &mut |done| {
                    progress(done, total)
                });
        }
        let total = embedder.missing(texts);
        embedder.embed(texts, &mut |done| progress(done, total))
    }
}

/// What a defence achieved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DefenceOutcome {
    pub defence: String,
    pub kind: DefenceKind,
    pub parameters: serde_json::Value,
    /// Precision / recall / AUROC of the flags against the ground truth (poisoned training
    /// texts, or triggered test inputs).
    pub detection: DetectionMetrics,
    /// Clean accuracy after the defence (inference-time: a rejected clean input counts as
    /// an error).
    pub ca_after: f64,
    /// Attack success after the defence (a rejected triggered input counts as a failure).
    pub asr_after: f64,
    /// The same over the triggered texts the clean model keeps off the target
    /// ([`CleanFloor`]).
    pub asr_after_beyond_clean: f64,
    /// Training texts removed (training-set defences) or inputs rejected / changed.
    pub acted_on: usize,
    /// Defence-specific findings (e.g. BKI's keywords, STRIP's threshold).
    pub details: serde_json::Value,
}

/// A checked defence.
pub trait TextDefence: Send + Sync {
    fn name(&self) -> &'static str;
    fn kind(&self) -> DefenceKind;
    fn parameters(&self) -> serde_json::Value;
    fn run(&self, ctx: &mut DefenceContext, poisoned_ids: &[u64]) -> Result<DefenceOutcome>;
}

/// Accuracy of `head` on rows `emb` against `samples`' labels.
pub fn accuracy(head: &Head, emb: &[f32], samples: &[Sample]) -> f64 {
    let pred = head.predict(emb);
    share(
        pred.iter()
            .zip(samples)
            .filter(|(p, s)| **p == s.label)
            .count(),
        samples.len(),
    )
}

/// Attack success of `head` on the triggered rows `emb` (of the texts `triggered`): the
/// share predicted `target`, over all of them and beyond `floor` ([`CleanFloor::rates`]).
pub fn success(
    head: &Head,
    emb: &[f32],
    triggered: &[Sample],
    target: u32,
    floor: &CleanFloor,
) -> (f64, f64) {
    let pred = head.predict(emb);
    floor.rates(
        pred.iter()
            .zip(triggered)
            .map(|(p, s)| (s.id, *p == target)),
    )
}

/// The triggered test texts that the model trained **without** poison already predicts as
/// the target: the trigger alone moves them (a spam text wrapped in a friendly frame reads
/// as ham), so no defence against the poison can bring them back.
///
/// ASR counts them in: its floor is the clean model's ASR. ASR *beyond clean* leaves them
/// out: among the triggered texts the clean model keeps off the target (`n_keep` of them),
/// the share the scored model predicts as the target, `|{i ∈ keep : ŷ_i = t}| / n_keep`
/// (0 when `n_keep = 0`). This is the reading of papers that count attack success only on
/// inputs the clean model gets right; the clean model's own value is 0 by construction.
///
/// ```
/// use mithridate_text::defences::CleanFloor;
/// // Texts 1 and 2 are triggered; the clean model sends 2 to the target already.
/// let floor = CleanFloor::new(&[1, 2], &[false, true]);
/// assert_eq!(floor.rates([(1, true), (2, true)]).1, 1.0);
/// assert_eq!(floor.rates([(1, false), (2, true)]), (0.5, 0.0));
/// ```
#[derive(Debug, Clone, Default)]
pub struct CleanFloor {
    /// Sorted ids of the triggered texts the clean model predicts as the target.
    on_target: Vec<u64>,
}

impl CleanFloor {
    /// From the triggered texts' ids and whether the clean model predicts each as the target.
    pub fn new(ids: &[u64], clean_on_target: &[bool]) -> CleanFloor {
        let mut on_target: Vec<u64> = ids
            .iter()
            .zip(clean_on_target)
            .filter(|(_, &t)| t)
            .map(|(&id, _)| id)
            .collect();
        on_target.sort_unstable();
        CleanFloor { on_target }
    }

    /// From the clean model's predictions on the triggered texts.
    pub fn of(triggered: &[Sample], clean_pred: &[u32], target: u32) -> CleanFloor {
        let ids: Vec<u64> = triggered.iter().map(|s| s.id).collect();
        let on: Vec<bool> = clean_pred.iter().map(|&p| p == target).collect();
        CleanFloor::new(&ids, &on)
    }

    /// How many triggered texts the clean model sends to the target.
    pub fn len(&self) -> usize {
        self.on_target.len()
    }

    /// Whether the clean model keeps every triggered text off the target.
    pub fn is_empty(&self) -> bool {
        self.on_target.is_empty()
    }

    /// ASR and ASR beyond clean of the `(id, hit)` pairs of triggered texts: the share of hits
    /// over all of them, and over those whose text is not on the floor.
    pub fn rates(&self, hits: impl IntoIterator<Item = (u64, bool)>) -> (f64, f64) {
        let (mut n, mut k, mut n_keep, mut k_keep) = (0, 0, 0, 0);
        for (id, hit) in hits {
            n += 1;
            k += usize::from(hit);
            if self.on_target.binary_search(&id).is_err() {
                n_keep += 1;
                k_keep += usize::from(hit);
            }
        }
        (share(k, n), share(k_keep, n_keep))
    }
}

pub(crate) fn share(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Trains the head (and, with fine-tuning, fresh copies of the layers) on the rows of
/// `ctx.train` not in `flagged` (sorted ids), and scores it.
pub fn retrain_without(
    ctx: &mut DefenceContext,
    name: &str,
    parameters: serde_json::Value,
    detection: &Detection,
    poisoned_ids: &[u64],
    details: serde_json::Value,
    scrub: &BTreeSet<String>,
) -> Result<DefenceOutcome> {
    let metrics = score_detection(detection, poisoned_ids).map_err(TextError::Detect)?;
    let keep: Vec<usize> = (0..ctx.train.len())
        .filter(|&i| detection.flagged.binary_search(&ctx.train[i].id).is_err())
        .collect();
    if keep.is_empty() {
        return Err(TextError::invalid(format!(
            "{name} flagged every training text"
        )));
    }
    let frozen = match &ctx.fine_tuning {
        Some(ft) => ft.frozen_train_emb,
        None => ctx.train_emb,
    };
    let x: Vec<f32> = keep
        .iter()
        .flat_map(|&i| frozen[i * DIM..(i + 1) * DIM].iter().copied())
        .collect();
    let y: Vec<u32> = keep.iter().map(|&i| ctx.train[i].label).collect();
    let head = Head::train(&x, DIM, &y, ctx.num_classes, ctx.head_config, ctx.seed);
    // The inputs the retrained model is judged on: as given, or with the scrubbed words
    // deleted (only texts that contain one are rewritten).
    let scrubbed = |samples: &[Sample]| -> Vec<String> {
        samples
            .iter()
            .map(|s| without_words(&s.text, scrub))
            .collect()
    };
    let (test, triggered, head) = match ctx.fine_tuning.as_mut() {
        None if scrub.is_empty() => (ctx.test_emb.to_vec(), ctx.triggered_emb.to_vec(), head),
        None => {
            let (test, triggered) = (scrubbed(ctx.test), scrubbed(ctx.triggered));
            (ctx.embed(&test)?, ctx.embed(&triggered)?, head)
        }
        Some(ft) => {
            let encoder = ctx
                .embedder
                .as_deref()
                .ok_or_else(|| {
                    TextError::invalid("retraining a fine-tuned model needs the encoder")
                })?
                .encoder();
            let texts: Vec<&str> = keep.iter().map(|&i| ctx.train[i].text.as_str()).collect();
            let epochs = ft.tuner.config().epochs;
            let progress = &mut *ctx.progress;
            let model = ft.tuner.train(
                encoder,
                &texts,
                &y,
                &head,
                ctx.head_config,
                ctx.seed,
                &mut |e| progress(e, epochs),
            )?;
            let test = ft
                .tuner
                .features(encoder, &model, &scrubbed(ctx.test), &mut |_| {})?;
            let triggered =
                ft.tuner
                    .features(encoder, &model, &scrubbed(ctx.triggered), &mut |_| {})?;
            (test, triggered, model.head)
        }
    };
    let ca_after = accuracy(&head, &test, ctx.test);
    let (asr_after, asr_after_beyond_clean) =
        success(&head, &triggered, ctx.triggered, ctx.target, ctx.floor);
    Ok(DefenceOutcome {
        defence: name.to_string(),
        kind: DefenceKind::Training,
        parameters,
        detection: metrics,
        ca_after,
        asr_after,
        asr_after_beyond_clean,
        acted_on: ctx.train.len() - keep.len(),
        details,
    })
}

/// `text` without the words whose lowercase form is in `scrub`, single-spaced; unchanged when
/// it has none of them.
pub(crate) fn without_words(text: &str, scrub: &BTreeSet<String>) -> String {
    let w = crate::words::words(text);
    if !w.iter().any(|x| scrub.contains(&x.to_lowercase())) {
        return text.to_string();
    }
    w.into_iter()
        .filter(|x| !scrub.contains(&x.to_lowercase()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The texts of `samples`, in order.
pub(crate) fn texts_of(samples: &[Sample]) -> Vec<&str> {
    samples.iter().map(|s| s.text.as_str()).collect()
}

/// Ids that tell clean and triggered test inputs apart in an inference-time [`Detection`].
pub(crate) const TRIGGERED_ID: u64 = 1 << 48;

/// A detection over `clean` and `triggered` inputs from per-input scores and flags.
pub(crate) fn input_detection(
    name: &str,
    clean: &[(u64, f64, bool)],
    triggered: &[(u64, f64, bool)],
) -> (Detection, Vec<u64>) {
    let mut scores = Vec::new();
    let mut flagged = Vec::new();
    let mut positives = Vec::new();
    for (offset, rows) in [(0, clean), (TRIGGERED_ID, triggered)] {
        for &(id, score, flag) in rows {
            scores.push((id + offset, score));
            if flag {
                flagged.push(id + offset);
            }
            if offset > 0 {
                positives.push(id + offset);
            }
        }
    }
    flagged.sort_unstable();
    let detection = Detection {
        detector: name.to_string(),
        parameters: serde_json::Value::Null,
        flagged,
        scores,
        classes: vec![],
        relabel: vec![],
    };
    (detection, positives)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_words_deletes_listed_words_in_any_case_and_keeps_other_texts() {
        let scrub: BTreeSet<String> = ["when", "truth."].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            without_words("When you  think, it is the truth.", &scrub),
            "you think, it is the"
        );
        // A text without the words is returned as given (its spacing kept).
        assert_eq!(without_words("free  money now", &scrub), "free  money now");
        assert_eq!(without_words("anything", &BTreeSet::new()), "anything");
    }
}
