//! `mithridate assess`: the main job. Runs an attack x defence matrix (plus federated
//! scenarios) from a TOML configuration or the built-in default, resumable and shardable,
//! and writes `results.jsonl` and a self-contained `report.html` into the output directory.
//!
//! The configuration is validated completely (datasets loaded, models, attacks, detectors,
//! rules and their Byzantine tolerance checked, each attack tried on a small subset) before
//! the first cell runs, so a typo never costs a half-finished assessment.

use crate::commands::poison::{assess_model, run_attack, subsample, train_and_test, train_model};
use crate::commands::scan::{run_detectors, train_spec, DetectorKind, DetectorOptions};
use crate::output::{self, Context};
use anyhow::{Context as _, Result};
use clap::{Args, Parser, ValueEnum};
use mithridate_aggregate::Rule;
use mithridate_assess::config::{Config, ConfigError};
use mithridate_assess::plan::{self, CellSpec, CentralizedCell, FederatedCell, Shard};
use mithridate_assess::record::{
    AttackInfo, CentralizedOutcome, DefenceOutcome, Family, FederatedOutcome, ModelScore, Outcome,
    RoundPoint, TaxonomyRefs,
};
use mithridate_assess::runner::{self, Event};
use mithridate_assess::store::Store;
use mithridate_attack::registry::{self, AttackKind};
use mithridate_attack::{apply_trigger, Assessment, Budget, Goal, Taxonomy};
use mithridate_data::partition::Partition;
use mithridate_data::{DataHome, Dataset};
use mithridate_detect::metrics::roc_curve;
use mithridate_detect::sanitize::{sanitize, Action};
use mithridate_detect::strip::StripParams;
use mithridate_engine::{Architecture, Classifier};
use mithridate_fl::{AttackSpec, FlParams};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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

/// Detector hyperparameters at their command-line defaults.
#[derive(Parser)]
struct DetectorDefaults {
    #[command(flatten)]
    options: DetectorOptions,
}

