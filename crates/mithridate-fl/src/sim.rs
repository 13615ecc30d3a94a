//! The simulation engine: parameters, one run, per-round metrics.

use crate::attacks::{norm, AttackSpec, AttackView, UpdateAttack, BACKDOOR_TARGET};
use crate::error::{FlError, Result};
use mithridate_aggregate::anomaly::{self, Detection, Reputation, DEFAULT_THRESHOLD};
use mithridate_aggregate::{Aggregator, Round, RoundState, Rule, RuleConfig, Updates};
use mithridate_attack::{apply_trigger, Mapping};
use mithridate_data::partition::{partition, Partition};
use mithridate_data::{seeded_sample, Dataset};
use mithridate_engine::{metrics, Architecture, Classifier, Optimizer, TrainConfig, TrainParams};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::time::Instant;

/// Unchecked simulation hyperparameters; [`FlParams::check`] validates them into an
/// [`FlConfig`].
#[derive(Debug, Clone)]
pub struct FlParams {
    /// Number of clients `N`.
    pub clients: usize,
    /// Fraction of clients sampled per round, in `(0, 1]`: `n = max(1, round(per_round · N))`.
    pub per_round: f64,
    pub rounds: usize,
    /// Fraction of Byzantine clients in `[0, 1)`: `round(byzantine · N)` fixed, seeded ids.
    pub byzantine: f64,
    pub attack: AttackSpec,
    pub rule: Rule,
    pub partition: Partition,
    pub architecture: Architecture,
    /// Local epochs of SGD per round.
    pub local_epochs: usize,
    /// When set, replaces `local_epochs`: each round a client takes exactly this many SGD
    /// steps, on a fresh seeded sample of `local_steps x batch_size` of its rows (all of them
    /// if it has fewer). `Some(1)` is FedSGD: every update is one mini-batch gradient step.
    pub local_steps: Option<usize>,
    pub batch_size: usize,
    /// Local SGD learning rate (no momentum; a fresh optimizer each round).
    pub lr: f64,
    pub seed: u64,
    /// Suspicion above which a client counts as flagged (modified z-score).
    pub threshold: f64,
    /// Reputation's exponential-moving-average weight of the newest round.
    pub reputation_decay: f64,
    /// FLTrust only: size of the server's clean root dataset, drawn (seeded) from the training
    /// rows before they are partitioned, so no client holds them (Cao et al. use 100).
    pub root_size: usize,
}

impl FlParams {
    /// Defaults: 100 clients, 20% per round, 10 rounds, no Byzantine clients, IID, MLP,
    /// 1 local epoch of SGD (lr 0.05, batch 32), threshold 3.5, reputation decay 0.3, an
    /// FLTrust root set of 100 rows.
    pub fn new(rule: Rule, attack: AttackSpec) -> FlParams {
        FlParams {
            clients: 100,
            per_round: 0.2,
            rounds: 10,
            byzantine: 0.0,
            attack,
            rule,
            partition: Partition::Iid,
            architecture: Architecture::Mlp,
            local_epochs: 1,
            local_steps: None,
            batch_size: 32,
            lr: 0.05,
            seed: 0,
            threshold: DEFAULT_THRESHOLD,
            reputation_decay: 0.3,
            root_size: 100,
        }
    }

