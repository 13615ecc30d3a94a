//! Target questions: what the attacker wants the assistant to answer wrongly.
//!
//! Built in, **known-item** construction (seeded, reproducible): pick `n` passages with at
//! least three sentences; from each, hold out one sentence of 8-40 words (removed from the
//! indexed passage) as the question, so the passage is the one clean retrieval should find
//! (its *gold* id). The correct answer is the sentence's longest word (its key term, at least
//! 5 letters); the target answer is a false replacement: a different word of the same shape
//! (capitalised or not, or a number) drawn from another passage.
//!
//! Built in for the `wordnet` corpus, **definitional** construction ([`definitional`],
//! seeded): the question is "what is X?" for a noun lemma X that names exactly one synset
//! across all four parts of speech (compared case-insensitively), so exactly one gloss is its
//! correct passage; at most one question per synset. The correct answer is the gloss's
//! definition (before the first `"; "` that starts its examples), the target answer the
//! definition of another noun synset drawn at random. Nouns only, because "what is X?" asks
//! about a thing; the indexed corpus is unchanged (a definition retrieved by its headword is
//! the use case, not a held-out text). [`built_in`] picks the construction by corpus.
//!
//! User files: JSONL of `{"question", "target_answer"[, "correct_answer"][, "passage_id"]}`
//! (`passage_id` names the gold passage, enabling clean recall).
//!
//! ```
//! use mithridate_rag::corpus::{Corpus, Passage};
//! use mithridate_rag::targets::known_items;
//! let text = |i: usize| format!("Passage {i} opens here. The economy of region{i} grew by seven percent this year. It closes.");
//! let passages = (0..5).map(|i| Passage { id: format!("p{i}"), text: text(i) }).collect();
//! let corpus = Corpus::new("toy", passages)?;
//! let (targets, indexed) = known_items(&corpus, 2, 7)?;
//! assert_eq!(targets.len(), 2);
//! for t in &targets {
//!     let gold = t.passage_id.as_deref().unwrap();
//!     let passage = indexed.passages.iter().find(|p| p.id == gold).unwrap();
//!     assert!(!passage.text.contains(&t.question)); // held out
//!     assert_ne!(Some(t.target_answer.clone()), t.correct_answer);
//! }
//! assert_eq!(known_items(&corpus, 2, 7)?.0, targets); // same seed, same targets
//! # Ok::<(), mithridate_rag::RagError>(())
//! ```

use crate::corpus::{split_sentences, Corpus};
use crate::{RagError, Result};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::path::Path;

/// One target question.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    pub question: String,
    pub target_answer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct_answer: Option<String>,
    /// The passage clean retrieval should return (known-item targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_id: Option<String>,
}

fn shape(word: &str) -> u8 {
    if word
        .chars()
        .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
    {
        0
    } else if word.starts_with(|c: char| c.is_uppercase()) {
        1
    } else {
        2
    }
}

fn clean_word(w: &str) -> &str {
    w.trim_matches(|c: char| !c.is_alphanumeric())
}

/// `n` known-item targets and the corpus to index (held-out sentences removed).
pub fn known_items(corpus: &Corpus, n: usize, seed: u64) -> Result<(Vec<Target>, Corpus)> {
    if n == 0 {
        return Err(RagError::invalid(
            "the number of targets must be at least 1",
        ));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x7a72_6761_7267_6574);
    let sentences: Vec<Vec<String>> = corpus
        .passages
        .iter()
        .map(|p| split_sentences(&p.text))
        .collect();
    let mut eligible: Vec<usize> = (0..corpus.len())
        .filter(|&i| sentences[i].len() >= 3 && sentences[i].iter().any(|s| usable(s).is_some()))
        .collect();
    if eligible.len() < n + 1 {
        return Err(RagError::invalid(format!(
            "corpus {} has {} passages with a held-out-able sentence; {n} targets need {}",
            corpus.name,
            eligible.len(),
            n + 1
        )));
    }
    eligible.shuffle(&mut rng);
    let chosen = &eligible[..n];
    let mut indexed = corpus.clone();
    let mut targets = Vec::with_capacity(n);
    for &i in chosen {
        let candidates: Vec<usize> = (0..sentences[i].len())
            .filter(|&s| usable(&sentences[i][s]).is_some())
            .collect();
        let s = candidates[rng.random_range(0..candidates.len())];
        let question = sentences[i][s].clone();
        let key = usable(&question).unwrap_or_default().to_string();
        // The false replacement: a word of the same shape from another passage.
        // After 100 draws without one, any word of >= 5 letters will do.
        let mut answer = None;
        for attempt in 0..200 {
            let j = eligible[rng.random_range(0..eligible.len())];
            if j == i {
                continue;
            }
            let words: Vec<&str> = corpus.passages[j]
                .text
                .split_whitespace()
                .map(clean_word)
                .filter(|w| {
                    w.len() >= 5
                        && (attempt >= 100 || shape(w) == shape(&key))
                        && !w.eq_ignore_ascii_case(&key)
                })
                .collect();
            if let Some(w) = words.choose(&mut rng) {
                answer = Some(w.to_string());
                break;
            }
        }
        let answer = answer.ok_or_else(|| {
            RagError::invalid(format!(
                "corpus {} has no word to use as a false answer",
                corpus.name
            ))
        })?;
        let rest: Vec<&str> = sentences[i]
            .iter()
            .enumerate()
            .filter(|&(k, _)| k != s)
            .map(|(_, t)| t.as_str())
            .collect();
        indexed.passages[i].text = rest.join(" ");
        targets.push(Target {
            question,
            target_answer: answer,
            correct_answer: Some(key),
            passage_id: Some(corpus.passages[i].id.clone()),
        });
    }
    Ok((targets, indexed))
}

