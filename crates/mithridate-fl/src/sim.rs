//! The simulation engine: parameters, one run, per-round metrics.

use crate::attacks::{AttackSpec, UpdateAttack};
use crate::error::{FlError, Result};
use mithridate_aggregate::anomaly::{Detection, Reputation, DEFAULT_THRESHOLD};
use mithridate_aggregate::{Aggregator, Rule, RuleSpec};
use mithridate_core::registry::Requirement;
use mithridate_core::ParamGuard;
use mithridate_data::partition::Partition;
use mithridate_engine::{Architecture, Optimizer, TrainConfig, TrainParams};
use mithridate_secagg::{Cost, SecAgg, SecAggParams};

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
    /// The aggregation rule with its pre-aggregators and parameters.
    pub rule: RuleSpec,
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
    /// Secure aggregation (SecAgg / SecAgg+, `mithridate-secagg`): the server sees only the
    /// sum of the survivors' quantised updates; needs a rule with a sum form (fedavg,
    /// norm-bound with a fixed bound, dp-fedavg).
    pub secure_aggregation: Option<SecAggParams>,
    /// Under secure aggregation: the fraction of each round's participants, in `[0, 1)`, that
    /// drop out after sharing their keys and before sending their masked update (seeded).
    pub dropout: f64,
    /// `delta` of the user-level `(epsilon, delta)` reported for a differentially private
    /// rule (dp-fedavg), in `(0, 1)`.
    pub dp_delta: f64,
}

impl FlParams {
    /// Defaults: 100 clients, 20% per round, 10 rounds, no Byzantine clients, IID, MLP,
    /// 1 local epoch of SGD (lr 0.05, batch 32), threshold 3.5, reputation decay 0.3, an
    /// FLTrust root set of 100 rows.
    pub fn new(rule: Rule, attack: AttackSpec) -> FlParams {
        FlParams::with_rule(RuleSpec::from(rule), attack)
    }

    /// [`new`](FlParams::new) for any checked rule specification (pre-aggregators,
    /// parameters).
    pub fn with_rule(rule: RuleSpec, attack: AttackSpec) -> FlParams {
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
            secure_aggregation: None,
            dropout: 0.0,
            dp_delta: 1e-5,
        }
    }

    /// [`ParamGuard::check`] by reference, for callers that do not import the trait (kept
    /// until they do).
    pub fn check(&self) -> Result<FlConfig> {
        self.validate()
    }

    /// Validates everything that does not need the data into the checked configuration;
    /// every error names the parameter.
    ///
    /// The rule is built for `f` = the malicious participants per round (plain FedAvg, the
    /// undefended baseline, always with `f = 0`) and checked against the round size, so a
    /// Byzantine fraction beyond the rule's tolerance is an error before any training.
    fn validate(&self) -> Result<FlConfig> {
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
        self.partition.check_ref()?;
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
            dp: None,
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
                crate::attacks::alie::Alie::z_max(participants, malicious)?;
            }
        }
        if self.rule.requires(Requirement::RootSet) && self.root_size == 0 {
            return bad(
                "root-size",
                "fltrust needs a server root dataset of at least 1 row".into(),
            );
        }
        let plain_fedavg = self.rule.pre().is_empty() && self.rule.rule().name() == "fedavg";
        let assumed = if plain_fedavg { 0 } else { malicious };
        let aggregator = self.rule.build(assumed)?;
        aggregator.check_clients(participants)?;
        Reputation::new(self.reputation_decay)?;
        if !(self.dp_delta > 0.0 && self.dp_delta < 1.0) {
            return bad(
                "dp-delta",
                format!("must be in (0, 1), got {}", self.dp_delta),
            );
        }
        let secagg = crate::secure::check(self, aggregator.as_ref(), participants)?;
        Ok(FlConfig {
            params: self.clone(),
            train,
            participants,
            malicious,
            byzantine_total,
            attack,
            aggregator,
            secagg,
        })
    }
}

impl ParamGuard for FlParams {
    type Checked = FlConfig;
    type Error = FlError;
    fn check_ref(&self) -> Result<()> {
        self.validate().map(drop)
    }
    fn build(self) -> FlConfig {
        self.validate().expect("check_ref passed")
    }
    /// Validates and builds in one pass (the attack and the rule are built once).
    fn check(self) -> Result<FlConfig> {
        self.validate()
    }
}

/// Checked simulation configuration (build with [`FlParams::check`]).
#[derive(Debug)]
pub struct FlConfig {
    pub(crate) params: FlParams,
    pub(crate) train: TrainConfig,
    pub(crate) participants: usize,
    pub(crate) malicious: usize,
    pub(crate) byzantine_total: usize,
    pub(crate) attack: Option<Box<dyn UpdateAttack>>,
    pub(crate) aggregator: Box<dyn Aggregator>,
    pub(crate) secagg: Option<SecAgg>,
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
    /// Under secure aggregation: the participants that dropped out (their updates are not in
    /// the sum), ascending, and the protocol's communication and compute.
    pub dropped: Vec<u64>,
    pub secure_aggregation: Option<Cost>,
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
    /// User-level differential privacy of a DP rule (dp-fedavg).
    pub privacy: Option<UserPrivacy>,
    /// The secure-aggregation protocol, when one ran (`"secagg"` or `"secagg+:k=K"`).
    pub secure_aggregation: Option<String>,
    /// The global model's parameters after the last round.
    #[serde(skip)]
    pub final_parameters: Vec<f32>,
}

/// The user-level guarantee of a run with a differentially private rule: the RDP accountant of
/// the sampled Gaussian mechanism (`mithridate-privacy`) with noise multiplier `z`, sampling
/// rate `q = n / N` and `T` rounds. The accountant assumes Poisson sampling of clients; the
/// simulation samples exactly `n` per round (and exactly the malicious share), so the figure
/// is the standard approximation used for DP-FedAvg, not a proof for this sampler.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserPrivacy {
    pub noise_multiplier: f64,
    pub sampling_rate: f64,
    pub rounds: usize,
    pub delta: f64,
    /// `None` when unbounded (noise multiplier 0).
    pub epsilon: Option<f64>,
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
pub(crate) const PARTITION: u64 = 1;
pub(crate) const BYZANTINE: u64 = 2;
pub(crate) const INIT: u64 = 3;
pub(crate) const SAMPLE: u64 = 4;
pub(crate) const LOCAL: u64 = 5;
pub(crate) const CRAFT: u64 = 6;
pub(crate) const POISON: u64 = 7;
pub(crate) const AGGREGATE: u64 = 8;
pub(crate) const ROOT: u64 = 9;
pub(crate) const DROPOUT: u64 = 10;
pub(crate) const SECAGG: u64 = 11;

impl FlConfig {
    pub fn params(&self) -> &FlParams {
        &self.params
    }

    /// Rows a client trains on per round under a step budget (`None`: all, for whole epochs).
    pub(crate) fn local_sample(&self) -> Option<usize> {
        self.params
            .local_steps
            .map(|s| s.saturating_mul(self.params.batch_size))
    }

    /// Participants per round `n`.
    pub fn participants(&self) -> usize {
        self.participants
    }
}
