//! One retrieval-poisoning run: corpus -> targets -> attack -> signed publication -> index
//! (with defences) -> retrieval -> metrics.
//!
//! 1. Load the corpus; build the target questions (known-item: held-out sentences are removed
//!    from their passages) or read them.
//! 2. The attack crafts its passages. The corpus is *published* (manifest signed) with the
//!    added passages in it; passages an attack replaces change only afterwards (split view).
//! 3. Embeddings (when the retriever is `minilm` or a defence needs them): the clean corpus
//!    from the cache, every changed or added passage freshly.
//! 4. Defences admit passages at index time, then filter each query's candidates (the best
//!    `3 x max(k)`); the retriever returns the best `max(k)` of what remains (`f x max(k)`
//!    when a defence widens the generator's context by `f`).
//! 5. Metrics against the ground truth ([`crate::metrics`]; over the top `f k` when widened).

use crate::attacks::AttackInput;
use crate::bm25::Bm25;
use crate::corpus::{self, Passage};
use crate::defences::manifest::SignedCorpus;
use crate::defences::{IndexView, Query, RetrievalDefence};
use crate::encoder::{Encoder, DIM, MAX_TOKENS};
use crate::index::{corpus_embeddings, CacheStatus, DenseIndex};
use crate::metrics::RetrievalMetrics;
use crate::registry::{build_attack, build_defence, ATTACKS, DEFENCES};
use crate::targets::{self, Target};
use crate::{RagError, Result};
use mithridate_core::registry::Requirement;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

/// Which retriever ranks passages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Retriever {
    /// all-MiniLM-L6-v2, exact cosine top-k.
    Minilm,
    /// Okapi BM25.
    Bm25,
}

impl std::str::FromStr for Retriever {
    type Err = RagError;
    fn from_str(s: &str) -> Result<Retriever> {
        match s {
            "minilm" => Ok(Retriever::Minilm),
            "bm25" => Ok(Retriever::Bm25),
            other => Err(RagError::invalid(format!(
                "unknown retriever '{other}' (known: minilm, bm25)"
            ))),
        }
    }
}

/// Where the target questions come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSource {
    /// `n` built-in targets ([`targets::built_in`]: known-item, or definitional for `wordnet`).
    KnownItems(usize),
    /// A JSONL file of `{"question", "target_answer"[, ...]}`.
    File(PathBuf),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RagSpec {
    pub corpus: String,
    pub retriever: Retriever,
    pub attack: String,
    pub attack_params: serde_json::Value,
    pub targets: TargetSource,
    pub poisons_per_target: usize,
    /// `(name, parameters)`, applied in order.
    pub defences: Vec<(String, serde_json::Value)>,
    pub seed: u64,
    pub cutoffs: Vec<usize>,
}

impl RagSpec {
    /// Whether the run needs the sentence encoder (and so the corpus embeddings, computed once
    /// per corpus and cached under the data home): the dense retriever, or a defence that reads
    /// embeddings. A caller running several specs can warm that cache once up front.
    pub fn needs_encoder(&self) -> bool {
        self.retriever == Retriever::Minilm
            || self.defences.iter().any(|(name, _)| {
                DEFENCES
                    .get(name)
                    .is_ok_and(|e| e.requires(Requirement::Model))
            })
    }
}

/// What a run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RagReport {
    pub corpus: String,
    pub passages: usize,
    pub retriever: Retriever,
    pub attack: String,
    pub attack_parameters: serde_json::Value,
    pub defences: Vec<serde_json::Value>,
    pub targets: usize,
    pub poisons_per_target: usize,
    pub injected: usize,
    /// Passages refused at index time by the defences: all of them, and the poisoned ones.
    pub refused_at_index: usize,
    pub refused_poisons: usize,
    /// Passages longer than the encoder's limit (truncated to 256 tokens).
    pub truncated_passages: usize,
    pub embedding_cache: Option<CacheStatus>,
    /// Why a cached white-box poisoning could not be used and was crafted again (corrupted,
    /// truncated, another version); absent when it was read, fresh, or not cached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poisoning_cache_rebuilt_because: Option<String>,
    /// `clean_recall_at_k` is measured on the corpus *without* the attack (same retriever and
    /// defences): the cost of the defences on clean retrieval.
    #[serde(flatten)]
    pub metrics: RetrievalMetrics,
    /// Recall of the gold passages in the attacked corpus.
    pub recall_under_attack_at_k: Option<std::collections::BTreeMap<String, f64>>,
    pub seed: u64,
    pub seconds: f64,
}

/// Progress messages (`stage`, done, total).
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

