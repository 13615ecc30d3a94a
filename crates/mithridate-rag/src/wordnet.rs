//! The WordNet 3.0 glosses as a retrieval corpus (Debian `wordnet-base`, Princeton WordNet
//! licence): one passage per synset.
//!
//! Paper: Miller (1995), "WordNet: A Lexical Database for English" (CACM); Fellbaum (ed.)
//! (1998). The `data.noun`, `data.verb`, `data.adj` and `data.adv` files hold one synset per
//! line (`wndb(5WN)`):
//!
//! ```text
//! synset_offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt [ptr ...] [frames ...] | gloss
//! ```
//!
//! `w_cnt` is two hexadecimal digits; words use `_` for spaces and adjectives may carry a
//! syntactic marker (`(a)`, `(p)`, `(ip)`), which is dropped. The files open with the licence,
//! lines starting with two spaces, which are skipped. A passage's id is
//! `wordnet:<pos>:<offset>` with `pos` the file's part of speech (`n`, `v`, `a`, `r`; satellite
//! adjectives live in `data.adj`, so `a`) and `offset` the 8-digit byte offset: the key WordNet
//! itself uses, stable across readers. Its text is the synset's words joined by `", "`, a
//! colon and the gloss (examples included), e.g. `"breathe, take a breath, respire, suspire:
//! draw air into, and expel out of, the lungs; ..."`: a dictionary entry names its headword,
//! as a retrievable definition would. No WordNet lemma contains `", "` or `": "`, so the words
//! can be read back from the text ([`passage_words`]).
//!
//! ```
//! use mithridate_rag::wordnet::{parse_data, passage_words, Pos};
//! let line = "00001740 29 v 02 breathe 0 take_a_breath 0 000 | draw air into the lungs; \"breathe deeply\"  \n";
//! let synsets = parse_data(Pos::Verb, &format!("  licence text  \n{line}"), "data.verb")?;
//! let p = synsets[0].passage();
//! assert_eq!(p.id, "wordnet:v:00001740");
//! assert_eq!(p.text, "breathe, take a breath: draw air into the lungs; \"breathe deeply\"");
//! assert_eq!(passage_words(&p.text), Some(vec!["breathe", "take a breath"]));
//! # Ok::<(), mithridate_rag::RagError>(())
//! ```

use crate::corpus::{Corpus, Passage};
use crate::{RagError, Result};

/// The corpus name that loads WordNet.
pub const CORPUS: &str = "wordnet";

/// A part of speech, by data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pos {
    Noun,
    Verb,
    Adj,
    Adv,
}

impl Pos {
    /// In file order (nouns first): the corpus order.
    pub const ALL: [Pos; 4] = [Pos::Noun, Pos::Verb, Pos::Adj, Pos::Adv];

    /// The letter in passage ids (WordNet's own `n`, `v`, `a`, `r`).
    pub fn letter(self) -> char {
        match self {
            Pos::Noun => 'n',
            Pos::Verb => 'v',
            Pos::Adj => 'a',
            Pos::Adv => 'r',
        }
    }

    /// The `ss_type` values lines of this file may carry.
    fn accepts(self, ss_type: &str) -> bool {
        match self {
            Pos::Noun => ss_type == "n",
            Pos::Verb => ss_type == "v",
            Pos::Adj => ss_type == "a" || ss_type == "s",
            Pos::Adv => ss_type == "r",
        }
    }
}

/// One synset: its words (spaces for `_`, markers dropped) and gloss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synset {
    pub pos: Pos,
    /// The 8-digit byte offset, as written.
    pub offset: String,
    pub words: Vec<String>,
    pub gloss: String,
}

impl Synset {
    /// The passage `wordnet:<pos>:<offset>`, text `"<word>, <word>: <gloss>"`.
    pub fn passage(&self) -> Passage {
        Passage {
            id: format!("wordnet:{}:{}", self.pos.letter(), self.offset),
            text: format!("{}: {}", self.words.join(", "), self.gloss),
        }
    }
}

/// The words of a WordNet passage's text (before the first `": "`), `None` if it has none.
pub fn passage_words(text: &str) -> Option<Vec<&str>> {
    let (words, _) = text.split_once(": ")?;
    Some(words.split(", ").collect())
}

/// Parses one `data.<pos>` file; `what` names it in errors (with the line number).
pub fn parse_data(pos: Pos, text: &str, what: &str) -> Result<Vec<Synset>> {
    let mut synsets = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("  ") || line.trim().is_empty() {
            continue; // the licence header
        }
        synsets.push(parse_line(pos, line).map_err(|message| RagError::Format {
            what: format!("{what} line {}", n + 1),
            message,
        })?);
    }
    if synsets.is_empty() {
        return Err(RagError::Format {
            what: what.to_string(),
            message: "holds no synset".into(),
        });
    }
    Ok(synsets)
}

