//! The result of one assessment cell: one line of `results.jsonl`.
//!
//! A record is self-describing (dataset, model, attack with its taxonomy references, defence,
//! seed and every measured number), so a report can be rebuilt from `results.jsonl` alone and
//! shard directories can be merged by concatenation. Records are compared for reproducibility
//! with [`CellRecord::same_result`], which ignores only the wall time.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One finished cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellRecord {
    /// The cell's stable id (see `Cell::id`); unique within an assessment.
    pub id: String,
    /// Position of the cell in the full (unsharded) plan; reports sort by it.
    pub index: usize,
    /// Dataset name or `.npz` path as configured.
    pub dataset: String,
    pub seed: u64,
    pub outcome: Outcome,
    /// Wall time of the cell in seconds (the only field that differs between reruns).
    pub seconds: f64,
}

impl CellRecord {
    /// Equal in everything but wall time: the reproducibility check of reruns and shards.
    pub fn same_result(&self, other: &CellRecord) -> bool {
        self.id == other.id
            && self.index == other.index
            && self.dataset == other.dataset
            && self.seed == other.seed
            && self.outcome == other.outcome
    }
}

/// What a cell measured: a centralized training run, a federated simulation, a continual
/// retraining run, a retrieval-poisoning run, a privacy block's federated deployment or
/// certified defence, a text-classifier backdoor run, a generative-model poisoning run, or a
/// model-level inspection or repair of a centralized cell's poisoned model. (Results files from before a kind existed load unchanged.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    Centralized(CentralizedOutcome),
    Federated(FederatedOutcome),
    Continual(ContinualOutcome),
    Rag(RagOutcome),
    Privacy(PrivacyOutcome),
    Dpa(DpaOutcome),
    Text(TextOutcome),
    Lm(LmOutcome),
    ModelDefence(ModelDefenceOutcome),
}

/// Attack family: what the adversary wants, and so which number says it succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Degrade accuracy across the board (success = accuracy drop vs the clean baseline).
    Availability,
    /// Misclassify a chosen class or inputs (success = targeted misclassification rate).
    Targeted,
    /// Plant a trigger (success = attack success rate on triggered inputs).
    Backdoor,
    /// Hit one chosen test instance (success = 0 or 1).
    Instance,
    /// Federated model-update manipulation (success = accuracy drop vs the no-attack run).
    ModelPoisoning,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Availability => "availability",
            Family::Targeted => "targeted",
            Family::Backdoor => "backdoor",
            Family::Instance => "instance",
            Family::ModelPoisoning => "model poisoning",
        }
    }
}

/// Where an attack sits in the public taxonomies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxonomyRefs {
    /// MITRE ATLAS technique ids, e.g. `AML.T0020`.
    pub mitre_atlas: Vec<String>,
    /// OWASP Machine Learning Security Top 10 (2023), e.g. `ML02`.
    pub owasp_ml: Vec<String>,
    /// OWASP Top 10 for LLM applications (2025), e.g. `LLM04`.
    pub owasp_llm: Vec<String>,
    /// NIST AI 100-2 E2023 section, e.g. `2.3.3`.
    pub nist_ai_100_2: String,
}

/// The attack of a centralized cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackInfo {
    /// Registry name, e.g. `badnets`.
    pub name: String,
    pub family: Family,
    /// The configured budget (a rate of the attack's pool).
    pub rate: f64,
    /// The attack's checked parameters.
    pub parameters: serde_json::Value,
    /// Samples added or modified.
    pub poisoned: usize,
    pub taxonomy: TaxonomyRefs,
}

/// A trained model measured on the clean test set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelScore {
    pub clean_accuracy: f64,
    /// The attack's goal-specific success rate (ASR, targeted misclassification, victim hit);
    /// `None` for the clean baseline and for availability attacks.
    pub success_rate: Option<f64>,
}

/// A centralized run: train on the (possibly poisoned) set, optionally scan + sanitize + retrain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CentralizedOutcome {
    /// Victim architecture, e.g. `mlp`.
    pub model: String,
    pub train_samples: usize,
    pub test_samples: usize,
    /// `None` for the clean baseline.
    pub attack: Option<AttackInfo>,
    /// The model trained on the training set as the attacker left it.
    pub undefended: ModelScore,
    /// The attack's success rate on the clean baseline (the same cell's model trained without
    /// poison): the floor, what the trigger alone does to a model that never saw a poison.
    /// A trigger that is also an adversarial perturbation (Narcissus's magnified trigger, a
    /// strong blend) succeeds on it too; the backdoor is what the undefended model adds.
    /// `None` for the clean baseline and for attacks without a success rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_rate_floor: Option<f64>,
    /// `None` when the cell runs no defence.
    pub defence: Option<DefenceOutcome>,
}

