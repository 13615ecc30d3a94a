//! The assessment's `[text]` and `[lm]` cells: mithridate-text's backdoor experiment on a
//! frozen MiniLM with a trained head, and mithridate-lm's poisoning of the small generative
//! model trained here. Neither crate depends on this one, so their cells are checked and run
//! here like RAG cells.
//!
//! Validation builds every attack and defence from its registry with its parameters, checks
//! the head and model settings, and loads each block's data (the text set with its target
//! class; the corpus against the sizes and poisoned-document counts), so a mistake names its
//! line before any cell runs.
//!
//! Cost: the executor keeps one MiniLM embedder (its embeddings cached on disk) for every text
//! cell, and one cache of clean LM baselines, so a count sweep trains each size's baseline once;
//! text and LM cells each take their lock while they run, so they run one at a time.

use super::validate::at;
use crate::data::DataCache;
use crate::error::{PipelineError, Result};
use crate::federated::taxonomy_refs;
use mithridate_assess::config::{Config, Lm, Text};
use mithridate_assess::plan::{LmCell, TextCell};
use mithridate_assess::record::{
    LmDefenceOutcome, LmOutcome, TaxonomyRefs, TextDefenceOutcome, TextOutcome,
};
use mithridate_data::DataHome;
use mithridate_lm::attacks::{AttackKind, AttackSpec};
use mithridate_lm::defences::DefenceKind;
use mithridate_lm::experiment::{BaselineCache, Spec};
use mithridate_text::experiment::ExperimentSpec;
use mithridate_text::finetune_settings::{FineTuneSettings, Spelling};
use mithridate_text::head::HeadConfig;
use std::sync::Mutex;

/// Trained and loaded things text and LM cells share.
#[derive(Default)]
pub(super) struct LanguageState {
    embedder: Mutex<Option<mithridate_text::embed::Embedder>>,
    baselines: Mutex<BaselineCache>,
}

fn invalid(e: impl std::fmt::Display) -> PipelineError {
    PipelineError::invalid(e.to_string())
}

/// Backdoor poisoning of language models' training data (the text crate's registry filing;
/// mithridate-lm has no registry): ATLAS AML.T0020, AML.T0018.000, AML.T0043.004; OWASP ML02,
/// LLM04; NIST AI 100-2 2.3.3.
fn backdoor_taxonomy() -> TaxonomyRefs {
    taxonomy_refs(mithridate_text::registry::TEXT_BACKDOOR.to_taxonomy())
}

/// The head of a text cell: `logreg` (softmax regression) or `mlp` with `hidden` units.
fn head(head: &str, hidden: Option<usize>, epochs: Option<usize>) -> Result<HeadConfig> {
    let d = HeadConfig::default();
    let hidden = match (head, hidden) {
        ("logreg", None) => 0,
        ("logreg", Some(_)) => return Err(invalid("hidden applies to the mlp head only")),
        ("mlp", h) => h.unwrap_or(d.hidden),
        (other, _) => return Err(invalid(format!("unknown head '{other}' (logreg, mlp)"))),
    };
    Ok(HeadConfig {
        hidden,
        epochs: epochs.unwrap_or(d.epochs),
        ..d
    })
}

/// A text cell with its checked spec.
#[derive(Debug, Clone)]
pub struct TextRun {
    pub cell: TextCell,
    pub spec: ExperimentSpec,
}

impl TextRun {
    pub fn check(cell: &TextCell) -> Result<TextRun> {
        let mut spec = ExperimentSpec::new(&cell.dataset, &cell.attack, cell.rate);
        spec.attack_params = cell.params.clone();
        if let Some(n) = cell.max_train {
            spec.train_size = n;
        }
        if let Some(n) = cell.max_test {
            spec.test_size = n;
        }
        spec.target = cell.target;
        spec.clean_label = cell.clean_label;
        spec.head = head(&cell.head, cell.hidden, cell.epochs)?;
        spec.fine_tune = FineTuneSettings {
            layers: cell.fine_tune_layers,
            epochs: cell.fine_tune_epochs,
            lr: cell.fine_tune_lr,
            head_start: cell.fine_tune_head.clone(),
        }
        .resolve(Spelling::Keys)
        .map_err(invalid)?;
        spec.seed = cell.seed;
        spec.defences = cell
            .defences
            .iter()
            .map(|d| (d.name.clone(), d.params.clone()))
            .collect();
        mithridate_text::registry::build_attack(&spec.attack, &spec.attack_params)
            .map_err(invalid)?;
        for (name, p) in &spec.defences {
            mithridate_text::registry::build_defence(name, p).map_err(invalid)?;
        }
        Ok(TextRun {
            cell: cell.clone(),
            spec,
        })
    }

