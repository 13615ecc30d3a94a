//! PoisonedRAG, white-box: the retrieval part `S` of each poisoned passage optimised by
//! HotFlip token substitutions against the dense retriever's encoder.
//!
//! Papers: Zou, Geng, Wang & Jia (2025), "PoisonedRAG" (USENIX Security), white-box
//! setting: `P = S + I`, `S` initialised with the question and optimised to maximise
//! `sim(e(S + I), e(Q))`; Ebrahimi, Rao, Lowd & Dou (2018), "HotFlip" (the first-order
//! substitution ranking); Zhong, Huang, Wettig & Chen (2023), "Poisoning Retrieval Corpora by
//! Injecting Adversarial Passages" (the same search for corpus poisoning).
//!
//! Each round, at a random position `i` of `S`, every whole-word vocabulary entry `v` is
//! ranked by `grad_{w_i} sim . E_v` (the first-order gain of putting `v` there), the top
//! `candidates` are encoded exactly, and the best one replaces token `i` if it raises the
//! similarity. `I` is PoisonedRAG's templated false statement (as in the black-box attack),
//! never edited. Substitutes are whole lowercase words, so the published text encodes to the
//! optimised tokens. The result is fluent nowhere the search has been: what a perplexity filter
//! looks for (Zou et al. report it separates HotFlip passages well).
//!
//! Assumes the attacker knows the questions and holds the retriever's encoder (white-box);
//! against BM25 the passages are a transfer attack. Cost per passage: `iterations` x (one
//! forward and backward pass over `|S| + |I|` tokens + `candidates` forward passes), plus a
//! `|V| x 384` matrix-vector product; deterministic given the seed.
//!
//! ```no_run
//! # use mithridate_rag::attacks::AttackInput;
//! # use mithridate_rag::corpus::{Corpus, Passage};
//! # use mithridate_rag::targets::Target;
//! let home = mithridate_data::DataHome::from_env()?;
//! let encoder = mithridate_rag::encoder::Encoder::minilm(&home)?;
//! let corpus = Corpus::new("c", vec![Passage { id: "a".into(), text: "text".into() }])?;
//! let targets = [Target { question: "Who vetoed the budget bill?".into(),
//!     target_answer: "the mayor".into(), correct_answer: None, passage_id: None }];
//! let params = serde_json::json!({ "iterations": 5, "candidates": 8 });
//! let attack = mithridate_rag::registry::build_attack("hotflip", &params)?;
//! let out = attack.poison(&AttackInput { corpus: &corpus, targets: &targets, per_target: 1,
//!     seed: 0, encoder: Some(&encoder) })?;
//! assert!(out.added[0].text.contains("The answer to this is the mayor."));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::STATEMENT_TEMPLATES;
use super::{false_statement, fill, try_add_passages, AttackInput, Poisoning, RetrievalAttack};
use crate::encoder::{Encoder, Pooling, DIM, MAX_TOKENS};
use crate::registry::{checked_attack, AttackEntry};
use crate::targets::Target;
use crate::{RagError, Result};
use mithridate_core::registry::{Entry, Requirement, Role};
use mithridate_core::ParamGuard;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;

pub const ENTRY: AttackEntry = Entry {
    name: "hotflip",
    role: Role::RetrievalAttack,
    modalities: &["text"],
    summary: "question-initialised retrieval text optimised by HotFlip against the encoder + false statement (white-box)",
    paper: "Zou et al. 2025 (PoisonedRAG white-box); Ebrahimi et al. 2018 (HotFlip)",
    taxonomy: crate::registry::RAG_POISONING,
    requires: &[Requirement::Model],
    provides: &[],
    build: |p| checked_attack::<HotFlipParams>("hotflip", p),
};

/// How `S` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Start {
    /// The question's tokens (PoisonedRAG's white-box setting).
    Question,
    /// Random whole words, as many as `length` (Zhong et al.'s setting: no question text
    /// in the passage, so a defence matching the question verbatim cannot see it).
    Random,
}

/// Parameters of [`HotFlip`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct HotFlipParams {
    /// Substitution rounds per passage.
    pub iterations: usize,
    /// Substitutions encoded exactly per round (the top of the first-order ranking).
    pub candidates: usize,
    pub start: Start,
    /// Tokens of `S` when it starts random (0: as many as the question has).
    pub length: usize,
}

impl Default for HotFlipParams {
    fn default() -> Self {
        HotFlipParams {
            iterations: 20,
            candidates: 8,
            start: Start::Question,
            length: 0,
        }
    }
}

impl ParamGuard for HotFlipParams {
    type Checked = HotFlip;
    type Error = RagError;
    fn check_ref(&self) -> Result<()> {
        if self.iterations > 10_000 {
            return Err(RagError::invalid(format!(
                "hotflip iterations must be at most 10000, got {}",
                self.iterations
            )));
        }
        if !(1..=512).contains(&self.candidates) {
            return Err(RagError::invalid(format!(
                "hotflip candidates must lie in 1..=512, got {}",
                self.candidates
            )));
        }
        if self.length > 128 {
            return Err(RagError::invalid(format!(
                "hotflip length must be at most 128 tokens, got {}",
                self.length
            )));
        }
        Ok(())
    }
    fn build(self) -> HotFlip {
        HotFlip { params: self }
    }
}

/// The checked attack.
#[derive(Debug, Clone)]
pub struct HotFlip {
    params: HotFlipParams,
}

/// The whole-word substitutes and their word vectors (row-major `[words, DIM]`).
struct Substitutes {
    ids: Vec<u32>,
    vectors: Vec<f32>,
}

