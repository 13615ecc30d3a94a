//! Dense retrieval: exact top-k by cosine similarity, and the on-disk embedding cache.
//!
//! Embeddings are unit length, so cosine similarity is the dot product: the scores of a block
//! of queries against every passage are one GEMM (`Q [m, d] x P^T [d, n]`, candle's CPU
//! matmul), and each row keeps its `k` best by partial selection. Ties break towards the
//! lower passage index, so results are deterministic.
//!
//! The cache file `<home>/rag-cache/<key>.emb` holds a corpus's embedding matrix; `key` is
//! the BLAKE3 of the corpus content hash and the encoder id, and the file carries the BLAKE3
//! of its payload: a truncated, corrupted or foreign file is detected and rebuilt.
//!
//! A valid cache is memory-mapped ([`EmbeddingMatrix`]), not read into a vector: the 88-byte
//! header is a multiple of 4 and a mapping starts on a page boundary, so the little-endian
//! `f32` payload is already an aligned `[f32]` on little-endian hosts (others copy and
//! convert). The payload hash is still checked over the mapped bytes before use.
//!
//! ```
//! use mithridate_rag::index::DenseIndex;
//! // Three unit vectors in 2-d; the query (1, 0) is closest to row 2, then row 0.
//! let s = 0.5f32.sqrt();
//! let index = DenseIndex::new(vec![s, s, 0.0, 1.0, 1.0, 0.0], 2)?;
//! let hits = index.search(&[1.0, 0.0], 2)?;
//! assert_eq!(hits[0].iter().map(|h| h.0).collect::<Vec<_>>(), vec![2, 0]);
//! # Ok::<(), mithridate_rag::RagError>(())
//! ```

use crate::{RagError, Result};
use candle_core::{Device, Tensor};
use std::path::{Path, PathBuf};

/// Queries scored per GEMM block (bounds the score matrix at `BLOCK x n` floats).
const BLOCK: usize = 256;
const MAGIC: &[u8; 8] = b"MRAGEMB1";

/// An embedding matrix searched exactly.
#[derive(Debug, Clone)]
pub struct DenseIndex {
    dim: usize,
    rows: usize,
    /// `[rows, dim]`.
    matrix: Tensor,
}

/// `(row, score)` pairs, best first.
pub type Hits = Vec<(usize, f32)>;

impl DenseIndex {
    /// An index over `vectors` (row-major, `dim` wide).
    pub fn new(vectors: Vec<f32>, dim: usize) -> Result<DenseIndex> {
        if dim == 0 || !vectors.len().is_multiple_of(dim) {
            return Err(RagError::invalid(format!(
                "embedding matrix of {} values is not a whole number of {dim}-wide rows",
                vectors.len()
            )));
        }
        let rows = vectors.len() / dim;
        let matrix = Tensor::from_vec(vectors, (rows, dim), &Device::Cpu)
            .map_err(|e| RagError::Model(e.to_string()))?;
        Ok(DenseIndex { dim, rows, matrix })
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The `k` best rows for each query (`queries` row-major, `dim` wide).
    pub fn search(&self, queries: &[f32], k: usize) -> Result<Vec<Hits>> {
        if !queries.len().is_multiple_of(self.dim) {
            return Err(RagError::invalid(
                "query matrix width does not match the index",
            ));
        }
        let m = queries.len() / self.dim;
        let mut out = Vec::with_capacity(m);
        let model = |e: candle_core::Error| RagError::Model(e.to_string());
        let transposed = self.matrix.t().map_err(model)?;
        for block in queries.chunks(BLOCK * self.dim) {
            let rows = block.len() / self.dim;
            let q = Tensor::from_slice(block, (rows, self.dim), &Device::Cpu).map_err(model)?;
            let scores = q
                .matmul(&transposed)
                .and_then(|s| s.flatten_all())
                .and_then(|s| s.to_vec1::<f32>())
                .map_err(model)?;
            for row in scores.chunks(self.rows.max(1)).take(rows) {
                out.push(top_k(row, k));
            }
        }
        Ok(out)
    }
}

/// The `k` largest scores with their positions, best first (ties: lower position first).
/// One pass keeping the best `k` so far: most scores fail the one comparison with the worst
/// kept, so this is `O(n)` for small `k`.
pub fn top_k(scores: &[f32], k: usize) -> Hits {
    use std::cmp::Ordering;
    let k = k.min(scores.len());
    let mut best: Hits = Vec::with_capacity(k + 1);
    if k == 0 {
        return best;
    }
    for (i, &s) in scores.iter().enumerate() {
        if best.len() == k && s.total_cmp(&best[k - 1].1) != Ordering::Greater {
            continue;
        }
        let pos = best.partition_point(|b| b.1.total_cmp(&s) != Ordering::Less);
        best.insert(pos, (i, s));
        best.truncate(k);
    }
    best
}

/// Where the cache of `key` lives.
pub fn cache_path(home: &mithridate_data::DataHome, key: &str) -> PathBuf {
    home.root().join("rag-cache").join(format!("{key}.emb"))
}

/// The cache key of a corpus under an encoder.
pub fn cache_key(corpus_hash: &str, encoder_id: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(corpus_hash.as_bytes());
    h.update(b"\n");
    h.update(encoder_id.as_bytes());
    h.finalize().to_hex()[..32].to_string()
}

/// Why a cache file could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheMiss {
    Absent,
    /// Present but unusable (the reason); it is rebuilt.
    Invalid(String),
}

