//! `mithridate aggregate`: one robust aggregation of client updates stored as NumPy arrays,
//! for teams with their own federated-learning stack.
//!
//! Input `updates.npy` is an `n x d` float32 or float64 array (C or Fortran order), one row per
//! client; float64 values are rounded to float32 (every rule computes in f32 storage with f64
//! accumulation). The output is always a float32 `.npy` vector of length `d`, written
//! atomically (0644). `--json` adds per-client selection, effective weight, the rule's score
//! and the anomaly scores of `mithridate_aggregate::anomaly`; `--report` prints the most
//! suspicious clients as a table. Without either the scores are not computed.

use crate::output::{table, Context};
use anyhow::{anyhow, bail, Context as _, Result};
use mithridate_aggregate::anomaly::{self, DEFAULT_THRESHOLD};
use mithridate_aggregate::{Round, RoundState, Rule, RuleConfig, RuleSpec, Updates};
use mithridate_core::Requirement;
use mithridate_data::{npy, DataError};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct AggregateArgs {
    /// Client updates: an n x d float32 or float64 .npy array, one row per client.
    pub updates: PathBuf,
    #[arg(long, help = crate::output::rule_help())]
    pub rule: String,
    /// Number of Byzantine clients the rule must withstand (checked against the rule's tolerance).
    #[arg(long, short = 'f', default_value_t = 0)]
    pub byzantine: usize,
    /// Per-client weights (e.g. sample counts): a length-n float .npy (fedavg, geomed, norm-bound).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// FLTrust: the server's update on its root dataset, a length-d float .npy.
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Centered clipping: the previous aggregate to start from, a length-d .npy (default zero).
    #[arg(long)]
    pub centre: Option<PathBuf>,
    /// Multi-Krum: how many updates to average (default n - f).
    #[arg(long)]
    pub select: Option<usize>,
    /// Centered-clipping radius or norm-bound M (default: a median, see the rule's docs).
    #[arg(long)]
    pub radius: Option<f64>,
    /// Centered-clipping iterations (default 3) or geometric-median max iterations (default 1000).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Norm bounding: standard deviation of Gaussian noise added to the aggregate (uses --seed).
    #[arg(long)]
    pub noise_std: Option<f64>,
    /// FLAME: noise level lambda; the noise std is lambda x the clipping bound (default 0.001,
    /// uses --seed).
    #[arg(long)]
    pub noise_factor: Option<f64>,
    /// Where to write the aggregate (.npy, float32, length d).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// Also print the most suspicious clients (per-client anomaly scores; `--json` always
    /// includes them). Off by default: on large rounds the scores cost far more than the rule.
    #[arg(long)]
    pub report: bool,
}

/// Reads a float32/float64 `.npy` as f32 in C order with the data crate's bulk reader. A
/// missing or unreadable file is an I/O error (exit 3); malformed content and other dtypes
/// are input errors (exit 2).
fn read_npy(path: &Path, what: &str) -> Result<npy::Array<f32>> {
    npy::read_f32(path).map_err(|e| match e {
        DataError::Io { source, .. } => {
            anyhow!(source).context(format!("cannot read {what} {}", path.display()))
        }
        DataError::Format { message, .. } => anyhow!(
            "{what} {} is not a valid .npy file: {message}",
            path.display()
        ),
        other => anyhow!("{what}: {other}"),
    })
}

/// Reads a 1-D vector of length `len`, finite.
fn read_vector(path: &Path, what: &str, len: usize, len_name: &str) -> Result<Vec<f32>> {
    let a = read_npy(path, what)?;
    if a.shape.len() != 1 {
        bail!(
            "{what} {} must be 1-D, got shape {:?}",
            path.display(),
            a.shape
        );
    }
    if a.data.len() != len {
        bail!(
            "{what} {} has {} values, expected {len_name} = {len}",
            path.display(),
            a.data.len()
        );
    }
    if let Some(i) = a.data.iter().position(|x| !x.is_finite()) {
        bail!("{what} {} value {i} is not finite", path.display());
    }
    Ok(a.data)
}

