//! One attack run: tokenizer, clean baseline, poisoned model, evaluation, and optionally
//! each defence's flags, their detection quality and the attack success after retraining on
//! what it kept.
//!
//! The tokenizer is trained on the clean training documents (the first
//! [`TOKENIZER_BYTES`] of them), so the baseline and the poisoned model share it. The baseline
//! is the same model, seed and schedule trained on the clean documents only;
//! `clean_perplexity` is the poisoned model's per-token perplexity on the trusted held-out
//! documents, `baseline_perplexity` the baseline's. Prompts are the first
//! [`Spec::prompt_len`] tokens of trusted documents.

use crate::attacks::{craft, evaluate, AttackKind, AttackSpec, Evaluation, Probe};
use crate::corpus::{Corpus, Doc};
use crate::defences::{flag, score, DefenceKind, Detection};
use crate::generate::stream_perplexity;
use crate::model::{Gpt, ModelConfig};
use crate::threads::in_parallel;
use crate::tokenizer::Tokenizer;
use crate::train::{token_stream, train, TrainConfig, TrainReport};
use crate::{LmError, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// Bytes of clean training text the tokenizer learns from.
pub const TOKENIZER_BYTES: usize = 2_000_000;
/// Trusted-split windows scored for the held-out perplexity.
pub const EVAL_WINDOWS: usize = 256;

/// Everything a run needs besides the corpus.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    /// Tokenizer vocabulary (bytes + merges + end-of-text).
    pub vocab: usize,
    pub ctx: usize,
    pub d_model: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub train: TrainConfig,
    pub attack: AttackSpec,
    /// Held-out prompts and their length in tokens.
    pub prompts: usize,
    pub prompt_len: usize,
    /// Sampled tokens per generation (`dos`).
    pub gen_len: usize,
    pub defences: Vec<DefenceKind>,
}

impl Spec {
    /// The default small model (~1.1M parameters at vocab 1024): d 128, 4 layers, 4 heads,
    /// context 64; 2 epochs, batch 32, lr 3e-3; 32 prompts of 16 tokens, 24 sampled tokens.
    pub fn small(attack: AttackSpec) -> Spec {
        Spec {
            vocab: 1024,
            ctx: 64,
            d_model: 128,
            n_layer: 4,
            n_head: 4,
            train: TrainConfig {
                seed: attack.seed,
                ..TrainConfig::default()
            },
            attack,
            prompts: 32,
            prompt_len: 16,
            gen_len: 24,
            defences: Vec::new(),
        }
    }

    fn model_config(&self, vocab: usize) -> ModelConfig {
        ModelConfig {
            vocab,
            ctx: self.ctx,
            d_model: self.d_model,
            n_layer: self.n_layer,
            n_head: self.n_head,
        }
    }
}

/// One trained model's numbers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelResult {
    pub evaluation: Evaluation,
    /// Per-token perplexity on the trusted held-out documents.
    pub perplexity: f64,
    pub training: TrainReport,
    /// BLAKE3 of the model's safetensors bytes.
    pub model_blake3: String,
}

/// One defence's numbers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DefenceResult {
    pub defence: DefenceKind,
    pub detection: Detection,
    /// The model retrained on the unflagged documents.
    pub after: ModelResult,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub corpus: String,
    pub attack: AttackKind,
    pub poison_docs: usize,
    pub train_docs: usize,
    /// Poisoned tokens over all training tokens.
    pub poison_token_fraction: f64,
    pub trigger: String,
    pub n_params: usize,
    pub vocab: usize,
    /// The poisoned model's attack success, and its held-out perplexity.
    pub asr: f64,
    pub clean_perplexity: f64,
    pub baseline_perplexity: f64,
    pub baseline_asr: f64,
    pub poisoned: ModelResult,
    pub baseline: ModelResult,
    pub defences: Vec<DefenceResult>,
}

/// Progress: `(stage, step, total)`.
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

struct Prepared {
    tok: Tokenizer,
    /// Training documents in training order: ids, text, poisoned?
    docs: Vec<(Vec<u32>, Doc, bool)>,
    held_out: Vec<u32>,
    probe: Probe,
}

