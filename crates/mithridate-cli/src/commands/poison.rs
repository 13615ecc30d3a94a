//! `mithridate poison`: run one data-poisoning attack on a training set and write the poisoned
//! set (.npz) with its ground truth (`<output>.truth.json`). Also the attack helpers shared by
//! `attack-sweep` and `evaluate --trigger`.

use crate::output::Context;
use anyhow::{Context as _, Result};
use clap::Args;
use mithridate_attack::registry::{self, AttackKind};
use mithridate_attack::{Assessment, AttackInput, Budget, GroundTruth, Poisoned};
use mithridate_data::{DataHome, Dataset, Split};
use mithridate_engine::{Architecture, Classifier, TrainParams, TrainProgress};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Attack selection and parameters, shared by `poison` and `attack-sweep`.
#[derive(Args, Clone)]
pub struct AttackOptions {
    /// The attack (run `mithridate poison --list` for all, with their parameters).
    #[arg(long, value_parser = parse_kind)]
    pub attack: Option<AttackKind>,
    /// Target class (backdoors, targeted flips, clean-label, feature collision's base class).
    #[arg(long)]
    pub target: Option<u32>,
    /// Source class (targeted label flipping).
    #[arg(long)]
    pub source: Option<u32>,
    /// Further attack parameter as key=value (repeatable), e.g. -p size=4 -p pattern=white.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Train a surrogate of this family for attacks that need one (default: per modality).
    #[arg(long)]
    pub surrogate_model: Option<Architecture>,
    /// Epochs of the surrogate (default: the family's default).
    #[arg(long)]
    pub surrogate_epochs: Option<usize>,
}

fn parse_kind(s: &str) -> Result<AttackKind, String> {
    s.parse()
        .map_err(|e: mithridate_attack::AttackError| e.to_string())
}

impl AttackOptions {
    /// The attack's JSON parameters: `-p` pairs plus `--target` / `--source`.
    pub fn parameters(&self) -> Result<Value> {
        let mut params = registry::params_from_pairs(&self.params)?;
        if let Value::Object(map) = &mut params {
            for (key, value) in [("target", self.target), ("source", self.source)] {
                if let Some(v) = value {
                    if map.insert(key.into(), json!(v)).is_some() {
                        anyhow::bail!("--{key} and -p {key}=... both given");
                    }
                }
            }
        }
        Ok(params)
    }

    pub fn kind(&self) -> Result<AttackKind> {
        self.attack.context("--attack is required")
    }
}

#[derive(Args)]
pub struct PoisonArgs {
    /// Training set: a built-in dataset name (its train split) or an .npz file.
    #[arg(long)]
    pub data: Option<String>,
    #[command(flatten)]
    pub attack: AttackOptions,
    /// Poison rate in [0, 1]; what it is a fraction of depends on the attack (see --list).
    #[arg(long, conflicts_with = "count")]
    pub rate: Option<f64>,
    /// Poison budget as a number of samples instead of a rate.
    #[arg(long)]
    pub count: Option<usize>,
    /// A saved model to use as the surrogate (instead of training one on the clean data).
    #[arg(long)]
    pub surrogate: Option<PathBuf>,
    /// Victim set for feature collision (default: the test split / a 20% hold-out).
    #[arg(long)]
    pub victims: Option<String>,
    /// Poison a seeded subset of at most this many training samples.
    #[arg(long)]
    pub max_train: Option<usize>,
    /// Where to write the poisoned set (.npz); the ground truth goes to `<output>.truth.json`.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// List the attacks and their parameters, then exit.
    #[arg(long)]
    pub list: bool,
}

/// `<path>.truth.json`.
pub fn truth_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".truth.json");
    PathBuf::from(name)
}

/// A seeded stratified subset of at most `max` rows.
pub fn subsample(data: Dataset, max: Option<usize>, seed: u64) -> Result<Dataset> {
    match max {
        Some(0) => anyhow::bail!("a subset size (--max-train / --max-test) must be at least 1"),
        Some(max) if max < data.len() => {
            let fraction = 1.0 - max as f64 / data.len() as f64;
            Ok(mithridate_data::split_stratified(&data, fraction, seed)?.0)
        }
        _ => Ok(data),
    }
}

/// Trains a classifier of `arch` (default per modality) on `train` for `epochs` (default per
/// family), seeded, reporting progress through `tick(samples done in this fit)`.
pub fn train_model(
    train: &Dataset,
    arch: Option<Architecture>,
    epochs: Option<usize>,
    seed: u64,
    tick: &mut dyn FnMut(u64),
) -> Result<Classifier> {
    let arch = arch.unwrap_or_else(|| Architecture::default_for(train.modality()));
    let mut params = TrainParams::default_for(arch);
    if let Some(e) = epochs {
        params.epochs = e;
    }
    let config = params.check()?;
    let mut model = Classifier::new(arch, train.modality(), train.num_classes(), seed)?;
    model.fit(train, &config, seed, &mut |p: TrainProgress| {
        tick((p.epoch.saturating_sub(1) * p.samples_total + p.samples_done) as u64)
    })?;
    Ok(model)
}

