//! `mithridate privacy epsilon`: the (epsilon, delta) that DP-SGD or DP-FedAvg spends, from the
//! RDP accountant of the Poisson-subsampled Gaussian mechanism (mithridate-privacy).

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

pub fn run(cmd: PrivacyCommand, ctx: &Context) -> Result<()> {
    match cmd {
        PrivacyCommand::Epsilon(args) => epsilon(args, ctx),
    }
}

fn epsilon(args: EpsilonArgs, ctx: &Context) -> Result<()> {
    let steps = u64::try_from(args.steps)
        .map_err(|_| PrivacyError(format!("steps must be >= 0, got {}", args.steps)))?;
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
