//! Corpus manifests verified at index time: split-view poisoning caught by id.
//!
//! Paper: Carlini et al. (2024), "Poisoning Web-Scale Training Datasets is Practical" (IEEE
//! S&P), whose recommended defence is an integrity hash recorded when the index is published
//! and checked on download. The corpus as published is signed as a
//! [`mithridate_provenance::Manifest`] (BLAKE3 Merkle tree over `(id, content digest)` leaves,
//! Ed25519 signature): each passage is a one-class text sample whose id is the first 8 bytes
//! of BLAKE3(passage id) and whose 16 tokens are its BLAKE3 content digest (16-bit words + 1).
//! At index time the signature is checked and the offered passages are diffed against the
//! manifest; passages whose content changed, or that the manifest does not list, are refused.
//! Assumes the manifest was signed before the attacker changed anything: it cannot catch
//! poison that was already in the corpus when it was signed (PoisonedRAG's insertions).
//!
//! ```
//! use mithridate_rag::corpus::Passage;
//! use mithridate_rag::defences::IndexView;
//! use mithridate_rag::defences::manifest::SignedCorpus;
//! let p = |id: &str, t: &str| Passage { id: id.into(), text: t.into() };
//! let published = vec![p("a", "alpha"), p("b", "beta"), p("c", "gamma")];
//! let signed = SignedCorpus::sign(&published, 0)?;
//! let offered = vec![p("a", "alpha"), p("b", "beta, rewritten by the attacker"), p("c", "gamma"), p("d", "new")];
//! let view = IndexView { passages: &offered, embeddings: None, dim: 0, manifest: &signed, seed: 0 };
//! let mut d = mithridate_rag::registry::build_defence("manifest", &serde_json::Value::Null)?;
//! assert_eq!(d.prepare(&view)?, vec![true, false, true, false]);
//! # Ok::<(), mithridate_rag::RagError>(())
//! ```

use super::{IndexView, RetrievalDefence};
use crate::corpus::Passage;
use crate::registry::{checked_defence, DefenceEntry};
use crate::{RagError, Result};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Features, Modality};
use mithridate_provenance::{DiffParams, Manifest, SigningKey, VerifyingKey};
use std::collections::HashSet;

pub const ENTRY: DefenceEntry = Entry {
    name: "manifest",
    role: Role::RetrievalDefence,
    modalities: &["text"],
    summary: "verifies the signed corpus manifest at index time; refuses changed or unlisted passages (no parameters)",
    paper: "Carlini et al. 2024 (integrity hashes)",
    taxonomy: crate::registry::CORPUS_INTEGRITY,
    requires: &[],
    provides: &[],
    build: |p| checked_defence::<ManifestParams>("manifest", p),
};

const DIGEST_TOKENS: usize = 16;

/// The stable 64-bit sample id of a passage id.
pub fn sample_id(id: &str) -> u64 {
    let h = blake3::hash(id.as_bytes());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or_default())
}

/// Passages as the one-class text dataset the provenance manifests cover.
pub fn passage_dataset(passages: &[Passage]) -> Result<Dataset> {
    let mut tokens = Vec::with_capacity(passages.len() * DIGEST_TOKENS);
    for p in passages {
        let digest = blake3::hash(p.text.as_bytes());
        tokens.extend(
            digest
                .as_bytes()
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as u32 + 1),
        );
    }
    Dataset::new(
        Modality::Text {
            max_len: DIGEST_TOKENS,
            vocab_size: 65_537,
        },
        Features::Tokens(tokens),
        vec![0; passages.len()],
        passages.iter().map(|p| sample_id(&p.id)).collect(),
        1,
        vec!["passage".into()],
    )
    .map_err(RagError::Data)
}

/// A corpus manifest signed when the corpus was published, and the key that checks it.
#[derive(Debug, Clone)]
pub struct SignedCorpus {
    pub manifest: Manifest,
    pub key: VerifyingKey,
}

impl SignedCorpus {
    /// Signs `passages` with a key derived from `seed` (the publisher's key).
    pub fn sign(passages: &[Passage], seed: u64) -> Result<SignedCorpus> {
        let mut manifest = Manifest::build(&passage_dataset(passages)?, None, None);
        let mut secret = [0u8; 32];
        secret[..8].copy_from_slice(&seed.to_le_bytes());
        secret[8..].copy_from_slice(&blake3::hash(b"mithridate-rag publisher").as_bytes()[..24]);
        let key = SigningKey::from_bytes(&secret);
        manifest.sign(&key);
        Ok(SignedCorpus {
            manifest,
            key: key.verifying_key(),
        })
    }
}

/// Parameters of [`ManifestCheck`] (none).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManifestParams {}

impl ParamGuard for ManifestParams {
    type Checked = ManifestCheck;
    type Error = RagError;
    fn check_ref(&self) -> Result<()> {
        Ok(())
    }
    fn build(self) -> ManifestCheck {
        ManifestCheck
    }
}

/// The checked defence.
#[derive(Debug, Clone)]
pub struct ManifestCheck;

impl RetrievalDefence for ManifestCheck {
    fn name(&self) -> &'static str {
        "manifest"
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn prepare(&mut self, view: &IndexView) -> Result<Vec<bool>> {
        let signed = view.manifest;
        signed
            .manifest
            .verify_signature(&signed.key)
            .map_err(|e| RagError::invalid(format!("corpus manifest signature: {e}")))?;
        let params = DiffParams::default()
            .check()
            .map_err(|e| RagError::invalid(format!("{e}")))?;
        let diff = signed
            .manifest
            .verify_data(&passage_dataset(view.passages)?, &params);
        let refused: HashSet<u64> = diff
            .changed_features
            .iter()
            .chain(&diff.added)
            .copied()
            .collect();
        Ok(view
            .passages
            .iter()
            .map(|p| !refused.contains(&sample_id(&p.id)))
            .collect())
    }
}
