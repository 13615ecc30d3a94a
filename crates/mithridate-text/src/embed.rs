//! Frozen-encoder embeddings with an on-disk cache keyed by content hash.
//!
//! The key of a text is `BLAKE3(encoder id || 0 || max_tokens || 0 || text)`; the cache is one
//! append-only file per encoder under `<data home>/text-cache/`, a sequence of records
//! `key (32 bytes) || FEATURES f32 (little endian) || BLAKE3(key || vector)[..8]`. A record whose
//! check does not match (a torn write, a flipped bit) is dropped on load and recomputed, so a
//! corrupt cache can cost time but never change a result.

use crate::{Result, TextError};
use mithridate_rag::encoder::{Encoder, Pooling, DIM};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

/// Token limit for classification inputs (including `[CLS]` and `[SEP]`).
pub const MAX_TOKENS: usize = 128;
/// How token states are pooled: the unit mean (sentence-transformers) followed by the
/// per-dimension maximum over tokens. The maximum keeps a few distinctive tokens visible that
/// the mean dilutes by the text's length.
pub const POOLING: Pooling = Pooling::MeanMax;
/// Width of a text's representation.
pub const FEATURES: usize = 2 * DIM;
const RECORD: usize = 32 + FEATURES * 4 + 8;

type Key = [u8; 32];

/// The encoder and its cache.
pub struct Embedder {
    encoder: Encoder,
    max_tokens: usize,
    cache: HashMap<Key, Vec<f32>>,
    path: Option<PathBuf>,
    /// Records dropped as corrupt when the cache was loaded.
    pub dropped: usize,
}

fn check(key: &Key, vector: &[u8]) -> [u8; 8] {
    let mut h = blake3::Hasher::new();
    h.update(key);
    h.update(vector);
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    out
}

impl Embedder {
    /// MiniLM from the data home, caching under `<home>/text-cache/` (no cache when
    /// `cache` is false).
    pub fn minilm(home: &mithridate_data::DataHome, cache: bool) -> Result<Embedder> {
        let encoder = Encoder::minilm(home).map_err(TextError::Rag)?;
        let path = cache.then(|| {
            let id = blake3::hash(format!("{}:{MAX_TOKENS}:{POOLING:?}", encoder.id()).as_bytes());
            home.root()
                .join("text-cache")
                .join(format!("{}.bin", &id.to_hex()[..16]))
        });
        Embedder::new(encoder, path)
    }

    /// `encoder` with its cache at `path`.
    pub fn new(encoder: Encoder, path: Option<PathBuf>) -> Result<Embedder> {
        let mut e = Embedder {
            encoder,
            max_tokens: MAX_TOKENS,
            cache: HashMap::new(),
            path,
            dropped: 0,
        };
        if let Some(path) = &e.path {
            if let Ok(bytes) = std::fs::read(path) {
                let whole = bytes.len() / RECORD * RECORD;
                if whole != bytes.len() {
                    // A torn last record: cut it so later appends stay aligned.
                    e.dropped += 1;
                    let f = std::fs::OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(TextError::io(path))?;
                    f.set_len(whole as u64).map_err(TextError::io(path))?;
                }
                let bytes = &bytes[..whole];
                for rec in bytes.chunks_exact(RECORD) {
                    let key: Key = rec[..32].try_into().expect("32 bytes");
                    let body = &rec[32..32 + FEATURES * 4];
                    if check(&key, body) != rec[32 + FEATURES * 4..] {
                        e.dropped += 1;
                        continue;
                    }
                    let v = body
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                        .collect();
                    e.cache.insert(key, v);
                }
            }
        }
        Ok(e)
    }

    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    fn key(&self, text: &str) -> Key {
        let mut h = blake3::Hasher::new();
        h.update(self.encoder.id().as_bytes());
        h.update(&[0]);
        h.update(&(self.max_tokens as u64).to_le_bytes());
        h.update(format!("{POOLING:?}").as_bytes());
        h.update(&[0]);
        h.update(text.as_bytes());
        *h.finalize().as_bytes()
    }

    /// How many of `texts` are not cached yet (distinct texts).
    pub fn missing<S: AsRef<str>>(&self, texts: &[S]) -> usize {
        let mut keys: Vec<Key> = texts
            .iter()
            .map(|t| self.key(t.as_ref()))
            .filter(|k| !self.cache.contains_key(k))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    }

    /// Row-major `[texts.len(), FEATURES]` representations; encodes (and caches) only the texts not
    /// cached yet, calling `progress(done)` as they are encoded.
    pub fn embed<S: AsRef<str>>(
        &mut self,
        texts: &[S],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<f32>> {
        let keys: Vec<Key> = texts.iter().map(|t| self.key(t.as_ref())).collect();
        let mut todo: Vec<usize> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, k) in keys.iter().enumerate() {
            if !self.cache.contains_key(k) && seen.insert(*k) {
                todo.push(i);
            }
        }
        if !todo.is_empty() {
            let new_texts: Vec<&str> = todo.iter().map(|&i| texts[i].as_ref()).collect();
            let out = self
                .encoder
                .encode_pooled(&new_texts, self.max_tokens, POOLING, progress)
                .map_err(TextError::Rag)?;
            let mut bytes = Vec::with_capacity(todo.len() * RECORD);
            for (row, &i) in todo.iter().enumerate() {
                let v = out.vectors[row * FEATURES..(row + 1) * FEATURES].to_vec();
                let body: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                bytes.extend_from_slice(&keys[i]);
                bytes.extend_from_slice(&body);
                bytes.extend_from_slice(&check(&keys[i], &body));
                self.cache.insert(keys[i], v);
            }
            self.append(&bytes)?;
        }
        let mut out = Vec::with_capacity(texts.len() * FEATURES);
        for k in &keys {
            out.extend_from_slice(&self.cache[k]);
        }
        Ok(out)
    }

    fn append(&self, bytes: &[u8]) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(TextError::io(dir))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(TextError::io(path))?;
        f.write_all(bytes).map_err(TextError::io(path))
    }
}
