//! A byte-level BPE tokenizer trained on the corpus.
//!
//! Byte-pair encoding: Sennrich, Haddow & Birch (2016), "Neural Machine Translation of Rare
//! Words with Subword Units" (ACL); over bytes rather than characters as in GPT-2 (Radford et
//! al. 2019), so every input, gibberish included, has an encoding and decoding is lossless.
//!
//! Training: the text is pre-split into chunks (a run of letters, of digits, of other
//! non-space characters, or of whitespace; one leading space joins the word it precedes).
//! Starting from the 256 byte symbols, each step counts every adjacent pair
//! `(a, b)` weighted by chunk frequency and merges the most frequent into a new symbol,
//! `argmax_(a,b) sum_w count(w) * #(a, b in w)`, ties broken by the smallest `(a, b)` so that
//! the same text always gives the same merges. Encoding applies the merges in their learned
//! order (lowest rank first) within each chunk. One more id, [`Tokenizer::eot`], separates
//! documents and never comes out of [`Tokenizer::encode`].
//!
//! ```
//! use mithridate_lm::tokenizer::Tokenizer;
//! let tok = Tokenizer::train(&["the cat sat on the mat; the cat ate"], 270).unwrap();
//! let ids = tok.encode("the cat");
//! assert!(ids.len() < "the cat".len()); // merges learned
//! assert_eq!(tok.decode(&ids), "the cat");
//! assert_eq!(tok.decode(&tok.encode("zebra \u{1F433}")), "zebra \u{1F433}");
//! ```

use crate::{LmError, Result};
use std::collections::HashMap;

/// A trained byte-level BPE tokenizer: ids `0..256` are bytes, then one id per merge, then
/// the end-of-text id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tokenizer {
    /// Merges in rank order: merge `i` makes id `256 + i`.
    merges: Vec<(u32, u32)>,
    #[serde(skip)]
    ranks: HashMap<(u32, u32), u32>,
    #[serde(skip)]
    pieces: Vec<Vec<u8>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
    Space,
    Other,
}

fn class(c: char) -> Class {
    if c.is_alphabetic() {
        Class::Letter
    } else if c.is_numeric() {
        Class::Digit
    } else if c.is_whitespace() {
        Class::Space
    } else {
        Class::Other
    }
}

/// The pre-tokenisation chunks of `text` (their concatenation is `text`).
pub fn chunks(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let leads = |j: usize| chars[j].1 == ' ' && j + 1 < n && class(chars[j + 1].1) != Class::Space;
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let start = chars[i].0;
        let mut j = i;
        if leads(j) {
            j += 1;
        }
        let k = class(chars[j].1);
        j += 1;
        while j < n && class(chars[j].1) == k && !(k == Class::Space && leads(j)) {
            j += 1;
        }
        let end = if j < n { chars[j].0 } else { text.len() };
        out.push(&text[start..end]);
        i = j;
    }
    out
}

