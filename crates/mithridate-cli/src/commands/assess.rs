//! `mithridate assess`: the main job. Runs an attack x defence matrix (plus federated
//! scenarios) from a TOML configuration or the built-in default, resumable and shardable,
//! and writes `results.jsonl` and a self-contained `report.html` into the output directory.
//!
//! The configuration is validated completely (datasets loaded, models, attacks, detectors,
//! rules and their Byzantine tolerance checked, each attack tried on a small subset) before
//! the first cell runs, so a typo never costs a half-finished assessment.

use crate::output::{self, Context};
use anyhow::{Context as _, Result};
use clap::Args;
use mithridate_assess::config::{Config, ConfigError};
use mithridate_assess::plan::{self, Shard};
use mithridate_assess::record::Outcome;
use mithridate_assess::runner::Event;
use mithridate_assess::store::Store;
use mithridate_data::DataHome;
use mithridate_pipeline::assessment::{Assessment, Executor};
use mithridate_pipeline::data::DataCache;
use mithridate_pipeline::federated::one_engine_thread_per_worker;
use mithridate_pipeline::PipelineError;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Mutex;

#[derive(Args)]
pub struct AssessArgs {
    /// Assessment matrix as TOML (see examples/assess.toml); default: the built-in MNIST
    /// assessment (`--print-default` shows it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output directory: results.jsonl (rerun to resume) and report.html.
    #[arg(long, default_value = "assessment")]
    pub out: PathBuf,
    /// Seeds per cell, from --seed (overrides the configuration's `seeds`).
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Run only the cells i, i+n, i+2n, ... of the plan (1-based `i/n`), e.g. one job of a
    /// cluster array; merge the shard directories with `mithridate report DIR...`.
    #[arg(long, default_value = "1/1")]
    pub shard: Shard,
    /// Cells run in parallel (default: the number of cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Validate the configuration and list the cells (done / pending) without running them.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the built-in default configuration and exit.
    #[arg(long)]
    pub print_default: bool,
}

/// The configuration file's name and line in an error.
fn located(source: &str, e: &ConfigError) -> anyhow::Error {
    match e.line {
        Some(line) => anyhow::anyhow!("{source}:{line}: {}", e.message),
        None => anyhow::anyhow!("{source}: {}", e.message),
    }
}

pub fn run(args: AssessArgs, ctx: &Context) -> Result<()> {
    if args.print_default {
        print!("{}", mithridate_assess::config::DEFAULT_TOML);
        return Ok(());
    }
    let (source, config) = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let name = path.display().to_string();
            let config = Config::parse(&text).map_err(|e| located(&name, &e))?;
            (name, config)
        }
        None => ("built-in default".to_string(), Config::builtin()),
    };
    let seeds = args.seeds.unwrap_or(config.seeds);
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if workers == 0 {
        anyhow::bail!("--workers must be at least 1");
    }
    if workers > 1 {
        // Cells run in parallel; candle's own pool would add threads spinning against them.
        one_engine_thread_per_worker();
    }
    let data = DataCache::new(DataHome::from_env()?);
    let kinds = mithridate_continual::assessment::cell_kinds();
    let assessment =
        Assessment::prepare(&config, seeds, ctx.seed, &data, &kinds).map_err(|e| match e {
            PipelineError::Config(e) => located(&source, &e),
            other => other.into(),
        })?;
    let store = Store::open(&args.out)?;
    let todo = assessment.pending(&store, args.shard)?;
    if args.dry_run {
        return dry_run(assessment.cells(), &todo, args.shard, ctx);
    }
    let bar = ctx.progress(todo.len() as u64, "assess");
    let in_flight: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let on_event = |event: Event| {
        let mut names = in_flight.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Started(cell) => names.push(short_id(&cell.id)),
            Event::Finished(cell, _) => {
                names.retain(|n| *n != short_id(&cell.id));
                bar.inc(1);
            }
        }
        bar.set_message(names.join("  "));
    };
    let start = std::time::Instant::now();
    let exec = Executor::new(data).with_work_dir(&args.out);
    let summary = assessment.run(&exec, &store, args.shard, workers, &on_event)?;
    bar.finish_and_clear();
    let mut records = store.records()?;
    records.sort_by_key(|r| r.index);
    let report_path = args.out.join("report.html");
    write_report(&records, &report_path)?;
    if ctx.json {
        return ctx.print_json(&json!({
            "out": args.out,
            "results": store.results_path(),
            "report": report_path,
            "planned": summary.planned,
            "in_shard": summary.in_shard,
            "resumed": summary.skipped,
            "ran": summary.ran,
            "seconds": start.elapsed().as_secs_f64(),
        }));
    }
    println!("{}", results_table(&records));
    println!(
        "{} of {} cells in this shard ran in {:.0} s ({} resumed from an earlier run); results {}; report {}",
        summary.ran,
        summary.in_shard,
        start.elapsed().as_secs_f64(),
        summary.skipped,
        store.results_path().display(),
        report_path.display()
    );
    Ok(())
}

