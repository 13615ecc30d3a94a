//! The record format: kinds, typed payloads, and the hash that chains each record to the
//! previous one (see the module docs of [`crate::audit`]).

use crate::canonical;
use crate::keys::parse_embedded;
use crate::merkle::Digest;
use crate::Result;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

const RECORD_CONTEXT: &str = "mithridate-provenance 2026-11-25 audit record v1";
const SIGNATURE_DOMAIN: &[u8] = b"mithridate-provenance audit record v1\0";

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    DatasetVersion,
    TrainingRun,
    Scan,
    GateDecision,
    Incident,
    Note,
}

impl RecordKind {
    pub const ALL: [RecordKind; 6] = [
        RecordKind::DatasetVersion,
        RecordKind::TrainingRun,
        RecordKind::Scan,
        RecordKind::GateDecision,
        RecordKind::Incident,
        RecordKind::Note,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RecordKind::DatasetVersion => "dataset_version",
            RecordKind::TrainingRun => "training_run",
            RecordKind::Scan => "scan",
            RecordKind::GateDecision => "gate_decision",
            RecordKind::Incident => "incident",
            RecordKind::Note => "note",
        }
    }

    /// Checks that `payload` carries this kind's fields.
    pub fn validate_payload(&self, payload: &Value) -> Result<(), String> {
        if !payload.is_object() {
            return Err(format!("a {} payload must be a JSON object", self.as_str()));
        }
        match self {
            RecordKind::DatasetVersion => check::<DatasetVersionPayload>(payload),
            RecordKind::TrainingRun => check::<TrainingRunPayload>(payload),
            RecordKind::Scan => check::<ScanPayload>(payload),
            RecordKind::GateDecision => check::<GateDecisionPayload>(payload),
            RecordKind::Incident => check::<IncidentPayload>(payload),
            RecordKind::Note => check::<NotePayload>(payload),
        }
    }
}

fn check<P: Payload>(payload: &Value) -> Result<(), String> {
    let typed = P::from_value(payload)?;
    typed.validate()
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RecordKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown record kind '{s}' (one of: {})", names.join(", "))
            })
    }
}

/// A typed payload of one record kind. Unknown extra fields in a stored payload are allowed
/// (and covered by the hash); the typed view reads the fields the kind requires.
pub trait Payload: Serialize + DeserializeOwned {
    const KIND: RecordKind;
    /// Field checks beyond what the types enforce.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
    /// Reads the typed view of a stored payload.
    fn from_value(payload: &Value) -> Result<Self, String> {
        Self::deserialize(payload)
            .map_err(|e| format!("invalid {} payload: {e}", Self::KIND.as_str()))
    }
}

/// Model hashes are opaque strings (e.g. the hex BLAKE3 or SHA-256 of a weights file),
/// compared case-insensitively.
fn check_model_hash(field: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 256
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field} must be 1-256 characters of letters, digits, ':', '_', '-', '.'"
        ))
    }
}

fn non_empty(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{field} must not be empty"))
    } else {
        Ok(())
    }
}

/// A dataset version: a manifest root and where the manifest is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetVersionPayload {
    /// The manifest's Merkle root.
    pub root: Digest,
    /// A human name, e.g. `mnist-train`.
    pub name: String,
    /// Path of the manifest file (relative paths are relative to the log's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_path: Option<String>,
    /// The version this one was derived from, so trace can diff the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_root: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_samples: Option<u64>,
}

impl Payload for DatasetVersionPayload {
    const KIND: RecordKind = RecordKind::DatasetVersion;
    fn validate(&self) -> Result<(), String> {
        non_empty("name", &self.name)?;
        if self.parent_root == Some(self.root) {
            return Err("parent_root equals root".into());
        }
        Ok(())
    }
}

/// A training run: which data and code produced which model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRunPayload {
    pub model_hash: String,
    /// Manifest roots of every dataset the run trained on.
    pub dataset_roots: Vec<Digest>,
    /// The run's configuration, as the trainer records it.
    pub config: Value,
    pub seed: u64,
    /// E.g. a git commit or the tool version.
    pub code_version: String,
}

impl Payload for TrainingRunPayload {
    const KIND: RecordKind = RecordKind::TrainingRun;
    fn validate(&self) -> Result<(), String> {
        check_model_hash("model_hash", &self.model_hash)?;
        non_empty("code_version", &self.code_version)
    }
}

/// A detector's scan of a dataset (or of a model) and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanPayload {
    pub detector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_root: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_hash: Option<String>,
    /// Ids of the samples the detector flagged.
    #[serde(default)]
    pub flagged: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
}

impl Payload for ScanPayload {
    const KIND: RecordKind = RecordKind::Scan;
    fn validate(&self) -> Result<(), String> {
        non_empty("detector", &self.detector)?;
        if let Some(m) = &self.model_hash {
            check_model_hash("model_hash", m)?;
        }
        if self.dataset_root.is_none() && self.model_hash.is_none() {
            return Err("a scan needs dataset_root or model_hash".into());
        }
        Ok(())
    }
}

