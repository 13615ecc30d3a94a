//! `mithridate fl` and `mithridate fl-sweep`: federated learning under update-poisoning attacks
//! with a Byzantine-robust aggregation rule (simulation in `mithridate_fl`).

use crate::commands::poison::{subsample, train_and_test};
use crate::output::{table, Context};
use anyhow::{Context as _, Result};
use clap::Args;
use mithridate_aggregate::Rule;
use mithridate_data::partition::Partition;
use mithridate_data::{DataHome, Dataset};
use mithridate_engine::Architecture;
use mithridate_fl::{AttackSpec, FlParams, FlReport};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Options shared by `fl` and `fl-sweep`.
#[derive(Args, Debug)]
pub struct FlOptions {
    /// Built-in dataset name or .npz file (an .npz gets a seeded 20% test hold-out).
    #[arg(long)]
    pub data: String,
    /// Model family: logreg, mlp, cnn, text.
    #[arg(long, default_value = "mlp")]
    pub model: Architecture,
    /// Number of clients N.
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Fraction of clients sampled per round, in (0, 1].
    #[arg(long, default_value_t = 0.2)]
    pub per_round: f64,
    /// Communication rounds.
    #[arg(long, default_value_t = 10)]
    pub rounds: usize,
    /// Partition of the training rows: iid, dirichlet:ALPHA or shards:K.
    #[arg(long, default_value = "iid")]
    pub partition: String,
    /// Local epochs of SGD per round.
    #[arg(long, default_value_t = 1)]
    pub local_epochs: usize,
    /// Instead of epochs: exactly K local SGD steps per round on a fresh seeded sample of
    /// K x batch-size rows; 1 = FedSGD (each update is one mini-batch gradient step).
    #[arg(long, conflicts_with = "local_epochs")]
    pub local_steps: Option<usize>,
    /// Local mini-batch size.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Local SGD learning rate.
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    /// Use a seeded stratified subset of at most this many training rows.
    #[arg(long)]
    pub max_train: Option<usize>,
    /// Evaluate on a seeded stratified subset of at most this many test rows.
    #[arg(long)]
    pub max_test: Option<usize>,
    /// FLTrust: rows of the server's clean root dataset, held out of every client's data.
    #[arg(long, default_value_t = 100)]
    pub root_size: usize,
}

#[derive(Args, Debug)]
pub struct FlArgs {
    #[command(flatten)]
    pub options: FlOptions,
    /// Fraction of Byzantine clients in [0, 1).
    #[arg(long, default_value_t = 0.0)]
    pub byzantine: f64,
    /// Update attack: none, sign-flip[:s], gaussian[:std], label-flip[:rate], badnets[:rate],
    /// model-replacement[:boost], constrain-and-scale[:bound], alie[:z], ipm[:eps],
    /// min-max[:std|unit|sign], min-sum[:std|unit|sign]. With none the Byzantine clients
    /// behave honestly (the rule still assumes them).
    #[arg(long, default_value = "none")]
    pub attack: String,
    /// Aggregation rule (see `mithridate aggregate --help`), e.g. fedavg, median, nnm+krum.
    #[arg(long, default_value = "fedavg")]
    pub rule: String,
    /// Write one JSON line per round plus a final summary line (atomically, at the end).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct FlSweepArgs {
    #[command(flatten)]
    pub options: FlOptions,
    /// Rules, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "fedavg,median,trimmed-mean,krum"
    )]
    pub rules: Vec<String>,
    /// Attacks, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,sign-flip,alie,ipm,min-max"
    )]
    pub attacks: Vec<String>,
    /// Byzantine fractions, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.2")]
    pub byzantine: Vec<f64>,
    /// Number of seeds (`--seed`, `--seed + 1`, ...) to average over.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
}

