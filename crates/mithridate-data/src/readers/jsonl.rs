//! JSONL text: one JSON object per line, `{"id": .., "text": "..", "label": ..}` (`id`
//! optional; other fields ignored; blank lines skipped), tokenised exactly like the built-in
//! SpamAssassin set ([`crate::text::tokenize`], first [`MAX_LEN`] tokens, padded with 0).
//!
//! The vocabulary is [`ReadOptions::vocabulary`] when given (a train file's, so a test file
//! is encoded the same way), else built from this file with the built-in rule
//! ([`build_vocabulary`]: `<pad>`, `<unk>`, tokens seen at least [`MIN_COUNT`] times, most
//! frequent first, up to [`MAX_VOCAB`]). The label field is `label` unless
//! `--label-column` names another, the id field `id` unless `--id-column` does.

use super::{check_file_size, content_ids, encode_labels, format_err, parse_id, ReadOptions};
use crate::fsutil::io_err;
use crate::text::{
    build_vocabulary, encode, tokenize, vocabulary_index, MAX_LEN, MAX_VOCAB, MIN_COUNT,
};
use crate::{Dataset, Features, Modality, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Longest accepted line: one document (64 MiB).
pub const MAX_LINE_BYTES: u64 = 64 << 20;

/// Reads a JSONL text file into a text dataset with its vocabulary attached.
pub fn read(path: &Path, options: &ReadOptions) -> Result<Dataset> {
    check_file_size(path, &options.limits)?;
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    read_from(path, BufReader::new(file), options)
}

/// Reads JSONL from `reader` (`path` only names it in errors).
pub fn read_from(path: &Path, reader: impl BufRead, options: &ReadOptions) -> Result<Dataset> {
    let label_field = options.label_name();
    let id_field = options.id_column.as_deref().unwrap_or("id");
    let limits = &options.limits;
    let mut docs: Vec<Vec<String>> = Vec::new();
    let mut labels_text: Vec<String> = Vec::new();
    let mut ids: Vec<Option<u64>> = Vec::new();
    let mut digests: Vec<[u8; 32]> = Vec::new();
    let mut lines_of: Vec<u64> = Vec::new();
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    let mut reader = reader.take(limits.max_file_bytes);
    loop {
        buf.clear();
        line_no += 1;
        let read = (&mut reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut buf)
            .map_err(io_err(path))?;
        if read == 0 {
            break;
        }
        let at = |m: String| format_err(path, format!("line {line_no}: {m}"));
        if buf.len() as u64 > MAX_LINE_BYTES {
            return Err(at(format!("longer than {MAX_LINE_BYTES} bytes")));
        }
        let line = std::str::from_utf8(&buf).map_err(|_| at("not UTF-8".into()))?;
        if line.trim().is_empty() {
            continue;
        }
        if docs.len() >= limits.max_samples {
            return Err(at(format!(
                "more than {} records, over the limit",
                limits.max_samples
            )));
        }
        let value: Value =
            serde_json::from_str(line).map_err(|e| at(format!("invalid JSON ({e})")))?;
        let Value::Object(record) = value else {
            return Err(at("not a JSON object".into()));
        };
        let text = match record.get("text") {
            Some(Value::String(t)) => t,
            Some(_) => return Err(at("'text' is not a string".into())),
            None => return Err(at("no 'text' field".into())),
        };
        let label = match record.get(label_field) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            Some(_) => {
                return Err(at(format!(
                    "'{label_field}' is not a class name or non-negative integer"
                )))
            }
            None => return Err(at(format!("no '{label_field}' field"))),
        };
        let id = match record.get(id_field) {
            None => None,
            Some(Value::Number(n)) if n.is_u64() => n.as_u64(),
            Some(Value::String(s)) => {
                Some(parse_id(s).ok_or_else(|| at(format!("empty '{id_field}'")))?)
            }
            Some(_) => {
                return Err(at(format!(
                    "'{id_field}' is not a string or non-negative integer"
                )))
            }
        };
        if !ids.is_empty() && id.is_some() != ids[0].is_some() {
            return Err(at(format!("'{id_field}' is present on some records only")));
        }
        let mut h = Sha256::new();
        h.update(text.as_bytes());
        h.update([0u8]);
        h.update(label.as_bytes());
        digests.push(h.finalize().into());
        let mut tokens = tokenize(text);
        tokens.truncate(MAX_LEN);
        docs.push(tokens);
        labels_text.push(label);
        ids.push(id);
        lines_of.push(line_no);
    }
    let n = docs.len();
    if n == 0 {
        return Err(format_err(path, "no records"));
    }
    if n.saturating_mul(MAX_LEN) > limits.max_values {
        return Err(format_err(
            path,
            format!(
                "{n} records x {MAX_LEN} tokens is over the {}-value limit",
                limits.max_values
            ),
        ));
    }
    let ids: Vec<u64> = if ids[0].is_some() {
        ids.into_iter().flatten().collect()
    } else {
        content_ids(&digests)
    };
    super::check_unique_ids(path, &ids, |i| format!("line {}", lines_of[i]))?;
    let label_refs: Vec<&str> = labels_text.iter().map(String::as_str).collect();
    let (labels, num_classes, classes) = encode_labels(&label_refs, None, limits)
        .map_err(|(i, m)| format_err(path, format!("line {}: {m}", lines_of[i])))?;
    let vocab = match &options.vocabulary {
        Some(v) if v.len() >= 2 => v.clone(),
        Some(_) => {
            return Err(format_err(
                path,
                "the given vocabulary has fewer than 2 tokens",
            ))
        }
        None => build_vocabulary(&docs, MAX_VOCAB, MIN_COUNT),
    };
    let index = vocabulary_index(&vocab);
    let tokens: Vec<u32> = docs
        .iter()
        .flat_map(|d| encode(d, &index, MAX_LEN))
        .collect();
    Dataset::new(
        Modality::Text {
            max_len: MAX_LEN,
            vocab_size: vocab.len(),
        },
        Features::Tokens(tokens),
        labels,
        ids,
        num_classes,
        classes,
    )
    .and_then(|d| d.with_vocabulary(vocab))
    .map_err(|e| format_err(path, e.to_string()))
}