/// The configuration file's name and line in an error.
fn located(source: &str, e: ConfigError) -> anyhow::Error {
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
            let config = Config::parse(&text).map_err(|e| located(&name, e))?;
            (name, config)
        }
        None => ("built-in default".to_string(), Config::builtin()),
    };
    let seeds = args.seeds.unwrap_or(config.seeds);
    if seeds == 0 {
        anyhow::bail!("--seeds must be at least 1");
    }
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if workers == 0 {
        anyhow::bail!("--workers must be at least 1");
    }
    if workers > 1 {
        // Cells run in parallel; candle's own pool would add threads spinning against them.
        // Must happen before candle's first operation; a value the user set is kept.
        if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
            std::env::set_var("CANDLE_NUM_THREADS", "1");
        }
    }
    let exec = Executor::new(DataHome::from_env()?);
    validate(&config, &exec, ctx.seed).map_err(|e| match e {
        Invalid::Config(e) => located(&source, e),
        Invalid::Other(e) => e,
    })?;
    let cells = plan::plan(&config, seeds, ctx.seed);
    let store = Store::open(&args.out)?;
    let todo = runner::pending(&cells, &store, args.shard)?;
    if args.dry_run {
        return dry_run(&cells, &todo, args.shard, ctx);
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
    let summary = runner::run(
        &cells,
        &store,
        args.shard,
        workers,
        |cell| exec.run(&cell.spec).map_err(|e| output::one_line(&e)),
        &on_event,
    )?;
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
                    pct(c.undefended.success_rate),
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

/// A validation failure: in the configuration (with its line) or elsewhere.
enum Invalid {
    Config(ConfigError),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Invalid {
    fn from(e: anyhow::Error) -> Self {
        Invalid::Other(e)
    }
}

/// Checks every named thing in `config` against the data and registries; loads the datasets.
fn validate(config: &Config, exec: &Executor, seed: u64) -> Result<(), Invalid> {
    let at = |value: &toml::Spanned<String>, e: &dyn std::fmt::Display| {
        Invalid::Config(config.error_at(value, format!("'{}': {e}", value.get_ref())))
    };
    for block in &config.centralized {
        let data = exec
            .full(block.dataset.get_ref(), seed)
            .map_err(|e| at(&block.dataset, &output::one_line(&e)))?;
        let modality = data.0.modality().name();
        if let Some(m) = &block.model {
            let arch: Architecture = m.get_ref().parse().map_err(|e| at(m, &e))?;
            Classifier::new(arch, data.0.modality(), data.0.num_classes(), 0)
                .map_err(|e| at(m, &e))?;
        }
        if let Some(a) = &block.action {
            ActionName::from_str(a.get_ref(), false).map_err(|e| at(a, &e))?;
        }
        for d in &block.defences {
            check_defence_name(d.get_ref()).map_err(|e| at(d, &e))?;
        }
        let probe = subsample(data.0.clone(), Some(200), seed)?;
        for attack in &block.attacks {
            let kind: AttackKind = attack
                .name
                .get_ref()
                .parse()
                .map_err(|e| at(&attack.name, &e))?;
            for d in attack.defences.as_deref().unwrap_or(&block.defences) {
                check_defence(d.get_ref(), kind, modality).map_err(|e| at(d, &e))?;
            }
            if !kind.applies_to(modality) {
                return Err(at(
                    &attack.name,
                    &format!(
                        "does not apply to {modality} data ({}); it poisons {} data",
                        block.dataset.get_ref(),
                        kind.modalities().join(" or ")
                    ),
                ));
            }
            let params = attack.params_json();
            // Parameter mistakes point at the `params` line when there is one.
            let blame = |e: &dyn std::fmt::Display| match &attack.params {
                Some(p) => Invalid::Config(
                    config.error_at(p, format!("'{}' parameters: {e}", attack.name.get_ref())),
                ),
                None => at(&attack.name, e),
            };
            let built = registry::build_kind(kind, &params).map_err(|e| blame(&e))?;
            // Data-dependent checks (target is a class, patch fits) on a small subset; attacks
            // that need a surrogate model are checked when they run.
            if !built.requirements().surrogate {
                let rate = attack
                    .rates
                    .iter()
                    .map(|r| *r.get_ref())
                    .fold(0.0, f64::max);
                run_attack(
                    kind,
                    &params,
                    &probe,
                    Budget::Rate(rate),
                    seed,
                    None,
                    Some(&probe),
                )
                .map_err(|e| blame(&output::one_line(&e)))?;
            }
        }
    }
    for fed in &config.federated {
        let (train, _) = exec
            .full(fed.dataset.get_ref(), seed)
            .map_err(|e| at(&fed.dataset, &output::one_line(&e)))?
            .as_ref()
            .clone();
        let arch = match &fed.model {
            Some(m) => {
                let arch: Architecture = m.get_ref().parse().map_err(|e| at(m, &e))?;
                Classifier::new(arch, train.modality(), train.num_classes(), 0)
                    .map_err(|e| at(m, &e))?;
                arch
            }
            None => Architecture::Mlp,
        };
        if let Some(p) = &fed.partition {
            p.get_ref().parse::<Partition>().map_err(|e| at(p, &e))?;
        }
        let rows = fed
            .max_train
            .as_ref()
            .map_or(train.len(), |m| (*m.get_ref()).min(train.len()));
        if rows < *fed.clients.get_ref() {
            return Err(Invalid::Config(config.error_at(
                &fed.clients,
                format!(
                    "{} clients need at least as many training rows, have {rows}",
                    fed.clients.get_ref()
                ),
            )));
        }
        for attack in &fed.attacks {
            let spec: AttackSpec = attack.get_ref().parse().map_err(|e| at(attack, &e))?;
            let name = attack_name(attack.get_ref());
            if matches!(
                name,
                "badnets" | "model-replacement" | "constrain-and-scale"
            ) && train.modality().name() != "image"
            {
                return Err(at(
                    attack,
                    &"plants an image trigger; the dataset is not image data",
                ));
            }
            for rule in &fed.rules {
                let parsed: Rule = rule.get_ref().parse().map_err(|e| at(rule, &e))?;
                let mut p = FlParams::new(parsed, spec.clone());
                p.clients = *fed.clients.get_ref();
                p.per_round = *fed.per_round.get_ref();
                p.rounds = *fed.rounds.get_ref();
                p.byzantine = *fed.byzantine.get_ref();
                p.architecture = arch;
                p.check().map_err(|e| at(rule, &e))?;
            }
        }
    }
    Ok(())
}

/// The inference-time input filter a defence list may name besides the data detectors.
const STRIP: &str = "strip";

/// Whether `kind`'s poisoned model answers to a test-time trigger (what STRIP filters).
fn plants_trigger(kind: AttackKind) -> bool {
    matches!(
        kind,
        AttackKind::BadNets
            | AttackKind::Blend
            | AttackKind::CleanLabel
            | AttackKind::TextTrigger
            | AttackKind::TabularTrigger
    )
}

/// Checks that the defence `name` exists.
fn check_defence_name(name: &str) -> Result<(), String> {
    if name == STRIP {
        return Ok(());
    }
    match DetectorKind::from_str(name, false)? {
        DetectorKind::All => Err("list the detectors by name instead of 'all'".into()),
        _ => Ok(()),
    }
}

/// Checks that the defence `name` exists and applies to `attack` on `modality` data.
fn check_defence(name: &str, attack: AttackKind, modality: &str) -> Result<(), String> {
    check_defence_name(name)?;
    if name == STRIP {
        if modality == "text" {
            return Err("STRIP superimposes inputs; it does not apply to text data".into());
        }
        if !plants_trigger(attack) {
            return Err(format!(
                "STRIP filters triggered inputs, and {attack} plants no trigger \
                 (give that attack its own `defences` list)"
            ));
        }
    }
    Ok(())
}

/// Sanitize actions by name, for validation and execution alike.
#[derive(Clone, Copy, ValueEnum)]
enum ActionName {
    Drop,
    Relabel,
}

/// `sign-flip:2` -> `sign-flip`.
fn attack_name(spec: &str) -> &str {
    spec.split(':').next().unwrap_or(spec).trim()
}

/// A trained model shared by the cells that need it; the inner lock makes a second cell wait
/// for the first to finish training instead of training the same model again.
type ModelSlot = Arc<Mutex<Option<Arc<Classifier>>>>;

/// Loaded (training, test) sets by source and hold-out seed.
type DataCache = Mutex<HashMap<(String, u64), Arc<(Dataset, Dataset)>>>;

/// Runs cells, sharing loaded datasets and the trained models that several cells scan or
/// use as surrogate (keyed by the id of the cell that trains them).
struct Executor {
    home: DataHome,
    data: DataCache,
    models: Mutex<HashMap<String, ModelSlot>>,
}

impl Executor {
    fn new(home: DataHome) -> Executor {
        Executor {
            home,
            data: Mutex::new(HashMap::new()),
            models: Mutex::new(HashMap::new()),
        }
    }

    /// The full training and test sets of `source` (a file's hold-out depends on `seed`).
    fn full(&self, source: &str, seed: u64) -> Result<Arc<(Dataset, Dataset)>> {
        let seed = if mithridate_data::registry::find(source).is_some() {
            0
        } else {
            seed
        };
        let key = (source.to_string(), seed);
        if let Some(d) = self
            .data
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(d.clone());
        }
        let loaded = Arc::new(train_and_test(&self.home, source, seed)?);
        let mut map = self.data.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map.entry(key).or_insert(loaded).clone())
    }

    fn split(
        &self,
        source: &str,
        max_train: Option<usize>,
        max_test: Option<usize>,
        seed: u64,
    ) -> Result<(Dataset, Dataset)> {
        let full = self.full(source, seed)?;
        Ok((
            subsample(full.0.clone(), max_train, seed)?,
            subsample(full.1.clone(), max_test, seed)?,
        ))
    }

    /// The model trained by the cell `key`, training it with `train` the first time.
    fn model(
        &self,
        key: &CellSpec,
        train: impl FnOnce() -> Result<Classifier>,
    ) -> Result<Arc<Classifier>> {
        let slot = self
            .models
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.id())
            .or_default()
            .clone();
        let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = guard.as_ref() {
            return Ok(m.clone());
        }
        let model = Arc::new(train()?);
        *guard = Some(model.clone());
        Ok(model)
    }

    fn run(&self, spec: &CellSpec) -> Result<Outcome> {
        Ok(match spec {
            CellSpec::Centralized(c) => Outcome::Centralized(self.centralized(c)?),
            CellSpec::Federated(f) => Outcome::Federated(self.federated(f)?),
        })
    }

    fn centralized(&self, cell: &CentralizedCell) -> Result<CentralizedOutcome> {
        let (train, test) = self.split(&cell.dataset, cell.max_train, cell.max_test, cell.seed)?;
        let arch = match &cell.model {
            Some(m) => m.parse()?,
            None => Architecture::default_for(train.modality()),
        };
        let fit =
            |data: &Dataset| train_model(data, Some(arch), cell.epochs, cell.seed, &mut |_| {});
        let baseline = self.model(&CellSpec::Centralized(cell.baseline()), || fit(&train))?;
        let mut outcome = CentralizedOutcome {
            model: arch.to_string(),
            train_samples: train.len(),
            test_samples: test.len(),
            attack: None,
            undefended: ModelScore {
                clean_accuracy: accuracy(&baseline, &test)?,
                success_rate: None,
            },
            defence: None,
        };
        let Some(attack) = &cell.attack else {
            return Ok(outcome);
        };
        let kind: AttackKind = attack.name.parse()?;
        let built = registry::build_kind(kind, &attack.params)?;
        let surrogate = built.requirements().surrogate.then_some(baseline.as_ref());
        let poisoned = run_attack(
            kind,
            &attack.params,
            &train,
            Budget::Rate(attack.rate),
            cell.seed,
            surrogate,
            Some(&test),
        )?;
        let victim = self.model(&CellSpec::Centralized(cell.undefended()), || {
            fit(&poisoned.data)
        })?;
        outcome.undefended = score(&assess_model(&poisoned.truth, &victim, &test)?);
        outcome.attack = Some(AttackInfo {
            name: kind.name().to_string(),
            family: family(&poisoned.truth.goal),
            rate: attack.rate,
            parameters: built.parameters(),
            poisoned: poisoned.truth.changes.len(),
            taxonomy: refs(&built.taxonomy()),
        });
        let Some(defence) = &cell.defence else {
            return Ok(outcome);
        };
        if defence.detector == STRIP {
            outcome.defence = Some(strip_defence(&victim, &poisoned.truth, &test, cell.seed)?);
            return Ok(outcome);
        }
        let detector = DetectorKind::from_str(&defence.detector, false)
            .map_err(|e| anyhow::anyhow!("detector '{}': {e}", defence.detector))?;
        let mut options = DetectorDefaults::try_parse_from(["defaults"])?.options;
        if let Some(r) = defence.expected_rate {
            options.expected_rate = r;
        }
        let detectors = options.build(&[detector])?;
        let ids = poisoned.truth.poisoned_ids();
        let runs = run_detectors(
            &detectors,
            &poisoned.data,
            &victim,
            train_spec(arch, cell.epochs)?,
            cell.seed,
            Some(&ids),
        )?;
        let run = runs.first().context("the detector produced no result")?;
        let metrics = run.metrics.context("the detection has no metrics")?;
        let action = match ActionName::from_str(&defence.action, false)
            .map_err(|e| anyhow::anyhow!("action '{}': {e}", defence.action))?
        {
            ActionName::Drop => Action::Drop,
            ActionName::Relabel => Action::Relabel,
        };
        let (sanitized, report) =
            sanitize(&poisoned.data, std::slice::from_ref(&run.detection), action)?;
        let retrained = fit(&sanitized)?;
        outcome.defence = Some(DefenceOutcome {
            detector: run.detection.detector.clone(),
            mitigation: "AML.M0007".into(),
            flagged: run.detection.flagged.len(),
            removed: report.dropped.len(),
            relabelled: report.relabelled.len(),
            precision: metrics.precision,
            recall: metrics.recall,
            f1: metrics.f1,
            auroc: metrics.auroc,
            roc: roc_curve(&run.detection.scores, &ids, ROC_POINTS),
            retrained: score(&assess_model(&poisoned.truth, &retrained, &test)?),
        });
        Ok(outcome)
    }

    fn federated(&self, cell: &FederatedCell) -> Result<FederatedOutcome> {
        let (train, test) = self.split(&cell.dataset, cell.max_train, cell.max_test, cell.seed)?;
        let spec: AttackSpec = cell.attack.parse()?;
        let mut p = FlParams::new(cell.rule.parse()?, spec);
        p.clients = cell.clients;
        p.per_round = cell.per_round;
        p.rounds = cell.rounds;
        p.byzantine = cell.byzantine;
        p.partition = cell.partition.parse()?;
        p.architecture = cell.model.parse()?;
        if let Some(e) = cell.local_epochs {
            p.local_epochs = e;
        }
        if let Some(lr) = cell.lr {
            p.lr = lr;
        }
        p.seed = cell.seed;
        let report = p.check()?.run(&train, &test, &mut |_| {})?;
        let (family, taxonomy) = fl_taxonomy(attack_name(&cell.attack));
        let attacked = report.malicious_per_round > 0 && attack_name(&cell.attack) != "none";
        Ok(FederatedOutcome {
            model: cell.model.clone(),
            clients: report.clients,
            participants_per_round: report.participants_per_round,
            malicious_per_round: report.malicious_per_round,
            byzantine: cell.byzantine,
            rule: cell.rule.clone(),
            attack: cell.attack.clone(),
            family,
            taxonomy,
            rounds: report
                .rounds
                .iter()
                .map(|r| RoundPoint {
                    round: r.round,
                    accuracy: r.accuracy,
                    asr: r.asr,
                })
                .collect(),
            final_accuracy: report.final_accuracy,
            final_asr: report.final_asr,
            anomaly_precision: attacked
                .then_some(report.reputation_detection.precision)
                .flatten(),
            anomaly_recall: attacked
                .then_some(report.reputation_detection.recall)
                .flatten(),
        })
    }
}

