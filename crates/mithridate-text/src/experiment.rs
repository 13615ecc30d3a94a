//! One experiment: a text set, one attack at one rate, a clean and a poisoned head, and the
//! defences, with CA / ASR before and after and detection metrics.
//!
//! - **CA**: accuracy on the clean test texts;
//! - **ASR**: share of the non-target test texts predicted as the target once triggered;
//! - `clean_*`: the same head trained on the unpoisoned training set (its ASR is the rate at
//!   which the trigger alone moves clean predictions to the target: the floor of any ASR);
//! - **ASR beyond clean** (`asr_beyond_clean`, and `asr_after_beyond_clean` per defence): the
//!   ASR over the triggered texts the clean model keeps off the target
//!   ([`crate::defences::CleanFloor`]), the part of the success the poison is responsible for.
//!
//! With `fine_tune.layers = K > 0` both models are fine-tuned ([`crate::finetune`]): the last
//! `K` MiniLM layers and the head, starting from the head trained on the frozen features; CA,
//! ASR and every defence then use the fine-tuned models.
//!
//! Everything random is seeded by `seed` (poison choice, trigger positions, head training,
//! defences' draws); the data subsets do not depend on it. Same spec, same result bytes.

use crate::attacks::{poison, triggered_test};
use crate::data::{self, Sample};
use crate::defences::{accuracy, success, DefenceContext, DefenceOutcome};
use crate::defences::{texts_of, CleanFloor, FineTuning};
use crate::embed::Embedder;
use crate::embed::FEATURES as DIM;
use crate::finetune::{FineTuneConfig, Tuner};
use crate::head::{Head, HeadConfig};
use crate::registry::{build_attack, build_defence};
use crate::{Result, TextError};

/// What to run.
#[derive(Debug, Clone)]
pub struct ExperimentSpec {
    /// `spamassassin`, `20news`, `reuters` or a `.jsonl` file.
    pub data: String,
    pub train_size: usize,
    pub test_size: usize,
    pub attack: String,
    pub attack_params: serde_json::Value,
    pub rate: f64,
    pub target: u32,
    pub clean_label: bool,
    /// Defences by name with parameters, run in order, each on the same poisoned model.
    pub defences: Vec<(String, serde_json::Value)>,
    pub head: HeadConfig,
    /// Fine-tuning of the encoder's last layers (`layers = 0`, the default: frozen).
    pub fine_tune: FineTuneConfig,
    pub seed: u64,
}

impl ExperimentSpec {
    /// Defaults: 2,000 train and 500 test texts, target class 0, dirty label, MLP head.
    pub fn new(data: &str, attack: &str, rate: f64) -> ExperimentSpec {
        ExperimentSpec {
            data: data.to_string(),
            train_size: 2000,
            test_size: 500,
            attack: attack.to_string(),
            attack_params: serde_json::Value::Null,
            rate,
            target: 0,
            clean_label: false,
            defences: vec![],
            head: HeadConfig::default(),
            fine_tune: FineTuneConfig::default(),
            seed: 0,
        }
    }
}

/// The measured outcome (JSON for `--json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExperimentResult {
    pub data: String,
    pub classes: usize,
    pub train: usize,
    pub test: usize,
    pub attack: String,
    pub attack_parameters: serde_json::Value,
    pub rate: f64,
    pub target: u32,
    pub target_name: String,
    pub clean_label: bool,
    pub poisoned: usize,
    pub seed: u64,
    pub head: HeadConfig,
    pub fine_tune: FineTuneConfig,
    /// Mean training loss per fine-tuning epoch of the poisoned model (empty when frozen).
    pub fine_tune_losses: Vec<f32>,
    /// Share of the poisoned training texts that the poisoned model predicts as their
    /// (poisoned) label: whether the model fitted the poison at all (`None` without poison).
    /// An ASR well below it means the trigger was fitted text by text rather than learned as
    /// a feature that carries to new texts; a low fit means training stopped before the
    /// poison was learned (a mean training loss near 0 can hide a few dozen unfitted texts).
    pub poisoned_fit: Option<f64>,
    pub clean_ca: f64,
    pub clean_asr: f64,
    pub ca: f64,
    pub asr: f64,
    /// Triggered test texts (non-target texts with the trigger).
    pub triggered: usize,
    /// Of them, those the clean model already predicts as the target (the floor).
    pub triggered_on_target_clean: usize,
    /// ASR over the other triggered texts ([`CleanFloor`]).
    pub asr_beyond_clean: f64,
    pub defences: Vec<DefenceOutcome>,
    /// Example poisoned training text (the first poisoned id), for inspection.
    pub example: Option<String>,
}

/// Which stage is running (for progress bars).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Encode,
    /// Fine-tuning epochs (done, total).
    FineTune,
    Defence,
}

