//! Dataset manifests: what exactly is in a dataset, sample by sample, signed.
//!
//! File format (JSON, pretty-printed), in the spirit of TUF metadata:
//!
//! ```text
//! { "signed": { "format": "mithridate-manifest", "format_version": 1,
//!               "tool": "mithridate-provenance 0.1.0", "created": "2026-11-25T00:10:00.123456Z",
//!               "source": "...", "license": "...",
//!               "modality": {"kind": "image", "channels": 1, "height": 28, "width": 28},
//!               "num_classes": 10, "class_names": [...], "num_samples": 60000,
//!               "class_counts": [...], "hash_scheme": "blake3-merkle-v1", "root": "<64 hex>",
//!               "samples": [ {"id": 0, "label": 5, "features": "<64 hex>"}, ... ] },
//!   "signature": { "algorithm": "ed25519", "key_id": "<16 hex>",
//!                  "public_key": "<64 hex>", "value": "<128 hex>" } }
//! ```
//!
//! `samples` are sorted by id; `features` is the features hash and the Merkle leaf is
//! derived from `(id, label, features)` as [`crate::merkle`] defines, so a label change and
//! a feature change are told apart. Loading recomputes the counts and the root and rejects
//! a manifest whose stored values disagree. The signature (optional, absent until `sign`)
//! is Ed25519 over `"mithridate-provenance manifest signature v1\0" || D`, where `D` is the
//! BLAKE3 key derivation (context `... manifest body v1`) of the compact serde_json bytes of
//! `signed` with fields in the order above: whitespace does not matter, every value does.

use crate::fsutil::{self, Existing};
use crate::keys::{key_id, parse_embedded, EmbeddedSignature};
use crate::merkle::{leaf_hash, merkle_root, Digest, FeatureHasher};
use crate::{ProvenanceError, Result, TOOL_VERSION};
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use mithridate_core::FileMode;
use mithridate_data::{Dataset, Features, Modality};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

const FORMAT: &str = "mithridate-manifest";
const FORMAT_VERSION: u32 = 1;
const HASH_SCHEME: &str = "blake3-merkle-v1";
const BODY_CONTEXT: &str = "mithridate-provenance 2026-11-25 manifest body v1";
const SIGNATURE_DOMAIN: &[u8] = b"mithridate-provenance manifest signature v1\0";

/// One sample as the manifest records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleEntry {
    pub id: u64,
    pub label: u32,
    /// Features hash (see [`crate::merkle`]).
    pub features: Digest,
}

impl SampleEntry {
    /// This sample's Merkle leaf.
    pub fn leaf(&self) -> Digest {
        leaf_hash(self.id, self.label, &self.features)
    }
}

/// The signed part of a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    format: String,
    format_version: u32,
    tool: String,
    created: String,
    source: Option<String>,
    license: Option<String>,
    modality: Modality,
    num_classes: usize,
    class_names: Vec<String>,
    num_samples: usize,
    class_counts: Vec<usize>,
    hash_scheme: String,
    root: Digest,
    samples: Vec<SampleEntry>,
}

/// An embedded Ed25519 signature over a manifest's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSignature {
    /// Always `ed25519`.
    pub algorithm: String,
    /// [`key_id`] of the signer's public key.
    pub key_id: String,
    /// The signer's public key, 64 hex digits (informational: verification uses the key
    /// the verifier supplies, never this one).
    pub public_key: String,
    /// The signature, 128 hex digits.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    signed: Body,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<ManifestSignature>,
}

/// Why a manifest's signature did not verify. Each is a failed check (exit code 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureFailure {
    #[error("the manifest is not signed")]
    Unsigned,
    #[error("the manifest was signed by key {found}, not by the given key {expected}")]
    WrongKey { expected: String, found: String },
    #[error("the signature by key {key_id} does not match the manifest's content (modified after signing)")]
    Invalid { key_id: String },
}

/// A dataset manifest: per-sample hashes keyed by id under a Merkle root, class counts,
/// provenance metadata and an optional signature. Construct with [`Manifest::build`] or
/// [`Manifest::load`]; every instance satisfies the invariants `load` checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    body: Body,
    signature: Option<ManifestSignature>,
}

