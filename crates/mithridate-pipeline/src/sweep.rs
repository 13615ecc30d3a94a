//! Sweeps over seeds: an attack at several poison rates (attack-sweep), and one attack
//! against one defence (defend-sweep). Each returns per-seed values; callers summarise.

use crate::attack::{assess_model, AttackSpec};
use crate::defence::DetectorSpec;
use crate::defend::{scan_sanitize_retrain, DetectorRun};
use crate::error::Result;
use crate::train::{ModelSpec, SURROGATE_SEED_OFFSET};
use mithridate_attack::{Assessment, Budget, Goal};
use mithridate_core::ParamGuard;
use mithridate_data::Dataset;
use mithridate_detect::sanitize::{Action, SanitizeReport};
use serde::Serialize;

/// Mean and sample standard deviation (NaN for no values, 0 spread for one).
///
/// ```
/// let (m, s) = mithridate_pipeline::sweep::mean_std(&[1.0, 3.0]);
/// assert_eq!((m, s), (2.0, 2f64.sqrt()));
/// assert!(mithridate_pipeline::sweep::mean_std(&[]).0.is_nan());
/// ```
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// The data of one seed: seeded subsets of the full sets.
pub struct SeedData {
    pub seed: u64,
    pub train: Dataset,
    pub test: Dataset,
}

/// One row of an attack sweep: a rate (`None`: the clean baseline) over all seeds.
#[derive(Debug, Clone, Serialize)]
pub struct RateRow {
    pub rate: Option<f64>,
    pub poisoned: Vec<f64>,
    pub clean_accuracy: Vec<f64>,
    pub success: Vec<f64>,
}

/// What an attack sweep measured.
#[derive(Debug, Clone, Serialize)]
pub struct AttackSweep {
    /// `ASR`, `targeted`, `victim hit`, or empty for availability attacks.
    pub success_metric: &'static str,
    pub rows: Vec<RateRow>,
}

/// Trains a clean baseline and one victim per rate for each seed. The surrogate (for
/// attacks that need one) is the clean baseline of the seed, or with `independent_surrogate`
/// a model trained separately from another initialisation. `tick(message)` is called once
/// per trained model.
pub fn attack_sweep(
    attack: &AttackSpec,
    rates: &[f64],
    seeds: &[SeedData],
    model: &ModelSpec,
    independent_surrogate: bool,
    tick: &mut dyn FnMut(String),
) -> Result<AttackSweep> {
    for &r in rates {
        Budget::Rate(r).check()?;
    }
    let mut rows: Vec<RateRow> = std::iter::once(None)
        .chain(rates.iter().map(|&r| Some(r)))
        .map(|rate| RateRow {
            rate,
            poisoned: Vec::new(),
            clean_accuracy: Vec::new(),
            success: Vec::new(),
        })
        .collect();
    let mut success_metric = "";
    for s in seeds {
        let (seed, train, test) = (s.seed, &s.train, &s.test);
        let clean = model.train(train, seed, &mut |_| {})?;
        tick(format!("seed {seed}: clean"));
        let independent;
        let surrogate = if !attack.needs_surrogate() {
            None
        } else if independent_surrogate {
            independent =
                model.train(train, seed.wrapping_add(SURROGATE_SEED_OFFSET), &mut |_| {})?;
            tick(format!("seed {seed}: surrogate"));
            Some(&independent)
        } else {
            Some(&clean)
        };
        // Budget 0 changes nothing but fixes the trigger / victim: the clean model's rate.
        let baseline = attack.run(train, Budget::Rate(0.0), seed, surrogate, Some(test))?;
        success_metric = match baseline.truth.goal {
            Goal::Availability => "",
            Goal::Backdoor { .. } => "ASR",
            Goal::TargetedMisclassification { .. } => "targeted",
            Goal::Instance { .. } => "victim hit",
        };
        let record = |row: &mut RateRow, a: &Assessment, poisoned: usize| {
            row.poisoned.push(poisoned as f64);
            row.clean_accuracy.push(a.clean_accuracy);
            if let Some(s) = a.success_rate() {
                row.success.push(s);
            }
        };
        record(
            &mut rows[0],
            &assess_model(&baseline.truth, &clean, test)?,
            0,
        );
        for (j, &rate) in rates.iter().enumerate() {
            let poisoned = attack.run(train, Budget::Rate(rate), seed, surrogate, Some(test))?;
            let victim = model.train(&poisoned.data, seed, &mut |_| {})?;
            let a = assess_model(&poisoned.truth, &victim, test)?;
            record(&mut rows[j + 1], &a, poisoned.truth.changes.len());
            tick(format!("seed {seed}: rate {rate}"));
        }
    }
    Ok(AttackSweep {
        success_metric,
        rows,
    })
}

/// One seed of a defend sweep.
pub struct DefendSeed {
    pub seed: u64,
    /// The attack's goal on the clean model, the poisoned model and the retrained one.
    pub clean: Assessment,
    pub before: Assessment,
    pub after: Assessment,
    pub poisoned: usize,
    pub runs: Vec<DetectorRun>,
    pub sanitize: SanitizeReport,
}

/// Poison -> train -> scan -> sanitize -> retrain for each seed. `tick(message)` is called
/// after each of the three stages of a seed.
pub fn defend_sweep(
    attack: &AttackSpec,
    rate: f64,
    detectors: &[DetectorSpec],
    action: Action,
    seeds: &[SeedData],
    model: &ModelSpec,
    tick: &mut dyn FnMut(String),
) -> Result<Vec<DefendSeed>> {
    Budget::Rate(rate).check()?;
    let mut out = Vec::new();
    for s in seeds {
        let (seed, train, test) = (s.seed, &s.train, &s.test);
        let clean = model.train(train, seed, &mut |_| {})?;
        let surrogate = attack.needs_surrogate().then_some(&clean);
        let poisoned = attack.run(train, Budget::Rate(rate), seed, surrogate, Some(test))?;
        let clean_a = assess_model(&poisoned.truth, &clean, test)?;
        tick(format!("seed {seed}: poisoned"));
        let victim = model.train(&poisoned.data, seed, &mut |_| {})?;
        let before = assess_model(&poisoned.truth, &victim, test)?;
        tick(format!("seed {seed}: scan + retrain"));
        let defended =
            scan_sanitize_retrain(&poisoned, &victim, test, detectors, action, model, seed)?;
        tick(format!("seed {seed}: done"));
        out.push(DefendSeed {
            seed,
            clean: clean_a,
            before,
            after: defended.after,
            poisoned: poisoned.truth.changes.len(),
            runs: defended.runs,
            sanitize: defended.sanitize,
        });
    }
    Ok(out)
}