/// Seed offset of the attacker's surrogate, so it never shares the victim's initialisation.
pub const SURROGATE_SEED_OFFSET: u64 = 0x5u64 << 32;

/// Runs `attack` on `train`, giving it `surrogate` / `victims` when it needs them.
pub fn run_attack(
    kind: AttackKind,
    params: &Value,
    train: &Dataset,
    budget: Budget,
    seed: u64,
    surrogate: Option<&Classifier>,
    victims: Option<&Dataset>,
) -> Result<Poisoned> {
    let attack = registry::build_kind(kind, params)?;
    let mut input = AttackInput::new(train, budget, seed);
    if attack.requirements().surrogate {
        let model = surrogate.with_context(|| format!("{kind} needs a surrogate model"))?;
        input = input.with_surrogate(model);
    }
    if attack.requirements().victims {
        input = input.with_victims(victims.with_context(|| format!("{kind} needs a victim set"))?);
    }
    Ok(attack.poison(&input)?)
}

/// The attack goal measured on `model` with the clean `test` set.
pub fn assess_model(truth: &GroundTruth, model: &Classifier, test: &Dataset) -> Result<Assessment> {
    Ok(mithridate_attack::assess(truth, test, |d| {
        model
            .predict(d)
            .map_err(|e| mithridate_attack::AttackError::Model(e.to_string()))
    })?)
}

/// The test set that goes with `source`: a built-in dataset's test split, else a seeded
/// stratified 20% hold-out of the file (returned with the remaining training rows).
pub fn train_and_test(home: &DataHome, source: &str, seed: u64) -> Result<(Dataset, Dataset)> {
    let train = mithridate_data::load(home, source, Split::Train)
        .with_context(|| format!("loading training data '{source}'"))?;
    if mithridate_data::registry::find(source).is_some() {
        let test = mithridate_data::load(home, source, Split::Test)
            .with_context(|| format!("loading test data '{source}'"))?;
        return Ok((train, test));
    }
    Ok(mithridate_data::split_stratified(&train, 0.2, seed)?)
}

fn list(ctx: &Context) -> Result<()> {
    if ctx.json {
        let attacks: Vec<Value> = AttackKind::ALL
            .iter()
            .map(|k| json!({"name": k.name(), "summary": k.summary()}))
            .collect();
        return ctx.print_json(&json!({ "attacks": attacks }));
    }
    for k in AttackKind::ALL {
        println!("{:<20} {}", k.name(), k.summary());
    }
    Ok(())
}

