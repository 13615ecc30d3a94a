//! Federated experiments: one simulation, the rule x attack x Byzantine-fraction sweep, and
//! the assessment's federated cells, over `mithridate_fl`'s simulation.

use crate::data::{subsample, train_and_test};
use crate::error::{PipelineError, Result};
use mithridate_aggregate::RuleSpec;
use mithridate_assess::record::{Family, FederatedOutcome, RoundPoint, TaxonomyRefs};
use mithridate_data::partition::Partition;
use mithridate_data::{DataHome, Dataset};
use mithridate_engine::Architecture;
use mithridate_fl::{AttackFamily, AttackSpec, FlConfig, FlParams, FlReport};

/// Clients train in parallel (rayon over clients); candle's own CPU pool would add a second
/// layer of threads that spin against them (measured on 2 cores, MNIST MLP, 20 clients per
/// round: 2.05 s per round with candle's default pool, 0.45 s with one candle thread, 0.69 s
/// fully single-threaded). Results are identical either way. Must run before candle's first
/// operation (it reads the variable once); a value the user set is kept.
pub fn one_engine_thread_per_worker() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

/// The settings shared by every simulation of a run (all but rule, attack, Byzantine share
/// and seed).
#[derive(Debug, Clone)]
pub struct FlSetup {
    pub architecture: Architecture,
    pub clients: usize,
    pub per_round: f64,
    pub rounds: usize,
    pub partition: Partition,
    pub local_epochs: Option<usize>,
    pub local_steps: Option<usize>,
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
    pub root_size: Option<usize>,
    /// Secure aggregation (SecAgg / SecAgg+) of every run; `None`: the server sees updates.
    pub secure_aggregation: Option<mithridate_fl::SecAggParams>,
    /// Under secure aggregation: the fraction of participants dropping out each round.
    pub dropout: f64,
    /// `delta` of the user-level epsilon reported for dp-fedavg.
    pub dp_delta: f64,
}

impl FlSetup {
    /// The simulation parameters of one run (unchecked: [`FlParams::check`] tells whether
    /// the rule tolerates the Byzantine share).
    pub fn params(
        &self,
        rule: RuleSpec,
        attack: AttackSpec,
        byzantine: f64,
        seed: u64,
    ) -> FlParams {
        let mut p = FlParams::with_rule(rule, attack);
        p.clients = self.clients;
        p.per_round = self.per_round;
        p.rounds = self.rounds;
        p.byzantine = byzantine;
        p.partition = self.partition;
        p.architecture = self.architecture;
        if let Some(e) = self.local_epochs {
            p.local_epochs = e;
        }
        p.local_steps = self.local_steps;
        if let Some(b) = self.batch_size {
            p.batch_size = b;
        }
        if let Some(lr) = self.lr {
            p.lr = lr;
        }
        if let Some(r) = self.root_size {
            p.root_size = r;
        }
        p.secure_aggregation = self.secure_aggregation;
        p.dropout = self.dropout;
        p.dp_delta = self.dp_delta;
        p.seed = seed;
        p
    }
}

/// Training and test sets of a federation: seeded subsets of `source`.
pub fn load(
    home: &DataHome,
    source: &str,
    max_train: Option<usize>,
    max_test: Option<usize>,
    seed: u64,
) -> Result<(Dataset, Dataset)> {
    let (train, test) = train_and_test(home, source, None, seed)?;
    Ok((
        subsample(train, max_train, seed)?,
        subsample(test, max_test, seed)?,
    ))
}

/// One cell of a federated sweep: a combination the rule refuses is reported, not run.
#[derive(Debug, Clone)]
pub struct SweepCell {
    pub rule: RuleSpec,
    pub attack: AttackSpec,
    pub byzantine: f64,
    /// Why the rule cannot run this combination (e.g. Krum with too many Byzantine clients).
    pub refused: Option<String>,
    /// One report per seed (empty when refused).
    pub reports: Vec<FlReport>,
}