/// STRIP (Gao et al. 2019) in front of the poisoned model: calibrated on one seeded half of
/// the clean test set (the defender's trusted clean samples), measured on the other half and
/// on its triggered copies (inputs whose class the attack maps to a target).
///
/// The defended system's clean accuracy counts a rejected clean input as not served
/// (accepted and correct / all), its success rate counts triggered inputs that are accepted
/// and classified as the attacker's class; detection scores are `-entropy` over clean
/// (negative) and triggered (positive) inputs.
fn strip_defence(
    victim: &Classifier,
    truth: &mithridate_attack::GroundTruth,
    test: &Dataset,
    seed: u64,
) -> Result<DefenceOutcome> {
    let (trigger, mapping) = truth
        .trigger()
        .context("STRIP needs a backdoor attack with a trigger")?;
    let (eval, calibration) = mithridate_data::split_stratified(test, 0.5, seed)?;
    let filter = StripParams::default()
        .check()?
        .calibrate(victim, &calibration, seed)?;
    let k = eval.num_classes();
    let rows: Vec<usize> = (0..eval.len())
        .filter(|&r| mapping.target_for(eval.labels()[r], k).is_some())
        .collect();
    let triggered = apply_trigger(trigger, &eval.select(&rows)?)?;
    let on_clean = filter.apply(victim, &eval)?;
    let on_triggered = filter.apply(victim, &triggered)?;
    let clean_pred = victim.predict(&eval)?;
    let triggered_pred = victim.predict(&triggered)?;
    let served = (0..eval.len())
        .filter(|&r| !on_clean.inputs[r].2 && clean_pred[r] == eval.labels()[r])
        .count();
    let hits = rows
        .iter()
        .enumerate()
        .filter(|&(t, &r)| {
            !on_triggered.inputs[t].2
                && mapping.target_for(eval.labels()[r], k) == Some(triggered_pred[t])
        })
        .count();
    // Scored as one detection over clean inputs (ids 0..n) and triggered inputs (n..).
    let n = eval.len() as u64;
    let scored = on_clean.inputs.iter().chain(&on_triggered.inputs);
    let scores: Vec<(u64, f64)> = scored
        .clone()
        .enumerate()
        .map(|(i, v)| (i as u64, -v.1))
        .collect();
    let flagged: Vec<u64> = scored
        .enumerate()
        .filter(|(_, v)| v.2)
        .map(|(i, _)| i as u64)
        .collect();
    let positives: Vec<u64> = (n..n + triggered.len() as u64).collect();
    let detection = mithridate_detect::Detection {
        detector: STRIP.into(),
        parameters: serde_json::to_value(filter.params)?,
        flagged,
        scores,
        classes: Vec::new(),
        relabel: Vec::new(),
    };
    let metrics = mithridate_detect::metrics::score_detection(&detection, &positives)?;
    let share = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    Ok(DefenceOutcome {
        detector: STRIP.into(),
        mitigation: "AML.M0015".into(),
        flagged: detection.flagged.len(),
        removed: detection.flagged.len(),
        relabelled: 0,
        precision: metrics.precision,
        recall: metrics.recall,
        f1: metrics.f1,
        auroc: metrics.auroc,
        roc: roc_curve(&detection.scores, &positives, ROC_POINTS),
        retrained: ModelScore {
            clean_accuracy: share(served, eval.len()),
            success_rate: Some(share(hits, rows.len())),
        },
    })
}