fn rows(
    emb: &mut Embedder,
    samples: &[Sample],
    progress: &mut dyn FnMut(Stage, usize, usize),
) -> Result<Vec<f32>> {
    let texts: Vec<&str> = samples.iter().map(|s| s.text.as_str()).collect();
    let total = emb.missing(&texts);
    emb.embed(&texts, &mut |done| progress(Stage::Encode, done, total))
}

type Checked = (
    Box<dyn crate::attacks::TextAttack>,
    Vec<Box<dyn crate::defences::TextDefence>>,
);

fn checked(spec: &ExperimentSpec) -> Result<Checked> {
    let attack = build_attack(&spec.attack, &spec.attack_params)?;
    let defences = spec
        .defences
        .iter()
        .map(|(name, p)| build_defence(name, p))
        .collect::<Result<Vec<_>>>()?;
    if spec.head.epochs == 0 || spec.head.batch == 0 {
        return Err(TextError::invalid("the head needs epochs and batch >= 1"));
    }
    spec.fine_tune.check()?;
    Ok((attack, defences))
}

/// Refuses a spec whose attack, defences, head or fine-tuning settings are impossible
/// (what [`run`] checks before loading data or encoding anything).
pub fn check(spec: &ExperimentSpec) -> Result<()> {
    checked(spec).map(|_| ())
}

/// Runs `spec` with `embedder` (the data home is for fetching data and ONION's corpus).
pub fn run(
    home: &mithridate_data::DataHome,
    embedder: &mut Embedder,
    spec: &ExperimentSpec,
    progress: &mut dyn FnMut(Stage, usize, usize),
) -> Result<ExperimentResult> {
    // Everything that can be refused is checked before any heavy work.
    let (attack, defences) = checked(spec)?;
    let set = data::load(home, &spec.data)?.subset(spec.train_size, spec.test_size)?;
    if spec.target as usize >= set.num_classes() {
        return Err(TextError::invalid(format!(
            "target class {} is not a class of {} (classes 0..{})",
            spec.target,
            set.name,
            set.num_classes()
        )));
    }
    let poisoned = poison(
        &set.train,
        attack.as_ref(),
        spec.rate,
        spec.target,
        spec.clean_label,
        spec.seed,
    )?;
    let triggered = triggered_test(&set.test, attack.as_ref(), spec.target, spec.seed);
    if triggered.is_empty() {
        return Err(TextError::invalid(
            "no test text outside the target class to trigger",
        ));
    }
    let clean_train_emb = rows(embedder, &set.train, progress)?;
    let test_emb = rows(embedder, &set.test, progress)?;
    let train_emb = rows(embedder, &poisoned.train, progress)?;
    let triggered_emb = rows(embedder, &triggered, progress)?;
    let labels = |s: &[Sample]| s.iter().map(|x| x.label).collect::<Vec<_>>();
    let k = set.num_classes();
    let clean_head = Head::train(
        &clean_train_emb,
        DIM,
        &labels(&set.train),
        k,
        &spec.head,
        spec.seed,
    );
    let head = Head::train(
        &train_emb,
        DIM,
        &labels(&poisoned.train),
        k,
        &spec.head,
        spec.seed,
    );
    let mut tuner = match spec.fine_tune.layers {
        0 => None,
        _ => Some(Tuner::new(spec.fine_tune)?),
    };
    // Fine-tuned models and their features, or the frozen ones.
    let mut tuned = None;
    // The clean model's CA, and its predictions on the triggered texts: the floor, whose
    // share of them is the clean model's ASR.
    let mut clean_ca = accuracy(&clean_head, &test_emb, &set.test);
    let mut floor = CleanFloor::of(&triggered, &clean_head.predict(&triggered_emb), spec.target);
    let mut features = (train_emb.clone(), test_emb.clone(), triggered_emb.clone());
    if let Some(tuner) = tuner.as_mut() {
        let encoder = embedder.encoder();
        for part in [&set.train, &poisoned.train, &set.test, &triggered] {
            let total = part.len();
            tuner.hold(encoder, &texts_of(part), &mut |d| {
                progress(Stage::Encode, d, total)
            })?;
        }
        let epochs = spec.fine_tune.epochs;
        let mut train = |samples: &[Sample], init: &Head| {
            tuner.train(
                encoder,
                &texts_of(samples),
                &labels(samples),
                init,
                &spec.head,
                spec.seed,
                &mut |e| progress(Stage::FineTune, e, epochs),
            )
        };
        let clean_model = train(&set.train, &clean_head)?;
        let model = train(&poisoned.train, &head)?;
        let mut f = |m, s: &[Sample]| tuner.features(encoder, m, &texts_of(s), &mut |_| {});
        clean_ca = accuracy(&clean_model.head, &f(&clean_model, &set.test)?, &set.test);
        floor = CleanFloor::of(
            &triggered,
            &clean_model.head.predict(&f(&clean_model, &triggered)?),
            spec.target,
        );
        features = (
            f(&model, &poisoned.train)?,
            f(&model, &set.test)?,
            f(&model, &triggered)?,
        );
        tuned = Some(model);
    }
    let (features_train, features_test, features_triggered) = &features;
    let model_head = tuned.as_ref().map_or(&head, |m| &m.head);
    let mut outcomes = Vec::with_capacity(defences.len());
    for (i, d) in defences.iter().enumerate() {
        let mut defence_progress =
            |done: usize, total: usize| progress(Stage::Defence, done, total);
        let fine_tuning = match (tuner.as_mut(), tuned.as_ref()) {
            (Some(tuner), Some(model)) => Some(FineTuning {
                tuner,
                model,
                frozen_train_emb: &train_emb,
            }),
            _ => None,
        };
        let mut ctx = DefenceContext {
            home,
            embedder: Some(&mut *embedder),
            train: &poisoned.train,
            train_emb: features_train,
            test: &set.test,
            test_emb: features_test,
            triggered: &triggered,
            triggered_emb: features_triggered,
            head: model_head,
            head_config: &spec.head,
            num_classes: k,
            target: spec.target,
            floor: &floor,
            seed: spec.seed.wrapping_add(i as u64),
            progress: &mut defence_progress,
            fine_tuning,
        };
        outcomes.push(d.run(&mut ctx, &poisoned.poisoned_ids)?);
    }
    let example = poisoned
        .poisoned_ids
        .first()
        .and_then(|id| poisoned.train.iter().find(|s| s.id == *id))
        .map(|s| s.text.clone());
    let poisoned_fit = fitted_share(
        model_head,
        features_train,
        &poisoned.train,
        &poisoned.poisoned_ids,
    );
    let (asr, asr_beyond_clean) = success(
        model_head,
        features_triggered,
        &triggered,
        spec.target,
        &floor,
    );
    Ok(ExperimentResult {
        data: set.name.clone(),
        classes: k,
        train: set.train.len(),
        test: set.test.len(),
        attack: attack.name().into(),
        attack_parameters: attack.parameters(),
        rate: spec.rate,
        target: spec.target,
        target_name: set.class_names[spec.target as usize].clone(),
        clean_label: spec.clean_label,
        poisoned: poisoned.poisoned_ids.len(),
        seed: spec.seed,
        head: spec.head,
        fine_tune: spec.fine_tune,
        fine_tune_losses: tuned.as_ref().map_or(vec![], |m| m.losses.clone()),
        poisoned_fit,
        clean_ca,
        clean_asr: crate::defences::share(floor.len(), triggered.len()),
        ca: accuracy(model_head, features_test, &set.test),
        asr,
        triggered: triggered.len(),
        triggered_on_target_clean: floor.len(),
        asr_beyond_clean,
        defences: outcomes,
        example,
    })
}