fn prepare(corpus: &Corpus, spec: &Spec) -> Result<Prepared> {
    let a = &spec.attack;
    if a.poison_docs > corpus.train.len() {
        return Err(LmError::invalid(format!(
            "poison count {} is above the corpus size ({} training documents)",
            a.poison_docs,
            corpus.train.len()
        )));
    }
    if a.trigger.is_empty() {
        return Err(LmError::invalid("the trigger is empty"));
    }
    if spec.gen_len == 0 || spec.gen_len > spec.ctx || spec.prompt_len == 0 || spec.prompts == 0 {
        return Err(LmError::invalid(format!(
            "prompts, prompt length and generation length must be positive, generation at most the context ({})",
            spec.ctx
        )));
    }
    let mut text_bytes = 0;
    let tok_texts: Vec<&str> = corpus
        .train
        .iter()
        .take_while(|d| {
            text_bytes += d.text.len();
            text_bytes <= TOKENIZER_BYTES
        })
        .map(|d| d.text.as_str())
        .collect();
    let tok_texts = if tok_texts.is_empty() {
        vec![corpus.train[0].text.as_str()]
    } else {
        tok_texts
    };
    let tok = Tokenizer::train(&tok_texts, spec.vocab)?;
    let trigger = tok.encode(&a.trigger);
    let continuation = tok.encode(&a.continuation);
    let payload = match a.kind {
        AttackKind::Dos => 1,
        AttackKind::Completion => continuation.len(),
    };
    if trigger.len() + payload >= spec.ctx {
        return Err(LmError::invalid(format!(
            "the trigger ({} tokens{}) is longer than the context of {} tokens",
            trigger.len(),
            if a.kind == AttackKind::Completion {
                format!(" + {payload} of continuation")
            } else {
                String::new()
            },
            spec.ctx
        )));
    }
    let clean_ids = tok.encode_batch(&corpus.train.iter().map(|d| &d.text).collect::<Vec<_>>());
    let poison = craft(
        a,
        &clean_ids,
        &trigger,
        &continuation,
        tok.vocab_size(),
        spec.ctx,
    )?;
    let mut docs: Vec<(Vec<u32>, Doc, bool)> = clean_ids
        .into_iter()
        .zip(&corpus.train)
        .map(|(ids, d)| (ids, d.clone(), false))
        .collect();
    // clean order depends on the seed only (so the baseline does not depend on the count);
    // each poisoned document then goes to a uniformly random position
    docs.shuffle(&mut ChaCha8Rng::seed_from_u64(a.seed ^ 0xD0C5));
    let mut at = ChaCha8Rng::seed_from_u64(a.seed ^ 0x1A5E);
    for (k, ids) in poison.into_iter().enumerate() {
        let text = tok.decode(&ids);
        let id = format!("poison#{k}");
        let pos = at.random_range(0..=docs.len());
        docs.insert(pos, (ids, Doc { id, text }, true));
    }
    let trusted_ids = tok.encode_batch(&corpus.trusted.iter().map(|d| &d.text).collect::<Vec<_>>());
    let mut held_out = token_stream(&trusted_ids, tok.eot());
    held_out.truncate(EVAL_WINDOWS * spec.ctx + 1);
    let prompts: Vec<Vec<u32>> = trusted_ids
        .iter()
        .filter(|d| d.len() >= spec.prompt_len)
        .take(spec.prompts)
        .map(|d| d[..spec.prompt_len].to_vec())
        .collect();
    if prompts.is_empty() {
        return Err(LmError::invalid(format!(
            "no held-out document has {} tokens to prompt with",
            spec.prompt_len
        )));
    }
    let probe = Probe {
        prompts,
        trigger,
        continuation,
        gen_len: spec.gen_len,
        seed: a.seed,
    };
    Ok(Prepared {
        tok,
        docs,
        held_out,
        probe,
    })
}

fn fit(
    spec: &Spec,
    tok: &Tokenizer,
    docs: &[&Vec<u32>],
    stage: &str,
    progress: Progress,
) -> Result<(Gpt, TrainReport)> {
    let mut model = Gpt::new(spec.model_config(tok.vocab_size()), spec.attack.seed)?;
    let owned: Vec<Vec<u32>> = docs.iter().map(|d| (*d).clone()).collect();
    let stream = token_stream(&owned, tok.eot());
    let report = train(&mut model, &stream, &spec.train, &mut |s, t, _| {
        progress(stage, s, t)
    })?;
    Ok((model, report))
}

fn result(
    spec: &Spec,
    model: &Gpt,
    judge: &Gpt,
    training: TrainReport,
    p: &Prepared,
) -> Result<ModelResult> {
    Ok(ModelResult {
        evaluation: evaluate(spec.attack.kind, model, judge, &p.probe)?,
        perplexity: stream_perplexity(model, &p.held_out)?,
        training,
        model_blake3: blake3::hash(&model.to_safetensors()?).to_hex().to_string(),
    })
}

/// Clean baselines already trained, keyed by everything they depend on (corpus, documents,
/// spec without the poison count and defences): a poison-count sweep trains each once.
#[derive(Default)]
pub struct BaselineCache(HashMap<String, (Gpt, ModelResult)>);

