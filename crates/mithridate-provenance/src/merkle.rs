//! Content hashes of samples and the Merkle tree over them.
//!
//! Hash function: BLAKE3 (O'Connor, Aumasson, Neves, Wilcox-O'Hearn, 2020) in its
//! key-derivation mode, with a distinct context string per use, so a features hash, a leaf
//! and an inner node can never be confused for one another (the domain separation that
//! RFC 6962, Laurie, Langley and Kasper 2013, gets from its `0x00`/`0x01` prefixes).
//! `H_ctx(m)` below means `blake3::Hasher::new_derive_key(ctx).update(m).finalize()`.
//!
//! - **Features hash** of a sample: `F = BLAKE3-keyed(K_m, values)`, where `values` are the
//!   sample's scalars as little-endian `f32` bit patterns (dense) or `u32` (tokens) and the
//!   key `K_m = H_features(header)` binds the modality: `header` is a `u8` kind (1 image,
//!   2 tabular, 3 text), a `u8` number of dimensions, each dimension as `u64` LE and, for
//!   text, the vocabulary size as `u64` LE. Keying instead of prefixing the header keeps
//!   the values aligned to BLAKE3's 1 KiB chunks, which is measurably faster. Hashing bit
//!   patterns makes `0.0` and `-0.0` different, as they are to a model.
//! - **Leaf** of a sample: `L = H_leaf(id as u64 LE || label as u32 LE || F)`.
//! - **Tree** (Merkle, 1987): leaves in increasing id order form level 0. Each next level
//!   hashes adjacent pairs, `N = H_node(left || right)`; an odd node at the end of a level
//!   has no sibling and is promoted to the next level unchanged. The root is the single
//!   node left; the root of a single leaf is that leaf; the root of no samples is
//!   `H_empty("")`.
//!
//! The root therefore commits to the exact set of `(id, label, modality, feature bits)`
//! tuples and nothing else (class names, source and licence are covered by the manifest
//! signature instead).

use mithridate_data::Modality;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::OnceLock;

const FEATURES_CONTEXT: &str = "mithridate-provenance 2026-11-25 sample features v1";
const LEAF_CONTEXT: &str = "mithridate-provenance 2026-11-25 merkle leaf v1";
const NODE_CONTEXT: &str = "mithridate-provenance 2026-11-25 merkle node v1";
const EMPTY_CONTEXT: &str = "mithridate-provenance 2026-11-25 merkle empty v1";

/// A 32-byte BLAKE3 digest, written as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// All zeros: the `prev_hash` of the first audit record.
    pub const ZERO: Digest = Digest([0; 32]);

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses exactly 64 hex digits (either case; files use [`Digest::from_canonical_hex`]).
    pub fn from_hex(text: &str) -> Result<Digest, String> {
        if text.len() != 64 {
            return Err(format!(
                "expected a 64-hex-digit digest, got {} characters",
                text.len()
            ));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out)
            .map_err(|e| format!("not a hex digest ({e}): '{}'", text.escape_debug()))?;
        Ok(Digest(out))
    }
}

impl Digest {
    /// Parses exactly 64 lower-case hex digits, the only spelling files may use, so that
    /// no two spellings of one digest exist in a hashed or signed file.
    pub fn from_canonical_hex(text: &str) -> Result<Digest, String> {
        if !is_lower_hex(text) {
            return Err(format!(
                "expected 64 lower-case hex digits, got '{}'",
                text.escape_debug()
            ));
        }
        Digest::from_hex(text)
    }
}