/// Writes the HTML report of `records` to `path` atomically.
fn write_report(
    records: &[mithridate_assess::record::CellRecord],
    path: &std::path::Path,
) -> Result<()> {
    let html = mithridate_assess::report::Report::new(records)?.to_html();
    crate::commands::report::write_atomic(path, html.as_bytes())
}

/// The readable part of a cell id (without its digest).
fn short_id(id: &str) -> String {
    id.split('#').next().unwrap_or(id).to_string()
}

fn dry_run(cells: &[plan::Cell], todo: &[&plan::Cell], shard: Shard, ctx: &Context) -> Result<()> {
    let pending: std::collections::HashSet<&str> = todo.iter().map(|c| c.id.as_str()).collect();
    let rows: Vec<(usize, &str, &str)> = cells
        .iter()
        .filter(|c| shard.contains(c))
        .map(|c| {
            let status = if pending.contains(c.id.as_str()) {
                "pending"
            } else {
                "done"
            };
            (c.index, c.id.as_str(), status)
        })
        .collect();
    if ctx.json {
        let cells: Vec<_> = rows
            .iter()
            .map(|(i, id, s)| json!({"index": i, "id": id, "status": s}))
            .collect();
        return ctx.print_json(&json!({"cells": cells, "pending": todo.len()}));
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(i, id, s)| vec![i.to_string(), id.to_string(), s.to_string()])
        .collect();
    println!("{}", output::table(&["#", "cell", "status"], &table));
    println!("{} cells, {} pending", rows.len(), todo.len());
    Ok(())
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:.1}", 100.0 * v))
}

/// `-`, or the defence with the lowest ASR after it, e.g. `bki (ASR 3.0%)`.
fn lowest_after<'a>(defences: impl Iterator<Item = (&'a str, f64)>) -> String {
    defences
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or("-".into(), |(name, asr)| {
            format!("{name} (ASR {})", pct(Some(asr)))
        })
}

