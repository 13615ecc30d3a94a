//! Privacy blocks reduced over seeds: each deployment's epsilon, clean accuracy, backdoor ASR
//! and untargeted damage side by side; the DP-FedAvg noise curve; DPA's certified accuracy by
//! radius.
//!
//! A deployment's damage under an attack is read against *that deployment's* no-attack run of
//! the same seed, so a deployment that costs accuracy by itself (DP noise) is not charged twice:
//! its clean accuracy shows the cost, the damage what the attacker adds. Like RAG runs, privacy
//! runs stay out of the federated rows, verdicts and risk: their groups are the deployments of
//! one federation, which the federated section has no notion of.

use super::{federated_level, Stat};
use crate::record::{CellRecord, DpaOutcome, Family, Outcome, PrivacyOutcome, TaxonomyRefs};
use crate::report::Level;
use serde::Serialize;
use std::collections::BTreeMap;

/// (dataset, model, clients, participants per round, Byzantine fraction bits, rounds, delta
/// bits): one federation, one side-by-side table.
type GroupKey = (String, String, usize, usize, u64, usize, u64);
/// (dataset, model, partitions, steps, shift, features, train and test samples): one DPA
/// setting.
type DpaKey = (String, String, usize, usize, usize, String, usize, usize);

/// An update attack of a privacy group, with its filing.
#[derive(Debug, Clone, Serialize)]
pub struct PrivacyAttack {
    pub attack: String,
    pub family: Family,
    pub taxonomy: TaxonomyRefs,
}

/// One deployment under one attack, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct AttackEffect {
    pub attack: String,
    pub family: Family,
    /// Final clean accuracy under the attack.
    pub accuracy: Option<Stat>,
    /// Final backdoor ASR (backdoor attacks).
    pub asr: Option<Stat>,
    /// The deployment's no-attack accuracy minus this one, per seed.
    pub damage: Option<Stat>,
    /// The stronger of the damage and ASR levels (as federated rows have it).
    pub level: Option<Level>,
}

/// One deployment (or noise-curve point) of a privacy group, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentRow {
    pub deployment: String,
    pub secure_aggregation: Option<String>,
    pub dropout: f64,
    /// `None`: not a DP rule.
    pub noise_multiplier: Option<f64>,
    /// User-level epsilon per seed (`None`: no DP, or unbounded).
    pub epsilon: Option<Stat>,
    pub seeds: Vec<u64>,
    /// Final accuracy of the no-attack run.
    pub clean_accuracy: Option<Stat>,
    /// One per attack of the group other than `none`, in the group's order.
    pub effects: Vec<AttackEffect>,
}

impl DeploymentRow {
    /// `1.23`, `∞` (a DP rule without noise) or `no DP`.
    pub fn epsilon_text(&self) -> String {
        match (self.noise_multiplier, self.epsilon) {
            (None, _) => "no DP".to_string(),
            (Some(_), None) => "∞".to_string(),
            (Some(_), Some(e)) => format!("{:.2}", e.mean),
        }
    }
}

/// The deployments of one federation side by side, and its noise curve.
#[derive(Debug, Clone, Serialize)]
pub struct PrivacyGroup {
    pub dataset: String,
    pub model: String,
    pub clients: usize,
    pub participants_per_round: usize,
    pub malicious_per_round: usize,
    pub byzantine: f64,
    pub rounds: usize,
    pub delta: f64,
    /// The attacks other than `none`, in plan order.
    pub attacks: Vec<PrivacyAttack>,
    /// Listed deployments in plan order.
    pub deployments: Vec<DeploymentRow>,
    /// Noise-curve points by increasing noise multiplier.
    pub curve: Vec<DeploymentRow>,
}

impl PrivacyGroup {
    /// `mnist · mlp: 100 clients, 20 per round (4 malicious), 30 rounds`.
    pub fn title(&self) -> String {
        format!(
            "{} · {}: {} clients, {} per round ({} malicious), {} rounds",
            self.dataset,
            self.model,
            self.clients,
            self.participants_per_round,
            self.malicious_per_round,
            self.rounds
        )
    }
}

/// Certified accuracy at one radius, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct RadiusStat {
    pub radius: u32,
    pub accuracy: Option<Stat>,
}