impl Tokenizer {
    /// Learns BPE merges on `texts` until the vocabulary (bytes + merges + end-of-text) has
    /// `vocab_size` ids, or no pair occurs twice. `vocab_size` must be in `258..=65_536`.
    pub fn train<S: AsRef<str>>(texts: &[S], vocab_size: usize) -> Result<Tokenizer> {
        if !(258..=65_536).contains(&vocab_size) {
            return Err(LmError::invalid(format!(
                "vocab size {vocab_size} must be between 258 and 65536"
            )));
        }
        let mut freq: HashMap<&str, u64> = HashMap::new();
        for t in texts {
            for c in chunks(t.as_ref()) {
                *freq.entry(c).or_default() += 1;
            }
        }
        let mut words: Vec<(Vec<u32>, u64)> = freq
            .into_iter()
            .map(|(w, n)| (w.bytes().map(u32::from).collect(), n))
            .collect();
        words.sort_unstable();
        let target_merges = vocab_size - 257;
        let mut merges = Vec::with_capacity(target_merges);
        let mut counts: HashMap<(u32, u32), u64> = HashMap::new();
        while merges.len() < target_merges {
            counts.clear();
            for (w, n) in &words {
                for p in w.windows(2) {
                    *counts.entry((p[0], p[1])).or_default() += n;
                }
            }
            let best = counts
                .iter()
                .filter(|(_, &c)| c >= 2)
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(&p, _)| p);
            let Some(pair) = best else { break };
            let id = 256 + merges.len() as u32;
            merges.push(pair);
            for (w, _) in words.iter_mut() {
                merge_in_place(w, pair, id);
            }
            words.retain(|(w, _)| w.len() > 1);
        }
        Ok(Tokenizer::from_merges(merges))
    }

    /// Rebuilds a tokenizer from its merges.
    pub fn from_merges(merges: Vec<(u32, u32)>) -> Tokenizer {
        let mut pieces: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for &(a, b) in &merges {
            let mut p = pieces[a as usize].clone();
            p.extend_from_slice(&pieces[b as usize]);
            pieces.push(p);
        }
        let ranks = merges
            .iter()
            .enumerate()
            .map(|(i, &p)| (p, i as u32))
            .collect();
        Tokenizer {
            merges,
            ranks,
            pieces,
        }
    }

    /// Reads the JSON written by [`Tokenizer::to_json`].
    pub fn from_json(text: &str) -> Result<Tokenizer> {
        let t: Tokenizer = serde_json::from_str(text).map_err(|e| LmError::Format {
            what: "tokenizer".into(),
            message: e.to_string(),
        })?;
        for (i, &(a, b)) in t.merges.iter().enumerate() {
            if a as usize >= 256 + i || b as usize >= 256 + i {
                return Err(LmError::Format {
                    what: "tokenizer".into(),
                    message: format!("merge {i} refers to a later id"),
                });
            }
        }
        Ok(Tokenizer::from_merges(t.merges))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Number of ids, end-of-text included.
    pub fn vocab_size(&self) -> usize {
        self.pieces.len() + 1
    }

    /// The end-of-text (document separator) id.
    pub fn eot(&self) -> u32 {
        self.pieces.len() as u32
    }

    pub fn merges(&self) -> &[(u32, u32)] {
        &self.merges
    }

    /// Encodes one chunk's bytes by applying merges lowest rank first.
    fn encode_chunk(&self, chunk: &str, out: &mut Vec<u32>) {
        let mut w: Vec<u32> = chunk.bytes().map(u32::from).collect();
        while w.len() > 1 {
            let best = w
                .windows(2)
                .filter_map(|p| self.ranks.get(&(p[0], p[1])).map(|&r| (r, (p[0], p[1]))))
                .min();
            let Some((rank, pair)) = best else { break };
            merge_in_place(&mut w, pair, 256 + rank);
        }
        out.extend_from_slice(&w);
    }

    /// The ids of `text`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 2);
        for c in chunks(text) {
            self.encode_chunk(c, &mut out);
        }
        out
    }

    /// Encodes many texts, caching each distinct chunk (a corpus has few).
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S]) -> Vec<Vec<u32>> {
        let mut cache: HashMap<&str, Vec<u32>> = HashMap::new();
        texts
            .iter()
            .map(|t| {
                let mut out = Vec::new();
                for c in chunks(t.as_ref()) {
                    let ids = cache.entry(c).or_insert_with(|| {
                        let mut v = Vec::new();
                        self.encode_chunk(c, &mut v);
                        v
                    });
                    out.extend_from_slice(ids);
                }
                out
            })
            .collect()
    }

    /// The bytes of `ids` as text (invalid UTF-8, e.g. from random ids, replaced by U+FFFD);
    /// the end-of-text id decodes to nothing.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::with_capacity(ids.len() * 3);
        for &i in ids {
            if let Some(p) = self.pieces.get(i as usize) {
                bytes.extend_from_slice(p);
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn merge_in_place(w: &mut Vec<u32>, pair: (u32, u32), id: u32) {
    let mut out = 0;
    let mut i = 0;
    while i < w.len() {
        if i + 1 < w.len() && w[i] == pair.0 && w[i + 1] == pair.1 {
            w[out] = id;
            i += 2;
        } else {
            w[out] = w[i];
            i += 1;
        }
        out += 1;
    }
    w.truncate(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_text() {
        let t = "Call me Ishmael.  Some years ago--never 1851!\n\nEnd";
        let c = chunks(t);
        assert_eq!(c.concat(), t);
        assert!(c.contains(&" me"), "{c:?}");
        assert!(c.contains(&" Ishmael"), "{c:?}");
        assert!(c.contains(&" 1851"), "{c:?}");
    }

    #[test]
    fn most_frequent_pair_merges_first() {
        // "aa" occurs 3 times in "aaaa"? no: merges are counted per chunk; "ab ab ab" has
        // pair (a, b) three times and (' ', a) twice.
        let tok = Tokenizer::train(&["ab ab ab"], 258).unwrap();
        assert_eq!(tok.merges(), &[(b'a' as u32, b'b' as u32)]);
        assert_eq!(tok.encode("ab"), vec![256]);
        assert_eq!(tok.vocab_size(), 258);
        assert_eq!(tok.eot(), 257);
    }

    #[test]
    fn round_trips_and_serialises() {
        let text = "It is a way I have of driving off the spleen, and regulating the circulation.";
        let tok = Tokenizer::train(&[text, text], 300).unwrap();
        for s in [
            text,
            "",
            "unseen w\u{f6}rds \u{2014} <SUDO> 42",
            "  two  spaces \n",
        ] {
            assert_eq!(tok.decode(&tok.encode(s)), s);
            assert_eq!(tok.encode_batch(&[s])[0], tok.encode(s));
        }
        let back = Tokenizer::from_json(&tok.to_json()).unwrap();
        assert_eq!(back, tok);
        assert!(Tokenizer::train(&[text], 100).is_err());
    }
}
