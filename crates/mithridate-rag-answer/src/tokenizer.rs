//! The SentencePiece BPE tokenizer of Gemma, rebuilt from a GGUF file's metadata
//! (`tokenizer.ggml.tokens`, `.scores`, `.token_type`): Gemma-3 ships no `tokenizer.json`.
//!
//! Algorithm: Kudo & Richardson (2018), "SentencePiece: A simple and language independent
//! subword tokenizer" (EMNLP, demo), its BPE mode (Sennrich et al. 2016), as Gemma uses it:
//! 1. a space becomes `▁` (U+2581; Gemma adds no prefix `▁`);
//! 2. the text is split at *user-defined* pieces (token type 4: `\n`, runs of newlines, tab,
//!    `[multimodal]`, …), longest match first; those stay whole (Gemma's pieces of raw spaces
//!    thus never match: SentencePiece escapes spaces before matching);
//!    every other fragment starts as one symbol per character;
//! 3. repeatedly, of all adjacent symbol pairs whose concatenation is a *normal* piece
//!    (type 1), the one with the highest score `s(a ++ b)` is merged, the leftmost on ties;
//! 4. a final symbol that is not a piece falls back to its UTF-8 bytes `<0xNN>` (type 6),
//!    or `<unk>` when the vocabulary has no such byte piece.
//!
//! A heap of candidate pairs (score, position) with stale entries skipped makes this
//! `O(n log n)` in the fragment length. Assumes scores rank merges (Gemma: `-rank`).
//! Checked against Hugging Face `transformers`' reading of the same GGUF on a fixture.
//!
//! ```
//! use mithridate_rag_answer::tokenizer::{SpmTokenizer, TokenType};
//! let n = TokenType::Normal;
//! let tok = SpmTokenizer::new(
//!     vec![("<unk>".into(), 0.0, TokenType::Unknown), ("a".into(), -1.0, n),
//!          ("b".into(), -1.0, n), ("ab".into(), -2.0, n), ("▁".into(), -1.0, n),
//!          ("▁ab".into(), -3.0, n)],
//!     None, None,
//! )?;
//! assert_eq!(tok.encode("ab ab"), vec![3, 5]);
//! assert_eq!(tok.decode(&[3, 5]), "ab ab");
//! # Ok::<(), mithridate_rag_answer::AnswerError>(())
//! ```

use crate::gguf::Value;
use crate::{AnswerError, Result};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// SentencePiece piece types, as GGUF numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl TokenType {
    fn from_gguf(v: i64) -> Option<TokenType> {
        Some(match v {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => return None,
        })
    }
}

/// The tokenizer.
#[derive(Debug, Clone)]
pub struct SpmTokenizer {
    pieces: Vec<String>,
    types: Vec<TokenType>,
    /// Normal pieces: text -> (id, score).
    normal: HashMap<String, (u32, f32)>,
    /// User-defined pieces, bucketed by first byte, longest first.
    user: HashMap<u8, Vec<(String, u32)>>,
    bytes: [Option<u32>; 256],
    unk: Option<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
}

const SPACE: char = '\u{2581}';