/// True when `text` is non-empty and only `0-9a-f`.
pub(crate) fn is_lower_hex(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl From<blake3::Hash> for Digest {
    fn from(hash: blake3::Hash) -> Self {
        Digest(*hash.as_bytes())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl std::str::FromStr for Digest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::from_hex(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Digest::from_canonical_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// A prepared hasher per context: deriving the context key once instead of per sample.
fn base_hasher(cell: &'static OnceLock<blake3::Hasher>, context: &'static str) -> blake3::Hasher {
    cell.get_or_init(|| blake3::Hasher::new_derive_key(context))
        .clone()
}

/// Hashes the features of samples of one modality (see the module docs for the encoding).
///
/// ```
/// use mithridate_data::Modality;
/// use mithridate_provenance::merkle::FeatureHasher;
/// let hasher = FeatureHasher::new(&Modality::Tabular { features: 2 });
/// assert_ne!(hasher.dense(&[0.0, 1.0]), hasher.dense(&[-0.0, 1.0]));
/// assert_eq!(hasher.dense(&[0.5, 1.0]), hasher.dense(&[0.5, 1.0]));
/// ```
#[derive(Clone)]
pub struct FeatureHasher {
    key: [u8; 32],
}

impl FeatureHasher {
    pub fn new(modality: &Modality) -> Self {
        let mut header = Vec::with_capacity(40);
        let (kind, vocab) = match modality {
            Modality::Image { .. } => (1u8, None),
            Modality::Tabular { .. } => (2u8, None),
            Modality::Text { vocab_size, .. } => (3u8, Some(*vocab_size as u64)),
        };
        let shape = modality.sample_shape();
        header.push(kind);
        // At most three dimensions exist, so the count always fits a byte.
        header.push(shape.len() as u8);
        for dim in shape {
            header.extend_from_slice(&(dim as u64).to_le_bytes());
        }
        if let Some(v) = vocab {
            header.extend_from_slice(&v.to_le_bytes());
        }
        FeatureHasher {
            key: blake3::derive_key(FEATURES_CONTEXT, &header),
        }
    }

    /// Features hash of one dense sample.
    pub fn dense(&self, values: &[f32]) -> Digest {
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        #[cfg(target_endian = "little")]
        hasher.update(bytemuck::cast_slice(values));
        #[cfg(not(target_endian = "little"))]
        for v in values {
            hasher.update(&v.to_le_bytes());
        }
        hasher.finalize().into()
    }

    /// Features hash of one token sample.
    pub fn tokens(&self, tokens: &[u32]) -> Digest {
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        #[cfg(target_endian = "little")]
        hasher.update(bytemuck::cast_slice(tokens));
        #[cfg(not(target_endian = "little"))]
        for t in tokens {
            hasher.update(&t.to_le_bytes());
        }
        hasher.finalize().into()
    }
}

/// The leaf of one sample: `H_leaf(id || label || features)`.
pub fn leaf_hash(id: u64, label: u32, features: &Digest) -> Digest {
    static BASE: OnceLock<blake3::Hasher> = OnceLock::new();
    let mut hasher = base_hasher(&BASE, LEAF_CONTEXT);
    hasher.update(&id.to_le_bytes());
    hasher.update(&label.to_le_bytes());
    hasher.update(features.as_bytes());
    hasher.finalize().into()
}

/// An inner node: `H_node(left || right)`.
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    static BASE: OnceLock<blake3::Hasher> = OnceLock::new();
    let mut hasher = base_hasher(&BASE, NODE_CONTEXT);
    hasher.update(left.as_bytes());
    hasher.update(right.as_bytes());
    hasher.finalize().into()
}

/// The Merkle root of `leaves` (already in id order), with odd-node promotion.
///
/// ```
/// use mithridate_provenance::merkle::{merkle_root, node_hash, Digest};
/// let (a, b, c) = (Digest([1; 32]), Digest([2; 32]), Digest([3; 32]));
/// // Three leaves: (a, b) pair up, c is promoted, then the two remaining nodes pair.
/// assert_eq!(merkle_root(&[a, b, c]), node_hash(&node_hash(&a, &b), &c));
/// assert_eq!(merkle_root(&[a]), a);
/// ```
pub fn merkle_root(leaves: &[Digest]) -> Digest {
    if leaves.is_empty() {
        static BASE: OnceLock<blake3::Hasher> = OnceLock::new();
        return base_hasher(&BASE, EMPTY_CONTEXT).finalize().into();
    }
    let mut level: Vec<Digest> = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => node_hash(left, right),
                [odd] => *odd,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(byte: u8) -> Digest {
        Digest([byte; 32])
    }

    #[test]
    fn tree_shape_matches_hand_built_tree() {
        let l: Vec<Digest> = (1..=5).map(d).collect();
        // Level 1: n01, n23, l4 (promoted); level 2: n0123, l4; level 3: root.
        let n01 = node_hash(&l[0], &l[1]);
        let n23 = node_hash(&l[2], &l[3]);
        let expected = node_hash(&node_hash(&n01, &n23), &l[4]);
        assert_eq!(merkle_root(&l), expected);
        assert_eq!(merkle_root(&l[..2]), n01);
    }

    #[test]
    fn domains_are_separated_and_order_matters() {
        let (a, b) = (d(7), d(9));
        assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
        // A leaf and a node over the same 32+32 bytes of input must differ.
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&a.0);
        bytes[32..].copy_from_slice(&b.0);
        let plain: Digest = blake3::hash(&bytes).into();
        assert_ne!(node_hash(&a, &b), plain);
        assert_ne!(merkle_root(&[]), Digest::ZERO);
        assert_ne!(leaf_hash(1, 0, &a), leaf_hash(1, 1, &a));
        assert_ne!(leaf_hash(1, 0, &a), leaf_hash(2, 0, &a));
    }

    #[test]
    fn features_hash_matches_independent_encoding() {
        // Reference: build the documented byte string by hand and hash it once.
        let modality = Modality::Image {
            channels: 1,
            height: 2,
            width: 2,
        };
        let values = [0.25f32, -1.0, 0.0, 3.5];
        let mut header = vec![1u8, 3];
        for dim in [1u64, 2, 2] {
            header.extend_from_slice(&dim.to_le_bytes());
        }
        let mut msg = Vec::new();
        for v in values {
            msg.extend_from_slice(&v.to_le_bytes());
        }
        let key = blake3::derive_key(FEATURES_CONTEXT, &header);
        let expected: Digest = blake3::keyed_hash(&key, &msg).into();
        assert_eq!(FeatureHasher::new(&modality).dense(&values), expected);
        // Same values, other shape: other hash.
        let flat = FeatureHasher::new(&Modality::Tabular { features: 4 });
        assert_ne!(flat.dense(&values), expected);
    }

    #[test]
    fn text_vocabulary_is_part_of_the_hash() {
        let a = FeatureHasher::new(&Modality::Text {
            max_len: 3,
            vocab_size: 10,
        });
        let b = FeatureHasher::new(&Modality::Text {
            max_len: 3,
            vocab_size: 11,
        });
        assert_ne!(a.tokens(&[1, 2, 0]), b.tokens(&[1, 2, 0]));
    }

    #[test]
    fn digest_hex_round_trip_and_errors() {
        let x = d(0xab);
        assert_eq!(Digest::from_hex(&x.to_hex()), Ok(x));
        assert!(Digest::from_hex("abc").is_err());
        assert!(Digest::from_hex(&"zz".repeat(32)).is_err());
        let json = serde_json::to_string(&x).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), x);
        assert!(serde_json::from_str::<Digest>("\"00\"").is_err());
        let upper = format!("\"{}\"", x.to_hex().to_uppercase());
        assert!(serde_json::from_str::<Digest>(&upper).is_err());
        assert_eq!(Digest::from_hex(&x.to_hex().to_uppercase()), Ok(x));
    }
}