/// A data detector's scan of the poisoned set, then sanitize and retrain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefenceOutcome {
    /// Detector registry name, e.g. `spectral`.
    pub detector: String,
    /// MITRE ATLAS mitigation id, e.g. `AML.M0007` (Sanitize Training Data).
    pub mitigation: String,
    pub flagged: usize,
    pub removed: usize,
    pub relabelled: usize,
    /// Detection quality against the attack's ground truth.
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub auroc: Option<f64>,
    /// Recall over the poisons whose label the attack changed, where it also planted
    /// label-keeping ones (WaNet's noise-mode samples: warped with a fresh field, labels kept,
    /// harmless alone); `None` when every poison is of one kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall_relabelled: Option<f64>,
    /// ROC curve of the suspicion scores as `[false positive rate, true positive rate]`
    /// points from `[0, 0]` to `[1, 1]`, at most a few hundred points.
    pub roc: Vec<[f64; 2]>,
    /// The model retrained on the sanitized set.
    pub retrained: ModelScore,
}

/// Clean accuracy (and ASR for backdoor attacks) after one federated round.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RoundPoint {
    pub round: usize,
    pub accuracy: f64,
    pub asr: Option<f64>,
}

/// A federated simulation under one update attack and one aggregation rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FederatedOutcome {
    pub model: String,
    pub clients: usize,
    pub participants_per_round: usize,
    pub malicious_per_round: usize,
    /// Configured Byzantine fraction of all clients.
    pub byzantine: f64,
    /// Aggregation rule name, e.g. `median`.
    pub rule: String,
    /// Update attack name (`none` for the benign run).
    pub attack: String,
    pub family: Family,
    pub taxonomy: TaxonomyRefs,
    pub rounds: Vec<RoundPoint>,
    pub final_accuracy: f64,
    pub final_asr: Option<f64>,
    /// Precision and recall of the update anomaly detector's reputation flags against the
    /// true attacker ids (`None` without attackers).
    pub anomaly_precision: Option<f64>,
    pub anomaly_recall: Option<f64>,
}

/// One step of a continual run, as the report's timeline draws it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContinualPoint {
    /// 0-based batch index.
    pub step: usize,
    /// Poisoned or tampered samples the campaign put into this step (ground truth).
    pub poisoned: usize,
    /// Samples the step named as responsible.
    pub named: usize,
    /// Whether the batch was blocked (quarantined, the deployed model kept).
    pub blocked: bool,
    /// Why it was blocked (screen, detectors, gate, manifest), empty when deployed.
    pub reasons: Vec<String>,
    /// Samples the configured training-set detectors flagged in the batch.
    pub detector_flags: usize,
    /// Clean accuracy of the model deployed after this step, on serving data.
    pub accuracy: f64,
    /// Attack success of that model (`None` before the campaign's first poison).
    pub asr: Option<f64>,
    /// Serving monitors that raised an alert this step.
    pub alerts: Vec<String>,
}

/// A continual-retraining run under one campaign: the bars' numbers and the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContinualOutcome {
    /// Campaign registry name, e.g. `slow-burn`.
    pub campaign: String,
    /// The campaign's checked parameters.
    pub parameters: serde_json::Value,
    /// `scratch` or `finetune`.
    pub retrain: String,
    /// Model family, e.g. `mlp`.
    pub model: String,
    pub batches: usize,
    pub batch_size: usize,
    /// The campaign's first poisoned batch (`None` for a clean stream).
    pub first_poisoned_batch: Option<usize>,
    /// The first blocked batch (`None`: every batch was deployed).
    pub blocked_at: Option<usize>,
    /// Highest attack success of any deployed model.
    pub max_deployed_asr: Option<f64>,
    /// Blocks of batches that carried no poison and no tampering.
    pub false_blocks: usize,
    /// Share of poisoned or tampered ids some step named (`None` without poison).
    pub named_poison_ids_recall: Option<f64>,
    pub poisoned_samples: usize,
    pub named_samples: usize,
    pub deployments: usize,
    /// Monitor alerts (one per monitor and step).
    pub alerts: usize,
    /// Alerts before the campaign's first move.
    pub false_alerts: usize,
    pub final_accuracy: Option<f64>,
    pub timeline: Vec<ContinualPoint>,
}

/// A metric per retrieval cut-off: `k` (as a string, `"1"`, `"5"`, `"20"`) to a value in
/// `[0, 1]`, as mithridate-rag reports it.
pub type AtK = BTreeMap<String, f64>;

