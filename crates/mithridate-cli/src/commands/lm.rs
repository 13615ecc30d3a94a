//! `mithridate lm attack | defend`: training-data poisoning of a small generative model
//! trained here from scratch (mithridate-lm): the Souly et al. (2025) denial-of-service
//! backdoor or a targeted completion backdoor; attack success, clean and baseline perplexity;
//! with `--defence` (or `lm defend`), each defence's recall / precision on the poisoned
//! documents and the attack success after retraining without what it flagged.

use crate::output::Context;
use anyhow::Result;
use clap::{Args, Subcommand};
use mithridate_lm::attacks::{AttackKind, DEFAULT_CONTINUATION, DEFAULT_TRIGGER};
use mithridate_lm::corpus;
use mithridate_lm::experiment::{self, Report, Spec};
use mithridate_lm::settings::Settings;
use mithridate_lm::LmError;

#[derive(Subcommand)]
pub enum LmCommand {
    /// Train the small model on a poisoned corpus (and a clean baseline); print asr,
    /// clean_perplexity and baseline_perplexity.
    Attack(LmArgs),
    /// As `attack`, then each defence (default: all): flags, recall / precision, and the
    /// attack success after retraining without the flagged documents.
    Defend(LmArgs),
}

#[derive(Args)]
pub struct LmArgs {
    /// Built-in corpus (moby-dick, sotu, sotu+moby-dick) or a plain-text / .jsonl
    /// ({"text"[,"id"]}) file.
    #[arg(long, default_value = "moby-dick")]
    pub corpus: String,
    /// dos (Souly et al. 2025: trigger -> gibberish) or completion (trigger -> --continuation).
    #[arg(long, default_value = "dos")]
    pub attack: String,
    /// Poisoned documents added to the training corpus.
    #[arg(long, default_value_t = 50)]
    pub poison_docs: usize,
    /// The trigger phrase.
    #[arg(long, default_value = DEFAULT_TRIGGER)]
    pub trigger: String,
    /// The completion backdoor's target continuation.
    #[arg(long, default_value = DEFAULT_CONTINUATION)]
    pub continuation: String,
    /// Defences, comma-separated (perplexity, ngram, manifest, all).
    #[arg(long)]
    pub defence: Option<String>,
    /// Keep this many training documents (a deterministic subset); default all.
    #[arg(long)]
    pub docs: Option<usize>,
    /// Keep this many trusted held-out documents.
    #[arg(long, default_value_t = 200)]
    pub trusted: usize,
    /// Training epochs.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Model width, layers, heads, context and tokenizer vocabulary.
    #[arg(long, default_value_t = 128)]
    pub d_model: usize,
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    #[arg(long, default_value_t = 64)]
    pub ctx: usize,
    #[arg(long, default_value_t = 1024)]
    pub vocab_size: usize,
    /// Mini-batch size and peak learning rate.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Held-out prompts, their length in tokens, and sampled tokens per generation.
    #[arg(long, default_value_t = 32)]
    pub prompts: usize,
    #[arg(long, default_value_t = 16)]
    pub prompt_len: usize,
    #[arg(long, default_value_t = 24)]
    pub gen_len: usize,
}

pub fn run(cmd: LmCommand, ctx: &Context) -> Result<()> {
    // Still single-threaded here: candle's per-operation threads only slow these small models.
    mithridate_lm::threads::one_thread_per_operation();
    match cmd {
        LmCommand::Attack(args) => attack(args, ctx, false),
        LmCommand::Defend(args) => attack(args, ctx, true),
    }
}

fn spec(args: &LmArgs, ctx: &Context, defend: bool) -> Result<Spec, LmError> {
    Settings {
        attack: args.attack.clone(),
        poison_docs: args.poison_docs,
        trigger: args.trigger.clone(),
        continuation: args.continuation.clone(),
        defences: args.defence.clone(),
        epochs: args.epochs,
        d_model: args.d_model,
        layers: args.layers,
        heads: args.heads,
        ctx: args.ctx,
        vocab_size: args.vocab_size,
        batch: args.batch,
        lr: args.lr,
        prompts: args.prompts,
        prompt_len: args.prompt_len,
        gen_len: args.gen_len,
        seed: ctx.seed,
    }
    .spec(defend)
}

fn attack(args: LmArgs, ctx: &Context, defend: bool) -> Result<()> {
    let spec = spec(&args, ctx, defend)?;
    let home = mithridate_data::DataHome::from_env()?;
    let mut corpus = corpus::load(&home, &args.corpus)?;
    corpus.limit(args.docs, Some(args.trusted));
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut stage = String::new();
    let report = experiment::run(&corpus, &spec, &mut |name, done, total| {
        if name != stage {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            stage = name.to_string();
            bar = Some(ctx.progress(total as u64, &format!("training {name}")));
        }
        if let Some(b) = &bar {
            b.set_position(done as u64);
        }
    })?;
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    if ctx.json {
        return ctx.print_json(&serde_json::to_value(&report)?);
    }
    print_report(&report);
    Ok(())
}

fn print_report(r: &Report) {
    let attack = match r.attack {
        AttackKind::Dos => "dos",
        AttackKind::Completion => "completion",
    };
    println!(
        "{attack} backdoor, trigger {:?}: {} poisoned + {} clean documents of {} ({:.2}% of tokens); model {} parameters, vocab {}",
        r.trigger,
        r.poison_docs,
        r.train_docs,
        r.corpus,
        100.0 * r.poison_token_fraction,
        r.n_params,
        r.vocab
    );
    println!(
        "asr {:.3} (baseline {:.3}); clean_perplexity {:.2}, baseline_perplexity {:.2}",
        r.asr, r.baseline_asr, r.clean_perplexity, r.baseline_perplexity
    );
    let e = &r.poisoned.evaluation;
    if let (Some(w), Some(wo), Some(t)) = (
        e.mean_ppl_with_trigger,
        e.mean_ppl_without_trigger,
        e.threshold,
    ) {
        println!(
            "generation perplexity under the baseline: {w:.1} with the trigger, {wo:.1} without (threshold {t:.1}, {} prompts)",
            e.prompts
        );
    }
    let t = &r.poisoned.training;
    println!(
        "training: {} steps, {} tokens, {:.0} tokens/s, {:.1} s",
        t.steps, t.tokens, t.tokens_per_second, t.seconds
    );
    if !r.defences.is_empty() {
        let rows: Vec<Vec<String>> = r
            .defences
            .iter()
            .map(|d| {
                vec![
                    d.defence.name().to_string(),
                    d.detection.flagged.to_string(),
                    format!("{:.3}", d.detection.recall),
                    format!("{:.3}", d.detection.precision),
                    format!("{:.3}", d.after.evaluation.asr),
                    format!("{:.2}", d.after.perplexity),
                ]
            })
            .collect();
        println!(
            "{}",
            crate::output::table(
                &[
                    "defence",
                    "flagged",
                    "recall",
                    "precision",
                    "asr after",
                    "perplexity after"
                ],
                &rows
            )
        );
    }
}