    /// Validates everything that does not need the data; every error names the parameter.
    ///
    /// The rule is built for `f` = the malicious participants per round (FedAvg, the undefended
    /// baseline, always with `f = 0`) and checked against the round size, so a Byzantine
    /// fraction beyond the rule's tolerance is an error before any training.
    pub fn check(&self) -> Result<FlConfig> {
        let bad = |name: &'static str, reason: String| Err(FlError::param(name, reason));
        if self.clients == 0 {
            return bad("clients", "need at least 1 client".into());
        }
        if !(self.per_round > 0.0 && self.per_round <= 1.0) {
            return bad(
                "per-round",
                format!("must be in (0, 1], got {}", self.per_round),
            );
        }
        if self.rounds == 0 {
            return bad("rounds", "need at least 1 round".into());
        }
        if !(0.0..1.0).contains(&self.byzantine) {
            return bad(
                "byzantine",
                format!("must be in [0, 1), got {}", self.byzantine),
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", format!("must be finite and > 0, got {}", self.lr));
        }
        if !self.threshold.is_finite() {
            return bad(
                "threshold",
                format!("must be finite, got {}", self.threshold),
            );
        }
        self.partition.check()?;
        if self.local_steps == Some(0) {
            return bad("local-steps", "need at least 1 step".into());
        }
        let train = TrainParams {
            // A step budget trains one epoch over the sampled rows.
            epochs: if self.local_steps.is_some() {
                1
            } else {
                self.local_epochs
            },
            batch_size: self.batch_size,
            optimizer: Optimizer::Sgd {
                lr: self.lr,
                momentum: 0.0,
            },
            weight_decay: 0.0,
        }
        .check()?;
        let participants = ((self.per_round * self.clients as f64).round() as usize).max(1);
        let byzantine_total = (self.byzantine * self.clients as f64).round() as usize;
        let malicious =
            ((self.byzantine * participants as f64).round() as usize).min(byzantine_total);
        if self.byzantine > 0.0 && malicious == 0 {
            return bad(
                "byzantine",
                format!(
                    "{} of {} clients ({} per round) rounds to 0 malicious participants per round",
                    self.byzantine, self.clients, participants
                ),
            );
        }
        if participants - malicious > self.clients - byzantine_total {
            return bad(
                "byzantine",
                format!(
                    "{participants} participants per round with {malicious} malicious need {} honest clients, only {} exist",
                    participants - malicious,
                    self.clients - byzantine_total
                ),
            );
        }
        let attack = self.attack.build()?;
        if let Some(a) = &attack {
            if a.omniscient() && participants == malicious {
                return bad(
                    "byzantine",
                    format!("{} needs honest participants to observe", a.name()),
                );
            }
            if a.name() == "alie" && self.attack.param.is_none() {
                crate::attacks::Alie::z_max(participants, malicious)?;
            }
        }
        if contains_fltrust(&self.rule) && self.root_size == 0 {
            return bad(
                "root-size",
                "fltrust needs a server root dataset of at least 1 row".into(),
            );
        }
        let assumed = if self.rule == Rule::FedAvg {
            0
        } else {
            malicious
        };
        let aggregator = RuleConfig::new(self.rule.clone(), assumed).build()?;
        aggregator.check_clients(participants)?;
        Reputation::new(self.reputation_decay)?;
        Ok(FlConfig {
            params: self.clone(),
            train,
            participants,
            malicious,
            byzantine_total,
            attack,
            aggregator,
        })
    }
}

fn contains_fltrust(rule: &Rule) -> bool {
    match rule {
        Rule::FlTrust => true,
        Rule::Nnm(inner) => contains_fltrust(inner),
        _ => false,
    }
}

/// Checked simulation configuration (build with [`FlParams::check`]).
#[derive(Debug)]
pub struct FlConfig {
    params: FlParams,
    train: TrainConfig,
    participants: usize,
    malicious: usize,
    byzantine_total: usize,
    attack: Option<Box<dyn UpdateAttack>>,
    aggregator: Box<dyn Aggregator>,
}

/// One round's measurements.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoundMetrics {
    /// 1-based.
    pub round: usize,
    /// Clean test accuracy of the global model after the round.
    pub accuracy: f64,
    /// Attack success rate of the backdoor on triggered non-target test samples.
    pub asr: Option<f64>,
    /// Participants, ascending.
    pub participants: Vec<u64>,
    /// Malicious participants (ground truth), ascending.
    pub attackers: Vec<u64>,
    /// Participants the rule dropped or gave less than half the uniform weight.
    pub down_weighted: Vec<u64>,
    /// `down_weighted` against `attackers`.
    pub rule_detection: Detection,
    /// Participants whose anomaly suspicion exceeded the threshold this round.
    pub flagged: Vec<u64>,
    /// `flagged` against `attackers`.
    pub anomaly_detection: Detection,
    /// L2 norm of the aggregate (the global model's step).
    pub aggregate_norm: f64,
    pub train_seconds: f64,
    pub aggregate_seconds: f64,
    pub seconds: f64,
}