/// A retrieval-poisoning run (mithridate-rag): one attack with P passages per target against
/// one retriever, undefended or behind a defence setting, measured at the retrieval level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RagOutcome {
    /// The corpus name as loaded (`sotu`, or a user corpus's file name).
    pub corpus: String,
    /// Passages offered to the index (the corpus with the attack's passages).
    pub passages: usize,
    /// `minilm` or `bm25`.
    pub retriever: String,
    /// Retrieval-attack registry name, e.g. `poisoned-rag`.
    pub attack: String,
    /// The attack's checked parameters.
    pub parameters: serde_json::Value,
    /// From the attack's registry entry (RAG poisoning: ATLAS AML.T0070, OWASP LLM04 / LLM08).
    pub taxonomy: TaxonomyRefs,
    /// The defence setting in the order applied, each as `name` or `name:key=value,...`
    /// (configured parameters); empty when undefended.
    pub defences: Vec<String>,
    /// The defences' checked parameters, `{"name", "parameters"}` each.
    pub defence_parameters: Vec<serde_json::Value>,
    pub targets: usize,
    pub poisons_per_target: usize,
    /// Poisoned passages in the index (added or replaced).
    pub injected: usize,
    /// Passages the defences refused at index time: all of them, and the poisoned ones.
    pub refused_at_index: usize,
    pub refused_poisons: usize,
    /// Passages longer than the encoder's limit (truncated).
    pub truncated_passages: usize,
    /// Share of targets with one of their poisons in the top k.
    pub asr_at_k: AtK,
    /// Gold-passage recall of the same retriever and defences over the corpus *without* the
    /// attack: the defences' cost on clean retrieval (`None` without gold passages).
    pub clean_recall_at_k: Option<AtK>,
    /// Gold-passage recall in the attacked corpus.
    pub recall_under_attack_at_k: Option<AtK>,
    /// Mean share of the top k that is the target's poison, mean share of its poisons in the
    /// top k, and their harmonic mean.
    pub poison_precision_at_k: AtK,
    pub poison_recall_at_k: AtK,
    pub poison_f1_at_k: AtK,
}

/// A federated run of a privacy block: one deployment (a rule, optionally under secure
/// aggregation) under one update attack, with the privacy it gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivacyOutcome {
    /// The rule, plus the protocol and dropout under secure aggregation (e.g.
    /// `norm-bound:bound=1 + secagg+:k=10, dropout 10%`).
    pub deployment: String,
    /// A point of the block's noise curve rather than a listed deployment.
    pub curve: bool,
    /// The DP rule's noise multiplier; `None` for a rule without DP.
    pub noise_multiplier: Option<f64>,
    /// User-level epsilon at `delta` (RDP accountant); `None` without DP, or unbounded (noise
    /// multiplier 0).
    pub epsilon: Option<f64>,
    pub delta: f64,
    /// The secure-aggregation protocol that ran (`secagg`, `secagg+:k=K`); `None`: none.
    pub secure_aggregation: Option<String>,
    /// Fraction of each round's participants that dropped out mid-protocol.
    pub dropout: f64,
    /// The simulation as a federated cell records it.
    pub federated: FederatedOutcome,
}

fn raw() -> String {
    "raw".to_string()
}

/// Certified accuracy at one radius.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RadiusPoint {
    /// Inserted or deleted training samples.
    pub radius: u32,
    /// Share of test inputs predicted correctly with a certified radius of at least `radius`.
    pub accuracy: f64,
}

/// A Deep Partition Aggregation run (Levine & Feizi 2021): `partitions` base classifiers on
/// hash partitions, a plurality vote, and per test input the poison budget that provably cannot
/// change its prediction. (Its wall time is the record's `seconds`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpaOutcome {
    /// Base classifier architecture, e.g. `logreg`.
    pub model: String,
    pub partitions: usize,
    pub steps: usize,
    pub shift: usize,
    /// The per-image transform in front of every base classifier (`raw` in records written
    /// before it existed).
    #[serde(default = "raw")]
    pub features: String,
    pub train_samples: usize,
    pub test_samples: usize,
    /// Training samples per partition: smallest, median, largest.
    pub partition_sizes: [usize; 3],
    pub empty_partitions: usize,
    /// Mean test accuracy of the base classifiers.
    pub base_accuracy: f64,
    /// Accuracy of the vote (certified accuracy at radius 0).
    pub vote_accuracy: f64,
    /// Median certified radius, a wrong prediction counting as -1.
    pub median_radius: f64,
    /// Certified accuracy at each configured radius, increasing.
    pub certified_accuracy: Vec<RadiusPoint>,
}

