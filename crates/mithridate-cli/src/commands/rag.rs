//! `mithridate rag attack`: retrieval-corpus poisoning measured at the retrieval level
//! (mithridate-rag): a corpus, a retriever, an attack with P passages per target question,
//! defences; attack success, clean recall and poison precision / recall at k = 1, 5, 20.

use crate::output::Context;
use anyhow::Result;
use clap::{Args, Subcommand};
use mithridate_rag::experiment::{self, RagSpec, Retriever, TargetSource};
use mithridate_rag::registry::{ATTACKS, DEFENCES};
use mithridate_rag::RagError;

#[derive(Subcommand)]
pub enum RagCommand {
    /// Poison a retrieval corpus and measure top-k attack success, with and without defences.
    Attack(RagAttackArgs),
}

#[derive(Args)]
pub struct RagAttackArgs {
    /// Built-in corpus (sotu: State of the Union 2001-2021; sotu-all: 1790-2021; wordnet:
    /// the WordNet 3.0 glosses, one passage per synset) or a .jsonl file of {"id","text"} or
    /// a folder of .txt files.
    #[arg(long, default_value = "sotu")]
    pub corpus: String,
    /// minilm (all-MiniLM-L6-v2, exact cosine) or bm25.
    #[arg(long, default_value = "minilm")]
    pub retriever: String,
    /// The attack (--list shows attacks and defences).
    #[arg(long, default_value = "poisoned-rag")]
    pub attack: String,
    /// Attack parameters as KEY=VALUE.
    #[arg(short = 'P', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// N built-in target questions (known-item; definitional "what is X?" for wordnet), or a
    /// .jsonl file of
    /// {"question","target_answer"[,"correct_answer"][,"passage_id"]}.
    #[arg(long, default_value = "50")]
    pub targets: String,
    /// Poisoned passages per target question.
    #[arg(long, default_value_t = 5)]
    pub poisons_per_target: usize,
    /// A defence, repeatable (applied in order); parameters as NAME:KEY=VALUE,KEY=VALUE.
    #[arg(long = "defence")]
    pub defences: Vec<String>,
    /// List the attacks and defences and exit.
    #[arg(long)]
    pub list: bool,
}

pub fn run(cmd: RagCommand, ctx: &Context) -> Result<()> {
    match cmd {
        RagCommand::Attack(args) => attack(args, ctx),
    }
}

/// `NAME` or `NAME:KEY=VALUE,KEY=VALUE`.
fn defence_spec(text: &str) -> Result<(String, serde_json::Value), RagError> {
    mithridate_core::registry::name_and_params(text, "--defence").map_err(RagError::invalid)
}

fn attack(args: RagAttackArgs, ctx: &Context) -> Result<()> {
    if args.list {
        println!(
            "attacks:\n{}\n\ndefences:\n{}",
            ATTACKS.listing(),
            DEFENCES.listing()
        );
        return Ok(());
    }
    let retriever: Retriever = args.retriever.parse()?;
    let targets =
        if args.targets.ends_with(".jsonl") || std::path::Path::new(&args.targets).exists() {
            TargetSource::File(args.targets.clone().into())
        } else {
            let n: usize = args.targets.parse().map_err(|_| {
                RagError::invalid(format!(
                    "--targets must be a number of built-in targets or a .jsonl file, got '{}'",
                    args.targets
                ))
            })?;
            TargetSource::KnownItems(n)
        };
    let attack_params =
        mithridate_core::registry::params_from_pairs(&args.params).map_err(RagError::invalid)?;
    let defences = args
        .defences
        .iter()
        .map(|d| defence_spec(d))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = RagSpec {
        corpus: args.corpus,
        retriever,
        attack: args.attack,
        attack_params,
        targets,
        poisons_per_target: args.poisons_per_target,
        defences,
        seed: ctx.seed,
        cutoffs: mithridate_rag::metrics::CUTOFFS.to_vec(),
    };
    let home = mithridate_data::DataHome::from_env()?;
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut stage = String::new();
    let report = experiment::run(&home, &spec, &mut |name, done, total| {
        if name != stage {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            stage = name.to_string();
            bar = Some(ctx.progress(total as u64, name));
        }
        if let Some(b) = &bar {
            b.set_position(done as u64);
        }
    })?;
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    if report.truncated_passages > 0 {
        eprintln!(
            "warning: {} passages exceed the encoder's {} tokens and were truncated",
            report.truncated_passages,
            mithridate_rag::encoder::MAX_TOKENS
        );
    }
    if let Some(status) = &report.embedding_cache {
        if let Some(why) = &status.rebuilt_because {
            eprintln!(
                "warning: embedding cache {} was rebuilt: {why}",
                status.path.display()
            );
        }
    }
    if ctx.json {
        return ctx.print_json(&serde_json::to_value(&report)?);
    }
    let m = &report.metrics;
    let defences: Vec<String> = report
        .defences
        .iter()
        .map(|d| d["name"].as_str().unwrap_or("?").to_string())
        .collect();
    println!(
        "{} on {} ({} passages, {} retriever), {} targets x {} poisons, defences: {}",
        report.attack,
        report.corpus,
        report.passages,
        args.retriever,
        report.targets,
        report.poisons_per_target,
        if defences.is_empty() {
            "none".to_string()
        } else {
            defences.join(", ")
        }
    );
    let rows: Vec<Vec<String>> = m
        .asr_at_k
        .keys()
        .map(|k| {
            let f = |map: &std::collections::BTreeMap<String, f64>| format!("{:.3}", map[k]);
            vec![
                k.clone(),
                f(&m.asr_at_k),
                m.clean_recall_at_k
                    .as_ref()
                    .map(f)
                    .unwrap_or_else(|| "-".into()),
                f(&m.poison_precision_at_k),
                f(&m.poison_recall_at_k),
            ]
        })
        .collect();
    println!(
        "{}",
        crate::output::table(
            &[
                "k",
                "asr",
                "clean recall",
                "poison precision",
                "poison recall"
            ],
            &rows
        )
    );
    println!(
        "refused at index time: {} passages ({} of {} poisoned); {:.1} s",
        report.refused_at_index, report.refused_poisons, report.injected, report.seconds
    );
    Ok(())
}