impl Substitutes {
    fn of(encoder: &Encoder) -> Result<Substitutes> {
        let ids = encoder.tokenizer().whole_words();
        let vectors = encoder.words_of(&ids)?;
        Ok(Substitutes { ids, vectors })
    }

    /// The `k` substitutes with the largest first-order gain `g . E_v`, other than `current`.
    fn best(&self, g: &[f32], k: usize, current: u32) -> Vec<u32> {
        let mut scored: Vec<(f32, u32)> = self
            .vectors
            .chunks_exact(DIM)
            .zip(&self.ids)
            .filter(|(_, &id)| id != current)
            .map(|(v, &id)| (v.iter().zip(g).map(|(a, b)| a * b).sum::<f32>(), id))
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.truncate(k);
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, id)| id).collect()
    }
}

impl HotFlip {
    /// The optimised `S` (as token ids) for passage `j` of `target`, whose statement is
    /// `statement`, against the unit query embedding `query`.
    fn optimise(
        &self,
        encoder: &Encoder,
        words: &Substitutes,
        target: &Target,
        statement: &[u32],
        query: &[f32],
        rng: &mut ChaCha20Rng,
    ) -> Result<Vec<u32>> {
        let tokenizer = encoder.tokenizer();
        let (cls, sep) = tokenizer.specials();
        let question = tokenizer.encode(&target.question, MAX_TOKENS).ids;
        let question = &question[1..question.len() - 1];
        let mut s: Vec<u32> = match self.params.start {
            Start::Question => question.to_vec(),
            Start::Random => {
                let n = match self.params.length {
                    0 => question.len().max(1),
                    n => n,
                };
                (0..n)
                    .map(|_| words.ids[rng.random_range(0..words.ids.len())])
                    .collect()
            }
        };
        if s.is_empty() || words.ids.is_empty() {
            return Ok(s);
        }
        // [CLS] S I [SEP], the statement cut to fit the encoder.
        let room = MAX_TOKENS.saturating_sub(2 + s.len());
        let statement = &statement[..statement.len().min(room)];
        let sequence = |s: &[u32]| -> Vec<u32> {
            let mut ids = Vec::with_capacity(s.len() + statement.len() + 2);
            ids.push(cls);
            ids.extend_from_slice(s);
            ids.extend_from_slice(statement);
            ids.push(sep);
            ids
        };
        let similarity = |rows: &[Vec<u32>]| -> Result<Vec<f32>> {
            let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
            let e = encoder.embed_ids(&refs, Pooling::Mean, &mut |_| {})?;
            Ok(e.chunks_exact(DIM)
                .map(|r| r.iter().zip(query).map(|(a, b)| a * b).sum())
                .collect())
        };
        let mut best = similarity(&[sequence(&s)])?[0];
        for _ in 0..self.params.iterations {
            let ids = sequence(&s);
            let (_, grad) = encoder.similarity_gradient(&encoder.words_of(&ids)?, query)?;
            let pos = rng.random_range(0..s.len());
            let g = &grad[(pos + 1) * DIM..(pos + 2) * DIM];
            let tries: Vec<Vec<u32>> = words
                .best(g, self.params.candidates, s[pos])
                .into_iter()
                .map(|v| {
                    let mut t = s.clone();
                    t[pos] = v;
                    t
                })
                .collect();
            let sims = similarity(&tries.iter().map(|t| sequence(t)).collect::<Vec<_>>())?;
            if let Some((i, &sim)) = sims
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            {
                if sim > best {
                    best = sim;
                    s.clone_from(&tries[i]);
                }
            }
        }
        Ok(s)
    }
}

impl RetrievalAttack for HotFlip {
    fn name(&self) -> &'static str {
        "hotflip"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.params).unwrap_or_default()
    }
    fn poison(&self, input: &AttackInput) -> Result<Poisoning> {
        let encoder = input.encoder.ok_or_else(|| {
            RagError::invalid(
                "hotflip is a white-box attack: it needs the sentence encoder (minilm)",
            )
        })?;
        let words = Substitutes::of(encoder)?;
        let questions: Vec<&str> = input.targets.iter().map(|t| t.question.as_str()).collect();
        let queries = encoder.encode(&questions)?.vectors;
        // Passages are independent searches: one per worker (candle's small matrices keep a
        // single search on about one core).
        let jobs: Vec<(usize, usize)> = (0..input.targets.len())
            .flat_map(|t| (0..input.per_target).map(move |j| (t, j)))
            .collect();
        let crafted: Vec<String> = jobs
            .par_iter()
            .map(|&(t, j)| {
                let target = &input.targets[t];
                let statement = fill(
                    STATEMENT_TEMPLATES[j % STATEMENT_TEMPLATES.len()],
                    &false_statement(target),
                );
                let ids = encoder.tokenizer().encode(&statement, MAX_TOKENS).ids;
                let mut rng = ChaCha20Rng::seed_from_u64(
                    input.seed ^ 0x4f7f_11b0 ^ ((t as u64) << 32) ^ j as u64,
                );
                let s = self.optimise(
                    encoder,
                    &words,
                    target,
                    &ids[1..ids.len() - 1],
                    &queries[t * DIM..(t + 1) * DIM],
                    &mut rng,
                )?;
                Ok(format!("{} {statement}", encoder.tokenizer().decode(&s)))
            })
            .collect::<Result<_>>()?;
        try_add_passages("hotflip", input, |t, _, j| {
            Ok(crafted[t * input.per_target + j].clone())
        })
    }
}