/// A text-classifier backdoor run (mithridate-text): a frozen MiniLM with a trained head, one
/// trigger attack at one rate, and the block's defences against the same poisoned head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextOutcome {
    /// `logreg` or `mlp:<hidden>`.
    pub head: String,
    /// Attack registry name, e.g. `addsent`.
    pub attack: String,
    /// The attack's checked parameters (its trigger included).
    pub parameters: serde_json::Value,
    pub taxonomy: TaxonomyRefs,
    pub rate: f64,
    pub clean_label: bool,
    pub target: u32,
    pub classes: usize,
    pub train_samples: usize,
    pub test_samples: usize,
    /// Training texts poisoned.
    pub poisoned: usize,
    /// Clean accuracy and ASR of the head trained on the unpoisoned set (the ASR floor: how
    /// often the trigger alone moves a clean model's prediction to the target).
    pub clean_accuracy: f64,
    pub asr_floor: f64,
    /// Clean accuracy and ASR of the head trained on the poisoned set.
    pub accuracy: f64,
    pub asr: f64,
    /// ASR over the triggered texts the clean head keeps off the target (the poison's own
    /// share of the success; absent in records written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asr_beyond_clean: Option<f64>,
    /// Share of the poisoned training texts the poisoned head predicts as their poisoned
    /// label (whether the poison was fitted; absent without poison and in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poisoned_fit: Option<f64>,
    pub defences: Vec<TextDefenceOutcome>,
}

/// One text defence against a poisoned head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextDefenceOutcome {
    pub defence: String,
    /// `training` (remove flagged texts, retrain) or `inference` (filter inputs).
    pub kind: String,
    pub parameters: serde_json::Value,
    /// Detection against the ground truth (poisoned training texts, or triggered inputs).
    pub precision: f64,
    pub recall: f64,
    pub auroc: Option<f64>,
    /// Training texts removed, or inputs rejected or changed.
    pub acted_on: usize,
    /// Clean accuracy and ASR after the defence.
    pub accuracy: f64,
    pub asr: f64,
    /// ASR after the defence over the triggered texts the clean head keeps off the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asr_beyond_clean: Option<f64>,
}

/// A generative-model poisoning run (mithridate-lm): the small decoder trained on the corpus
/// with `poison_docs` poisoned documents, and the same model trained without them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmOutcome {
    /// `dos` (Souly et al. 2025: trigger -> gibberish) or `completion`.
    pub attack: String,
    pub trigger: String,
    pub taxonomy: TaxonomyRefs,
    /// Clean training documents (the corpus size) and poisoned documents added.
    pub train_docs: usize,
    pub poison_docs: usize,
    /// Poisoned tokens over all training tokens.
    pub poison_token_fraction: f64,
    pub n_params: usize,
    /// Attack success of the poisoned model and of the clean baseline, in `[0, 1]`.
    pub asr: f64,
    pub baseline_asr: f64,
    /// Held-out per-token perplexity of the poisoned model and of the baseline.
    pub clean_perplexity: f64,
    pub baseline_perplexity: f64,
    pub defences: Vec<LmDefenceOutcome>,
}

/// One training-data defence of the generative model: its flags, and the model retrained on
/// what it kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmDefenceOutcome {
    /// `perplexity`, `ngram` or `manifest`.
    pub defence: String,
    pub flagged: usize,
    pub recall: f64,
    pub precision: f64,
    pub asr: f64,
    pub perplexity: f64,
}

/// A model-level defence of a centralized cell (issue 15): the poisoned model inspected for a
/// backdoor (`neural-cleanse`, `max-margin`) or repaired (`fine-tuning`, `fine-pruning`,
/// `nc-unlearning`) with a small trusted clean set, never with the training data.
///
/// The trusted set is a seeded draw from the cell's clean test split; `before` and `after`
/// are measured on the rest of it, so no trusted sample is scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDefenceOutcome {
    /// Victim architecture, e.g. `cnn`.
    pub model: String,
    pub train_samples: usize,
    /// `None` for a clean model (a false-positive check).
    pub attack: Option<AttackInfo>,
    /// Registry name of the inspector or repair, e.g. `neural-cleanse`.
    pub method: String,
    /// `inspection` or `repair` (not `kind`: the record's outcome tag).
    pub role: String,
    /// MITRE ATLAS mitigation id (AML.M0008 validate model, AML.M0003 model hardening).
    pub mitigation: String,
    pub parameters: serde_json::Value,
    pub trusted_samples: usize,
    pub evaluated_samples: usize,
    /// `trojaned` or `clean`; `None` for a repair that scans nothing (fine-tuning, pruning).
    pub verdict: Option<String>,
    pub target_classes: Vec<usize>,
    /// The attack's true target class, where it has one.
    pub true_target: Option<usize>,
    /// The model as trained on the poisoned set, and after the repair (`None` for inspections).
    pub before: ModelScore,
    pub after: Option<ModelScore>,
    /// Each flagged class's reverse-engineered trigger as a PNG picture (base64), where the
    /// method reverses one and the data are images.
    pub triggers: Vec<TriggerPicture>,
    /// The method's own evidence (per-class scores, pruned units, ...).
    pub details: serde_json::Value,
}

/// A reverse-engineered trigger as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerPicture {
    pub class: usize,
    /// The mask's L1 norm.
    pub mask_norm: f64,
    /// PNG bytes, standard base64.
    pub png_base64: String,
}
