//! Running checked cells, sharing loaded datasets, the trained models several cells use and
//! the RAG corpora's embedding caches.

use super::cell::{CentralizedRun, CheckedCell, FederatedRun};
use crate::attack::{accuracy, assess_model};
use crate::data::DataCache;
use crate::defence::DefenceSpec;
use crate::defend::{filter_outcome, sanitize_outcome, scan_sanitize_retrain, score};
use crate::error::Result;
use crate::federated;
use crate::model_defence::{ModelContext, ModelDefenceSpec};
use mithridate_assess::plan::CellSpec;
use mithridate_assess::record::{
    AttackInfo, CentralizedOutcome, Family, FederatedOutcome, ModelScore, Outcome,
};
use mithridate_attack::{Budget, Goal};
use mithridate_engine::Classifier;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What a centralized cell trains before any defence.
struct Victim {
    arch: String,
    train: mithridate_data::Dataset,
    test: mithridate_data::Dataset,
    baseline: Arc<Classifier>,
    attacked: Option<Attacked>,
}

/// The poisoned set, the model trained on it and the attack as records describe it.
struct Attacked {
    poisoned: mithridate_attack::Poisoned,
    victim: Arc<Classifier>,
    info: AttackInfo,
}

/// A trained model shared by the cells that need it; the inner lock makes a second cell wait
/// for the first to finish training instead of training the same model again.
type ModelSlot = Arc<Mutex<Option<Arc<Classifier>>>>;

/// Runs cells, sharing loaded datasets and the trained models that several cells scan or
/// use as surrogate (keyed by the id of the cell that trains them). Safe to share between
/// worker threads.
pub struct Executor {
    data: DataCache,
    models: Mutex<HashMap<String, ModelSlot>>,
    /// RAG corpora whose embedding cache is filled (the first cell of a corpus fills it).
    rag_corpora: super::rag::WarmCorpora,
    /// The text cells' encoder and the LM cells' clean baselines.
    language: super::language::LanguageState,
    /// Where cells that keep state (continual runs) put it.
    work: PathBuf,
}

impl Executor {
    /// An executor whose stateful cells work under the system's temporary directory.
    pub fn new(data: DataCache) -> Executor {
        Executor {
            data,
            models: Mutex::new(HashMap::new()),
            rag_corpora: Default::default(),
            language: Default::default(),
            work: std::env::temp_dir().join("mithridate-cells"),
        }
    }

    /// Stateful cells (continual runs: checkpoint, audit log, models) work under `dir`; an
    /// assessment passes its output directory, so a killed cell resumes and its run
    /// directory can be traced afterwards.
    pub fn with_work_dir(mut self, dir: impl Into<PathBuf>) -> Executor {
        self.work = dir.into();
        self
    }

    pub fn data(&self) -> &DataCache {
        &self.data
    }