/// The built-in targets of `corpus`: [`definitional`] for `wordnet`, [`known_items`] for the
/// rest; and the corpus to index.
pub fn built_in(corpus: &Corpus, n: usize, seed: u64) -> Result<(Vec<Target>, Corpus)> {
    if corpus.name == crate::wordnet::CORPUS {
        Ok((definitional(corpus, n, seed)?, corpus.clone()))
    } else {
        known_items(corpus, n, seed)
    }
}

/// The term X of a definitional question "what is X?" (`None` for any other question).
pub fn defined_term(question: &str) -> Option<&str> {
    let term = question.strip_prefix("what is ")?.strip_suffix('?')?.trim();
    (!term.is_empty()).then_some(term)
}

/// `n` definitional targets over a WordNet corpus (passages `wordnet:<pos>:<offset>` with text
/// `"<word>, <word>: <gloss>"`; see the module docs).
///
/// ```
/// use mithridate_rag::corpus::{Corpus, Passage};
/// use mithridate_rag::targets::definitional;
/// let p = |id: &str, text: &str| Passage { id: id.into(), text: text.into() };
/// let corpus = Corpus::new("wordnet", vec![
///     p("wordnet:n:00000001", "aardvark, ant bear: nocturnal burrowing mammal; \"an aardvark\""),
///     p("wordnet:n:00000002", "bank: sloping land beside a body of water"),
///     p("wordnet:v:00000003", "bank: do business with a bank"),
///     p("wordnet:n:00000004", "zebra: African equine with stripes"),
/// ])?;
/// assert!(definitional(&corpus, 3, 0).is_err()); // only two unambiguous noun lemmas
/// let targets = definitional(&corpus, 2, 0)?;
/// // "bank" names two synsets: never asked. Each question's gold passage defines it.
/// let mut questions: Vec<_> = targets.iter().map(|t| t.question.as_str()).collect();
/// questions.sort();
/// assert!(questions[0] == "what is aardvark?" || questions[0] == "what is ant bear?");
/// assert_eq!(questions[1], "what is zebra?");
/// let zebra = targets.iter().find(|t| t.question == "what is zebra?").unwrap();
/// assert_eq!(zebra.passage_id.as_deref(), Some("wordnet:n:00000004"));
/// assert_eq!(zebra.correct_answer.as_deref(), Some("African equine with stripes"));
/// assert_ne!(zebra.target_answer, "African equine with stripes"); // another noun's definition
/// assert_eq!(definitional(&corpus, 2, 0)?, targets); // same seed, same targets
/// # Ok::<(), mithridate_rag::RagError>(())
/// ```
pub fn definitional(corpus: &Corpus, n: usize, seed: u64) -> Result<Vec<Target>> {
    use std::collections::HashMap;
    if n == 0 {
        return Err(RagError::invalid(
            "the number of targets must be at least 1",
        ));
    }
    // (passage row, words, definition) of every WordNet passage.
    let entries: Vec<(usize, Vec<&str>, &str)> = corpus
        .passages
        .iter()
        .enumerate()
        .filter(|(_, p)| p.id.starts_with("wordnet:"))
        .filter_map(|(i, p)| {
            let words = crate::wordnet::passage_words(&p.text)?;
            let gloss = p.text.split_once(": ")?.1;
            let definition = gloss.split_once("; ").map_or(gloss, |(d, _)| d).trim();
            Some((i, words, definition))
        })
        .collect();
    let mut synsets_of: HashMap<String, usize> = HashMap::new();
    for (_, words, _) in &entries {
        let distinct: std::collections::HashSet<String> =
            words.iter().map(|w| w.to_lowercase()).collect();
        for w in distinct {
            *synsets_of.entry(w).or_default() += 1;
        }
    }
    let is_noun = |row: usize| corpus.passages[row].id.starts_with("wordnet:n:");
    // Per noun synset, its first unambiguous lemma; candidates in corpus order.
    let mut candidates: Vec<(usize, &str, &str)> = entries
        .iter()
        .filter(|(row, _, _)| is_noun(*row))
        .filter_map(|(row, words, def)| {
            let lemma = words
                .iter()
                .find(|w| synsets_of.get(&w.to_lowercase()) == Some(&1))?;
            Some((*row, *lemma, *def))
        })
        .collect();
    let nouns: Vec<&str> = entries
        .iter()
        .filter(|(row, _, _)| is_noun(*row))
        .map(|(_, _, def)| *def)
        .collect();
    if candidates.len() < n || nouns.len() < 2 {
        return Err(RagError::invalid(format!(
            "corpus {} has {} noun synsets with an unambiguous lemma (of {} noun synsets); {n} definitional targets need {n}",
            corpus.name,
            candidates.len(),
            nouns.len()
        )));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x6465_6669_6e69_7465);
    candidates.shuffle(&mut rng);
    candidates.truncate(n);
    let mut targets = Vec::with_capacity(n);
    for (row, lemma, definition) in candidates {
        // Another noun's definition (a different text, so the statement is false).
        let mut answer = None;
        for _ in 0..100 {
            let other = nouns[rng.random_range(0..nouns.len())];
            if other != definition {
                answer = Some(other);
                break;
            }
        }
        let answer = answer.ok_or_else(|| {
            RagError::invalid(format!(
                "corpus {} has no second noun definition to use as a false answer",
                corpus.name
            ))
        })?;
        targets.push(Target {
            question: format!("what is {lemma}?"),
            target_answer: answer.to_string(),
            correct_answer: Some(definition.to_string()),
            passage_id: Some(corpus.passages[row].id.clone()),
        });
    }
    Ok(targets)
}