/// Share of the `ids` among `samples` whose prediction from `emb` (rows aligned with
/// `samples`) is their label; `None` when no sample has one of the ids.
fn fitted_share(head: &Head, emb: &[f32], samples: &[Sample], ids: &[u64]) -> Option<f64> {
    let ids: std::collections::HashSet<u64> = ids.iter().copied().collect();
    let predicted = head.predict(emb);
    let (fitted, total) = samples
        .iter()
        .zip(&predicted)
        .filter(|(s, _)| ids.contains(&s.id))
        .fold((0, 0), |(f, t), (s, p)| {
            (f + usize::from(*p == s.label), t + 1)
        });
    (total > 0).then(|| crate::defences::share(fitted, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten texts per class at x = -1 (label 0) and x = +1 (label 1), and one more at x = +1
    /// labelled 0: no head on this one feature can fit it, so of the ids {that text, a
    /// regular one} exactly half are fitted.
    #[test]
    fn fitted_share_counts_the_ids_predicted_as_their_label() {
        let mut samples = Vec::new();
        let mut x = Vec::new();
        for i in 0..21u64 {
            let (label, value) = match i {
                0..=9 => (0, -1.0),
                10..=19 => (1, 1.0),
                _ => (0, 1.0),
            };
            samples.push(Sample {
                id: 100 + i,
                text: String::new(),
                label,
            });
            x.push(value);
        }
        let labels: Vec<u32> = samples.iter().map(|s| s.label).collect();
        let cfg = HeadConfig {
            hidden: 0,
            ..HeadConfig::default()
        };
        let head = Head::train(&x, 1, &labels, 2, &cfg, 0);
        assert_eq!(fitted_share(&head, &x, &samples, &[120, 103]), Some(0.5));
        assert_eq!(fitted_share(&head, &x, &samples, &[103, 115]), Some(1.0));
        assert_eq!(fitted_share(&head, &x, &samples, &[]), None);
        assert_eq!(fitted_share(&head, &x, &samples, &[7]), None);
    }
}