impl Manifest {
    /// Hashes every sample of `dataset` (in parallel) and builds its manifest, stamped with
    /// this tool's version and the current time.
    ///
    /// ```
    /// use mithridate_data::{Dataset, Features, Modality};
    /// use mithridate_provenance::Manifest;
    /// let ds = Dataset::new(Modality::Tabular { features: 2 },
    ///     Features::Dense(vec![0.0, 1.0, 2.0, 3.0]), vec![0, 1], vec![7, 3], 2, vec![]).unwrap();
    /// let m = Manifest::build(&ds, Some("unit test".into()), None);
    /// assert_eq!(m.samples()[0].id, 3); // sorted by id
    /// assert_eq!(m.class_counts(), &[1, 1]);
    /// ```
    pub fn build(dataset: &Dataset, source: Option<String>, license: Option<String>) -> Manifest {
        let modality = dataset.modality().clone();
        let per = modality.sample_len();
        let hasher = FeatureHasher::new(&modality);
        let ids = dataset.ids();
        let labels = dataset.labels();
        let mut samples: Vec<SampleEntry> = match dataset.features() {
            Features::Dense(values) => values
                .par_chunks_exact(per)
                .zip(ids.par_iter().zip(labels.par_iter()))
                .map(|(row, (&id, &label))| SampleEntry {
                    id,
                    label,
                    features: hasher.dense(row),
                })
                .collect(),
            Features::Tokens(tokens) => tokens
                .par_chunks_exact(per)
                .zip(ids.par_iter().zip(labels.par_iter()))
                .map(|(row, (&id, &label))| SampleEntry {
                    id,
                    label,
                    features: hasher.tokens(row),
                })
                .collect(),
        };
        samples.par_sort_unstable_by_key(|s| s.id);
        let root = root_of(&samples);
        let body = Body {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            tool: TOOL_VERSION.into(),
            created: crate::now_rfc3339(),
            source,
            license,
            num_classes: dataset.num_classes(),
            class_names: dataset.class_names(),
            num_samples: samples.len(),
            class_counts: dataset.class_counts(),
            hash_scheme: HASH_SCHEME.into(),
            root,
            samples,
            modality,
        };
        Manifest {
            body,
            signature: None,
        }
    }

    /// Parses and validates a manifest; `origin` names it in errors.
    pub fn from_slice(bytes: &[u8], origin: &Path) -> Result<Manifest> {
        let file: ManifestFile = serde_json::from_slice(bytes).map_err(|e| {
            ProvenanceError::malformed(origin, format!("not a Mithridate manifest: {e}"))
        })?;
        let manifest = Manifest {
            body: file.signed,
            signature: file.signature,
        };
        manifest.validate(origin)?;
        Ok(manifest)
    }

    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Manifest> {
        Manifest::from_slice(&fsutil::read(path)?, path)
    }

