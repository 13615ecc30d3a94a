//! `mithridate privacy secagg-bench`: the secure-aggregation protocol's communication and
//! compute against the number of clients, on random vectors of a model's size.

use crate::output::{table, Context};
use anyhow::{bail, Result};
use clap::Args;
use mithridate_fl::derive_seed;
use mithridate_fl::secagg::quantize::{encode, range};
use mithridate_fl::secagg::{ParamGuard, SecAggParams};
use serde_json::json;

#[derive(Args)]
pub struct SecAggBenchArgs {
    /// Client counts n, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,20,50,100")]
    pub clients: Vec<usize>,
    /// Vector length d (the MNIST MLP 784-128-10 has 101,770 parameters).
    #[arg(long, default_value_t = 101_770)]
    pub dim: usize,
    /// Fraction of clients dropping out after sharing their keys, in [0, 1).
    #[arg(long, default_value_t = 0.1)]
    pub dropout: f64,
    /// SecAgg+ graph degrees, comma-separated; `complete` = SecAgg (all pairs).
    #[arg(long, value_delimiter = ',', default_value = "complete,8")]
    pub neighbours: Vec<String>,
    /// Shamir threshold t = floor(T k) + 1.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
}

pub fn run(args: SecAggBenchArgs, ctx: &Context) -> Result<()> {
    if !(0.0..1.0).contains(&args.dropout) {
        bail!("--dropout must be in [0, 1), got {}", args.dropout);
    }
    if args.dim == 0 {
        bail!("--dim must be at least 1");
    }
    let graphs: Vec<Option<usize>> = args
        .neighbours
        .iter()
        .map(|g| match g.trim() {
            "complete" => Ok(None),
            k => k.parse::<usize>().map(Some).map_err(|_| {
                anyhow::anyhow!("--neighbours: expected `complete` or an even number, got {k:?}")
            }),
        })
        .collect::<Result<_>>()?;
    let mut rows = Vec::new();
    let mut results = Vec::new();
    for &n in &args.clients {
        if n < 2 {
            bail!("--clients: secure aggregation needs at least 2 clients, got {n}");
        }
        let bits = 16;
        // Seeded values uniform in [-0.5, 0.5).
        let inputs: Vec<Vec<u32>> = (0..n as u64)
            .map(|u| {
                let x: Vec<f64> = (0..args.dim as u64)
                    .map(|j| {
                        (derive_seed(ctx.seed, &[n as u64, u, j]) >> 11) as f64 / 2f64.powi(53)
                            - 0.5
                    })
                    .collect();
                encode(&x, bits, range(bits, n))
            })
            .collect();
        let dropped_count = (args.dropout * n as f64).round() as usize;
        let dropped: Vec<bool> = (0..n).map(|i| i < dropped_count).collect();
        for graph in &graphs {
            let secagg = SecAggParams {
                neighbours: *graph,
                threshold: args.threshold,
                fraction_bits: bits,
            }
            .check()?;
            let out = secagg.aggregate(1, &inputs, &dropped, ctx.seed)?;
            let exact = (0..args.dim).all(|j| {
                out.sum[j]
                    == out
                        .survivors
                        .iter()
                        .fold(0u32, |s, &u| s.wrapping_add(inputs[u][j]))
            });
            if !exact {
                bail!("secure sum differs from the plain sum at n = {n}: a bug");
            }
            let c = &out.cost;
            let protocol = match graph {
                Some(k) if *k < n - 1 => format!("secagg+ k={k}"),
                _ => "secagg".to_string(),
            };
            rows.push(vec![
                n.to_string(),
                protocol.clone(),
                format!("{}/{}", c.threshold, c.degree),
                c.dropped.to_string(),
                format!("{:.1}", c.client_sent_bytes / 1024.0),
                format!("{:.1}", c.client_received_bytes / 1024.0),
                format!("{:.2}", c.server_received_bytes as f64 / 1048576.0),
                format!("{:.1}", 1e3 * c.client_seconds),
                format!("{:.1}", 1e3 * c.server_seconds),
            ]);
            results.push(json!({
                "clients": n, "protocol": protocol, "dim": args.dim, "cost": c, "exact": exact,
            }));
        }
    }
    if ctx.json {
        return ctx.print_json(&json!({ "results": results }));
    }
    println!(
        "{}",
        table(
            &[
                "n",
                "protocol",
                "t/k",
                "dropped",
                "client sent KiB",
                "client recv KiB",
                "server recv MiB",
                "client ms",
                "server ms",
            ],
            &rows
        )
    );
    println!(
        "d = {}, dropout {}: every sum equal to the plain sum of the survivors' words",
        args.dim, args.dropout
    );
    Ok(())
}