    pub(super) fn run(&self, home: &DataHome, state: &LanguageState) -> Result<TextOutcome> {
        let mut slot = state.embedder.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(mithridate_text::embed::Embedder::minilm(home, true).map_err(invalid)?);
        }
        let embedder = slot.as_mut().expect("loaded above");
        let r = mithridate_text::experiment::run(home, embedder, &self.spec, &mut |_, _, _| {})
            .map_err(invalid)?;
        Ok(TextOutcome {
            head: match (r.head.hidden, r.fine_tune.layers) {
                (0, 0) => "logreg".to_string(),
                (h, 0) => format!("mlp:{h}"),
                (0, k) => format!("logreg+ft{k}"),
                (h, k) => format!("mlp:{h}+ft{k}"),
            },
            attack: r.attack,
            parameters: r.attack_parameters,
            taxonomy: backdoor_taxonomy(),
            rate: r.rate,
            clean_label: r.clean_label,
            target: r.target,
            classes: r.classes,
            train_samples: r.train,
            test_samples: r.test,
            poisoned: r.poisoned,
            clean_accuracy: r.clean_ca,
            asr_floor: r.clean_asr,
            accuracy: r.ca,
            asr: r.asr,
            asr_beyond_clean: Some(r.asr_beyond_clean),
            poisoned_fit: r.poisoned_fit,
            defences: r
                .defences
                .into_iter()
                .map(|d| TextDefenceOutcome {
                    kind: serde_json::to_value(d.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    defence: d.defence,
                    parameters: d.parameters,
                    precision: d.detection.precision,
                    recall: d.detection.recall,
                    auroc: d.detection.auroc,
                    acted_on: d.acted_on,
                    accuracy: d.ca_after,
                    asr: d.asr_after,
                    asr_beyond_clean: Some(d.asr_after_beyond_clean),
                })
                .collect(),
        })
    }
}

/// An lm cell with its checked spec.
#[derive(Debug, Clone)]
pub struct LmRun {
    pub cell: LmCell,
    pub spec: Spec,
}

impl LmRun {
    pub fn check(cell: &LmCell) -> Result<LmRun> {
        let kind: AttackKind = cell.attack.parse().map_err(invalid)?;
        let mut attack = AttackSpec::new(kind, cell.poison_docs, cell.seed);
        if let Some(params) = cell.params.as_object() {
            for (key, value) in params {
                let text = value
                    .as_str()
                    .ok_or_else(|| invalid(format!("parameter '{key}' must be a string")))?;
                match (key.as_str(), kind) {
                    ("trigger", _) => attack.trigger = text.to_string(),
                    ("continuation", AttackKind::Completion) => {
                        attack.continuation = text.to_string()
                    }
                    ("continuation", AttackKind::Dos) => {
                        return Err(invalid(
                            "continuation applies to the completion attack only",
                        ))
                    }
                    (other, _) => {
                        return Err(invalid(format!(
                            "unknown parameter '{other}' (trigger, continuation)"
                        )))
                    }
                }
            }
        }
        if attack.trigger.trim().is_empty() {
            return Err(invalid("the trigger is empty"));
        }
        let mut spec = Spec::small(attack);
        let m = &cell.model;
        spec.d_model = m.d_model.unwrap_or(spec.d_model);
        spec.n_layer = m.layers.unwrap_or(spec.n_layer);
        spec.n_head = m.heads.unwrap_or(spec.n_head);
        spec.ctx = m.ctx.unwrap_or(spec.ctx);
        spec.vocab = m.vocab.unwrap_or(spec.vocab);
        spec.train.epochs = m.epochs.unwrap_or(spec.train.epochs);
        spec.train.batch = m.batch.unwrap_or(spec.train.batch);
        spec.train.lr = m.lr.unwrap_or(spec.train.lr);
        spec.prompts = m.prompts.unwrap_or(spec.prompts);
        spec.prompt_len = m.prompt_len.unwrap_or(spec.prompt_len);
        spec.gen_len = m.gen_len.unwrap_or(spec.gen_len);
        if !spec.d_model.is_multiple_of(spec.n_head) {
            return Err(invalid(format!(
                "d_model {} is not a multiple of heads {}",
                spec.d_model, spec.n_head
            )));
        }
        if spec.gen_len > spec.ctx {
            return Err(invalid(format!(
                "gen_len {} is longer than the context ({})",
                spec.gen_len, spec.ctx
            )));
        }
        spec.defences = cell
            .defences
            .iter()
            .map(|d| d.parse::<DefenceKind>().map_err(invalid))
            .collect::<Result<_>>()?;
        Ok(LmRun {
            cell: cell.clone(),
            spec,
        })
    }

