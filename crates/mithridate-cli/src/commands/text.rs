//! `mithridate text attack`: backdoors in a text classifier on all-MiniLM-L6-v2, frozen or with
//! its last layers fine-tuned (mithridate-text): a text set, a trigger attack at a poison rate
//! (dirty or clean label), defences; clean accuracy, attack success, and detection precision /
//! recall / AUROC.

use crate::output::Context;
use anyhow::Result;
use clap::{Args, Subcommand};
use mithridate_text::experiment::{self, ExperimentSpec, Stage};
use mithridate_text::finetune::FineTuneConfig;
use mithridate_text::finetune_settings::{FineTuneSettings, Spelling};
use mithridate_text::head::HeadConfig;
use mithridate_text::registry::{ATTACKS, DEFENCES};
use mithridate_text::TextError;

#[derive(Subcommand)]
pub enum TextCommand {
    /// Poison a text classifier's training set with a trigger; CA / ASR before and after defences.
    Attack(TextAttackArgs),
}

#[derive(Args)]
pub struct TextAttackArgs {
    /// spamassassin, 20news, reuters (R8), or a .jsonl file of {"text","label"}.
    #[arg(long, default_value = "spamassassin")]
    pub data: String,
    /// The attack (--list shows attacks and defences).
    #[arg(long, default_value = "addsent")]
    pub attack: String,
    /// Share of the training texts poisoned, in [0, 1].
    #[arg(long, default_value_t = 0.01)]
    pub rate: f64,
    /// The trigger: words (badnl), a sentence (addsent), a frame with one '{}' (template).
    #[arg(long)]
    pub trigger: Option<String>,
    /// Further attack parameters as KEY=VALUE.
    #[arg(short = 'P', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Clean-label: poison target-class texts and keep their labels.
    #[arg(long)]
    pub clean_label: bool,
    /// The target class (index).
    #[arg(long, default_value_t = 0)]
    pub target: u32,
    /// A defence, repeatable; parameters as NAME:KEY=VALUE,KEY=VALUE.
    #[arg(long = "defence")]
    pub defences: Vec<String>,
    /// Training texts (seeded subset; the data seed is fixed).
    #[arg(long, default_value_t = 2000)]
    pub train: usize,
    /// Test texts.
    #[arg(long, default_value_t = 500)]
    pub test: usize,
    /// Hidden units of the head (0: softmax regression).
    #[arg(long, default_value_t = HeadConfig::default().hidden)]
    pub hidden: usize,
    /// Training epochs of the head.
    #[arg(long, default_value_t = HeadConfig::default().epochs)]
    pub epochs: usize,
    /// Fine-tune the encoder's last K transformer layers with the head (0..=6; 0: frozen).
    #[arg(long, default_value_t = 0)]
    pub fine_tune_layers: usize,
    #[arg(long, help = format!(
        "Fine-tuning epochs (needs --fine-tune-layers >= 1) [default: {}]",
        FineTuneConfig::default().epochs
    ))]
    pub fine_tune_epochs: Option<usize>,
    #[arg(long, help = format!(
        "Fine-tuning AdamW peak learning rate of the layers (the head keeps its own); both warm \
         up over the first 10% of the steps and decay linearly to 0, gradients clipped at norm \
         1 (needs --fine-tune-layers >= 1) [default: {:e}]",
        FineTuneConfig::default().lr
    ))]
    pub fine_tune_lr: Option<f64>,
    /// Where the head starts fine-tuning: `fresh` weights (BERT's recipe) or the `probe`
    /// trained on the frozen features (LP-FT) (needs --fine-tune-layers >= 1) [default: fresh].
    #[arg(long)]
    pub fine_tune_head: Option<String>,
    /// Do not read or write the embedding cache.
    #[arg(long)]
    pub no_cache: bool,
    /// List the attacks and defences and exit.
    #[arg(long)]
    pub list: bool,
}

pub fn run(cmd: TextCommand, ctx: &Context) -> Result<()> {
    match cmd {
        TextCommand::Attack(args) => attack(args, ctx),
    }
}