/// Bytes before the payload: magic, key, rows, dim, payload hash (a multiple of 4, so the
/// payload of a page-aligned mapping is `f32`-aligned).
const HEADER: usize = 8 + 32 + 8 + 8 + 32;

/// An embedding matrix (row-major `f32`), read as a slice: the cache file mapped into memory,
/// or a vector (freshly computed, or converted on a big-endian host).
pub struct EmbeddingMatrix(Storage);

enum Storage {
    /// The whole file; the payload starts at [`HEADER`].
    Mapped(memmap2::Mmap),
    Owned(Vec<f32>),
}

impl EmbeddingMatrix {
    /// Whether the values are read in place from the mapped cache file.
    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Storage::Mapped(_))
    }
}

impl From<Vec<f32>> for EmbeddingMatrix {
    fn from(v: Vec<f32>) -> Self {
        EmbeddingMatrix(Storage::Owned(v))
    }
}

impl std::ops::Deref for EmbeddingMatrix {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match &self.0 {
            // Alignment and length were checked when the mapping was accepted.
            Storage::Mapped(map) => bytemuck::try_cast_slice(&map[HEADER..]).unwrap_or_default(),
            Storage::Owned(v) => v,
        }
    }
}

impl PartialEq for EmbeddingMatrix {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for EmbeddingMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingMatrix")
            .field("values", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

/// Reads a cached matrix of `rows x dim` written under `key` (memory-mapped).
pub fn read_cache(
    path: &Path,
    key: &str,
    rows: usize,
    dim: usize,
) -> Result<EmbeddingMatrix, CacheMiss> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CacheMiss::Absent),
        Err(e) => return Err(CacheMiss::Invalid(format!("unreadable: {e}"))),
    };
    // SAFETY: the mapping is undefined behaviour only if the file changes while mapped. Cache
    // files are never modified in place: `write_cache` writes a new file and renames it over
    // the old one (`write_atomic`), so a live mapping keeps the old, unchanged inode.
    let map = match unsafe { memmap2::Mmap::map(&file) } {
        Ok(m) => m,
        Err(e) => return Err(CacheMiss::Invalid(format!("unreadable: {e}"))),
    };
    let bytes: &[u8] = &map;
    let header = HEADER;
    let invalid = |m: &str| Err(CacheMiss::Invalid(m.to_string()));
    if bytes.len() < header || &bytes[..8] != MAGIC {
        return invalid("not an embedding cache file");
    }
    if &bytes[8..40] != key.as_bytes() {
        return invalid("written for another corpus or encoder");
    }
    let n = u64::from_le_bytes(bytes[40..48].try_into().unwrap_or_default()) as usize;
    let d = u64::from_le_bytes(bytes[48..56].try_into().unwrap_or_default()) as usize;
    if n != rows || d != dim || bytes.len() != header + n * d * 4 {
        return invalid("wrong shape or truncated");
    }
    let payload = &bytes[header..];
    if blake3::hash(payload).as_bytes() != &bytes[56..88] {
        return invalid("payload hash mismatch (corrupted)");
    }
    if cfg!(target_endian = "little") && bytemuck::try_cast_slice::<u8, f32>(payload).is_ok() {
        return Ok(EmbeddingMatrix(Storage::Mapped(map)));
    }
    Ok(payload
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect::<Vec<f32>>()
        .into())
}