pub fn run(args: PoisonArgs, ctx: &Context) -> Result<()> {
    if args.list {
        return list(ctx);
    }
    let (Some(source), Some(output)) = (args.data.as_deref(), args.output.as_deref()) else {
        anyhow::bail!("--data and --output are required");
    };
    let kind = args.attack.kind()?;
    let params = args.attack.parameters()?;
    // Check parameters before any expensive loading or training.
    let attack = registry::build_kind(kind, &params)?;
    let budget = match (args.rate, args.count) {
        (Some(r), None) => Budget::Rate(r),
        (None, Some(c)) => Budget::Count(c),
        _ => anyhow::bail!("give the poison budget as --rate R or --count N"),
    }
    .check()?;
    let home = DataHome::from_env()?;
    let needs = attack.requirements();
    let (train, victims) = if needs.victims && args.victims.is_none() {
        let (train, test) = train_and_test(&home, source, ctx.seed)?;
        (train, Some(test))
    } else {
        let train = mithridate_data::load(&home, source, Split::Train)
            .with_context(|| format!("loading training data '{source}'"))?;
        let victims = match &args.victims {
            Some(v) => Some(
                mithridate_data::load(&home, v, Split::Test)
                    .with_context(|| format!("loading victim set '{v}'"))?,
            ),
            None => None,
        };
        (train, victims)
    };
    let train = subsample(train, args.max_train, ctx.seed)?;
    if train.is_empty() {
        anyhow::bail!("the training set '{source}' is empty");
    }
    let surrogate = if !needs.surrogate {
        None
    } else if let Some(path) = &args.surrogate {
        let (model, _) = Classifier::load(path)
            .with_context(|| format!("loading surrogate {}", path.display()))?;
        model.check_compatible(&train)?;
        Some(model)
    } else {
        let arch = args.attack.surrogate_model;
        let epochs = args.attack.surrogate_epochs;
        let probe = Architecture::default_for(train.modality());
        let total = TrainParams::default_for(arch.unwrap_or(probe)).epochs;
        let bar = ctx.progress((train.len() * epochs.unwrap_or(total)) as u64, "surrogate");
        let model = train_model(
            &train,
            arch,
            epochs,
            ctx.seed.wrapping_add(SURROGATE_SEED_OFFSET),
            &mut |done| bar.set_position(done),
        )?;
        bar.finish_and_clear();
        Some(model)
    };
    let poisoned = run_attack(
        kind,
        &params,
        &train,
        budget,
        ctx.seed,
        surrogate.as_ref(),
        victims.as_ref(),
    )?;
    mithridate_data::npz::write(output, &poisoned.data)
        .with_context(|| format!("writing {}", output.display()))?;
    let truth_file = truth_path(output);
    poisoned.truth.write(&truth_file)?;
    let truth = &poisoned.truth;
    let added = truth
        .changes
        .iter()
        .filter(|c| c.kind == mithridate_attack::ChangeKind::Added)
        .count();
    let relabelled = truth
        .changes
        .iter()
        .filter(|c| c.label_from.is_some_and(|f| f != c.label_to))
        .count();
    if ctx.json {
        ctx.print_json(&json!({
            "attack": truth.attack,
            "parameters": truth.parameters,
            "seed": truth.seed,
            "budget": truth.budget,
            "samples_before": truth.samples_before,
            "samples_after": truth.samples_after,
            "poisoned": truth.changes.len(),
            "added": added,
            "relabelled": relabelled,
            "taxonomy": truth.taxonomy,
            "output": output,
            "truth": truth_file,
        }))?;
    } else {
        println!(
            "{}: poisoned {} of {} samples ({} modified, {} added, {} relabelled); budget {} of the {} ({} samples)",
            truth.attack,
            truth.changes.len(),
            truth.samples_after,
            truth.changes.len() - added,
            added,
            relabelled,
            truth.budget.requested,
            truth.budget.pool,
            truth.budget.pool_size
        );
        println!(
            "taxonomy: MITRE ATLAS {}; OWASP {}; NIST AI 100-2 {}",
            truth.taxonomy.mitre_atlas.join(", "),
            truth.taxonomy.owasp_ml.join(", "),
            truth.taxonomy.nist_ai_100_2
        );
        println!("wrote {} and {}", output.display(), truth_file.display());
    }
    Ok(())
}

/// The `evaluate --trigger` report: the attack's goal measured on `model`, and the accuracy
/// drop against `clean_model` when given. Returns `(json, text lines)`.
pub fn trigger_report(
    truth_file: &Path,
    model: &Classifier,
    clean_model: Option<&Path>,
    test: &Dataset,
) -> Result<(Value, Vec<String>)> {
    let truth = GroundTruth::read(truth_file)?;
    let a = assess_model(&truth, model, test)?;
    let clean_accuracy = match clean_model {
        Some(path) => {
            let (clean, _) = Classifier::load(path)
                .with_context(|| format!("loading clean model {}", path.display()))?;
            clean.check_compatible(test)?;
            let p = clean.predict(test)?;
            let correct = p.iter().zip(test.labels()).filter(|(a, b)| a == b).count();
            Some(correct as f64 / test.len() as f64)
        }
        None => None,
    };
    let mut lines = vec![format!(
        "attack '{}' (ground truth {}): clean accuracy {:.2}%",
        truth.attack,
        truth_file.display(),
        100.0 * a.clean_accuracy
    )];
    if let Some(c) = clean_accuracy {
        lines.push(format!(
            "clean model accuracy {:.2}%: drop {:.2} points",
            100.0 * c,
            100.0 * (c - a.clean_accuracy)
        ));
    }
    if let Some(asr) = a.attack_success_rate {
        lines.push(format!(
            "attack success rate: {:.2}% of {} triggered test inputs classified as the attacker's class",
            100.0 * asr,
            a.asr_samples
        ));
    }
    if let Some(t) = a.targeted_misclassification {
        lines.push(format!(
            "targeted misclassification: {:.2}% of source-class test inputs classified as the target",
            100.0 * t
        ));
    }
    if let (Some(p), Some(hit)) = (a.victim_prediction, a.victim_hit) {
        lines.push(format!(
            "victim classified as {p}: {}",
            if hit {
                "attack succeeded"
            } else {
                "attack failed"
            }
        ));
    }
    let value = json!({
        "attack": truth.attack,
        "truth": truth_file,
        "assessment": a,
        "clean_model_accuracy": clean_accuracy,
        "accuracy_drop": clean_accuracy.map(|c| c - a.clean_accuracy),
        "taxonomy": truth.taxonomy,
    });
    Ok((value, lines))
}