/// The key term of a sentence usable as a question (8-40 words, a word of >= 5 letters).
fn usable(sentence: &str) -> Option<&str> {
    let words = sentence.split_whitespace().count();
    if !(8..=40).contains(&words) {
        return None;
    }
    sentence
        .split_whitespace()
        .map(clean_word)
        .filter(|w| w.len() >= 5)
        .max_by_key(|w| w.len())
}

/// Reads a targets JSONL file; the error names the line and the missing field.
pub fn read_targets(path: &Path) -> Result<Vec<Target>> {
    let text = std::fs::read_to_string(path).map_err(RagError::io(path))?;
    let mut targets = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |m: String| RagError::Format {
            what: format!("{} line {}", path.display(), n + 1),
            message: m,
        };
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let field = |name: &str, required: bool| -> Result<Option<String>> {
            match &value[name] {
                serde_json::Value::String(s) if !s.trim().is_empty() => Ok(Some(s.clone())),
                serde_json::Value::Null if !required => Ok(None),
                serde_json::Value::Null => Err(bad(format!("missing field \"{name}\""))),
                _ => Err(bad(format!("\"{name}\" must be a non-empty string"))),
            }
        };
        targets.push(Target {
            question: field("question", true)?.unwrap_or_default(),
            target_answer: field("target_answer", true)?.unwrap_or_default(),
            correct_answer: field("correct_answer", false)?,
            passage_id: field("passage_id", false)?,
        });
    }
    if targets.is_empty() {
        return Err(RagError::invalid(format!(
            "{}: no target questions",
            path.display()
        )));
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(
            &path,
            "{\"question\": \"q?\", \"target_answer\": \"x\"}\n{\"question\": \"q2\"}\n",
        )
        .unwrap();
        let err = read_targets(&path).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("target_answer"),
            "{err}"
        );
        std::fs::write(
            &path,
            "{\"question\": \"q?\", \"target_answer\": \"x\", \"passage_id\": \"p/1\"}\n",
        )
        .unwrap();
        let t = read_targets(&path).unwrap();
        assert_eq!(t[0].passage_id.as_deref(), Some("p/1"));
        std::fs::write(&path, "").unwrap();
        assert!(read_targets(&path).is_err());
    }
}