    pub(super) fn run(&self, home: &DataHome, state: &LanguageState) -> Result<LmOutcome> {
        let mut corpus = mithridate_lm::corpus::load(home, &self.cell.corpus).map_err(invalid)?;
        corpus.limit(self.cell.docs, Some(self.cell.trusted.unwrap_or(200)));
        let mut cache = state.baselines.lock().unwrap_or_else(|p| p.into_inner());
        let r = mithridate_lm::experiment::run_cached(
            &corpus,
            &self.spec,
            &mut cache,
            &mut |_, _, _| {},
        )
        .map_err(invalid)?;
        Ok(LmOutcome {
            attack: self.cell.attack.clone(),
            trigger: r.trigger,
            taxonomy: backdoor_taxonomy(),
            train_docs: r.train_docs,
            poison_docs: r.poison_docs,
            poison_token_fraction: r.poison_token_fraction,
            n_params: r.n_params,
            asr: r.asr,
            baseline_asr: r.baseline_asr,
            clean_perplexity: r.clean_perplexity,
            baseline_perplexity: r.baseline_perplexity,
            defences: r
                .defences
                .into_iter()
                .map(|d| LmDefenceOutcome {
                    defence: d.defence.name().to_string(),
                    flagged: d.detection.flagged,
                    recall: d.detection.recall,
                    precision: d.detection.precision,
                    asr: d.after.evaluation.asr,
                    perplexity: d.after.perplexity,
                })
                .collect(),
        })
    }
}