/// Writes a matrix to the cache atomically.
pub fn write_cache(path: &Path, key: &str, vectors: &[f32], dim: usize) -> Result<()> {
    if key.len() != 32 {
        return Err(RagError::invalid("cache keys are 32 characters"));
    }
    let payload: Vec<u8> = vectors.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut bytes = Vec::with_capacity(HEADER + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(key.as_bytes());
    bytes.extend_from_slice(&((vectors.len() / dim.max(1)) as u64).to_le_bytes());
    bytes.extend_from_slice(&(dim as u64).to_le_bytes());
    bytes.extend_from_slice(blake3::hash(&payload).as_bytes());
    bytes.extend_from_slice(&payload);
    let dir = mithridate_core::fsutil::parent_dir(path);
    std::fs::create_dir_all(&dir).map_err(RagError::io(&dir))?;
    mithridate_core::write_atomic(path, &bytes, mithridate_core::FileMode::Shared)
        .map_err(RagError::io(path))
}

/// Where a corpus's embeddings came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CacheStatus {
    /// Read from the cache file.
    pub cached: bool,
    /// Why an existing cache file was rebuilt (corrupted, truncated, foreign).
    pub rebuilt_because: Option<String>,
    pub path: PathBuf,
}

/// The embeddings of every passage of `corpus`: from the cache when it is valid, else
/// computed (`progress(done, total)` after each batch) and cached.
pub fn corpus_embeddings(
    home: &mithridate_data::DataHome,
    encoder: &crate::encoder::Encoder,
    corpus: &crate::corpus::Corpus,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(EmbeddingMatrix, CacheStatus)> {
    let key = cache_key(&corpus.content_hash(), encoder.id());
    let path = cache_path(home, &key);
    let dim = crate::encoder::DIM;
    let rebuilt_because = match read_cache(&path, &key, corpus.len(), dim) {
        Ok(vectors) => {
            return Ok((
                vectors,
                CacheStatus {
                    cached: true,
                    rebuilt_because: None,
                    path,
                },
            ))
        }
        Err(CacheMiss::Absent) => None,
        Err(CacheMiss::Invalid(why)) => Some(why),
    };
    let texts: Vec<&str> = corpus.passages.iter().map(|p| p.text.as_str()).collect();
    let total = texts.len();
    let embedded = encoder.encode_with_progress(&texts, &mut |done| progress(done, total))?;
    write_cache(&path, &key, &embedded.vectors, dim)?;
    Ok((
        embedded.vectors.into(),
        CacheStatus {
            cached: false,
            rebuilt_because,
            path,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_is_exact_and_breaks_ties_by_position() {
        let scores = [0.1, 0.9, 0.5, 0.9, -1.0];
        assert_eq!(top_k(&scores, 3), vec![(1, 0.9), (3, 0.9), (2, 0.5)]);
        assert_eq!(top_k(&scores, 10).len(), 5);
        assert!(top_k(&scores, 0).is_empty());
    }

    #[test]
    fn gemm_search_matches_brute_force() {
        // 600 pseudo-random rows (more than one block of queries), 8-d.
        let dim = 8;
        let mut x = 7u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let rows: Vec<f32> = (0..600 * dim).map(|_| next()).collect();
        let queries: Vec<f32> = (0..300 * dim).map(|_| next()).collect();
        let index = DenseIndex::new(rows.clone(), dim).unwrap();
        let hits = index.search(&queries, 5).unwrap();
        assert_eq!(hits.len(), 300);
        for (q, got) in queries.chunks(dim).zip(&hits) {
            let brute: Vec<f32> = rows
                .chunks(dim)
                .map(|r| r.iter().zip(q).map(|(a, b)| a * b).sum())
                .collect();
            let want = top_k(&brute, 5);
            let got_rows: Vec<usize> = got.iter().map(|h| h.0).collect();
            let want_rows: Vec<usize> = want.iter().map(|h| h.0).collect();
            assert_eq!(got_rows, want_rows);
        }
    }

    #[test]
    fn corrupted_cache_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.emb");
        let key = cache_key("corpus", "encoder");
        let m = vec![1.0f32, 2.0, 3.0, 4.0];
        assert_eq!(read_cache(&path, &key, 2, 2), Err(CacheMiss::Absent));
        write_cache(&path, &key, &m, 2).unwrap();
        let read = read_cache(&path, &key, 2, 2).unwrap();
        assert_eq!(read.to_vec(), m);
        assert_eq!(read.is_mapped(), cfg!(target_endian = "little"));
        drop(read); // the file is rewritten in place below
        assert!(read_cache(&path, &cache_key("other", "encoder"), 2, 2).is_err());
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            matches!(read_cache(&path, &key, 2, 2), Err(CacheMiss::Invalid(m)) if m.contains("corrupted"))
        );
        std::fs::write(&path, &bytes[..50]).unwrap();
        assert!(matches!(
            read_cache(&path, &key, 2, 2),
            Err(CacheMiss::Invalid(_))
        ));
    }
}