/// The whole run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FlReport {
    pub rule: String,
    pub attack: String,
    pub clients: usize,
    pub participants_per_round: usize,
    pub malicious_per_round: usize,
    /// The `f` the rule was built for (0 for FedAvg).
    pub assumed_byzantine: usize,
    pub byzantine_ids: Vec<u64>,
    pub rounds: Vec<RoundMetrics>,
    pub final_accuracy: f64,
    pub final_asr: Option<f64>,
    /// Clients whose reputation (smoothed suspicion) ends above the threshold.
    pub reputation_flagged: Vec<u64>,
    pub reputation_detection: Detection,
    pub seconds: f64,
    /// The global model's parameters after the last round.
    #[serde(skip)]
    pub final_parameters: Vec<f32>,
}

/// Mixes `parts` into `seed` (SplitMix64 finaliser per part), so every (round, client, stream)
/// gets an independent, scheduling-free seed.
pub fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    parts.iter().fold(mix(seed), |acc, p| {
        mix(acc ^ p.wrapping_add(0x9e37_79b9_7f4a_7c15))
    })
}

/// Seed stream tags.
const PARTITION: u64 = 1;
const BYZANTINE: u64 = 2;
const INIT: u64 = 3;
const SAMPLE: u64 = 4;
const LOCAL: u64 = 5;
const CRAFT: u64 = 6;
const POISON: u64 = 7;
const AGGREGATE: u64 = 8;
const ROOT: u64 = 9;

/// The backdoor test set: non-target test samples with the trigger applied.
struct BackdoorProbe {
    triggered: Dataset,
    targets: Vec<u32>,
}

impl FlConfig {
    pub fn params(&self) -> &FlParams {
        &self.params
    }

    /// Rows a client trains on per round under a step budget (`None`: all, for whole epochs).
    fn local_sample(&self) -> Option<usize> {
        self.params
            .local_steps
            .map(|s| s.saturating_mul(self.params.batch_size))
    }

    /// Participants per round `n`.
    pub fn participants(&self) -> usize {
        self.participants
    }