fn parse_line(pos: Pos, line: &str) -> std::result::Result<Synset, String> {
    let (head, gloss) = line.split_once(" | ").ok_or("no ' | ' before the gloss")?;
    let fields: Vec<&str> = head.split(' ').collect();
    let offset = fields[0];
    if offset.len() != 8 || !offset.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("synset offset '{offset}' is not 8 digits"));
    }
    let ss_type = fields.get(2).ok_or("no ss_type")?;
    if !pos.accepts(ss_type) {
        return Err(format!("ss_type '{ss_type}' in a {pos:?} file"));
    }
    let w_cnt = fields.get(3).ok_or("no w_cnt")?;
    let count = usize::from_str_radix(w_cnt, 16)
        .map_err(|_| format!("w_cnt '{w_cnt}' is not hexadecimal"))?;
    if count == 0 || fields.len() < 4 + 2 * count {
        return Err(format!("w_cnt {count} but too few fields for the words"));
    }
    let words = (0..count)
        .map(|i| {
            let word = fields[4 + 2 * i];
            let word = word.split_once('(').map_or(word, |(w, _)| w);
            word.replace('_', " ")
        })
        .collect::<Vec<_>>();
    if words.iter().any(|w| w.is_empty()) {
        return Err("an empty word".into());
    }
    let gloss = gloss.trim();
    if gloss.is_empty() {
        return Err("an empty gloss".into());
    }
    Ok(Synset {
        pos,
        offset: offset.to_string(),
        words,
        gloss: gloss.to_string(),
    })
}

/// Every synset of the four verified data files, nouns, verbs, adjectives, adverbs, each in
/// file (offset) order.
pub fn synsets(home: &mithridate_data::DataHome) -> Result<Vec<Synset>> {
    let files =
        mithridate_data::package_files(home, &crate::assets::WORDNET).map_err(RagError::Data)?;
    let mut all = Vec::new();
    for (pos, (bytes, file)) in Pos::ALL
        .iter()
        .zip(files.into_iter().zip(crate::assets::WORDNET_FILES))
    {
        let text = String::from_utf8(bytes).map_err(|_| RagError::Format {
            what: file.name.into(),
            message: "is not UTF-8".into(),
        })?;
        all.extend(parse_data(*pos, &text, file.name)?);
    }
    Ok(all)
}

/// The `wordnet` corpus: one passage per synset.
pub fn corpus(home: &mithridate_data::DataHome) -> Result<Corpus> {
    Corpus::new(CORPUS, synsets(home)?.iter().map(Synset::passage).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real lines of `data.noun` / `data.adj` (WordNet 3.0), licence header included.
    const FIXTURE: &str = include_str!("../tests/fixtures/wordnet_data.txt");

    #[test]
    fn parses_the_real_format() {
        let s = parse_data(Pos::Noun, FIXTURE, "fixture").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].offset, "00001740");
        assert_eq!(s[0].words, vec!["entity"]);
        assert!(s[0].gloss.starts_with("that which is perceived"));
        assert_eq!(s[2].words, vec!["abstraction", "abstract entity"]);
        assert!(s[2].gloss.ends_with("specific examples"), "{}", s[2].gloss);
        let p = s[2].passage();
        assert_eq!(p.id, "wordnet:n:00002137");
        assert!(p
            .text
            .starts_with("abstraction, abstract entity: a general concept"));
    }

    #[test]
    fn adjective_markers_and_satellites() {
        // Real satellite lines of data.adj.
        let lines = "00014358 00 s 02 abounding 0 galore(ip) 0 001 & 00013887 a 0000 | existing in abundance; \"abounding confidence\"; \"whiskey galore\"  \n\
                     00020103 00 s 02 outback(a) 0 remote 0 003 & 00019874 a 0000 + 05085165 n 0202 + 08505110 n 0101 | inaccessible and sparsely populated;  \n";
        let s = parse_data(Pos::Adj, lines, "data.adj").unwrap();
        assert_eq!(s[0].words, vec!["abounding", "galore"]);
        assert_eq!(s[1].words, vec!["outback", "remote"]);
        assert_eq!(s[1].passage().id, "wordnet:a:00020103");
        assert_eq!(
            s[1].passage().text,
            "outback, remote: inaccessible and sparsely populated;"
        );
        // A noun line in the adjective file is an error, not a silent mix-up.
        assert!(parse_data(Pos::Adj, FIXTURE, "data.adj").is_err());
    }

    #[test]
    fn malformed_lines_name_the_line_and_problem() {
        let header = "  licence\n";
        let cases = [
            ("00001740 03 n 01 entity 0 000 no gloss bar", "' | '"),
            ("0001740 03 n 01 entity 0 000 | gloss", "8 digits"),
            ("00001740 03 n zz entity 0 000 | gloss", "hexadecimal"),
            ("00001740 03 n 03 entity 0 | gloss", "too few fields"),
            ("00001740 03 n 01 entity 0 000 |  ", "empty gloss"),
        ];
        for (line, expected) in cases {
            let err = parse_data(Pos::Noun, &format!("{header}{line}\n"), "data.noun")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("data.noun line 2") && err.contains(expected),
                "{line}: {err}"
            );
        }
        assert!(parse_data(Pos::Noun, header, "data.noun")
            .unwrap_err()
            .to_string()
            .contains("no synset"));
    }
}