fn attack(args: TextAttackArgs, ctx: &Context) -> Result<()> {
    if args.list {
        println!(
            "attacks:\n{}\n\ndefences:\n{}",
            ATTACKS.listing(),
            DEFENCES.listing()
        );
        return Ok(());
    }
    let mut attack_params =
        mithridate_core::registry::params_from_pairs(&args.params).map_err(TextError::invalid)?;
    if let Some(t) = &args.trigger {
        attack_params["trigger"] = serde_json::Value::String(t.clone());
    }
    let defences = args
        .defences
        .iter()
        .map(|d| mithridate_text::registry::parse_defence(d))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = ExperimentSpec {
        data: args.data.clone(),
        train_size: args.train,
        test_size: args.test,
        attack: args.attack.clone(),
        attack_params,
        rate: args.rate,
        target: args.target,
        clean_label: args.clean_label,
        defences,
        head: HeadConfig {
            hidden: args.hidden,
            epochs: args.epochs,
            ..HeadConfig::default()
        },
        fine_tune: FineTuneSettings {
            layers: Some(args.fine_tune_layers),
            epochs: args.fine_tune_epochs,
            lr: args.fine_tune_lr,
            head_start: args.fine_tune_head.clone(),
        }
        .resolve(Spelling::Flags)?,
        seed: ctx.seed,
    };
    // Parameters are checked before the encoder loads (bad input fails fast).
    experiment::check(&spec)?;
    let home = mithridate_data::DataHome::from_env()?;
    let started = std::time::Instant::now();
    let mut embedder = mithridate_text::embed::Embedder::minilm(&home, !args.no_cache)?;
    if embedder.dropped > 0 {
        eprintln!(
            "warning: {} corrupt embedding-cache records dropped (recomputed)",
            embedder.dropped
        );
    }
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut current: Option<(Stage, usize)> = None;
    let report = experiment::run(&home, &mut embedder, &spec, &mut |stage, done, total| {
        if current != Some((stage, total)) {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            current = Some((stage, total));
            let name = match stage {
                Stage::Encode => "encoding",
                Stage::FineTune => "fine-tuning (epochs)",
                Stage::Defence => "defence",
            };
            bar = Some(ctx.progress(total as u64, name));
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
    println!(
        "{} {} on {} ({} train / {} test, {} classes), rate {} ({} texts), target {} ({}), seed {}",
        report.attack,
        if report.clean_label {
            "clean-label"
        } else {
            "dirty-label"
        },
        report.data,
        report.train,
        report.test,
        report.classes,
        report.rate,
        report.poisoned,
        report.target,
        report.target_name,
        report.seed
    );
    println!("trigger: {}", report.attack_parameters);
    if report.fine_tune.layers > 0 {
        println!(
            "fine-tuned: last {} layer(s), {} epochs, lr {}, head {:?}; loss per epoch {:?}",
            report.fine_tune.layers,
            report.fine_tune.epochs,
            report.fine_tune.lr,
            report.fine_tune.head_start,
            report.fine_tune_losses
        );
    }
    println!(
        "clean model:    CA {:.3}  ASR {:.3}\npoisoned model: CA {:.3}  ASR {:.3}  (beyond clean {:.3}: over the {} of {} triggered texts the clean model keeps off the target)",
        report.clean_ca,
        report.clean_asr,
        report.ca,
        report.asr,
        report.asr_beyond_clean,
        report.triggered - report.triggered_on_target_clean,
        report.triggered
    );
    if let Some(fit) = report.poisoned_fit {
        println!("poisoned training texts fitted by the poisoned model: {fit:.3}");
    }
    if !report.defences.is_empty() {
        let rows: Vec<Vec<String>> = report
            .defences
            .iter()
            .map(|d| {
                vec![
                    d.defence.clone(),
                    format!("{:?}", d.kind).to_lowercase(),
                    format!("{:.3}", d.ca_after),
                    format!("{:.3}", d.asr_after),
                    format!("{:.3}", d.asr_after_beyond_clean),
                    format!("{:.3}", d.detection.precision),
                    format!("{:.3}", d.detection.recall),
                    d.detection.auroc.map_or("-".into(), |a| format!("{a:.3}")),
                    d.acted_on.to_string(),
                ]
            })
            .collect();
        println!(
            "{}",
            crate::output::table(
                &[
                    "defence",
                    "kind",
                    "CA after",
                    "ASR after",
                    "beyond clean",
                    "precision",
                    "recall",
                    "AUROC",
                    "acted on"
                ],
                &rows
            )
        );
    }
    eprintln!("{:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