/// A retraining gate's decision on a candidate model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateDecisionPayload {
    pub candidate_model_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_model_hash: Option<String>,
    pub passed: bool,
    #[serde(default)]
    pub reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
}

impl Payload for GateDecisionPayload {
    const KIND: RecordKind = RecordKind::GateDecision;
    fn validate(&self) -> Result<(), String> {
        check_model_hash("candidate_model_hash", &self.candidate_model_hash)?;
        if let Some(b) = &self.baseline_model_hash {
            check_model_hash("baseline_model_hash", b)?;
        }
        Ok(())
    }
}

/// An incident: what went wrong and which model, data and samples it concerns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentPayload {
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_hash: Option<String>,
    #[serde(default)]
    pub dataset_roots: Vec<Digest>,
    #[serde(default)]
    pub sample_ids: Vec<u64>,
}

impl Payload for IncidentPayload {
    const KIND: RecordKind = RecordKind::Incident;
    fn validate(&self) -> Result<(), String> {
        non_empty("summary", &self.summary)?;
        if let Some(m) = &self.model_hash {
            check_model_hash("model_hash", m)?;
        }
        Ok(())
    }
}

/// Free text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotePayload {
    pub text: String,
}

impl Payload for NotePayload {
    const KIND: RecordKind = RecordKind::Note;
}

/// An Ed25519 signature over a record's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordSignature {
    pub key_id: String,
    pub public_key: String,
    pub value: String,
}

impl RecordSignature {
    pub(super) fn parse(&self) -> Result<(VerifyingKey, Signature), String> {
        parse_embedded(&self.key_id, &self.public_key, &self.value)
    }
}

/// One audit log record (one line of the log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub seq: u64,
    pub timestamp: String,
    pub kind: RecordKind,
    pub payload: Value,
    pub prev_hash: Digest,
    pub hash: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<RecordSignature>,
}

impl Record {
    /// The hash this record's content should have (see the module docs).
    pub fn content_hash(&self) -> Digest {
        let content = serde_json::json!({
            "seq": self.seq,
            "timestamp": self.timestamp,
            "kind": self.kind.as_str(),
            "payload": self.payload,
            "prev_hash": self.prev_hash.to_hex(),
        });
        let mut hasher = blake3::Hasher::new_derive_key(RECORD_CONTEXT);
        hasher.update(&canonical::to_vec(&content));
        hasher.finalize().into()
    }

    pub(super) fn signing_message(hash: &Digest) -> Vec<u8> {
        let mut msg = SIGNATURE_DOMAIN.to_vec();
        msg.extend_from_slice(hash.as_bytes());
        msg
    }

    /// Reads the typed payload, if this record is of `P`'s kind.
    pub fn payload_as<P: Payload>(&self) -> Option<P> {
        if self.kind != P::KIND {
            return None;
        }
        P::from_value(&self.payload).ok()
    }

    /// A one-line description of the payload for tables.
    pub fn summary(&self) -> String {
        let short = |d: &Digest| d.to_hex()[..12].to_string();
        let text = match self.kind {
            RecordKind::DatasetVersion => self.payload_as::<DatasetVersionPayload>().map(|p| {
                let parent = p.parent_root.map(|r| format!(" (from {})", short(&r)));
                format!(
                    "{} root {}{}",
                    p.name,
                    short(&p.root),
                    parent.unwrap_or_default()
                )
            }),
            RecordKind::TrainingRun => self.payload_as::<TrainingRunPayload>().map(|p| {
                format!(
                    "model {} from {} dataset(s), seed {}, code {}",
                    p.model_hash,
                    p.dataset_roots.len(),
                    p.seed,
                    p.code_version
                )
            }),
            RecordKind::Scan => self.payload_as::<ScanPayload>().map(|p| {
                let target = match (&p.dataset_root, &p.model_hash) {
                    (Some(r), _) => format!("data {}", short(r)),
                    (None, Some(m)) => format!("model {m}"),
                    (None, None) => String::new(),
                };
                format!(
                    "{} on {target}: {} flagged{}",
                    p.detector,
                    p.flagged.len(),
                    p.verdict.map(|v| format!(", {v}")).unwrap_or_default()
                )
            }),
            RecordKind::GateDecision => self.payload_as::<GateDecisionPayload>().map(|p| {
                format!(
                    "{} candidate {}",
                    if p.passed { "PASS" } else { "FAIL" },
                    p.candidate_model_hash
                )
            }),
            RecordKind::Incident => self.payload_as::<IncidentPayload>().map(|p| p.summary),
            RecordKind::Note => self.payload_as::<NotePayload>().map(|p| p.text),
        };
        let mut text = text.unwrap_or_else(|| self.payload.to_string());
        if text.chars().count() > 100 {
            text = text.chars().take(97).collect::<String>() + "...";
        }
        text
    }
}