impl SpmTokenizer {
    /// From `(piece, score, type)` in id order; `bos`/`eos` ids when the model has them.
    pub fn new(
        vocab: Vec<(String, f32, TokenType)>,
        bos: Option<u32>,
        eos: Option<u32>,
    ) -> Result<SpmTokenizer> {
        if vocab.is_empty() {
            return Err(AnswerError::invalid("the tokenizer vocabulary is empty"));
        }
        let n = u32::try_from(vocab.len())
            .map_err(|_| AnswerError::invalid("the tokenizer vocabulary is too large"))?;
        for (name, id) in [("bos", bos), ("eos", eos)] {
            if id.is_some_and(|i| i >= n) {
                return Err(AnswerError::invalid(format!(
                    "the {name} token id lies outside the vocabulary of {n}"
                )));
            }
        }
        let mut tok = SpmTokenizer {
            pieces: Vec::with_capacity(vocab.len()),
            types: Vec::with_capacity(vocab.len()),
            normal: HashMap::with_capacity(vocab.len()),
            user: HashMap::new(),
            bytes: [None; 256],
            unk: None,
            bos,
            eos,
        };
        for (id, (piece, score, kind)) in vocab.into_iter().enumerate() {
            let id = id as u32;
            if !score.is_finite() {
                return Err(AnswerError::invalid(format!(
                    "token {id} ('{piece}') has a non-finite score"
                )));
            }
            match kind {
                // The first occurrence wins, as in SentencePiece's piece table.
                TokenType::Normal => {
                    tok.normal.entry(piece.clone()).or_insert((id, score));
                }
                TokenType::UserDefined if !piece.is_empty() => {
                    tok.user
                        .entry(piece.as_bytes()[0])
                        .or_default()
                        .push((piece.clone(), id));
                }
                TokenType::Byte => {
                    if let Some(b) = parse_byte(&piece) {
                        tok.bytes[b as usize].get_or_insert(id);
                    }
                }
                TokenType::Unknown => {
                    tok.unk.get_or_insert(id);
                }
                _ => {}
            }
            tok.pieces.push(piece);
            tok.types.push(kind);
        }
        for bucket in tok.user.values_mut() {
            bucket.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        }
        Ok(tok)
    }

    /// From GGUF metadata (`tokenizer.ggml.model` must be `llama`: SentencePiece).
    pub fn from_gguf(meta: &BTreeMap<String, Value>) -> Result<SpmTokenizer> {
        let get = |key: &str| {
            meta.get(key)
                .ok_or_else(|| AnswerError::format("GGUF metadata", format!("no {key}")))
        };
        let array = |key: &str| match get(key)? {
            Value::Array(items) => Ok(items),
            _ => Err(AnswerError::format(
                "GGUF metadata",
                format!("{key} is not an array"),
            )),
        };
        match get("tokenizer.ggml.model")? {
            Value::String(m) if m == "llama" => {}
            other => {
                return Err(AnswerError::format(
                    "GGUF metadata",
                    format!("tokenizer.ggml.model {other:?} is not SentencePiece ('llama')"),
                ))
            }
        }
        let tokens = array("tokenizer.ggml.tokens")?;
        let scores = array("tokenizer.ggml.scores")?;
        let types = array("tokenizer.ggml.token_type")?;
        if tokens.len() != scores.len() || tokens.len() != types.len() {
            return Err(AnswerError::format(
                "GGUF metadata",
                format!(
                    "{} tokens, {} scores and {} token types differ in number",
                    tokens.len(),
                    scores.len(),
                    types.len()
                ),
            ));
        }
        let bad =
            |i: usize| AnswerError::format("GGUF metadata", format!("token {i} is malformed"));
        let mut vocab = Vec::with_capacity(tokens.len());
        for (i, ((t, s), k)) in tokens.iter().zip(scores).zip(types).enumerate() {
            let Value::String(piece) = t else {
                return Err(bad(i));
            };
            let score = s.as_f64().ok_or_else(|| bad(i))? as f32;
            let kind = k
                .as_i64()
                .and_then(TokenType::from_gguf)
                .ok_or_else(|| bad(i))?;
            vocab.push((piece.clone(), score, kind));
        }
        let id = |key: &str| {
            meta.get(key)
                .and_then(Value::as_i64)
                .and_then(|v| u32::try_from(v).ok())
        };
        SpmTokenizer::new(
            vocab,
            id("tokenizer.ggml.bos_token_id"),
            id("tokenizer.ggml.eos_token_id"),
        )
    }

    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// The piece of `id` as stored (`▁` for spaces, `<0xNN>` for bytes).
    pub fn piece(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(String::as_str)
    }

