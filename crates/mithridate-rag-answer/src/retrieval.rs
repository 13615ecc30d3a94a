//! One attack x defences run of [`mithridate_rag`] that keeps what was retrieved: the
//! generator needs the passages' text, and `mithridate_rag::experiment::run` returns metrics
//! only. The steps are the crate's (see its `experiment` module): corpus and targets, the
//! attack's passages published (signed manifest) and replacements swapped in, embeddings from
//! the corpus cache plus the changed rows, index-time admission, `3k` candidates filtered at
//! query time, the best `k` kept.
//!
//! Three retrievals per target come back: `clean` (the corpus without the attack, no
//! defence), `attacked` (undefended) and `defended` (attacked, the defences applied).

use crate::{AnswerError, Result};
use mithridate_rag::corpus::{self, Passage};
use mithridate_rag::defences::manifest::SignedCorpus;
use mithridate_rag::defences::{IndexView, RetrievalDefence};
use mithridate_rag::encoder::DIM;
use mithridate_rag::experiment::{self, RagSpec, Retriever, TargetSource};
use mithridate_rag::index::corpus_embeddings;
use mithridate_rag::registry::{build_attack, build_defence};
use mithridate_rag::targets::{self, Target};

/// What each target retrieved (passage ids and texts, best first) in the three conditions.
#[derive(Debug, Clone)]
pub struct Retrieved {
    pub targets: Vec<Target>,
    pub clean: Vec<Vec<Passage>>,
    pub attacked: Vec<Vec<Passage>>,
    pub defended: Vec<Vec<Passage>>,
    /// The injected passage ids per target (ground truth).
    pub injected: Vec<Vec<String>>,
}

/// Runs `spec` (its largest cut-off is `k`) and returns the top-`k` passages per condition.
pub fn retrieve_all(home: &mithridate_data::DataHome, spec: &RagSpec) -> Result<Retrieved> {
    let k = *spec
        .cutoffs
        .iter()
        .max()
        .ok_or_else(|| AnswerError::invalid("no cut-off k"))?;
    if k == 0 {
        return Err(AnswerError::invalid("k must be at least 1"));
    }
    let attack = build_attack(&spec.attack, &spec.attack_params)?;
    let build_defences = || -> Result<Vec<Box<dyn RetrievalDefence>>> {
        spec.defences
            .iter()
            .map(|(name, params)| Ok(build_defence(name, params)?))
            .collect()
    };
    let mut defences = build_defences()?;
    let clean = corpus::load(home, &spec.corpus)?;
    let (targets, indexed) = match &spec.targets {
        TargetSource::KnownItems(n) => targets::built_in(&clean, *n, spec.seed)?,
        TargetSource::File(path) => (targets::read_targets(path)?, clean.clone()),
    };
    let needs_model = spec.needs_encoder();
    let (encoder, poisoning, _) =
        experiment::poison(home, spec, attack.as_ref(), &indexed, &targets)?;
    let (signed, offered) = experiment::publish(&indexed.passages, &poisoning, spec.seed)?;

    let (mut offered_vectors, mut indexed_vectors, mut queries) = (None, None, None);
    if let (true, Some(encoder)) = (needs_model, &encoder) {
        let (clean_vectors, _) = corpus_embeddings(home, encoder, &clean, &mut |_, _| {})?;
        offered_vectors = Some(experiment::embed_offered(
            encoder,
            &clean.passages,
            &clean_vectors,
            &offered,
        )?);
        indexed_vectors = Some(experiment::embed_offered(
            encoder,
            &clean.passages,
            &clean_vectors,
            &indexed.passages,
        )?);
        let questions: Vec<&str> = targets.iter().map(|t| t.question.as_str()).collect();
        queries = Some(encoder.encode(&questions)?.vectors);
    }
    let clean_signed = SignedCorpus::sign(&indexed.passages, spec.seed)?;
    let view = |passages, embeddings, manifest| IndexView {
        passages,
        embeddings,
        dim: DIM,
        manifest,
        seed: spec.seed,
    };
    let q = queries.as_deref();
    let clean_view = view(&indexed.passages, indexed_vectors.as_deref(), &clean_signed);
    let attacked_view = view(&offered, offered_vectors.as_deref(), &signed);
    let clean_hits = retrieve(spec.retriever, &clean_view, &mut [], &targets, q, k)?;
    let attacked_hits = retrieve(spec.retriever, &attacked_view, &mut [], &targets, q, k)?;
    let defended_hits = retrieve(
        spec.retriever,
        &attacked_view,
        &mut defences,
        &targets,
        q,
        k,
    )?;
    let texts = |hits: Vec<Vec<usize>>, passages: &[Passage]| -> Vec<Vec<Passage>> {
        hits.into_iter()
            .map(|rows| rows.into_iter().map(|r| passages[r].clone()).collect())
            .collect()
    };
    Ok(Retrieved {
        clean: texts(clean_hits, &indexed.passages),
        attacked: texts(attacked_hits, &offered),
        defended: texts(defended_hits, &offered),
        injected: poisoning.injected,
        targets,
    })
}

/// The rag experiment's retrieval (index-time admission, `3k` candidates, query-time
/// filters in order), keeping the best `k` rows per target.
fn retrieve(
    retriever: Retriever,
    view: &IndexView,
    defences: &mut [Box<dyn RetrievalDefence>],
    targets: &[Target],
    query_vectors: Option<&[f32]>,
    k: usize,
) -> Result<Vec<Vec<usize>>> {
    Ok(experiment::retrieve_rows(retriever, view, defences, targets, query_vectors, k)?.0)
}
