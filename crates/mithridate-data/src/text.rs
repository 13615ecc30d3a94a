//! Text data: the e-mail tokeniser and vocabulary (pure functions of their input; the
//! SpamAssassin corpus they were written for lives in [`crate::spamassassin`]).
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

use std::collections::HashMap;

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