    /// Runs the simulation on `train` (partitioned among the clients), evaluating on `test`
    /// after every round; `on_round` sees each round's metrics as they come.
    ///
    /// Deterministic: the partition, the Byzantine ids, each round's sample, each client's
    /// shuffling and each attack's randomness come from seeds derived from
    /// (seed, stream, round, client id), and updates are collected in client order, so the
    /// result does not depend on thread scheduling.
    pub fn run(
        &self,
        train: &Dataset,
        test: &Dataset,
        on_round: &mut dyn FnMut(&RoundMetrics),
    ) -> Result<FlReport> {
        let start = Instant::now();
        let p = &self.params;
        // FLTrust's root set leaves the pool before partitioning.
        let (pool, root) = if contains_fltrust(&p.rule) {
            if train.len() < p.root_size + p.clients {
                return Err(FlError::param(
                    "root-size",
                    format!(
                        "a root set of {} rows and {} clients need more than the {} training rows",
                        p.root_size,
                        p.clients,
                        train.len()
                    ),
                ));
            }
            let mut rows: Vec<usize> = (0..train.len()).collect();
            rows.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(p.seed, &[ROOT])));
            let (root, rest) = rows.split_at_mut(p.root_size);
            root.sort_unstable();
            rest.sort_unstable();
            (Some(train.select(rest)?), Some(train.select(root)?))
        } else {
            (None, None)
        };
        let train = pool.as_ref().unwrap_or(train);
        if train.len() < p.clients {
            return Err(FlError::param(
                "clients",
                format!(
                    "{} clients but only {} training rows",
                    p.clients,
                    train.len()
                ),
            ));
        }
        if test.is_empty() {
            return Err(FlError::param("test", "the test set is empty"));
        }
        let k = train.num_classes();
        let mut global = Classifier::new(
            p.architecture,
            train.modality(),
            k,
            derive_seed(p.seed, &[INIT]),
        )?;
        global.check_compatible(test)?;
        let parts = partition(
            train.labels(),
            k,
            p.clients,
            &p.partition,
            derive_seed(p.seed, &[PARTITION]),
        )?;
        let mut ids: Vec<u64> = (0..p.clients as u64).collect();
        ids.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
            p.seed,
            &[BYZANTINE],
        )));
        let mut byzantine: Vec<u64> = ids[..self.byzantine_total].to_vec();
        byzantine.sort_unstable();
        let is_byzantine = |id: u64| byzantine.binary_search(&id).is_ok();
        let honest_ids: Vec<u64> = (0..p.clients as u64)
            .filter(|&i| !is_byzantine(i))
            .collect();

        // Client datasets; malicious clients poison theirs once, up front.
        let poisoning = self.attack.as_ref().and_then(|a| a.data_poisoning());
        let mut trigger = None;
        let mut datasets = Vec::with_capacity(p.clients);
        for (id, rows) in parts.iter().enumerate() {
            let data = train.select(rows)?;
            match poisoning {
                Some(poison) if is_byzantine(id as u64) => {
                    let out = poison.poison(&data, derive_seed(p.seed, &[POISON, id as u64]))?;
                    if trigger.is_none() {
                        trigger = out.truth.trigger().map(|(t, m)| (t.clone(), m));
                    }
                    datasets.push(out.data);
                }
                _ => datasets.push(data),
            }
        }
        let probe = match &trigger {
            Some((t, mapping)) => Some(backdoor_probe(test, t, *mapping)?),
            None => None,
        };

        let d = global.num_parameters();
        let mut state = RoundState::default();
        let mut reputation = Reputation::new(p.reputation_decay)?;
        let mut rounds = Vec::with_capacity(p.rounds);
        for round in 1..=p.rounds {
            let round_start = Instant::now();
            let r = round as u64;
            let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(p.seed, &[SAMPLE, r]));
            let mut participants: Vec<u64> = byzantine
                .choose_multiple(&mut rng, self.malicious)
                .chain(honest_ids.choose_multiple(&mut rng, self.participants - self.malicious))
                .copied()
                .collect();
            participants.sort_unstable();
            let before = global.flat_parameters()?;

            let train_start = Instant::now();
            let skip_training = |id: u64| {
                is_byzantine(id) && self.attack.as_ref().is_some_and(|a| !a.uses_own_update())
            };
            let local: Vec<Vec<f32>> = participants
                .par_iter()
                .map(|&id| {
                    if skip_training(id) {
                        return Ok(vec![0.0; d]);
                    }
                    local_update(
                        &global,
                        &before,
                        &datasets[id as usize],
                        self.local_sample(),
                        &self.train,
                        derive_seed(p.seed, &[LOCAL, r, id]),
                    )
                })
                .collect::<Result<_>>()?;
            let train_seconds = train_start.elapsed().as_secs_f64();

            let honest: Vec<Vec<f32>> = participants
                .iter()
                .zip(&local)
                .filter(|(id, _)| !is_byzantine(**id))
                .map(|(_, u)| u.clone())
                .collect();
            let attackers: Vec<u64> = participants
                .iter()
                .copied()
                .filter(|&i| is_byzantine(i))
                .collect();
            let mut rows = Vec::with_capacity(participants.len() * d);
            for (&id, own) in participants.iter().zip(&local) {
                match (&self.attack, is_byzantine(id)) {
                    (Some(attack), true) => {
                        let view = AttackView {
                            own,
                            honest: &honest,
                            participants: participants.len(),
                            malicious: attackers.len(),
                            seed: derive_seed(p.seed, &[CRAFT, r, id]),
                        };
                        rows.extend(attack.craft(&view)?);
                    }
                    _ => rows.extend_from_slice(own),
                }
            }

            // The server's own update on its root set (FLTrust), trained like a client's.
            let root_update = match &root {
                Some(data) => Some(local_update(
                    &global,
                    &before,
                    data,
                    self.local_sample(),
                    &self.train,
                    derive_seed(p.seed, &[ROOT, r]),
                )?),
                None => None,
            };

            let aggregate_start = Instant::now();
            let n = participants.len();
            let updates = Updates::new(&rows, n, d)?;
            let mut agg_round = Round::new(updates)
                .with_client_ids(&participants)?
                .with_seed(derive_seed(p.seed, &[AGGREGATE, r]));
            if let Some(g0) = &root_update {
                agg_round = agg_round.with_root(g0)?;
            }
            let out = self.aggregator.aggregate(&agg_round, &mut state)?;
            let aggregate_seconds = aggregate_start.elapsed().as_secs_f64();
            let next: Vec<f32> = before
                .iter()
                .zip(&out.aggregate)
                .map(|(w, a)| w + a)
                .collect();
            global.set_flat_parameters(&next)?;

            let down_weighted: Vec<u64> = (0..n)
                .filter(|&i| !out.selected[i] || out.weights[i] < 0.5 / n as f64)
                .map(|i| participants[i])
                .collect();
            let scores = anomaly::score_round(&updates, self.malicious);
            let suspicion: Vec<f64> = scores.iter().map(|s| s.suspicion).collect();
            let flagged: Vec<u64> = (0..n)
                .filter(|&i| suspicion[i] > p.threshold)
                .map(|i| participants[i])
                .collect();
            reputation.update(&participants, &suspicion)?;

            let (accuracy, asr) = evaluate(&global, test, probe.as_ref())?;
            let metrics = RoundMetrics {
                round,
                accuracy,
                asr,
                rule_detection: anomaly::detection(&down_weighted, &attackers),
                anomaly_detection: anomaly::detection(&flagged, &attackers),
                participants,
                attackers,
                down_weighted,
                flagged,
                aggregate_norm: norm(&out.aggregate),
                train_seconds,
                aggregate_seconds,
                seconds: round_start.elapsed().as_secs_f64(),
            };
            on_round(&metrics);
            rounds.push(metrics);
        }
        let last = rounds
            .last()
            .ok_or_else(|| FlError::param("rounds", "no round ran"))?;
        let reputation_flagged = reputation.flagged(p.threshold);
        Ok(FlReport {
            rule: p.rule.to_string(),
            attack: p.attack.to_string(),
            clients: p.clients,
            participants_per_round: self.participants,
            malicious_per_round: self.malicious,
            assumed_byzantine: self.aggregator.byzantine(),
            final_accuracy: last.accuracy,
            final_asr: last.asr,
            reputation_detection: anomaly::detection(&reputation_flagged, &byzantine),
            reputation_flagged,
            byzantine_ids: byzantine,
            rounds,
            seconds: start.elapsed().as_secs_f64(),
            final_parameters: global.flat_parameters()?,
        })
    }
}

