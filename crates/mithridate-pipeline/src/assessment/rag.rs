//! The assessment's RAG cells: a `[rag]` block of `assess.toml` runs mithridate-rag's
//! retrieval-poisoning experiment once per retriever, attack, poisons per target, defence
//! setting and seed. mithridate-rag depends on no crate above the data layer, so its cells are
//! checked and run here like federated cells (no `CellKind` needed).
//!
//! Validation loads each block's corpus once (a built-in corpus reads its cached package and
//! chunks it in well under a second), builds the known-item targets for the first seed (so too
//! many targets fail before anything runs), and builds every attack and defence with its
//! parameters; mistakes name their line.
//!
//! Cost: [`experiment::run`] loads the corpus, and the encoder when the retriever or a defence
//! needs it, for every cell (mithridate-rag offers no shared handle); the corpus embeddings
//! come from the on-disk cache, which the executor fills once per corpus before the first cell
//! that needs it ([`WarmCorpora`]), so concurrent workers never embed a corpus twice.

use super::validate::at;
use crate::data::DataCache;
use crate::error::{PipelineError, Result};
use crate::federated::taxonomy_refs;
use mithridate_assess::config::{Config, Rag, RagTargets};
use mithridate_assess::plan::{RagCell, RagDefenceCell};
use mithridate_assess::record::{RagOutcome, TaxonomyRefs};
use mithridate_data::DataHome;
use mithridate_rag::experiment::{self, RagReport, RagSpec, Retriever, TargetSource};
use mithridate_rag::registry::{build_attack, build_defence, ATTACKS};
use mithridate_rag::{corpus, targets, RagError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use toml::Spanned;

/// A RAG cell with its checked spec. `cell` stays as the identity and the source of the
/// defence labels the record carries.
#[derive(Debug, Clone)]
pub struct RagRun {
    pub cell: RagCell,
    pub spec: RagSpec,
    /// The attack's registry filing.
    pub taxonomy: TaxonomyRefs,
}

impl RagRun {
    /// Checks every name and parameter of `cell` once: the retriever parses, and the attack
    /// and each defence build from their registries with their parameters.
    pub fn check(cell: &RagCell) -> Result<RagRun> {
        let retriever: Retriever = cell.retriever.parse()?;
        build_attack(&cell.attack, &cell.params)?;
        for d in &cell.defences {
            build_defence(&d.name, &d.params)?;
        }
        let entry = ATTACKS
            .get(&cell.attack)
            .map_err(|e| RagError::invalid(e.to_string()))?;
        Ok(RagRun {
            spec: RagSpec {
                corpus: cell.corpus.clone(),
                retriever,
                attack: cell.attack.clone(),
                attack_params: cell.params.clone(),
                targets: target_source(&cell.targets),
                poisons_per_target: cell.poisons_per_target,
                defences: cell
                    .defences
                    .iter()
                    .map(|d| (d.name.clone(), d.params.clone()))
                    .collect(),
                seed: cell.seed,
                cutoffs: mithridate_rag::metrics::CUTOFFS.to_vec(),
            },
            taxonomy: taxonomy_refs(entry.taxonomy.to_taxonomy()),
            cell: cell.clone(),
        })
    }

    /// Runs the experiment (silently) and records it.
    pub(super) fn run(&self, home: &DataHome, warm: &WarmCorpora) -> Result<RagOutcome> {
        if self.spec.needs_encoder() {
            warm.ensure(home, &self.spec.corpus)?;
        }
        let report = experiment::run(home, &self.spec, &mut |_, _, _| {})?;
        Ok(self.outcome(report))
    }

    fn outcome(&self, report: RagReport) -> RagOutcome {
        let m = report.metrics;
        RagOutcome {
            corpus: report.corpus,
            passages: report.passages,
            retriever: self.cell.retriever.clone(),
            attack: report.attack,
            parameters: report.attack_parameters,
            taxonomy: self.taxonomy.clone(),
            defences: self
                .cell
                .defences
                .iter()
                .map(RagDefenceCell::label)
                .collect(),
            defence_parameters: report.defences,
            targets: report.targets,
            poisons_per_target: report.poisons_per_target,
            injected: report.injected,
            refused_at_index: report.refused_at_index,
            refused_poisons: report.refused_poisons,
            truncated_passages: report.truncated_passages,
            asr_at_k: m.asr_at_k,
            clean_recall_at_k: m.clean_recall_at_k,
            recall_under_attack_at_k: report.recall_under_attack_at_k,
            poison_precision_at_k: m.poison_precision_at_k,
            poison_recall_at_k: m.poison_recall_at_k,
            poison_f1_at_k: m.poison_f1_at_k,
        }
    }
}

fn target_source(targets: &RagTargets) -> TargetSource {
    match targets {
        RagTargets::Count(n) => TargetSource::KnownItems(*n),
        RagTargets::File(path) => TargetSource::File(path.into()),
    }
}

/// Corpora whose embedding cache this executor has made sure of. The first cell of a corpus
/// that needs the encoder reads the cache, or computes and writes it (minutes for SOTU on 2
/// cores), while later cells of that corpus wait for it.
#[derive(Default)]
pub(super) struct WarmCorpora(Mutex<HashMap<String, Arc<Mutex<bool>>>>);

impl WarmCorpora {
    fn ensure(&self, home: &DataHome, source: &str) -> Result<()> {
        let slot = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(source.to_string())
            .or_default()
            .clone();
        let mut warm = slot.lock().unwrap_or_else(|p| p.into_inner());
        if !*warm {
            let corpus = corpus::load(home, source)?;
            let encoder = mithridate_rag::encoder::Encoder::minilm(home)?;
            mithridate_rag::index::corpus_embeddings(home, &encoder, &corpus, &mut |_, _| {})?;
            *warm = true;
        }
        Ok(())
    }
}

/// The registry's message (which names the entry) at the line of `value`.
fn entry_at<T>(config: &Config, value: &Spanned<T>, e: RagError) -> PipelineError {
    PipelineError::Config(config.error_at(value, e.to_string()))
}

/// Checks a `[rag]` block against the corpus and the registries; a mistake names the line
/// of what is wrong: the corpus, a retriever, the targets, an attack or a defence.
pub(super) fn validate(config: &Config, block: &Rag, data: &DataCache, seed: u64) -> Result<()> {
    let loaded = corpus::load(data.home(), block.corpus.get_ref())
        .map_err(|e| at(config, &block.corpus, e))?;
    for retriever in block.retrievers() {
        retriever
            .get_ref()
            .parse::<Retriever>()
            .map_err(|e| at(config, &retriever, e))?;
    }
    let checked = match block.target_source() {
        RagTargets::Count(n) => targets::built_in(&loaded, n, seed).map(|_| ()),
        RagTargets::File(path) => targets::read_targets(path.as_ref()).map(|_| ()),
    };
    if let Err(e) = checked {
        return Err(match &block.targets {
            Some(t) => PipelineError::Config(config.error_at(t, format!("targets: {e}"))),
            None => at(config, &block.corpus, e),
        });
    }
    for attack in block.attacks.get_ref() {
        let a = attack.get_ref();
        build_attack(&a.name, &a.params_json()).map_err(|e| entry_at(config, attack, e))?;
    }
    for setting in &block.defences {
        for defence in setting.get_ref() {
            let d = defence.get_ref();
            build_defence(&d.name, &d.params_json()).map_err(|e| entry_at(config, defence, e))?;
        }
    }
    Ok(())
}
