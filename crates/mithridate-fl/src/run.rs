//! One simulation run, step by step: set-up (root set, partition, Byzantine ids, poisoned
//! client data, backdoor probe), then per round sampling participants, local training,
//! crafting malicious updates, the server's root update, aggregation, detection and
//! reputation, evaluation.

use crate::attacks::{norm, AttackView, BACKDOOR_TARGET};
use crate::error::{FlError, Result};
use crate::sim::{
    derive_seed, FlConfig, FlReport, RoundMetrics, UserPrivacy, AGGREGATE, BYZANTINE, CRAFT, INIT,
    LOCAL, PARTITION, POISON, ROOT, SAMPLE,
};
use mithridate_aggregate::anomaly::{self, Reputation};
use mithridate_aggregate::{Aggregation, Round, RoundState, Updates};
use mithridate_attack::{apply_trigger, Mapping};
use mithridate_core::registry::Requirement;
use mithridate_data::partition::partition;
use mithridate_data::{seeded_sample, Dataset};
use mithridate_engine::{metrics, Classifier, TrainConfig};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::time::Instant;

/// The backdoor test set: non-target test samples with the trigger applied.
struct BackdoorProbe {
    triggered: Dataset,
    targets: Vec<u32>,
}

/// Who is who: the fixed Byzantine ids and the honest ones, ascending.
struct Population {
    byzantine: Vec<u64>,
    honest: Vec<u64>,
}

impl Population {
    fn is_byzantine(&self, id: u64) -> bool {
        self.byzantine.binary_search(&id).is_ok()
    }
}

/// Everything fixed before the first round.
struct Setup {
    global: Classifier,
    population: Population,
    /// Client datasets (the malicious ones poisoned once, up front).
    datasets: Vec<Dataset>,
    /// The server's clean root set (FLTrust).
    root: Option<Dataset>,
    probe: Option<BackdoorProbe>,
}

/// One round's updates as sent, in participant order.
struct Sent {
    rows: Vec<f32>,
    attackers: Vec<u64>,
    train_seconds: f64,
}