fn params(
    options: &FlOptions,
    rule: &str,
    attack: &str,
    byzantine: f64,
    seed: u64,
) -> Result<FlParams> {
    let rule: Rule = rule.parse()?;
    let attack: AttackSpec = attack.parse()?;
    let mut p = FlParams::new(rule, attack);
    p.clients = options.clients;
    p.per_round = options.per_round;
    p.rounds = options.rounds;
    p.byzantine = byzantine;
    p.partition = options.partition.parse::<Partition>()?;
    p.architecture = options.model;
    p.local_epochs = options.local_epochs;
    p.local_steps = options.local_steps;
    p.batch_size = options.batch_size;
    p.lr = options.lr;
    p.root_size = options.root_size;
    p.seed = seed;
    Ok(p)
}

/// Clients train in parallel (rayon over clients); candle's own CPU pool would add a second
/// layer of threads that spin against them (measured on 2 cores, MNIST MLP, 20 clients per
/// round: 2.05 s per round with candle's default pool, 0.45 s with one candle thread, 0.69 s
/// fully single-threaded). Results are identical either way. Must run before candle's first
/// operation (it reads the variable once); a value the user set is kept.
fn one_candle_thread_per_client() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

fn load(options: &FlOptions, seed: u64) -> Result<(Dataset, Dataset)> {
    let home = DataHome::from_env()?;
    let (train, test) = train_and_test(&home, &options.data, seed)?;
    if options.max_test == Some(0) {
        anyhow::bail!("--max-test must be at least 1");
    }
    Ok((
        subsample(train, options.max_train, seed)?,
        subsample(test, options.max_test, seed)?,
    ))
}