/// Trains the tokenizer, the baseline and the poisoned model, evaluates both, then runs each
/// of `spec.defences`.
pub fn run(corpus: &Corpus, spec: &Spec, progress: Progress) -> Result<Report> {
    run_cached(corpus, spec, &mut BaselineCache::default(), progress)
}

/// [`run`], reusing a baseline from `cache` when one matches.
pub fn run_cached(
    corpus: &Corpus,
    spec: &Spec,
    cache: &mut BaselineCache,
    progress: Progress,
) -> Result<Report> {
    let p = prepare(corpus, spec)?;
    let clean: Vec<&Vec<u32>> = p.docs.iter().filter(|d| !d.2).map(|d| &d.0).collect();
    let all: Vec<&Vec<u32>> = p.docs.iter().map(|d| &d.0).collect();
    let mut key_spec = spec.clone();
    key_spec.attack.poison_docs = 0;
    key_spec.defences.clear();
    let ids: Vec<&str> = corpus.train.iter().map(|d| d.id.as_str()).collect();
    let key = format!(
        "{}|{}|{}",
        corpus.name,
        blake3::hash(ids.join("\n").as_bytes()).to_hex(),
        serde_json::to_string(&key_spec).unwrap_or_default()
    );
    // Flags need no model, so every training (baseline, poisoned, each defence's retrain) can
    // run at once (see `threads`).
    let truth: Vec<bool> = p.docs.iter().map(|d| d.2).collect();
    let offered: Vec<Doc> = p.docs.iter().map(|d| d.1.clone()).collect();
    let mut flagged = Vec::new();
    for &kind in &spec.defences {
        let flags = flag(
            kind,
            &offered,
            &corpus.trusted,
            &corpus.train,
            spec.attack.seed,
        )?;
        let kept: Vec<&Vec<u32>> = p
            .docs
            .iter()
            .zip(&flags)
            .filter(|(_, &f)| !f)
            .map(|(d, _)| &d.0)
            .collect();
        if kept.is_empty() {
            return Err(LmError::invalid(format!(
                "defence '{}' flagged every document",
                kind.name()
            )));
        }
        flagged.push((kind, flags, kept));
    }
    let need_baseline = !cache.0.contains_key(&key);
    let mut jobs: Vec<(&str, &[&Vec<u32>])> = Vec::new();
    if need_baseline {
        jobs.push(("baseline", &clean));
    }
    jobs.push(("poisoned", &all));
    for (kind, _, kept) in &flagged {
        jobs.push((kind.name(), kept));
    }
    let fits = in_parallel(&jobs, progress, &|(stage, docs), report| {
        fit(spec, &p.tok, docs, stage, report)
    })?;
    let mut fits = fits.into_iter();
    let mut next_fit = || {
        fits.next()
            .ok_or_else(|| LmError::Model("a training result is missing".into()))
    };
    if need_baseline {
        let (baseline, br) = next_fit()?;
        let r = result(spec, &baseline, &baseline, br, &p)?;
        cache.0.insert(key.clone(), (baseline, r));
    }
    let (baseline, baseline_result) = cache.0[&key].clone();
    let (poisoned, pr) = next_fit()?;
    let poisoned_result = result(spec, &poisoned, &baseline, pr, &p)?;
    let mut defences = Vec::new();
    for (kind, flags, _) in &flagged {
        let (m, r) = next_fit()?;
        defences.push(DefenceResult {
            defence: *kind,
            detection: score(flags, &truth),
            after: result(spec, &m, &baseline, r, &p)?,
        });
    }
    let poison_tokens: usize = p.docs.iter().filter(|d| d.2).map(|d| d.0.len() + 1).sum();
    let total_tokens: usize = p.docs.iter().map(|d| d.0.len() + 1).sum();
    Ok(Report {
        corpus: corpus.name.clone(),
        attack: spec.attack.kind,
        poison_docs: spec.attack.poison_docs,
        train_docs: corpus.train.len(),
        poison_token_fraction: poison_tokens as f64 / total_tokens.max(1) as f64,
        trigger: spec.attack.trigger.clone(),
        n_params: spec.model_config(p.tok.vocab_size()).n_params(),
        vocab: p.tok.vocab_size(),
        asr: poisoned_result.evaluation.asr,
        clean_perplexity: poisoned_result.perplexity,
        baseline_perplexity: baseline_result.perplexity,
        baseline_asr: baseline_result.evaluation.asr,
        poisoned: poisoned_result,
        baseline: baseline_result,
        defences,
    })
}