/// One DPA setting, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct DpaRow {
    pub dataset: String,
    pub model: String,
    pub partitions: usize,
    pub steps: usize,
    pub shift: usize,
    pub features: String,
    pub train_samples: usize,
    pub test_samples: usize,
    pub seeds: Vec<u64>,
    /// The lowest seed's partition sizes: smallest, median, largest.
    pub partition_sizes: [usize; 3],
    pub vote_accuracy: Option<Stat>,
    pub base_accuracy: Option<Stat>,
    pub median_radius: Option<Stat>,
    /// By increasing radius.
    pub certified: Vec<RadiusStat>,
    pub seconds: Option<Stat>,
}

impl DpaRow {
    /// `k = 1200 logreg`, with the features and shift when not raw and 0
    /// (`k = 1200 logreg on hog, shift 1`).
    pub fn label(&self) -> String {
        let mut label = format!("k = {} {}", self.partitions, self.model);
        if self.features != "raw" {
            label.push_str(&format!(" on {}", self.features));
        }
        if self.shift > 0 {
            label.push_str(&format!(", shift {}", self.shift));
        }
        label
    }
}

/// Everything privacy blocks measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PrivacySummary {
    pub groups: Vec<PrivacyGroup>,
    pub dpa: Vec<DpaRow>,
}

impl PrivacySummary {
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.dpa.is_empty()
    }
}

pub(super) fn push<K: PartialEq, T>(groups: &mut Vec<(K, Vec<T>)>, key: K, item: T) {
    match groups.iter_mut().find(|(k, _)| *k == key) {
        Some((_, list)) => list.push(item),
        None => groups.push((key, vec![item])),
    }
}

