//! The BERT WordPiece tokenizer of all-MiniLM-L6-v2, read from its `tokenizer.json`.
//!
//! Paper: Wu et al. (2016), "Google's Neural Machine Translation System" (WordPiece), as used
//! by Devlin et al. (2019), "BERT". This is the pipeline the Hugging Face `tokenizers` library
//! runs for this model (`BertNormalizer` -> `BertPreTokenizer` -> `WordPiece` ->
//! `TemplateProcessing`), written out so no tokenizer crate has to be built:
//!
//! 1. clean text: drop NUL, U+FFFD and control characters (Unicode `C*` other than tab, LF,
//!    CR); every whitespace character becomes a space;
//! 2. put spaces around CJK ideographs;
//! 3. strip accents (NFD, then drop non-spacing marks) and lowercase;
//! 4. split on whitespace, and isolate every punctuation character (ASCII punctuation or
//!    Unicode `P*`) as its own word;
//! 5. WordPiece: greedy longest match from the left, continuation pieces prefixed `##`; a
//!    word with no full segmentation, or longer than 100 characters, becomes `[UNK]`;
//! 6. `[CLS] pieces [SEP]`, truncated to `max_len` tokens including both specials.
//!
//! Checked against the reference `tokenizers` output on the fixture sentences (identical ids,
//! `tests/encoder_fixture.rs`).
//!
//! ```
//! use mithridate_rag::tokenizer::WordPiece;
//! let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "hello", "!"];
//! let tok = WordPiece::from_vocab(vocab.iter().map(|s| s.to_string()).collect())?;
//! let t = tok.encode("Hello  UNAFFABLE!", 16);
//! assert_eq!(t.ids, vec![2, 7, 4, 5, 6, 8, 3]);
//! assert!(!t.truncated);
//! assert_eq!(tok.encode("héllo", 16).ids, vec![2, 7, 3]); // accents stripped
//! # Ok::<(), mithridate_rag::RagError>(())
//! ```

use crate::{RagError, Result};
use std::collections::HashMap;
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::UnicodeNormalization;

/// Longest word WordPiece segments (longer words are `[UNK]`).
const MAX_WORD_CHARS: usize = 100;

/// Token ids of one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    /// `[CLS] ... [SEP]`.
    pub ids: Vec<u32>,
    /// True when pieces were dropped to fit `max_len`.
    pub truncated: bool,
}

/// The tokenizer: vocabulary and the special-token ids.
#[derive(Debug, Clone)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    /// `pieces[id]`: the inverse of `vocab` (empty where an id has no piece).
    pieces: Vec<String>,
    unk: u32,
    cls: u32,
    sep: u32,
}