pub fn run(args: AggregateArgs, ctx: &Context) -> Result<()> {
    // The option flags (--select, --radius, ...) set parameters of a plain rule; otherwise the
    // rule text carries them (trimmed-mean:beta=0.2, bucketing:s=2+median).
    let flags_given = args.select.is_some()
        || args.radius.is_some()
        || args.iterations.is_some()
        || args.noise_std.is_some()
        || args.noise_factor.is_some();
    let rule: RuleSpec = if flags_given {
        let mut config = RuleConfig::new(args.rule.parse::<Rule>()?, args.byzantine);
        config.select = args.select;
        config.radius = args.radius;
        config.iterations = args.iterations;
        config.noise_std = args.noise_std;
        config.noise_factor = args.noise_factor;
        config.spec()?
    } else {
        args.rule.parse()?
    };
    let aggregator = rule.build(args.byzantine)?;

    let input = read_npy(&args.updates, "updates")?;
    if input.shape.len() != 2 {
        bail!(
            "updates {} must be a 2-D n x d array (one row per client), got {}-D shape {:?}",
            args.updates.display(),
            input.shape.len(),
            input.shape
        );
    }
    let (n, d) = (input.shape[0], input.shape[1]);
    let updates = Updates::new(&input.data, n, d)?;
    aggregator.check_clients(n)?;

    let weights: Option<Vec<f64>> = match &args.weights {
        Some(p) => Some(
            read_vector(p, "weights", n, "n")?
                .iter()
                .map(|x| *x as f64)
                .collect(),
        ),
        None => None,
    };
    let root = match &args.root {
        Some(p) => Some(read_vector(p, "root update", d, "d")?),
        None => None,
    };
    let mut state = RoundState::default();
    if let Some(p) = &args.centre {
        if rule.rule().name() != "centered-clipping" {
            bail!("--centre is only used by centered-clipping");
        }
        state.centre = Some(read_vector(p, "centre", d, "d")?);
    }
    if root.is_some() && !rule.requires(Requirement::RootSet) {
        bail!("--root is only used by fltrust");
    }
    let mut round = Round::new(updates).with_seed(ctx.seed);
    if let Some(w) = &weights {
        round = round.with_weights(w)?;
    }
    if let Some(r) = &root {
        round = round.with_root(r)?;
    }
    let out = aggregator.aggregate(&round, &mut state)?;
    npy::write_f32(&args.output, &[d], &out.aggregate)
        .with_context(|| format!("cannot write {}", args.output.display()))?;

    let selected = out.selected.iter().filter(|s| **s).count();
    if !ctx.json {
        println!(
            "{rule}: aggregated n = {n} updates of dimension d = {d} (f = {}, tolerates up to {}: {}); {selected} selected; wrote {}",
            args.byzantine,
            aggregator.max_byzantine(n),
            aggregator.tolerance(),
            args.output.display()
        );
        if !args.report {
            return Ok(());
        }
    }
    // The anomaly scores need an n x n Gram matrix and a coordinate-wise median: computed
    // only for an output that shows them.
    let scores = anomaly::score_round(&updates, args.byzantine);
    let flagged: Vec<usize> = (0..n)
        .filter(|i| scores[*i].suspicion > DEFAULT_THRESHOLD)
        .collect();
    if ctx.json {
        let clients: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                json!({
                    "index": i,
                    "selected": out.selected[i],
                    "weight": out.weights[i],
                    "score": out.scores.as_ref().map(|s| s[i]),
                    "anomaly": scores[i],
                })
            })
            .collect();
        ctx.print_json(&json!({
            "rule": rule.to_string(),
            "n": n,
            "d": d,
            "byzantine": args.byzantine,
            "tolerance": aggregator.tolerance(),
            "max_byzantine": aggregator.max_byzantine(n),
            "output": args.output.display().to_string(),
            "selected": selected,
            "suspicion_threshold": DEFAULT_THRESHOLD,
            "flagged": flagged,
            "clients": clients,
        }))?;
    } else {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|a, b| {
            scores[*b]
                .suspicion
                .total_cmp(&scores[*a].suspicion)
                .then(a.cmp(b))
        });
        let rows: Vec<Vec<String>> = order
            .iter()
            .take(10)
            .map(|&i| {
                vec![
                    i.to_string(),
                    if out.selected[i] { "yes" } else { "no" }.to_string(),
                    format!("{:.4}", out.weights[i]),
                    out.scores
                        .as_ref()
                        .map_or("-".into(), |s| format!("{:.4e}", s[i])),
                    format!("{:.2}", scores[i].suspicion),
                    format!("{:.3}", scores[i].cosine_to_aggregate),
                    format!("{:.3e}", scores[i].norm),
                ]
            })
            .collect();
        println!(
            "most suspicious clients (suspicion > {DEFAULT_THRESHOLD} flags; {} flagged):",
            flagged.len()
        );
        println!(
            "{}",
            table(
                &[
                    "client",
                    "selected",
                    "weight",
                    "rule score",
                    "suspicion",
                    "cos to median",
                    "norm"
                ],
                &rows
            )
        );
    }
    Ok(())
}