    /// The manifest as pretty-printed JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let file = ManifestFile {
            signed: self.body.clone(),
            signature: self.signature.clone(),
        };
        // Serialising plain structs of strings and integers into memory cannot fail.
        let mut out = serde_json::to_vec_pretty(&file).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Writes the manifest atomically (temporary file + rename), replacing `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        fsutil::write_atomic(path, &self.to_json(), FileMode::Shared, Existing::Replace)
    }

    fn validate(&self, origin: &Path) -> Result<()> {
        let bad = |message: String| Err(ProvenanceError::malformed(origin, message));
        let b = &self.body;
        if b.format != FORMAT {
            return bad(format!("format is '{}', expected '{FORMAT}'", b.format));
        }
        if b.format_version != FORMAT_VERSION {
            return bad(format!(
                "unsupported format_version {} (this tool reads {FORMAT_VERSION})",
                b.format_version
            ));
        }
        if b.hash_scheme != HASH_SCHEME {
            return bad(format!(
                "unsupported hash_scheme '{}' (this tool reads '{HASH_SCHEME}')",
                b.hash_scheme
            ));
        }
        if humantime::parse_rfc3339_weak(&b.created).is_err() {
            return bad(format!("created '{}' is not an RFC 3339 time", b.created));
        }
        if b.modality.sample_len() == 0 {
            return bad("modality has zero features per sample".into());
        }
        if b.num_classes == 0 {
            return bad("num_classes is 0".into());
        }
        if !b.class_names.is_empty() && b.class_names.len() != b.num_classes {
            return bad(format!(
                "{} class names for {} classes",
                b.class_names.len(),
                b.num_classes
            ));
        }
        if b.num_samples != b.samples.len() {
            return bad(format!(
                "num_samples is {} but {} samples are listed",
                b.num_samples,
                b.samples.len()
            ));
        }
        if let Some(w) = b.samples.windows(2).find(|w| w[0].id >= w[1].id) {
            return bad(if w[0].id == w[1].id {
                format!("sample id {} is listed twice", w[0].id)
            } else {
                format!(
                    "samples are not sorted by id ({} before {})",
                    w[0].id, w[1].id
                )
            });
        }
        let mut counts = vec![0usize; b.num_classes];
        for s in &b.samples {
            match counts.get_mut(s.label as usize) {
                Some(c) => *c += 1,
                None => {
                    return bad(format!(
                        "sample {} has label {} but there are {} classes",
                        s.id, s.label, b.num_classes
                    ))
                }
            }
        }
        if counts != b.class_counts {
            return bad(format!(
                "class_counts {:?} disagree with the listed samples' labels {:?}",
                b.class_counts, counts
            ));
        }
        let root = root_of(&b.samples);
        if root != b.root {
            return bad(format!(
                "root {} does not match the listed samples (their Merkle root is {root})",
                b.root
            ));
        }
        if let Some(sig) = &self.signature {
            parse_signature(sig).map_err(|m| ProvenanceError::malformed(origin, m))?;
        }
        Ok(())
    }

    /// The BLAKE3 digest of the canonical body bytes: what the signature covers.
    pub fn body_digest(&self) -> Digest {
        // Serialising plain structs of strings and integers into memory cannot fail.
        let bytes = serde_json::to_vec(&self.body).unwrap_or_default();
        let mut hasher = blake3::Hasher::new_derive_key(BODY_CONTEXT);
        hasher.update(&bytes);
        hasher.finalize().into()
    }

    fn signing_message(&self) -> Vec<u8> {
        let mut msg = SIGNATURE_DOMAIN.to_vec();
        msg.extend_from_slice(self.body_digest().as_bytes());
        msg
    }

    /// Signs the manifest with `key`, replacing any earlier signature.
    pub fn sign(&mut self, key: &SigningKey) {
        let embedded = EmbeddedSignature::sign(key, &self.signing_message());
        self.signature = Some(ManifestSignature {
            algorithm: "ed25519".into(),
            key_id: embedded.key_id,
            public_key: embedded.public_key,
            value: embedded.value,
        });
    }

    /// Checks the embedded signature against `key` (the verifier's trusted public key).
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), SignatureFailure> {
        let sig = self.signature.as_ref().ok_or(SignatureFailure::Unsigned)?;
        // Well-formedness was checked when the manifest was built or loaded.
        let (public, signature) = parse_signature(sig).map_err(|_| SignatureFailure::Invalid {
            key_id: sig.key_id.clone(),
        })?;
        if public != *key {
            return Err(SignatureFailure::WrongKey {
                expected: key_id(key),
                found: sig.key_id.clone(),
            });
        }
        key.verify(&self.signing_message(), &signature)
            .map_err(|_| SignatureFailure::Invalid {
                key_id: sig.key_id.clone(),
            })
    }

    pub fn root(&self) -> Digest {
        self.body.root
    }
    pub fn samples(&self) -> &[SampleEntry] {
        &self.body.samples
    }
    pub fn class_counts(&self) -> &[usize] {
        &self.body.class_counts
    }
    pub fn num_classes(&self) -> usize {
        self.body.num_classes
    }
    pub fn class_names(&self) -> &[String] {
        &self.body.class_names
    }
    pub fn modality(&self) -> &Modality {
        &self.body.modality
    }
    pub fn num_samples(&self) -> usize {
        self.body.num_samples
    }
    pub fn created(&self) -> &str {
        &self.body.created
    }
    pub fn tool(&self) -> &str {
        &self.body.tool
    }
    pub fn source(&self) -> Option<&str> {
        self.body.source.as_deref()
    }
    pub fn license(&self) -> Option<&str> {
        self.body.license.as_deref()
    }
    pub fn signature(&self) -> Option<&ManifestSignature> {
        self.signature.as_ref()
    }
}

fn root_of(samples: &[SampleEntry]) -> Digest {
    let leaves: Vec<Digest> = samples.par_iter().map(SampleEntry::leaf).collect();
    merkle_root(&leaves)
}

fn parse_signature(sig: &ManifestSignature) -> Result<(VerifyingKey, Signature), String> {
    if sig.algorithm != "ed25519" {
        return Err(format!(
            "signature algorithm '{}' is not supported (only ed25519)",
            sig.algorithm.escape_debug()
        ));
    }
    parse_embedded(&sig.key_id, &sig.public_key, &sig.value).map_err(|e| format!("signature: {e}"))
}