impl WordPiece {
    /// Reads the vocabulary of a `tokenizer.json` whose model is `WordPiece` with the BERT
    /// normalizer (lowercase) and pre-tokenizer; anything else is refused by name.
    pub fn from_tokenizer_json(bytes: &[u8]) -> Result<WordPiece> {
        let bad = |m: String| RagError::Format {
            what: "tokenizer.json".into(),
            message: m,
        };
        let json: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let model = &json["model"];
        if model["type"] != "WordPiece" || model["continuing_subword_prefix"] != "##" {
            return Err(bad("model is not WordPiece with '##' continuations".into()));
        }
        let normalizer = &json["normalizer"];
        if normalizer["type"] != "BertNormalizer" || normalizer["lowercase"] != true {
            return Err(bad("normalizer is not a lowercasing BertNormalizer".into()));
        }
        if json["pre_tokenizer"]["type"] != "BertPreTokenizer" {
            return Err(bad("pre-tokenizer is not BertPreTokenizer".into()));
        }
        let entries = model["vocab"]
            .as_object()
            .ok_or_else(|| bad("model.vocab is not an object".into()))?;
        let mut vocab = HashMap::with_capacity(entries.len());
        for (piece, id) in entries {
            let id = id
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| bad(format!("vocab id of '{piece}' is not an integer")))?;
            vocab.insert(piece.clone(), id);
        }
        WordPiece::with_vocab(vocab)
    }

    /// A tokenizer over `pieces` (id = position), e.g. the lines of a `vocab.txt`.
    pub fn from_vocab(pieces: Vec<String>) -> Result<WordPiece> {
        let vocab = pieces
            .into_iter()
            .enumerate()
            .map(|(i, p)| (p, i as u32))
            .collect();
        WordPiece::with_vocab(vocab)
    }

    fn with_vocab(vocab: HashMap<String, u32>) -> Result<WordPiece> {
        let special = |name: &str| {
            vocab.get(name).copied().ok_or_else(|| RagError::Format {
                what: "tokenizer vocabulary".into(),
                message: format!("has no {name} token"),
            })
        };
        let size = vocab.values().map(|&id| id as usize + 1).max().unwrap_or(0);
        let mut pieces = vec![String::new(); size];
        for (piece, &id) in &vocab {
            pieces[id as usize].clone_from(piece);
        }
        Ok(WordPiece {
            unk: special("[UNK]")?,
            cls: special("[CLS]")?,
            sep: special("[SEP]")?,
            vocab,
            pieces,
        })
    }

    /// The number of pieces in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The piece of `id` (`None` outside the vocabulary).
    pub fn piece(&self, id: u32) -> Option<&str> {
        self.pieces
            .get(id as usize)
            .map(String::as_str)
            .filter(|p| !p.is_empty())
    }

    /// `[CLS]` and `[SEP]`.
    pub fn specials(&self) -> (u32, u32) {
        (self.cls, self.sep)
    }

    /// Text whose pieces are `ids` (specials dropped, `##` continuations glued to the piece
    /// before them, words separated by one space). Encoding the result gives `ids` back when
    /// every word piece is a whole lowercase word (see [`whole_words`](WordPiece::whole_words)).
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut out = String::new();
        for &id in ids.iter().filter(|&&id| id != self.cls && id != self.sep) {
            let piece = self.piece(id).unwrap_or("[UNK]");
            match piece.strip_prefix("##") {
                Some(rest) => out.push_str(rest),
                None => {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(piece);
                }
            }
        }
        out
    }

    /// Ids of the pieces that are whole words of ASCII lowercase letters (at least two):
    /// each encodes to itself alone, so a sequence of them survives decode and re-encoding
    /// (what a token-substitution attack needs to publish its passage as text).
    pub fn whole_words(&self) -> Vec<u32> {
        (0..self.pieces.len() as u32)
            .filter(|&id| {
                let p = &self.pieces[id as usize];
                p.len() >= 2 && p.bytes().all(|b| b.is_ascii_lowercase())
            })
            .collect()
    }

    /// `[CLS] pieces [SEP]`, at most `max_len` ids (`max_len >= 2`).
    pub fn encode(&self, text: &str, max_len: usize) -> Encoding {
        let budget = max_len.max(2) - 2;
        let mut ids = vec![self.cls];
        let mut truncated = false;
        'words: for word in pre_tokenize(&normalize(text)) {
            for id in self.word_pieces(&word) {
                if ids.len() - 1 == budget {
                    truncated = true;
                    break 'words;
                }
                ids.push(id);
            }
        }
        ids.push(self.sep);
        Encoding { ids, truncated }
    }

    /// The lowercased, accent-stripped words WordPiece sees (for n-gram models and BM25).
    pub fn words(text: &str) -> Vec<String> {
        pre_tokenize(&normalize(text))
    }

    fn word_pieces(&self, word: &str) -> Vec<u32> {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > MAX_WORD_CHARS {
            return vec![self.unk];
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while start < end {
                let mut piece: String = chars[start..end].iter().collect();
                if start > 0 {
                    piece.insert_str(0, "##");
                }
                if let Some(&id) = self.vocab.get(&piece) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => pieces.push(id),
                None => return vec![self.unk],
            }
            start = end;
        }
        pieces
    }
}

fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

fn is_chinese(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// Steps 1-3: clean, space CJK, strip accents, lowercase.
fn normalize(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        if is_whitespace(c) {
            cleaned.push(' ');
        } else if is_chinese(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    let stripped: String = cleaned
        .nfd()
        .map(|(c, _)| c)
        .filter(|c| !c.is_mark_nonspacing())
        .collect();
    stripped.to_lowercase()
}

/// Step 4: whitespace split, punctuation isolated.
fn pre_tokenize(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c.is_whitespace() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        } else if is_punctuation(c) {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            words.push(c.to_string());
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> WordPiece {
        let vocab = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "##s", "run", "##ning", ",", "a",
        ];
        WordPiece::from_vocab(vocab.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    #[test]
    fn segments_greedily_and_marks_unknown_words() {
        let t = toy();
        // "cats" -> cat ##s; "running" -> run ##ning; "dogs" has no segmentation -> [UNK].
        assert_eq!(
            t.encode("The cats, running dogs", 32).ids,
            vec![2, 4, 5, 6, 9, 7, 8, 1, 3]
        );
        assert_eq!(t.encode(&"a".repeat(101), 8).ids, vec![2, 1, 3]);
    }

    #[test]
    fn truncates_to_max_len_including_specials() {
        let t = toy();
        let e = t.encode("the cat the cat the cat", 5);
        assert_eq!(e.ids, vec![2, 4, 5, 4, 3]);
        assert!(e.truncated);
        let e = t.encode("the cat", 4);
        assert_eq!(e.ids.len(), 4);
        assert!(!e.truncated);
    }

    #[test]
    fn normalises_whitespace_controls_and_cjk() {
        assert_eq!(
            normalize("A\tB\u{0007}C\u{00e9}"),
            "a bcé".replace('é', "e")
        );
        assert_eq!(
            pre_tokenize(&normalize("x中y")),
            vec!["x".to_string(), "中".into(), "y".into()]
        );
        assert_eq!(
            WordPiece::words("Don't stop."),
            vec!["don", "'", "t", "stop", "."]
        );
    }

    #[test]
    fn refuses_a_vocabulary_without_specials() {
        let err = WordPiece::from_vocab(vec!["a".into()]).unwrap_err();
        assert!(err.to_string().contains("[UNK]"), "{err}");
    }
}