/// Runs `spec` (the encoder is loaded when needed; `home` caches packages and embeddings).
pub fn run(
    home: &mithridate_data::DataHome,
    spec: &RagSpec,
    progress: Progress,
) -> Result<RagReport> {
    let start = Instant::now();
    let max_k = *spec.cutoffs.iter().max().unwrap_or(&0);
    if spec.cutoffs.is_empty() || spec.cutoffs.contains(&0) {
        return Err(RagError::invalid("cut-offs k must be at least 1"));
    }
    if !(1..=1000).contains(&spec.poisons_per_target) {
        return Err(RagError::invalid(format!(
            "--poisons-per-target must lie in 1..=1000, got {}",
            spec.poisons_per_target
        )));
    }
    let attack = build_attack(&spec.attack, &spec.attack_params)?;
    let mut defences: Vec<Box<dyn RetrievalDefence>> = spec
        .defences
        .iter()
        .map(|(name, params)| build_defence(name, params))
        .collect::<Result<_>>()?;
    // The generator's context widens by the product of the defences' factors (`wider`).
    let factor = defences
        .iter()
        .try_fold(1usize, |f, d| f.checked_mul(d.context_factor()))
        .filter(|&f| (1..=50).contains(&f))
        .ok_or_else(|| RagError::invalid("the defences widen the context more than 50 times"))?;
    let clean = corpus::load(home, &spec.corpus)?;
    let (targets, indexed) = match &spec.targets {
        TargetSource::KnownItems(n) => targets::built_in(&clean, *n, spec.seed)?,
        TargetSource::File(path) => (targets::read_targets(path)?, clean.clone()),
    };
    check_gold(&targets, &indexed)?;
    let needs_model = spec.needs_encoder();
    let (encoder, poisoning, poison_cache_rebuilt) =
        poison(home, spec, attack.as_ref(), &indexed, &targets)?;
    let (signed, offered) = publish(&indexed.passages, &poisoning, spec.seed)?;
    let row_of: HashMap<&str, usize> = offered
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();

    let mut truncated_passages = 0;
    let mut embedding_cache = None;
    let mut query_vectors = None;
    let mut clean_vectors = None;
    let embeddings = if let (true, Some(encoder)) = (needs_model, &encoder) {
        truncated_passages = offered
            .iter()
            .filter(|p| encoder.tokenizer().encode(&p.text, MAX_TOKENS).truncated)
            .count();
        let (vectors_of_clean, status) = corpus_embeddings(home, encoder, &clean, &mut |d, t| {
            progress("embedding corpus", d, t)
        })?;
        embedding_cache = Some(status);
        let vectors = embed_offered(encoder, &clean.passages, &vectors_of_clean, &offered)?;
        let questions: Vec<&str> = targets.iter().map(|t| t.question.as_str()).collect();
        query_vectors = Some(encoder.encode(&questions)?.vectors);
        clean_vectors = Some(vectors_of_clean);
        Some(vectors)
    } else {
        None
    };

    let view = IndexView {
        passages: &offered,
        embeddings: embeddings.as_deref(),
        dim: DIM,
        manifest: &signed,
        seed: spec.seed,
    };
    progress("retrieving", 0, targets.len());
    let queries = query_vectors.as_deref();
    let (retrieved, admitted) = retrieve(
        spec,
        &view,
        &mut defences,
        &targets,
        queries,
        max_k * factor,
    )?;
    // The same retriever and defences over the corpus without the attack: clean recall.
    let clean_signed = SignedCorpus::sign(&indexed.passages, spec.seed)?;
    let clean_embeddings = embeddings.as_ref().map(|e| {
        let mut v = e[..indexed.len() * DIM].to_vec();
        for p in &poisoning.replaced {
            // A replaced row's text is unchanged in the indexed corpus: its clean vector.
            if let (Some(&r), Some(cv)) = (row_of.get(p.id.as_str()), clean_vectors.as_ref()) {
                v[r * DIM..(r + 1) * DIM].copy_from_slice(&cv[r * DIM..(r + 1) * DIM]);
            }
        }
        v
    });
    let clean_view = IndexView {
        passages: &indexed.passages,
        embeddings: clean_embeddings.as_deref(),
        dim: DIM,
        manifest: &clean_signed,
        seed: spec.seed,
    };
    let mut fresh: Vec<Box<dyn RetrievalDefence>> = spec
        .defences
        .iter()
        .map(|(name, params)| build_defence(name, params))
        .collect::<Result<_>>()?;
    let (clean_retrieved, _) = retrieve(
        spec,
        &clean_view,
        &mut fresh,
        &targets,
        queries,
        max_k * factor,
    )?;
    progress("retrieving", targets.len(), targets.len());
    let gold: Vec<Option<String>> = targets.iter().map(|t| t.passage_id.clone()).collect();
    let mut metrics = RetrievalMetrics::compute_widened(
        &retrieved,
        &poisoning.injected,
        &gold,
        &spec.cutoffs,
        factor,
    );
    let recall_under_attack_at_k = metrics.clean_recall_at_k.take();
    metrics.clean_recall_at_k =
        RetrievalMetrics::compute_widened(&clean_retrieved, &[], &gold, &spec.cutoffs, factor)
            .clean_recall_at_k;
    let poison_rows: Vec<usize> = poisoning
        .injected
        .iter()
        .flatten()
        .filter_map(|id| row_of.get(id.as_str()).copied())
        .collect();
    Ok(RagReport {
        corpus: clean.name.clone(),
        passages: offered.len(),
        retriever: spec.retriever,
        attack: attack.name().to_string(),
        attack_parameters: attack.parameters(),
        defences: defences
            .iter()
            .map(|d| serde_json::json!({"name": d.name(), "parameters": d.parameters()}))
            .collect(),
        targets: targets.len(),
        poisons_per_target: spec.poisons_per_target,
        injected: poison_rows.len(),
        refused_at_index: admitted.iter().filter(|a| !**a).count(),
        refused_poisons: poison_rows.iter().filter(|&&r| !admitted[r]).count(),
        truncated_passages,
        embedding_cache,
        poisoning_cache_rebuilt_because: poison_cache_rebuilt,
        metrics,
        recall_under_attack_at_k,
        seed: spec.seed,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The encoder (when the index or a white-box attack needs it) and the attack's passages
/// against `indexed`: white-box passages cost encoder passes, so they are crafted once and
/// then read from the poisoning cache (whose rebuild reason is the third value).
///
/// The index needs embeddings (dense retriever, embedding defences); a white-box attack
/// needs the encoder itself, whatever the retriever (a BM25 index then faces passages
/// optimised against MiniLM: a transfer attack).
pub fn poison(
    home: &mithridate_data::DataHome,
    spec: &RagSpec,
    attack: &dyn crate::attacks::RetrievalAttack,
    indexed: &corpus::Corpus,
    targets: &[Target],
) -> Result<(Option<Encoder>, crate::attacks::Poisoning, Option<String>)> {
    let white_box = ATTACKS
        .get(&spec.attack)
        .is_ok_and(|e| e.requires(Requirement::Model));
    let encoder = if spec.needs_encoder() || white_box {
        Some(Encoder::minilm(home)?)
    } else {
        None
    };
    let input = AttackInput {
        corpus: indexed,
        targets,
        per_target: spec.poisons_per_target,
        seed: spec.seed,
        encoder: encoder.as_ref(),
    };
    let (poisoning, rebuilt) = match (&encoder, white_box) {
        (Some(e), true) => crate::poison_cache::poison_cached(home, attack, &input, e.id())?,
        _ => (attack.poison(&input)?, None),
    };
    Ok((encoder, poisoning, rebuilt))
}

/// The corpus as the attacker leaves it: *published* = `indexed` + the added passages, signed
/// (the manifest a defender would have recorded), and *offered* = published with the
/// replacements swapped in after signing (split-view poisoning). Errors when an added id
/// already exists or a replaced id does not.
pub fn publish(
    indexed: &[Passage],
    poisoning: &crate::attacks::Poisoning,
    seed: u64,
) -> Result<(SignedCorpus, Vec<Passage>)> {
    let mut published = indexed.to_vec();
    published.extend(poisoning.added.iter().cloned());
    let signed = SignedCorpus::sign(&published, seed)?;
    let mut offered = published;
    let row_of: HashMap<String, usize> = offered
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.clone(), i))
        .collect();
    if row_of.len() != offered.len() {
        return Err(RagError::invalid(
            "the attack added a passage id the corpus already has",
        ));
    }
    for p in &poisoning.replaced {
        let row = row_of.get(&p.id).ok_or_else(|| {
            RagError::invalid(format!("the attack replaced unknown passage '{}'", p.id))
        })?;
        offered[*row].text = p.text.clone();
    }
    Ok((signed, offered))
}

/// [`retrieve_rows`] as passage ids per target, with the admission mask.
fn retrieve(
    spec: &RagSpec,
    view: &IndexView,
    defences: &mut [Box<dyn RetrievalDefence>],
    targets: &[Target],
    query_vectors: Option<&[f32]>,
    max_k: usize,
) -> Result<(Vec<Vec<String>>, Vec<bool>)> {
    let (rows, admitted) = retrieve_rows(
        spec.retriever,
        view,
        defences,
        targets,
        query_vectors,
        max_k,
    )?;
    let ids = rows
        .into_iter()
        .map(|hits| {
            hits.into_iter()
                .map(|r| view.passages[r].id.clone())
                .collect()
        })
        .collect();
    Ok((ids, admitted))
}

/// Index-time admission by every defence, retrieval of `3 x max_k` candidates, query-time
/// filters in order, the best `max_k` kept: the passage rows per target and the admission
/// mask (`max_k` is already widened by the defences' context factor). The experiment and
/// the answer-level benchmark (mithridate-rag-answer) retrieve through this one function.
pub fn retrieve_rows(
    retriever: Retriever,
    view: &IndexView,
    defences: &mut [Box<dyn RetrievalDefence>],
    targets: &[Target],
    query_vectors: Option<&[f32]>,
    max_k: usize,
) -> Result<(Vec<Vec<usize>>, Vec<bool>)> {
    let passages = view.passages;
    let mut admitted = vec![true; passages.len()];
    for d in defences.iter_mut() {
        for (a, keep) in admitted.iter_mut().zip(d.prepare(view)?) {
            *a &= keep;
        }
    }
    let rows: Vec<usize> = (0..passages.len()).filter(|&i| admitted[i]).collect();
    if rows.is_empty() {
        return Err(RagError::invalid(
            "the defences refused every passage: nothing to index",
        ));
    }
    let depth = 3 * max_k;
    let candidates: Vec<Vec<usize>> = match retriever {
        Retriever::Minilm => {
            let vectors = view.embeddings.unwrap_or_default();
            let mut matrix = Vec::with_capacity(rows.len() * DIM);
            for &r in &rows {
                matrix.extend_from_slice(&vectors[r * DIM..(r + 1) * DIM]);
            }
            DenseIndex::new(matrix, DIM)?
                .search(query_vectors.unwrap_or_default(), depth)?
                .into_iter()
                .map(|hits| hits.into_iter().map(|(i, _)| rows[i]).collect())
                .collect()
        }
        Retriever::Bm25 => {
            let texts: Vec<&str> = rows.iter().map(|&r| passages[r].text.as_str()).collect();
            let bm25 = Bm25::new(&texts);
            targets
                .iter()
                .map(|t| {
                    bm25.search(&t.question, depth)
                        .into_iter()
                        .map(|(i, _)| rows[i])
                        .collect()
                })
                .collect()
        }
    };
    let mut retrieved = Vec::with_capacity(targets.len());
    for (t, target) in targets.iter().enumerate() {
        let query = Query {
            text: &target.question,
            embedding: query_vectors.map(|q| &q[t * DIM..(t + 1) * DIM]),
        };
        let mut kept = candidates[t].clone();
        for d in defences.iter() {
            kept = d.filter(&query, &kept, view);
        }
        kept.truncate(max_k);
        retrieved.push(kept);
    }
    Ok((retrieved, admitted))
}

/// A gold passage id a targets file names must exist.
fn check_gold(targets: &[Target], corpus: &corpus::Corpus) -> Result<()> {
    for (i, t) in targets.iter().enumerate() {
        if let Some(id) = &t.passage_id {
            if !corpus.passages.iter().any(|p| &p.id == id) {
                return Err(RagError::invalid(format!(
                    "target {} names passage_id '{id}', which the corpus does not have",
                    i + 1
                )));
            }
        }
    }
    Ok(())
}

/// Embeddings of `offered`: rows of the clean corpus whose text is unchanged are reused, the
/// rest are encoded.
pub fn embed_offered(
    encoder: &Encoder,
    clean: &[Passage],
    clean_vectors: &[f32],
    offered: &[Passage],
) -> Result<Vec<f32>> {
    let mut vectors = vec![0f32; offered.len() * DIM];
    let mut fresh = Vec::new();
    for (i, p) in offered.iter().enumerate() {
        match clean.get(i) {
            Some(c) if c.id == p.id && c.text == p.text => {
                vectors[i * DIM..(i + 1) * DIM]
                    .copy_from_slice(&clean_vectors[i * DIM..(i + 1) * DIM]);
            }
            _ => fresh.push(i),
        }
    }
    let texts: Vec<&str> = fresh.iter().map(|&i| offered[i].text.as_str()).collect();
    let encoded = encoder.encode(&texts)?;
    for (j, &i) in fresh.iter().enumerate() {
        vectors[i * DIM..(i + 1) * DIM].copy_from_slice(&encoded.vectors[j * DIM..(j + 1) * DIM]);
    }
    Ok(vectors)
}