/// Every rule under every attack at every Byzantine share, over `datasets` (one (train,
/// test) pair per seed, seeds `base_seed..`). `tick` is called once per round.
pub fn sweep(
    setup: &FlSetup,
    rules: &[RuleSpec],
    attacks: &[AttackSpec],
    byzantine: &[f64],
    datasets: &[(Dataset, Dataset)],
    base_seed: u64,
    tick: &mut dyn FnMut(),
) -> Result<Vec<SweepCell>> {
    let mut cells = Vec::new();
    for &b in byzantine {
        for attack in attacks {
            for rule in rules {
                let p = setup.params(rule.clone(), attack.clone(), b, base_seed);
                cells.push(SweepCell {
                    rule: rule.clone(),
                    attack: attack.clone(),
                    byzantine: b,
                    refused: p.check().err().map(|e| e.to_string()),
                    reports: Vec::new(),
                });
            }
        }
    }
    for cell in cells.iter_mut().filter(|c| c.refused.is_none()) {
        for (s, (train, test)) in datasets.iter().enumerate() {
            let seed = base_seed.wrapping_add(s as u64);
            let p = setup.params(cell.rule.clone(), cell.attack.clone(), cell.byzantine, seed);
            cell.reports
                .push(p.check()?.run(train, test, &mut |_| tick())?);
        }
    }
    Ok(cells)
}

/// Runs every round of `config`, calling `on_round` after each.
pub fn simulate(
    config: &FlConfig,
    train: &Dataset,
    test: &Dataset,
    on_round: &mut dyn FnMut(&mithridate_fl::RoundMetrics),
) -> Result<FlReport> {
    Ok(config.run(train, test, &mut |r| on_round(r))?)
}

/// The report record of one federated assessment cell.
pub fn outcome(
    report: &FlReport,
    model: &str,
    byzantine: f64,
    rule: &str,
    attack: &str,
) -> FederatedOutcome {
    // `sign-flip:2` -> `sign-flip`.
    let name = attack.split(':').next().unwrap_or(attack).trim();
    let (family, taxonomy) = taxonomy(name);
    let attacked = report.malicious_per_round > 0 && name != "none";
    FederatedOutcome {
        model: model.to_string(),
        clients: report.clients,
        participants_per_round: report.participants_per_round,
        malicious_per_round: report.malicious_per_round,
        byzantine,
        rule: rule.to_string(),
        attack: attack.to_string(),
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
    }
}

/// OWASP's LLM Top 10 (2025) files all training-data and model poisoning under LLM04.
const OWASP_LLM_POISONING: &str = "LLM04";

/// A data attack's taxonomy as the report records it (with OWASP LLM04).
pub(crate) fn refs(t: &mithridate_attack::Taxonomy) -> TaxonomyRefs {
    TaxonomyRefs {
        mitre_atlas: t.mitre_atlas.clone(),
        owasp_ml: t.owasp_ml.clone(),
        owasp_llm: vec![OWASP_LLM_POISONING.into()],
        nist_ai_100_2: t.nist_ai_100_2.clone(),
    }
}

/// The family and taxonomy of the update attack `name`, as its registry entry files it
/// ([`mithridate_fl::filing`]); an unknown name files as model poisoning.
pub fn taxonomy(name: &str) -> (Family, TaxonomyRefs) {
    let (family, t) = mithridate_fl::filing(name).unwrap_or_else(|_| {
        (
            AttackFamily::ModelPoisoning,
            mithridate_fl::attacks::MODEL_POISONING.to_taxonomy(),
        )
    });
    let family = match family {
        AttackFamily::Availability => Family::Availability,
        AttackFamily::Backdoor => Family::Backdoor,
        AttackFamily::ModelPoisoning => Family::ModelPoisoning,
    };
    (family, taxonomy_refs(t))
}

/// A registry entry's taxonomy (update attacks, retrieval attacks) as the report records it.
pub fn taxonomy_refs(t: mithridate_core::taxonomy::Taxonomy) -> TaxonomyRefs {
    TaxonomyRefs {
        mitre_atlas: t.mitre_atlas,
        owasp_ml: t.owasp_ml,
        owasp_llm: t.owasp_llm,
        nist_ai_100_2: t.nist_ai_100_2,
    }
}

/// Refuses an update attack whose registry entry does not apply to `modality` (e.g. one that
/// plants an image trigger, on tabular data).
pub fn check_attack_modality(attack: &AttackSpec, modality: &str) -> Result<()> {
    let entry = mithridate_fl::UPDATE_ATTACKS
        .get(&attack.name)
        .map_err(|e| PipelineError::invalid(e.to_string()))?;
    if entry.applies_to(modality) {
        return Ok(());
    }
    Err(PipelineError::invalid(format!(
        "{} does not apply to {modality} data (it works on {} data)",
        entry.name,
        entry.modalities.join(" or ")
    )))
}