/// ROC points kept per detection: enough for a smooth curve, small in results.jsonl.
const ROC_POINTS: usize = 101;

fn accuracy(model: &Classifier, test: &Dataset) -> Result<f64> {
    let predicted = model.predict(test)?;
    Ok(
        mithridate_engine::metrics::evaluate(&predicted, test.labels(), test.num_classes())?
            .accuracy,
    )
}

fn score(a: &Assessment) -> ModelScore {
    ModelScore {
        clean_accuracy: a.clean_accuracy,
        success_rate: a.success_rate(),
    }
}

fn family(goal: &Goal) -> Family {
    match goal {
        Goal::Availability => Family::Availability,
        Goal::TargetedMisclassification { .. } => Family::Targeted,
        Goal::Backdoor { .. } => Family::Backdoor,
        Goal::Instance { .. } => Family::Instance,
    }
}

/// OWASP's LLM Top 10 (2025) files all training-data and model poisoning under LLM04.
const OWASP_LLM_POISONING: &str = "LLM04";

fn refs(t: &Taxonomy) -> TaxonomyRefs {
    TaxonomyRefs {
        mitre_atlas: t.mitre_atlas.clone(),
        owasp_ml: t.owasp_ml.clone(),
        owasp_llm: vec![OWASP_LLM_POISONING.into()],
        nist_ai_100_2: t.nist_ai_100_2.clone(),
    }
}

/// Federated attacks: data-poisoning clients are filed like their centralized counterparts;
/// update manipulation is model poisoning (ATLAS AML.T0018.000 Poison AI Model, OWASP ML10,
/// NIST AI 100-2 2.3.4), with the backdoor technique added for backdoor updates.
fn fl_taxonomy(attack: &str) -> (Family, TaxonomyRefs) {
    let own = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let model_poisoning = |atlas: &[&str]| TaxonomyRefs {
        mitre_atlas: own(atlas),
        owasp_ml: own(&["ML10"]),
        owasp_llm: own(&[OWASP_LLM_POISONING]),
        nist_ai_100_2: "2.3.4".into(),
    };
    match attack {
        "label-flip" => (Family::Availability, refs(&Taxonomy::availability())),
        "badnets" => (Family::Backdoor, refs(&Taxonomy::backdoor())),
        "model-replacement" | "constrain-and-scale" => (
            Family::Backdoor,
            model_poisoning(&["AML.T0018.000", "AML.T0043.004"]),
        ),
        _ => (Family::ModelPoisoning, model_poisoning(&["AML.T0018.000"])),
    }
}