/// Writes `lines` to `path` atomically (temp file in the same folder, then rename).
fn write_lines(path: &Path, lines: &[String]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        for line in lines {
            writeln!(file, "{line}")?;
        }
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write()
        .inspect_err(|_| {
            // Best effort: never leave a half-written temp file behind.
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("cannot write {}", path.display()))
}

fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

pub fn run(args: FlArgs, ctx: &Context) -> Result<()> {
    one_candle_thread_per_client();
    let p = params(
        &args.options,
        &args.rule,
        &args.attack,
        args.byzantine,
        ctx.seed,
    )?;
    let config = p.check()?;
    let (train, test) = load(&args.options, ctx.seed)?;
    let bar = ctx.progress(p.rounds as u64, "rounds");
    let mut lines = Vec::new();
    let report = config.run(&train, &test, &mut |r| {
        bar.set_message(format!("acc {}", percent(r.accuracy)));
        bar.inc(1);
        lines.push(serde_json::to_string(r).unwrap_or_default());
    })?;
    bar.finish_and_clear();
    let summary = summary_json(&report);
    if let Some(path) = &args.output {
        lines.push(serde_json::to_string(&json!({ "summary": summary }))?);
        write_lines(path, &lines)?;
    }
    if ctx.json {
        return ctx.print_json(&json!({ "summary": summary, "rounds": report.rounds }));
    }
    let rows: Vec<Vec<String>> = report
        .rounds
        .iter()
        .map(|r| {
            vec![
                r.round.to_string(),
                percent(r.accuracy),
                r.asr.map_or("-".into(), percent),
                format!("{}/{}", r.rule_detection.true_positives, r.attackers.len()),
                r.rule_detection.false_positives.to_string(),
                format!(
                    "{}/{}",
                    r.anomaly_detection.true_positives,
                    r.attackers.len()
                ),
                r.anomaly_detection.false_positives.to_string(),
                format!("{:.2}", r.seconds),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "round",
                "accuracy",
                "asr",
                "rule caught",
                "rule fp",
                "flagged",
                "flag fp",
                "seconds",
            ],
            &rows,
        )
    );
    let d = &report.reputation_detection;
    println!(
        "{} under {} ({} of {} clients Byzantine, {} of {} per round): final accuracy {}{}; reputation flags {} clients ({} attackers, {} honest); {:.1} s",
        report.rule,
        report.attack,
        report.byzantine_ids.len(),
        report.clients,
        report.malicious_per_round,
        report.participants_per_round,
        percent(report.final_accuracy),
        report.final_asr.map_or(String::new(), |a| format!(", ASR {}", percent(a))),
        report.reputation_flagged.len(),
        d.true_positives,
        d.false_positives,
        report.seconds,
    );
    Ok(())
}

fn summary_json(report: &FlReport) -> serde_json::Value {
    json!({
        "rule": report.rule,
        "attack": report.attack,
        "clients": report.clients,
        "participants_per_round": report.participants_per_round,
        "malicious_per_round": report.malicious_per_round,
        "assumed_byzantine": report.assumed_byzantine,
        "byzantine_ids": report.byzantine_ids,
        "final_accuracy": report.final_accuracy,
        "final_asr": report.final_asr,
        "reputation_flagged": report.reputation_flagged,
        "reputation_detection": report.reputation_detection,
        "seconds": report.seconds,
    })
}

/// Mean and sample standard deviation (0 for one value).
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

pub fn run_sweep(args: FlSweepArgs, ctx: &Context) -> Result<()> {
    one_candle_thread_per_client();
    if args.seeds == 0 {
        anyhow::bail!("--seeds must be at least 1");
    }
    // Validate every name and fraction before loading data or training.
    let mut cells = Vec::new();
    for &byzantine in &args.byzantine {
        for attack in &args.attacks {
            for rule in &args.rules {
                let p = params(&args.options, rule, attack, byzantine, ctx.seed)?;
                // A combination the rule cannot tolerate is reported, not run.
                let refused = p.check().err().map(|e| e.to_string());
                cells.push((rule.clone(), attack.clone(), byzantine, refused));
            }
        }
    }
    let runnable = cells.iter().filter(|c| c.3.is_none()).count() as u64;
    let bar = ctx.progress(runnable * args.seeds * args.options.rounds as u64, "rounds");
    let mut data = Vec::new();
    for s in 0..args.seeds {
        data.push(load(&args.options, ctx.seed + s)?);
    }
    let mut results = Vec::new();
    let mut rows = Vec::new();
    for (rule, attack, byzantine, refused) in &cells {
        if let Some(reason) = refused {
            rows.push(vec![
                rule.clone(),
                attack.clone(),
                byzantine.to_string(),
                "refused".into(),
                "-".into(),
                reason.clone(),
            ]);
            results.push(
                json!({"rule": rule, "attack": attack, "byzantine": byzantine, "refused": reason}),
            );
            continue;
        }
        let (mut accuracy, mut asr) = (Vec::new(), Vec::new());
        for (s, (train, test)) in data.iter().enumerate() {
            let p = params(&args.options, rule, attack, *byzantine, ctx.seed + s as u64)?;
            let report = p.check()?.run(train, test, &mut |_| bar.inc(1))?;
            accuracy.push(report.final_accuracy);
            asr.extend(report.final_asr);
        }
        let (acc_mean, acc_std) = mean_std(&accuracy);
        let asr_stats = (!asr.is_empty()).then(|| mean_std(&asr));
        rows.push(vec![
            rule.clone(),
            attack.clone(),
            byzantine.to_string(),
            format!("{} ± {}", percent(acc_mean), percent(acc_std)),
            asr_stats.map_or("-".into(), |(m, s)| {
                format!("{} ± {}", percent(m), percent(s))
            }),
            String::new(),
        ]);
        results.push(json!({
            "rule": rule, "attack": attack, "byzantine": byzantine,
            "accuracy": accuracy, "accuracy_mean": acc_mean, "accuracy_std": acc_std,
            "asr": asr, "asr_mean": asr_stats.map(|s| s.0),
        }));
    }
    bar.finish_and_clear();
    if ctx.json {
        return ctx.print_json(&json!({ "seeds": args.seeds, "results": results }));
    }
    println!(
        "{}",
        table(
            &[
                "rule",
                "attack",
                "byzantine",
                "final accuracy",
                "asr",
                "note"
            ],
            &rows
        )
    );
    Ok(())
}