pub(super) fn seeds<T>(runs: &[(&CellRecord, T)]) -> Vec<u64> {
    let mut seeds: Vec<u64> = runs.iter().map(|(r, _)| r.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    seeds
}

/// Reduces the privacy and DPA records (in plan order) over seeds.
pub(super) fn privacy_summary(records: &[&CellRecord]) -> PrivacySummary {
    let mut groups: Vec<(GroupKey, Vec<(&CellRecord, &PrivacyOutcome)>)> = Vec::new();
    let mut dpa: Vec<(DpaKey, Vec<(&CellRecord, &DpaOutcome)>)> = Vec::new();
    for r in records {
        match &r.outcome {
            Outcome::Privacy(p) => {
                let f = &p.federated;
                let key = (
                    r.dataset.clone(),
                    f.model.clone(),
                    f.clients,
                    f.participants_per_round,
                    f.byzantine.to_bits(),
                    f.rounds.len(),
                    p.delta.to_bits(),
                );
                push(&mut groups, key, (*r, p));
            }
            Outcome::Dpa(d) => {
                let key = (
                    r.dataset.clone(),
                    d.model.clone(),
                    d.partitions,
                    d.steps,
                    d.shift,
                    d.features.clone(),
                    d.train_samples,
                    d.test_samples,
                );
                push(&mut dpa, key, (*r, d));
            }
            _ => {}
        }
    }
    PrivacySummary {
        groups: groups.iter().map(|(_, runs)| group(runs)).collect(),
        dpa: dpa.iter().map(|(_, runs)| dpa_row(runs)).collect(),
    }
}

fn group(runs: &[(&CellRecord, &PrivacyOutcome)]) -> PrivacyGroup {
    let (first, p) = runs[0];
    let mut attacks: Vec<PrivacyAttack> = Vec::new();
    let mut labels: Vec<(&str, bool)> = Vec::new();
    for (_, p) in runs {
        let f = &p.federated;
        if f.attack != "none" && !attacks.iter().any(|a| a.attack == f.attack) {
            attacks.push(PrivacyAttack {
                attack: f.attack.clone(),
                family: f.family,
                taxonomy: f.taxonomy.clone(),
            });
        }
        if !labels.contains(&(p.deployment.as_str(), p.curve)) {
            labels.push((p.deployment.as_str(), p.curve));
        }
    }
    let row = |&(label, curve): &(&str, bool)| {
        let mine: Vec<(&CellRecord, &PrivacyOutcome)> = runs
            .iter()
            .filter(|(_, p)| p.deployment == label && p.curve == curve)
            .copied()
            .collect();
        deployment_row(&mine, &attacks)
    };
    let deployments = labels.iter().filter(|(_, c)| !c).map(row).collect();
    let mut curve: Vec<DeploymentRow> = labels.iter().filter(|(_, c)| *c).map(row).collect();
    curve.sort_by(|a, b| {
        let z = |r: &DeploymentRow| r.noise_multiplier.unwrap_or(0.0);
        z(a).total_cmp(&z(b))
    });
    let f = &p.federated;
    PrivacyGroup {
        dataset: first.dataset.clone(),
        model: f.model.clone(),
        clients: f.clients,
        participants_per_round: f.participants_per_round,
        malicious_per_round: runs
            .iter()
            .map(|(_, p)| p.federated.malicious_per_round)
            .max()
            .unwrap_or(0),
        byzantine: f.byzantine,
        rounds: f.rounds.len(),
        delta: p.delta,
        attacks,
        deployments,
        curve,
    }
}

/// One deployment's runs (every attack and seed).
fn deployment_row(
    runs: &[(&CellRecord, &PrivacyOutcome)],
    attacks: &[PrivacyAttack],
) -> DeploymentRow {
    let p = runs[0].1;
    let clean: BTreeMap<u64, f64> = runs
        .iter()
        .filter(|(_, p)| p.federated.attack == "none")
        .map(|(r, p)| (r.seed, p.federated.final_accuracy))
        .collect();
    // Epsilon does not depend on the attack: one value per seed.
    let mut epsilon: BTreeMap<u64, f64> = BTreeMap::new();
    for (r, p) in runs {
        if let Some(e) = p.epsilon {
            epsilon.entry(r.seed).or_insert(e);
        }
    }
    let effects = attacks
        .iter()
        .map(|a| {
            let under: Vec<(u64, &PrivacyOutcome)> = runs
                .iter()
                .filter(|(_, p)| p.federated.attack == a.attack)
                .map(|(r, p)| (r.seed, *p))
                .collect();
            let damage = Stat::of(
                under
                    .iter()
                    .filter_map(|(s, p)| Some(clean.get(s)? - p.federated.final_accuracy)),
            );
            let asr = Stat::of(under.iter().filter_map(|(_, p)| p.federated.final_asr));
            AttackEffect {
                attack: a.attack.clone(),
                family: a.family,
                accuracy: Stat::of(under.iter().map(|(_, p)| p.federated.final_accuracy)),
                level: federated_level(damage, asr),
                asr,
                damage,
            }
        })
        .collect();
    DeploymentRow {
        deployment: p.deployment.clone(),
        secure_aggregation: p.secure_aggregation.clone(),
        dropout: p.dropout,
        noise_multiplier: p.noise_multiplier,
        epsilon: Stat::of(epsilon.into_values()),
        seeds: seeds(runs),
        clean_accuracy: Stat::of(clean.into_values()),
        effects,
    }
}

fn dpa_row(runs: &[(&CellRecord, &DpaOutcome)]) -> DpaRow {
    let (first, d) = runs[0];
    let stat = |f: fn(&DpaOutcome) -> f64| Stat::of(runs.iter().map(|(_, d)| f(d)));
    let mut radii: Vec<u32> = runs
        .iter()
        .flat_map(|(_, d)| d.certified_accuracy.iter().map(|p| p.radius))
        .collect();
    radii.sort_unstable();
    radii.dedup();
    let lowest = runs
        .iter()
        .min_by_key(|(r, _)| r.seed)
        .map_or(d, |(_, d)| *d);
    DpaRow {
        dataset: first.dataset.clone(),
        model: d.model.clone(),
        partitions: d.partitions,
        steps: d.steps,
        shift: d.shift,
        features: d.features.clone(),
        train_samples: d.train_samples,
        test_samples: d.test_samples,
        seeds: seeds(runs),
        partition_sizes: lowest.partition_sizes,
        vote_accuracy: stat(|d| d.vote_accuracy),
        base_accuracy: stat(|d| d.base_accuracy),
        median_radius: stat(|d| d.median_radius),
        certified: radii
            .into_iter()
            .map(|radius| RadiusStat {
                radius,
                accuracy: Stat::of(runs.iter().filter_map(|(_, d)| {
                    let point = d.certified_accuracy.iter().find(|p| p.radius == radius)?;
                    Some(point.accuracy)
                })),
            })
            .collect(),
        seconds: Stat::of(runs.iter().map(|(r, _)| r.seconds)),
    }
}