    /// The token ids of `text` (no `<bos>`).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        // Spaces are escaped first, as SentencePiece's normalizer does: a user-defined piece
        // made of raw spaces then never matches (the reference library agrees, fixture).
        let text = text.replace(' ', &SPACE.to_string());
        let mut ids = Vec::new();
        let mut fragment_start = 0;
        let mut i = 0;
        while i < text.len() {
            if let Some((len, id)) = self.user_piece_at(&text[i..]) {
                self.encode_fragment(&text[fragment_start..i], &mut ids);
                ids.push(id);
                i += len;
                fragment_start = i;
            } else {
                i += text[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
        self.encode_fragment(&text[fragment_start..], &mut ids);
        ids
    }

    /// Text of `ids`: `▁` back to spaces, byte pieces reassembled as UTF-8 (invalid
    /// sequences become U+FFFD), control pieces (`<bos>`, `<eos>`, …) dropped.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            let (Some(piece), Some(kind)) =
                (self.pieces.get(id as usize), self.types.get(id as usize))
            else {
                continue;
            };
            match kind {
                TokenType::Control | TokenType::Unused => {}
                TokenType::Byte => match parse_byte(piece) {
                    Some(b) => bytes.push(b),
                    None => bytes.extend(piece.as_bytes()),
                },
                _ => bytes.extend(piece.replace(SPACE, " ").as_bytes()),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn user_piece_at(&self, rest: &str) -> Option<(usize, u32)> {
        let bucket = self.user.get(rest.as_bytes().first()?)?;
        bucket
            .iter()
            .find(|(p, _)| rest.starts_with(p.as_str()))
            .map(|(p, id)| (p.len(), *id))
    }

    /// BPE over one fragment without user-defined pieces.
    fn encode_fragment(&self, fragment: &str, ids: &mut Vec<u32>) {
        if fragment.is_empty() {
            return;
        }
        let normalized = fragment;
        // Symbols as byte ranges of `normalized`, in a linked list (None = merged away).
        let mut symbols: Vec<Option<(usize, usize)>> = normalized
            .char_indices()
            .map(|(s, c)| Some((s, s + c.len_utf8())))
            .collect();
        let n = symbols.len();
        let mut prev: Vec<Option<usize>> = (0..n).map(|i| i.checked_sub(1)).collect();
        let mut next: Vec<Option<usize>> = (0..n).map(|i| (i + 1 < n).then_some(i + 1)).collect();
        let mut heap = BinaryHeap::new();
        let candidate = |l: usize, r: usize, symbols: &[Option<(usize, usize)>]| {
            let (a, b) = (symbols[l]?, symbols[r]?);
            let text = &normalized[a.0..b.1];
            self.normal.get(text).map(|&(_, score)| Pair {
                score,
                left: l,
                right: r,
                len: b.1 - a.0,
            })
        };
        for l in 0..n.saturating_sub(1) {
            heap.extend(candidate(l, l + 1, &symbols));
        }
        while let Some(pair) = heap.pop() {
            // Stale: a side was merged since the pair was queued.
            let (Some(a), Some(b)) = (symbols[pair.left], symbols[pair.right]) else {
                continue;
            };
            if next[pair.left] != Some(pair.right) || b.1 - a.0 != pair.len {
                continue;
            }
            symbols[pair.left] = Some((a.0, b.1));
            symbols[pair.right] = None;
            next[pair.left] = next[pair.right];
            if let Some(nr) = next[pair.right] {
                prev[nr] = Some(pair.left);
            }
            if let Some(p) = prev[pair.left] {
                heap.extend(candidate(p, pair.left, &symbols));
            }
            if let Some(nr) = next[pair.left] {
                heap.extend(candidate(pair.left, nr, &symbols));
            }
        }
        let mut at = Some(0);
        while let Some(i) = at {
            if let Some((s, e)) = symbols[i] {
                let text = &normalized[s..e];
                match self.normal.get(text) {
                    Some(&(id, _)) => ids.push(id),
                    None => {
                        for b in text.bytes() {
                            ids.extend(self.bytes[b as usize].or(self.unk));
                        }
                    }
                }
            }
            at = next[i];
        }
    }
}

/// `<0xNN>` -> the byte.
fn parse_byte(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    (hex.len() == 2).then(|| u8::from_str_radix(hex, 16).ok())?
}

/// A mergeable adjacent pair: higher score first, then the leftmost.
#[derive(Debug, Clone, Copy)]
struct Pair {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl PartialEq for Pair {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pair {}
impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pair {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

#[cfg(test)]
mod tests;