/// One row per record for the terminal; the report has the aggregated views.
fn results_table(records: &[mithridate_assess::record::CellRecord]) -> String {
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Centralized(c) => {
                let attack = c
                    .attack
                    .as_ref()
                    .map_or("clean".into(), |a| format!("{} @ {}", a.name, a.rate));
                let (defence, after_ca, after_success) = match &c.defence {
                    Some(d) => (
                        format!("{} (P {:.2} R {:.2})", d.detector, d.precision, d.recall),
                        pct(Some(d.retrained.clean_accuracy)),
                        pct(d.retrained.success_rate),
                    ),
                    None => ("-".into(), "-".into(), "-".into()),
                };
                vec![
                    r.dataset.clone(),
                    r.seed.to_string(),
                    attack,
                    pct(Some(c.undefended.clean_accuracy)),
                    match (c.undefended.success_rate, c.success_rate_floor) {
                        (Some(s), Some(f)) => format!("{} (floor {})", pct(Some(s)), pct(Some(f))),
                        (s, _) => pct(s),
                    },
                    defence,
                    after_ca,
                    after_success,
                ]
            }
            Outcome::Federated(f) => vec![
                r.dataset.clone(),
                r.seed.to_string(),
                format!("fl {} (byz {})", f.attack, f.byzantine),
                pct(Some(f.final_accuracy)),
                pct(f.final_asr),
                format!("rule {}", f.rule),
                "-".into(),
                "-".into(),
            ],
            // The deployed model is the defended one: the loop's screen and gate are the
            // defence, so its numbers go in the "after" columns.
            Outcome::Continual(c) => vec![
                r.dataset.clone(),
                r.seed.to_string(),
                format!(
                    "continual {}{}",
                    c.campaign,
                    c.parameters
                        .get("rate")
                        .map_or(String::new(), |r| format!(" @ {r}"))
                ),
                "-".into(),
                "-".into(),
                format!(
                    "loop: {}",
                    c.blocked_at
                        .map_or("never blocked".into(), |b| format!("blocked at {b}"))
                ),
                pct(c.final_accuracy),
                pct(c.max_deployed_asr),
            ],
            // Top-5 retrieval: clean recall stands where clean accuracy does, attack success
            // where the success rate does; a defended cell's go in the "after" columns.
            Outcome::Rag(g) => {
                let asr = pct(g.asr_at_k.get("5").copied());
                let recall = pct(g
                    .clean_recall_at_k
                    .as_ref()
                    .and_then(|m| m.get("5"))
                    .copied());
                let attack = format!(
                    "rag {} x{} ({})",
                    g.attack, g.poisons_per_target, g.retriever
                );
                let mut row = vec![r.dataset.clone(), r.seed.to_string(), attack];
                if g.defences.is_empty() {
                    row.extend([recall, asr, "-".into(), "-".into(), "-".into()]);
                } else {
                    let defence = format!(
                        "{} (refused {} of {} poisons)",
                        g.defences.join(" + "),
                        g.refused_poisons,
                        g.injected
                    );
                    row.extend(["-".into(), "-".into(), defence, recall, asr]);
                }
                row
            }
            // The deployment is the defence: its numbers go in the "after" columns.
            Outcome::Privacy(p) => {
                let f = &p.federated;
                let epsilon = p.epsilon.map_or(String::new(), |e| format!(", eps {e:.2}"));
                vec![
                    r.dataset.clone(),
                    r.seed.to_string(),
                    format!("privacy {} (byz {})", f.attack, f.byzantine),
                    "-".into(),
                    "-".into(),
                    format!("{}{epsilon}", p.deployment),
                    pct(Some(f.final_accuracy)),
                    pct(f.final_asr),
                ]
            }
            // One row per cell: the defences' numbers are in the report.
            Outcome::Text(t) => vec![
                r.dataset.clone(),
                r.seed.to_string(),
                format!("text {} @ {} ({})", t.attack, t.rate, t.head),
                pct(Some(t.accuracy)),
                pct(Some(t.asr)),
                lowest_after(t.defences.iter().map(|d| (d.defence.as_str(), d.asr))),
                "-".into(),
                "-".into(),
            ],
            Outcome::Lm(l) => vec![
                r.dataset.clone(),
                r.seed.to_string(),
                format!("lm {} {} docs + {}", l.attack, l.train_docs, l.poison_docs),
                format!("ppl {:.1}", l.clean_perplexity),
                pct(Some(l.asr)),
                lowest_after(l.defences.iter().map(|d| (d.defence.as_str(), d.asr))),
                "-".into(),
                "-".into(),
            ],
            // The poisoned model on the scored part of the test split; a repair's after it.
            Outcome::ModelDefence(m) => {
                let attack = m
                    .attack
                    .as_ref()
                    .map_or("clean".into(), |a| format!("{} @ {}", a.name, a.rate));
                let verdict = m
                    .verdict
                    .as_deref()
                    .map_or(String::new(), |v| format!(": {v} {:?}", m.target_classes));
                vec![
                    r.dataset.clone(),
                    r.seed.to_string(),
                    attack,
                    pct(Some(m.before.clean_accuracy)),
                    pct(m.before.success_rate),
                    format!("{}{verdict}", m.method),
                    pct(m.after.map(|a| a.clean_accuracy)),
                    pct(m.after.and_then(|a| a.success_rate)),
                ]
            }
            // Certified accuracy at the largest radius stands as the defended accuracy.
            Outcome::Dpa(d) => {
                let last = d.certified_accuracy.last();
                vec![
                    r.dataset.clone(),
                    r.seed.to_string(),
                    "dpa (certified)".into(),
                    pct(Some(d.vote_accuracy)),
                    "-".into(),
                    format!(
                        "{} x {}, certified at {}",
                        d.partitions,
                        d.model,
                        last.map_or(0, |p| p.radius)
                    ),
                    pct(last.map(|p| p.accuracy)),
                    "-".into(),
                ]
            }
        })
        .collect();
    output::table(
        &[
            "data",
            "seed",
            "attack",
            "CA %",
            "success %",
            "defence",
            "CA after %",
            "success after %",
        ],
        &rows,
    )
}