/// Checks a `[text]` block: the head, each attack and defence with its parameters, the text
/// set, its subset sizes and target class. Mistakes name their line.
pub(super) fn validate_text(
    config: &Config,
    block: &Text,
    data: &DataCache,
    seed: u64,
) -> Result<()> {
    let cells = mithridate_assess::plan::text_cells(block, seed);
    let first = cells
        .first()
        .ok_or_else(|| invalid("the text block has no attacks"))?;
    head(&first.head, first.hidden, first.epochs).map_err(|e| {
        match (&block.head, &block.hidden, &block.epochs) {
            (_, Some(h), _) if e.to_string().contains("hidden") => at(config, h, e),
            (Some(h), _, _) => at(config, h, e),
            _ => at(config, &block.dataset, e),
        }
    })?;
    // Each setting is checked with those before it, so a mistake names its own line.
    let mut settings = FineTuneSettings {
        layers: block.fine_tune_layers.as_ref().map(|k| *k.get_ref()),
        ..FineTuneSettings::default()
    };
    let check = |s: &FineTuneSettings| s.resolve(Spelling::Keys).map(drop);
    if let Some(k) = &block.fine_tune_layers {
        check(&settings).map_err(|e| at(config, k, e))?;
    }
    if let Some(v) = &block.fine_tune_epochs {
        settings.epochs = Some(*v.get_ref());
        check(&settings).map_err(|e| at(config, v, e))?;
    }
    if let Some(v) = &block.fine_tune_lr {
        settings.lr = Some(*v.get_ref());
        check(&settings).map_err(|e| at(config, v, e))?;
    }
    if let Some(v) = &block.fine_tune_head {
        settings.head_start = Some(v.get_ref().clone());
        check(&settings).map_err(|e| at(config, v, e))?;
    }
    for attack in &block.attacks {
        let where_ = attack
            .params
            .as_ref()
            .map_or(config.line_of(&attack.name), |p| config.line_of(p));
        mithridate_text::registry::build_attack(attack.name.get_ref(), &attack.params_json())
            .map_err(|e| {
                PipelineError::Config(mithridate_assess::config::ConfigError {
                    line: Some(where_),
                    message: format!("'{}': {e}", attack.name.get_ref()),
                })
            })?;
    }
    for d in &block.defences {
        let n = d.get_ref();
        mithridate_text::registry::build_defence(&n.name, &n.params_json())
            .map_err(|e| PipelineError::Config(config.error_at(d, format!("'{}': {e}", n.name))))?;
    }
    let set = mithridate_text::data::load(data.home(), block.dataset.get_ref())
        .map_err(|e| at(config, &block.dataset, e))?;
    let classes = set.num_classes();
    let (train, test) = (
        first.max_train.unwrap_or(2000),
        first.max_test.unwrap_or(500),
    );
    set.subset(train, test)
        .map_err(|e| match &block.max_train {
            Some(m) => at(config, m, e),
            None => at(config, &block.dataset, e),
        })?;
    if let Some(t) = &block.target {
        if *t.get_ref() as usize >= classes {
            return Err(at(
                config,
                t,
                format!("not a class of the set (classes 0..{classes})"),
            ));
        }
    }
    Ok(())
}

/// Checks an `[lm]` block: each attack and its parameters, the model settings, the defences,
/// the corpus against each size and each size against each poisoned-document count.
pub(super) fn validate_lm(config: &Config, block: &Lm, data: &DataCache, seed: u64) -> Result<()> {
    for cell in mithridate_assess::plan::lm_cells(block, seed) {
        if let Err(e) = LmRun::check(&cell) {
            let message = e.to_string();
            let attack = block
                .attacks()
                .iter()
                .find(|a| a.get_ref().name == cell.attack);
            let defence = block
                .defences
                .iter()
                .find(|d| message.contains(&format!("'{}'", d.get_ref())));
            return Err(match (defence, &block.model, attack) {
                (Some(d), _, _) => at(config, d, message),
                (None, Some(m), _)
                    if !message.contains("attack")
                        && !message.contains("parameter")
                        && !message.contains("trigger")
                        && !message.contains("continuation") =>
                {
                    PipelineError::Config(config.error_at(m, format!("model: {message}")))
                }
                (_, _, Some(a)) => PipelineError::Config(
                    config.error_at(a, format!("'{}': {message}", a.get_ref().name)),
                ),
                _ => PipelineError::Config(config.error_at(&block.corpus, message)),
            });
        }
    }
    let corpus = mithridate_lm::corpus::load(data.home(), block.corpus.get_ref())
        .map_err(|e| at(config, &block.corpus, e))?;
    let total = corpus.train.len();
    let max_count = block
        .poison_docs
        .get_ref()
        .iter()
        .max_by_key(|c| *c.get_ref());
    let sizes: Vec<(usize, Option<&toml::Spanned<usize>>)> = match &block.docs {
        Some(list) => list
            .get_ref()
            .iter()
            .map(|d| (*d.get_ref(), Some(d)))
            .collect(),
        None => vec![(total, None)],
    };
    for (size, spanned) in sizes {
        if let Some(s) = spanned {
            if size > total {
                return Err(at(
                    config,
                    s,
                    format!("the corpus has {total} training documents"),
                ));
            }
        }
        if let Some(c) = max_count {
            if *c.get_ref() > size {
                return Err(at(
                    config,
                    c,
                    format!(
                        "poison count {} is above the corpus size ({size} training documents)",
                        c.get_ref()
                    ),
                ));
            }
        }
    }
    Ok(())
}
