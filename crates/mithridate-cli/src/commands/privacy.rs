//! `mithridate privacy epsilon`: the (epsilon, delta) that DP-SGD or DP-FedAvg spends, from the
//! RDP accountant of the Poisson-subsampled Gaussian mechanism (mithridate-privacy);
//! `mithridate privacy noise`: the noise multiplier for a target budget;
//! `mithridate privacy dpa`: Deep Partition Aggregation's certified accuracy.

mod dpa;
mod secagg_bench;

use crate::output::Context;
use anyhow::Result;
use clap::{Args, Subcommand};
use mithridate_privacy::{PrivacyError, RdpAccountant};
use serde_json::json;

#[derive(Subcommand)]
pub enum PrivacyCommand {
    /// Epsilon at a given delta after T steps of the Poisson-subsampled Gaussian mechanism
    /// (RDP accountant; orders and conversion as Google's dp-accounting RdpAccountant).
    Epsilon(EpsilonArgs),
    /// The smallest noise multiplier whose T steps at sampling rate Q spend at most the target
    /// epsilon at delta (bisection on the same accountant; rounded up, so within budget).
    Noise(NoiseArgs),
    /// Secure aggregation's cost against the number of clients n: bytes and compute per
    /// client and for the server, SecAgg (complete graph) or SecAgg+ (K neighbours), with
    /// dropouts; checks every sum against the plain one.
    SecaggBench(secagg_bench::SecAggBenchArgs),
    /// Deep Partition Aggregation (Levine & Feizi 2021), a certified defence against data
    /// poisoning: k base classifiers on hash partitions of the training set, a plurality
    /// vote, and certified accuracy against the number of inserted or deleted samples.
    Dpa(dpa::DpaArgs),
}

#[derive(Args)]
pub struct EpsilonArgs {
    /// Noise standard deviation divided by the clipping norm (L2 sensitivity), > 0.
    #[arg(long, allow_hyphen_values = true)]
    pub noise_multiplier: f64,
    /// Probability that each record (or client) takes part in a step (Poisson sampling), in [0, 1].
    #[arg(long, allow_hyphen_values = true)]
    pub sampling_rate: f64,
    /// Number of steps (training iterations or federated rounds), >= 0.
    #[arg(long, allow_hyphen_values = true)]
    pub steps: i64,
    /// Target delta, in (0, 1); usually below 1 / (number of records).
    #[arg(long, allow_hyphen_values = true)]
    pub delta: f64,
}

#[derive(Args)]
pub struct NoiseArgs {
    /// Target epsilon, > 0.
    #[arg(long, allow_hyphen_values = true)]
    pub epsilon: f64,
    /// Probability that each record (or client) takes part in a step (Poisson sampling), in (0, 1].
    #[arg(long, allow_hyphen_values = true)]
    pub sampling_rate: f64,
    /// Number of steps (training iterations or federated rounds), >= 1.
    #[arg(long, allow_hyphen_values = true)]
    pub steps: i64,
    /// Target delta, in (0, 1).
    #[arg(long, allow_hyphen_values = true)]
    pub delta: f64,
}

pub fn run(cmd: PrivacyCommand, ctx: &Context) -> Result<()> {
    match cmd {
        PrivacyCommand::Epsilon(args) => epsilon(args, ctx),
        PrivacyCommand::Noise(args) => noise(args, ctx),
        PrivacyCommand::SecaggBench(args) => secagg_bench::run(args, ctx),
        PrivacyCommand::Dpa(args) => dpa::run(args, ctx),
    }
}

fn checked_steps(steps: i64) -> Result<u64, PrivacyError> {
    u64::try_from(steps).map_err(|_| PrivacyError(format!("steps must be >= 0, got {steps}")))
}

fn noise(args: NoiseArgs, ctx: &Context) -> Result<()> {
    let steps = checked_steps(args.steps)?;
    let noise = mithridate_privacy::noise_multiplier_for_epsilon(
        args.epsilon,
        args.sampling_rate,
        steps,
        args.delta,
    )?;
    let spent = mithridate_privacy::epsilon_for_poisson_gaussian(
        noise,
        args.sampling_rate,
        steps,
        args.delta,
    )?;
    if ctx.json {
        ctx.print_json(&json!({
            "noise_multiplier": noise,
            "epsilon": spent.epsilon,
            "target_epsilon": args.epsilon,
            "delta": args.delta,
            "order": spent.order,
            "sampling_rate": args.sampling_rate,
            "steps": steps,
            "accountant": "rdp",
        }))?;
    } else {
        println!(
            "noise multiplier = {noise:.6}: epsilon = {:.6} (target {}) at delta = {} (RDP order {}; sampling rate {}, {} steps)",
            spent.epsilon, args.epsilon, args.delta, spent.order, args.sampling_rate, steps
        );
    }
    Ok(())
}

fn epsilon(args: EpsilonArgs, ctx: &Context) -> Result<()> {
    let steps = checked_steps(args.steps)?;
    let mut accountant = RdpAccountant::new();
    accountant.compose_poisson_gaussian(args.noise_multiplier, args.sampling_rate, steps)?;
    let bound = accountant.epsilon(args.delta)?;
    if ctx.json {
        // JSON has no infinity: an unbounded epsilon is null.
        let epsilon = bound.epsilon.is_finite().then_some(bound.epsilon);
        ctx.print_json(&json!({
            "epsilon": epsilon,
            "delta": bound.delta,
            "order": bound.order,
            "noise_multiplier": args.noise_multiplier,
            "sampling_rate": args.sampling_rate,
            "steps": steps,
            "accountant": "rdp",
        }))?;
    } else {
        println!(
            "epsilon = {:.6} at delta = {} (RDP order {}; noise multiplier {}, sampling rate {}, {} steps)",
            bound.epsilon, bound.delta, bound.order, args.noise_multiplier, args.sampling_rate, steps
        );
    }
    Ok(())
}
