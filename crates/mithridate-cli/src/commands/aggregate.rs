//! `mithridate aggregate`: one robust aggregation of client updates stored as NumPy arrays,
//! for teams with their own federated-learning stack.
//!
//! Input `updates.npy` is an `n x d` float32 or float64 array (C or Fortran order), one row per
//! client; float64 values are rounded to float32 (every rule computes in f32 storage with f64
//! accumulation). The output is always a float32 `.npy` vector of length `d`, written
//! atomically. `--json` adds per-client selection, effective weight, the rule's score and the
//! anomaly scores of `mithridate_aggregate::anomaly`.

use crate::output::{table, Context};
use anyhow::{anyhow, bail, Context as _, Result};
use mithridate_aggregate::anomaly::{self, DEFAULT_THRESHOLD};
use mithridate_aggregate::{Round, RoundState, Rule, RuleConfig, Updates};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct AggregateArgs {
    /// Client updates: an n x d float32 or float64 .npy array, one row per client.
    pub updates: PathBuf,
    /// Aggregation rule: fedavg, median, trimmed-mean, krum, multi-krum, bulyan, geomed,
    /// centered-clipping, fltrust, foolsgold, norm-bound, flame, or nnm+<rule>.
    #[arg(long)]
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
}

/// A parsed `.npy` array as f32 in C order.
struct Array {
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// Reads a float32/float64 `.npy`. A missing or unreadable file is an I/O error (exit 3);
/// malformed content, other dtypes and non-finite values are input errors (exit 2).
fn read_npy(path: &Path, what: &str) -> Result<Array> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    let bad =
        |e: std::io::Error| anyhow!("{what} {} is not a valid .npy file: {e}", path.display());
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(bad)?;
    let shape: Vec<usize> = npy.shape().iter().map(|s| *s as usize).collect();
    let order = npy.order();
    let dtype = npy.dtype();
    let data: Vec<f32> = match &dtype {
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4 => {
            npy.into_vec::<f32>().map_err(bad)?
        }
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 8 => {
            npy.into_vec::<f64>()
                .map_err(bad)?
                .into_iter()
                .map(|x| x as f32)
                .collect()
        }
        other => bail!(
            "{what} {} has dtype {}, expected float32 or float64",
            path.display(),
            other.descr()
        ),
    };
    let data = if order == npyz::Order::Fortran && shape.len() == 2 {
        // Column-major on disk: transpose into row-major.
        let (n, d) = (shape[0], shape[1]);
        let mut c = vec![0.0f32; n * d];
        for j in 0..d {
            for i in 0..n {
                c[i * d + j] = data[j * n + i];
            }
        }
        c
    } else {
        data
    };
    Ok(Array { shape, data })
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

/// Writes a float32 vector as `.npy` atomically (temporary file in the same directory + rename).
fn write_npy_atomic(path: &Path, data: &[f32]) -> Result<()> {
    use npyz::WriterBuilder;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("output {} has no file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[data.len() as u64])
            .writer(file)
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()?;
        std::fs::rename(&tmp, path)
    };
    write()
        .inspect_err(|_| {
            // Best effort: never leave a partial temporary file behind.
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn run(args: AggregateArgs, ctx: &Context) -> Result<()> {
    let rule: Rule = args.rule.parse()?;
    let mut config = RuleConfig::new(rule.clone(), args.byzantine);
    config.select = args.select;
    config.radius = args.radius;
    config.iterations = args.iterations;
    config.noise_std = args.noise_std;
    config.noise_factor = args.noise_factor;
    let aggregator = config.build()?;

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
        if !matches!(rule, Rule::CenteredClipping) {
            bail!("--centre is only used by centered-clipping");
        }
        state.centre = Some(read_vector(p, "centre", d, "d")?);
    }
    if root.is_some() && !matches!(rule, Rule::FlTrust) {
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
    write_npy_atomic(&args.output, &out.aggregate)?;

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
            "selected": out.selected.iter().filter(|s| **s).count(),
            "suspicion_threshold": DEFAULT_THRESHOLD,
            "flagged": flagged,
            "clients": clients,
        }))?;
    } else {
        println!(
            "{rule}: aggregated n = {n} updates of dimension d = {d} (f = {}, tolerates up to {}: {}); {} selected; wrote {}",
            args.byzantine,
            aggregator.max_byzantine(n),
            aggregator.tolerance(),
            out.selected.iter().filter(|s| **s).count(),
            args.output.display()
        );
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
