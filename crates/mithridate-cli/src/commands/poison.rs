//! `mithridate poison`: run one data-poisoning attack on a training set and write the poisoned
//! set (.npz) with its ground truth (`<output>.truth.json`). Also the attack options shared by
//! `attack-sweep` and `defend-sweep`.

use crate::output::{self, Context};
use anyhow::{Context as _, Result};
use clap::Args;
use mithridate_attack::registry::{self, ATTACKS};
use mithridate_attack::Budget;
use mithridate_core::ParamGuard;
use mithridate_data::{DataHome, Split};
use mithridate_engine::{Architecture, Classifier};
use mithridate_pipeline::attack::AttackSpec;
use mithridate_pipeline::data::{non_empty, subsample, train_and_test};
use mithridate_pipeline::train::{ModelParams, SURROGATE_SEED_OFFSET};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Attack selection and parameters, shared by `poison` and `attack-sweep`.
#[derive(Args, Clone)]
pub struct AttackOptions {
    /// The attack (run `mithridate poison --list` for all, with their parameters).
    #[arg(long, value_parser = ATTACKS.names())]
    pub attack: Option<String>,
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

    /// The checked attack (parameters validated before any data is loaded).
    pub fn spec(&self) -> Result<AttackSpec> {
        let name = self.attack.as_deref().context("--attack is required")?;
        Ok(AttackSpec::new(name, &self.parameters()?)?)
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

pub fn run(args: PoisonArgs, ctx: &Context) -> Result<()> {
    if args.list {
        return output::print_registry(ctx, "attacks", &ATTACKS);
    }
    let (Some(source), Some(output)) = (args.data.as_deref(), args.output.as_deref()) else {
        anyhow::bail!("--data and --output are required");
    };
    // Check parameters before any expensive loading or training.
    let attack = args.attack.spec()?;
    let budget = match (args.rate, args.count) {
        (Some(r), None) => Budget::Rate(r),
        (None, Some(c)) => Budget::Count(c),
        _ => anyhow::bail!("give the poison budget as --rate R or --count N"),
    }
    .check()?;
    let surrogate_model = ModelParams {
        architecture: args.attack.surrogate_model,
        epochs: args.attack.surrogate_epochs,
    }
    .check()?;
    let home = DataHome::from_env()?;
    let (train, victims) = if attack.needs_victims() && args.victims.is_none() {
        let (train, test) = train_and_test(&home, source, None, ctx.seed)?;
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
    let train = non_empty(subsample(train, args.max_train, ctx.seed)?, source)?;
    let surrogate = if !attack.needs_surrogate() {
        None
    } else if let Some(path) = &args.surrogate {
        let (model, _) = Classifier::load(path)
            .with_context(|| format!("loading surrogate {}", path.display()))?;
        model.check_compatible(&train)?;
        Some(model)
    } else {
        let bar = ctx.progress(surrogate_model.work(&train), "surrogate");
        let model = surrogate_model.train(
            &train,
            ctx.seed.wrapping_add(SURROGATE_SEED_OFFSET),
            &mut |done| bar.set_position(done),
        )?;
        bar.finish_and_clear();
        Some(model)
    };
    let poisoned = attack.run(
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
