//! `mithridate fl` and `mithridate fl-sweep`: federated learning under update-poisoning attacks
//! with a Byzantine-robust aggregation rule (simulation in `mithridate_fl`).

mod sweep;

pub use sweep::{run_sweep, FlSweepArgs};

use crate::output::{table, Context};
use anyhow::Result;
use clap::Args;
use mithridate_aggregate::RuleSpec;
use mithridate_data::partition::Partition;
use mithridate_data::{DataHome, Dataset};
use mithridate_engine::Architecture;
use mithridate_fl::{AttackSpec, FlParams, FlReport, SecAggParams};
use mithridate_pipeline::federated::{self, one_engine_thread_per_worker, FlSetup};
use serde_json::json;
use std::path::PathBuf;

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
    /// Secure aggregation (SecAgg, Bonawitz et al. 2017): the server sees only the sum of the
    /// updates; only sum rules run (fedavg, norm-bound:bound=M, dp-fedavg:clip=C).
    #[arg(long)]
    pub secagg: bool,
    /// SecAgg+ (Bell et al. 2020): share secrets with K neighbours on a random K-regular
    /// graph (even K) instead of all; implies --secagg.
    #[arg(long, value_name = "K")]
    pub secagg_neighbours: Option<usize>,
    /// Shamir threshold t = floor(T x neighbours) + 1, T in [0.5, 1).
    #[arg(long, default_value_t = 0.5, value_name = "T")]
    pub secagg_threshold: f64,
    /// Fixed-point fraction bits of the secure-aggregation encoding (1..=24).
    #[arg(long, default_value_t = 16)]
    pub secagg_bits: u32,
    /// Fraction of each round's participants that drop out mid-protocol (with --secagg).
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// delta of the user-level (epsilon, delta) reported for dp-fedavg.
    #[arg(long, default_value_t = 1e-5)]
    pub dp_delta: f64,
}

#[derive(Args, Debug)]
pub struct FlArgs {
    #[command(flatten)]
    pub options: FlOptions,
    /// Fraction of Byzantine clients in [0, 1).
    #[arg(long, default_value_t = 0.0)]
    pub byzantine: f64,
    #[arg(long, default_value = "none", help = crate::output::update_attack_help())]
    pub attack: String,
    #[arg(long, default_value = "fedavg", help = crate::output::rule_help())]
    pub rule: String,
    /// Write one JSON line per round plus a final summary line (atomically, at the end).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

impl FlOptions {
    pub(crate) fn setup(&self) -> Result<FlSetup> {
        Ok(FlSetup {
            architecture: self.model,
            clients: self.clients,
            per_round: self.per_round,
            rounds: self.rounds,
            partition: self.partition.parse::<Partition>()?,
            local_epochs: Some(self.local_epochs),
            local_steps: self.local_steps,
            batch_size: Some(self.batch_size),
            lr: Some(self.lr),
            root_size: Some(self.root_size),
            secure_aggregation: (self.secagg || self.secagg_neighbours.is_some()).then_some(
                SecAggParams {
                    neighbours: self.secagg_neighbours,
                    threshold: self.secagg_threshold,
                    fraction_bits: self.secagg_bits,
                },
            ),
            dropout: self.dropout,
            dp_delta: self.dp_delta,
        })
    }

    pub(crate) fn load(&self, seed: u64) -> Result<(Dataset, Dataset)> {
        let home = DataHome::from_env()?;
        Ok(federated::load(
            &home,
            &self.data,
            self.max_train,
            self.max_test,
            seed,
        )?)
    }
}

fn params(
    options: &FlOptions,
    rule: &str,
    attack: &str,
    byzantine: f64,
    seed: u64,
) -> Result<FlParams> {
    let rule: RuleSpec = rule.parse()?;
    let attack: AttackSpec = attack.parse()?;
    Ok(options.setup()?.params(rule, attack, byzantine, seed))
}

pub(crate) fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

pub fn run(args: FlArgs, ctx: &Context) -> Result<()> {
    one_engine_thread_per_worker();
    let p = params(
        &args.options,
        &args.rule,
        &args.attack,
        args.byzantine,
        ctx.seed,
    )?;
    let config = p.check()?;
    let (train, test) = args.options.load(ctx.seed)?;
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
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        mithridate_core::write_atomic(path, text.as_bytes(), mithridate_core::FileMode::Shared)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
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
    if let Some(pr) = &report.privacy {
        println!(
            "user-level privacy: epsilon = {} at delta = {} (noise multiplier {}, sampling rate {}, {} rounds; RDP accountant, Poisson sampling assumed)",
            pr.epsilon.map_or("unbounded".into(), |e| format!("{e:.4}")),
            pr.delta,
            pr.noise_multiplier,
            pr.sampling_rate,
            pr.rounds
        );
    }
    if let Some(protocol) = &report.secure_aggregation {
        let costs: Vec<_> = report
            .rounds
            .iter()
            .filter_map(|r| r.secure_aggregation.as_ref())
            .collect();
        let dropped: usize = report.rounds.iter().map(|r| r.dropped.len()).sum();
        if let Some(c) = costs.last() {
            println!(
                "{protocol}: server saw only sums; {dropped} dropouts over {} rounds; per round: {} neighbours, t = {}, client sent {:.1} KiB / received {:.1} KiB, server received {:.1} KiB; client {:.3} s, server {:.3} s (last round)",
                report.rounds.len(),
                c.degree,
                c.threshold,
                c.client_sent_bytes / 1024.0,
                c.client_received_bytes / 1024.0,
                c.server_received_bytes as f64 / 1024.0,
                c.client_seconds,
                c.server_seconds
            );
        }
    }
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
        "privacy": report.privacy,
        "secure_aggregation": report.secure_aggregation,
    })
}