impl FlConfig {
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
        let mut setup = self.setup(train, test)?;
        let mut state = RoundState::default();
        let mut reputation = Reputation::new(p.reputation_decay)?;
        let mut rounds = Vec::with_capacity(p.rounds);
        for round in 1..=p.rounds {
            let round_start = Instant::now();
            let r = round as u64;
            let participants = self.sample_participants(&setup.population, r);
            let before = setup.global.flat_parameters()?;
            let sent = self.client_updates(&setup, &participants, &before, r)?;
            let root_update = self.root_update(&setup, &before, r)?;

            let aggregate_start = Instant::now();
            let n = participants.len();
            let d = before.len();
            let (aggregate, down_weighted, flagged, dropped, cost) = match &self.secagg {
                Some(secagg) => {
                    // The server sees only the sum: no per-client weights or anomaly scores.
                    let out = self.secure_round(
                        secagg,
                        &sent.rows,
                        &participants,
                        &sent.attackers,
                        &mut state,
                        round,
                    )?;
                    (
                        out.aggregate,
                        Vec::new(),
                        Vec::new(),
                        out.dropped,
                        Some(out.cost),
                    )
                }
                None => {
                    let updates = Updates::new(&sent.rows, n, d)?;
                    let mut agg_round = Round::new(updates)
                        .with_client_ids(&participants)?
                        .with_seed(derive_seed(p.seed, &[AGGREGATE, r]));
                    if let Some(g0) = &root_update {
                        agg_round = agg_round.with_root(g0)?;
                    }
                    let out = self.aggregator.aggregate(&agg_round, &mut state)?;
                    let (down_weighted, flagged) =
                        self.detect(&updates, &out, &participants, &mut reputation)?;
                    (out.aggregate, down_weighted, flagged, Vec::new(), None)
                }
            };
            let aggregate_seconds = aggregate_start.elapsed().as_secs_f64();
            let next: Vec<f32> = before.iter().zip(&aggregate).map(|(w, a)| w + a).collect();
            setup.global.set_flat_parameters(&next)?;

            let (accuracy, asr) = evaluate(&setup.global, test, setup.probe.as_ref())?;
            let metrics = RoundMetrics {
                round,
                accuracy,
                asr,
                rule_detection: anomaly::detection(&down_weighted, &sent.attackers),
                anomaly_detection: anomaly::detection(&flagged, &sent.attackers),
                participants,
                attackers: sent.attackers,
                down_weighted,
                flagged,
                dropped,
                secure_aggregation: cost,
                aggregate_norm: norm(&aggregate),
                train_seconds: sent.train_seconds,
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
        let byzantine = setup.population.byzantine;
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
            privacy: self.user_privacy(),
            secure_aggregation: self.secagg.as_ref().map(|s| match s.neighbours() {
                Some(k) => format!("secagg+:k={k}"),
                None => "secagg".to_string(),
            }),
            seconds: start.elapsed().as_secs_f64(),
            final_parameters: setup.global.flat_parameters()?,
        })
    }

    /// User-level `(epsilon, delta)` of a DP rule over the run: noise multiplier `z`, sampling
    /// rate `n / N`, one composition per round.
    fn user_privacy(&self) -> Option<UserPrivacy> {
        let z = self.aggregator.noise_multiplier()?;
        let p = &self.params;
        let q = self.participants as f64 / p.clients as f64;
        let epsilon = if z > 0.0 {
            mithridate_privacy::epsilon_for_poisson_gaussian(z, q, p.rounds as u64, p.dp_delta)
                .ok()
                .map(|b| b.epsilon)
                .filter(|e| e.is_finite())
        } else {
            None
        };
        Some(UserPrivacy {
            noise_multiplier: z,
            sampling_rate: q,
            rounds: p.rounds,
            delta: p.dp_delta,
            epsilon,
        })
    }

    /// The root set (held out before partitioning), the initial model, the partition, the
    /// Byzantine ids, the client datasets (poisoned up front) and the backdoor probe.
    fn setup(&self, train: &Dataset, test: &Dataset) -> Result<Setup> {
        let p = &self.params;
        // FLTrust's root set leaves the pool before partitioning.
        let (pool, root) = if p.rule.requires(Requirement::RootSet) {
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
        let global = Classifier::new(
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
        let mut population = Population {
            byzantine,
            honest: Vec::new(),
        };
        population.honest = (0..p.clients as u64)
            .filter(|&i| !population.is_byzantine(i))
            .collect();

        let poisoning = self.attack.as_ref().and_then(|a| a.data_poisoning());
        let mut trigger = None;
        let mut datasets = Vec::with_capacity(p.clients);
        for (id, rows) in parts.iter().enumerate() {
            let data = train.select(rows)?;
            match poisoning {
                Some(poison) if population.is_byzantine(id as u64) => {
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
        Ok(Setup {
            global,
            population,
            datasets,
            root,
            probe,
        })
    }

    /// Round `r`'s participants, ascending: exactly `malicious` Byzantine ids, the rest honest.
    fn sample_participants(&self, population: &Population, r: u64) -> Vec<u64> {
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.params.seed, &[SAMPLE, r]));
        let mut participants: Vec<u64> = population
            .byzantine
            .choose_multiple(&mut rng, self.malicious)
            .chain(
                population
                    .honest
                    .choose_multiple(&mut rng, self.participants - self.malicious),
            )
            .copied()
            .collect();
        participants.sort_unstable();
        participants
    }

    /// Local training of every participant (in parallel; malicious clients whose attack
    /// ignores its own update skip it), then the malicious ones' crafted updates.
    fn client_updates(
        &self,
        setup: &Setup,
        participants: &[u64],
        before: &[f32],
        r: u64,
    ) -> Result<Sent> {
        let p = &self.params;
        let d = before.len();
        let is_byzantine = |id: u64| setup.population.is_byzantine(id);
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
                    &setup.global,
                    before,
                    &setup.datasets[id as usize],
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
        Ok(Sent {
            rows,
            attackers,
            train_seconds,
        })
    }

    /// The server's own update on its root set (FLTrust), trained like a client's.
    fn root_update(&self, setup: &Setup, before: &[f32], r: u64) -> Result<Option<Vec<f32>>> {
        match &setup.root {
            Some(data) => Ok(Some(local_update(
                &setup.global,
                before,
                data,
                self.local_sample(),
                &self.train,
                derive_seed(self.params.seed, &[ROOT, r]),
            )?)),
            None => Ok(None),
        }
    }

    /// Who the rule dropped or down-weighted (below half the uniform weight) and who the
    /// anomaly scores flag; updates the reputations.
    fn detect(
        &self,
        updates: &Updates<'_>,
        out: &Aggregation,
        participants: &[u64],
        reputation: &mut Reputation,
    ) -> Result<(Vec<u64>, Vec<u64>)> {
        let n = participants.len();
        let down_weighted: Vec<u64> = (0..n)
            .filter(|&i| !out.selected[i] || out.weights[i] < 0.5 / n as f64)
            .map(|i| participants[i])
            .collect();
        let scores = anomaly::score_round(updates, self.malicious);
        let suspicion: Vec<f64> = scores.iter().map(|s| s.suspicion).collect();
        let flagged: Vec<u64> = (0..n)
            .filter(|&i| suspicion[i] > self.params.threshold)
            .map(|i| participants[i])
            .collect();
        reputation.update(participants, &suspicion)?;
        Ok((down_weighted, flagged))
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

/// The trigger stamped on every non-target test sample, with the class each should flip to.
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