/// One client's local training from the global weights; returns `after - before`. With a
/// `sample` size, trains on that many of its rows drawn with `seed` (a step budget).
fn local_update(
    global: &Classifier,
    before: &[f32],
    data: &Dataset,
    sample: Option<usize>,
    cfg: &TrainConfig,
    seed: u64,
) -> Result<Vec<f32>> {
    let mut model = global.try_clone()?;
    let sampled;
    let data = match sample {
        Some(k) if k < data.len() => {
            sampled = data.select(&seeded_sample(data.len(), k, derive_seed(seed, &[SAMPLE])))?;
            &sampled
        }
        _ => data,
    };
    model.fit(data, cfg, seed, &mut |_| {})?;
    let after = model.flat_parameters()?;
    Ok(after.iter().zip(before).map(|(a, b)| a - b).collect())
}

fn backdoor_probe(
    test: &Dataset,
    trigger: &mithridate_attack::Trigger,
    mapping: Mapping,
) -> Result<BackdoorProbe> {
    let k = test.num_classes();
    let (rows, targets): (Vec<usize>, Vec<u32>) = test
        .labels()
        .iter()
        .enumerate()
        .filter_map(|(i, &y)| mapping.target_for(y, k).map(|t| (i, t)))
        .unzip();
    if rows.is_empty() {
        return Err(FlError::param(
            "attack",
            format!("no test sample outside the backdoor target class {BACKDOOR_TARGET}"),
        ));
    }
    Ok(BackdoorProbe {
        triggered: apply_trigger(trigger, &test.select(&rows)?)?,
        targets,
    })
}

/// Clean accuracy and, with a probe, the backdoor's attack success rate.
fn evaluate(
    model: &Classifier,
    test: &Dataset,
    probe: Option<&BackdoorProbe>,
) -> Result<(f64, Option<f64>)> {
    let predicted = model.predict(test)?;
    let accuracy = metrics::evaluate(&predicted, test.labels(), test.num_classes())?.accuracy;
    let asr = match probe {
        Some(probe) => {
            let predicted = model.predict(&probe.triggered)?;
            let hits = predicted
                .iter()
                .zip(&probe.targets)
                .filter(|(p, t)| p == t)
                .count();
            Some(hits as f64 / probe.targets.len() as f64)
        }
        None => None,
    };
    Ok((accuracy, asr))
}