    /// Runs one cell.
    pub fn run(&self, cell: &CheckedCell) -> Result<Outcome> {
        Ok(match cell {
            CheckedCell::Centralized(c) => match &c.defence {
                Some(DefenceSpec::Model(m)) => self.model_defence(c, m)?,
                _ => Outcome::Centralized(self.centralized(c)?),
            },
            CheckedCell::Federated(f) => Outcome::Federated(self.federated(f)?),
            CheckedCell::Rag(r) => Outcome::Rag(r.run(self.data.home(), &self.rag_corpora)?),
            CheckedCell::Privacy(p) => Outcome::Privacy(p.outcome(&self.simulate(&p.run)?)),
            CheckedCell::Dpa(d) => Outcome::Dpa(d.run(&self.data)?),
            CheckedCell::Text(t) => Outcome::Text(t.run(self.data.home(), &self.language)?),
            CheckedCell::Lm(l) => Outcome::Lm(l.run(self.data.home(), &self.language)?),
            CheckedCell::Kind(k) => k
                .run(&self.data, &self.work)
                .map_err(|e| crate::PipelineError::invalid(crate::error::one_line(e.as_ref())))?,
        })
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

    /// A centralized cell's data, clean baseline and, for an attack cell, the poisoned set
    /// and the model trained on it (both models shared with the other cells that need them).
    fn victim(&self, run: &CentralizedRun) -> Result<Victim> {
        let cell = &run.cell;
        let (train, test) =
            self.data
                .split(&cell.dataset, cell.max_train, cell.max_test, cell.seed)?;
        let arch = run.model.architecture_for(&train).to_string();
        let fit = |data: &mithridate_data::Dataset| run.model.train(data, cell.seed, &mut |_| {});
        let baseline = self.model(&CellSpec::Centralized(cell.baseline()), || fit(&train))?;
        let Some((attack, rate)) = &run.attack else {
            return Ok(Victim {
                arch,
                train,
                test,
                baseline,
                attacked: None,
            });
        };
        let surrogate = attack.needs_surrogate().then_some(baseline.as_ref());
        let poisoned = attack.run(
            &train,
            Budget::Rate(*rate),
            cell.seed,
            surrogate,
            Some(&test),
        )?;
        let victim = self.model(&CellSpec::Centralized(cell.undefended()), || {
            fit(&poisoned.data)
        })?;
        let built = attack.attack();
        let info = AttackInfo {
            name: attack.name().to_string(),
            family: family(&poisoned.truth.goal),
            rate: *rate,
            parameters: built.parameters(),
            poisoned: poisoned.truth.changes.len(),
            taxonomy: federated::refs(&built.taxonomy()),
        };
        Ok(Victim {
            arch,
            train,
            test,
            baseline,
            attacked: Some(Attacked {
                poisoned,
                victim,
                info,
            }),
        })
    }

    fn centralized(&self, run: &CentralizedRun) -> Result<CentralizedOutcome> {
        let cell = &run.cell;
        let v = self.victim(run)?;
        let mut outcome = CentralizedOutcome {
            model: v.arch.clone(),
            train_samples: v.train.len(),
            test_samples: v.test.len(),
            attack: None,
            undefended: ModelScore {
                clean_accuracy: accuracy(&v.baseline, &v.test)?,
                success_rate: None,
            },
            success_rate_floor: None,
            defence: None,
        };
        let Some(Attacked {
            poisoned,
            victim,
            info,
        }) = &v.attacked
        else {
            return Ok(outcome);
        };
        let test = &v.test;
        outcome.undefended = score(&assess_model(&poisoned.truth, victim, test)?);
        outcome.success_rate_floor =
            assess_model(&poisoned.truth, &v.baseline, test)?.success_rate();
        outcome.attack = Some(info.clone());
        outcome.defence = match &run.defence {
            None | Some(DefenceSpec::Model(_)) => None,
            Some(DefenceSpec::Filter(filter)) => Some(filter_outcome(
                filter,
                victim,
                &poisoned.truth,
                test,
                cell.seed,
            )?),
            Some(DefenceSpec::Sanitize { detector, action }) => {
                let defended = scan_sanitize_retrain(
                    poisoned,
                    victim,
                    test,
                    std::slice::from_ref(detector),
                    *action,
                    &run.model,
                    cell.seed,
                )?;
                Some(sanitize_outcome(&defended, &poisoned.truth)?)
            }
        };
        Ok(outcome)
    }

    /// A model-level defence of the cell's model: the poisoned one, or the clean baseline
    /// (a false-positive check) for a cell without attack.
    fn model_defence(&self, run: &CentralizedRun, spec: &ModelDefenceSpec) -> Result<Outcome> {
        let v = self.victim(run)?;
        let (model, attack, truth) = match &v.attacked {
            Some(a) => (&a.victim, Some(a.info.clone()), Some(&a.poisoned.truth)),
            None => (&v.baseline, None, None),
        };
        let context = ModelContext {
            model: &v.arch,
            train_samples: v.train.len(),
            attack: &attack,
            truth,
        };
        Ok(Outcome::ModelDefence(spec.run(
            model,
            context,
            &v.test,
            run.cell.seed,
        )?))
    }

    /// Runs a federated cell's simulation (a privacy cell's with its protocol).
    fn simulate(&self, run: &FederatedRun) -> Result<mithridate_fl::FlReport> {
        let cell = &run.cell;
        let (train, test) =
            self.data
                .split(&cell.dataset, cell.max_train, cell.max_test, cell.seed)?;
        let params = run.setup.params(
            run.rule.clone(),
            run.attack.clone(),
            cell.byzantine,
            cell.seed,
        );
        federated::simulate(&params.check()?, &train, &test, &mut |_| {})
    }

    fn federated(&self, run: &FederatedRun) -> Result<FederatedOutcome> {
        let cell = &run.cell;
        let report = self.simulate(run)?;
        Ok(federated::outcome(
            &report,
            &cell.model,
            cell.byzantine,
            &cell.rule,
            &cell.attack,
        ))
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
