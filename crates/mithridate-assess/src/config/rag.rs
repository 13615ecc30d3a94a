//! The `[rag]` block: retrieval-corpus poisoning (mithridate-rag) as assessment cells.
//!
//! A block is a matrix over one corpus: every retriever x attack x poisons-per-target, run
//! once undefended and once per defence setting. The undefended run is always there, so a
//! setting's cost on clean retrieval and its effect on attack success are read against it.
//!
//! ```
//! use mithridate_assess::config::Config;
//! let config = Config::parse(r#"
//! [rag]
//! corpus = "sotu"
//! retrievers = ["minilm", "bm25"]
//! targets = 20
//! poisons_per_target = [1, 5]
//! attacks = ["naive", { name = "poisoned-rag", params = { prefix-question = false } }]
//! ## Two settings: query-echo alone; perplexity, then two-means with its threshold.
//! defences = ["query-echo", ["perplexity", { name = "two-means", params = { threshold = 0.8 } }]]
//! "#)?;
//! let rag = &config.rag[0];
//! assert_eq!(rag.retrievers().len(), 2);
//! assert_eq!(rag.attacks.get_ref()[1].get_ref().params_json()["prefix-question"], false);
//! assert_eq!(rag.defences[1].get_ref().len(), 2);
//! assert_eq!(rag.defences[1].get_ref()[1].get_ref().name, "two-means");
//! # Ok::<(), mithridate_assess::config::ConfigError>(())
//! ```

use serde::de::{self, value::MapAccessDeserializer, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// Known-item targets when a block names none: the `mithridate rag attack` default.
pub const DEFAULT_RAG_TARGETS: usize = 50;
/// Poisons per target when a block names none: the issue's grid.
pub const DEFAULT_POISONS_PER_TARGET: [usize; 4] = [1, 3, 5, 10];
/// The most poisons per target mithridate-rag accepts.
pub const MAX_POISONS_PER_TARGET: usize = 1000;

/// A defence setting: the defences applied in order, each with the span of its value, the
/// setting with the span of the whole setting.
pub type DefenceSetting = Spanned<Vec<Spanned<NamedParams>>>;

/// One retrieval-poisoning matrix over a corpus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rag {
    /// Built-in corpus (`sotu`, `sotu-all`), or a `.jsonl` file of `{"id","text"}` or a
    /// folder of `.txt` files.
    pub corpus: Spanned<String>,
    /// Retrievers (`minilm`, `bm25`); default `["minilm"]`.
    pub retrievers: Option<Spanned<Vec<Spanned<String>>>>,
    /// How many built-in known-item target questions, or a `.jsonl` file of targets;
    /// default [`DEFAULT_RAG_TARGETS`].
    pub targets: Option<Spanned<RagTargets>>,
    /// Poisoned passages per target, one cell each; default [`DEFAULT_POISONS_PER_TARGET`].
    pub poisons_per_target: Option<Spanned<Vec<Spanned<usize>>>>,
    /// Attacks (`mithridate rag attack --list`): a name or `{ name, params }`.
    pub attacks: Spanned<Vec<Spanned<NamedParams>>>,
    /// Defence settings besides the undefended run: each a defence (a name or
    /// `{ name, params }`) or a list of them, applied in order.
    #[serde(default, deserialize_with = "defence_settings")]
    pub defences: Vec<DefenceSetting>,
}

impl Rag {
    /// The configured retrievers, or `minilm` (spanned at the corpus, the block's first key).
    pub fn retrievers(&self) -> Vec<Spanned<String>> {
        match &self.retrievers {
            Some(list) => list.get_ref().clone(),
            None => vec![Spanned::new(self.corpus.span(), "minilm".to_string())],
        }
    }

    /// The configured poisons per target, or the default grid.
    pub fn poisons(&self) -> Vec<usize> {
        match &self.poisons_per_target {
            Some(list) => list.get_ref().iter().map(|p| *p.get_ref()).collect(),
            None => DEFAULT_POISONS_PER_TARGET.to_vec(),
        }
    }

    /// Where the target questions come from.
    pub fn target_source(&self) -> RagTargets {
        self.targets
            .as_ref()
            .map_or(RagTargets::Count(DEFAULT_RAG_TARGETS), |t| {
                t.get_ref().clone()
            })
    }
}

/// The target questions of a RAG cell: a number of built-in known-item targets, or a file.
/// Serialized as the number or the path, as it is written in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RagTargets {
    Count(usize),
    File(String),
}

impl<'de> Deserialize<'de> for RagTargets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RagTargets, D::Error> {
        struct Targets;
        impl Visitor<'_> for Targets {
            type Value = RagTargets;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of built-in targets or a .jsonl file of targets")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RagTargets, E> {
                usize::try_from(v)
                    .map(RagTargets::Count)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RagTargets, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RagTargets, E> {
                Ok(RagTargets::File(v.to_string()))
            }
        }
        d.deserialize_any(Targets)
    }
}

/// A registry entry with parameters: written as its name, or as `{ name, params }`
/// (kebab-case keys, as `mithridate rag attack -P KEY=VALUE`).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedParams {
    pub name: String,
    pub params: Option<toml::Table>,
}

impl NamedParams {
    /// The parameters as the registry takes them: a JSON object, `{}` for defaults.
    pub fn params_json(&self) -> serde_json::Value {
        super::table_json(self.params.as_ref())
    }
}

impl<'de> Deserialize<'de> for NamedParams {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NamedParams, D::Error> {
        d.deserialize_any(NamedVisitor)
    }
}

/// The table form, so unknown keys are refused with their name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedTable {
    name: String,
    params: Option<toml::Table>,
}

struct NamedVisitor;

impl<'de> Visitor<'de> for NamedVisitor {
    type Value = NamedParams;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a name or a { name, params } table")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<NamedParams, E> {
        Ok(NamedParams {
            name: v.to_string(),
            params: None,
        })
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<NamedParams, A::Error> {
        let t = NamedTable::deserialize(MapAccessDeserializer::new(map))?;
        Ok(NamedParams {
            name: t.name,
            params: t.params,
        })
    }
}

/// One defence setting as written: a single defence, or a list applied in order.
enum Setting {
    One(NamedParams),
    Chain(Vec<Spanned<NamedParams>>),
}

impl<'de> Deserialize<'de> for Setting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Setting, D::Error> {
        struct SettingVisitor;
        impl<'de> Visitor<'de> for SettingVisitor {
            type Value = Setting;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a defence (a name or a { name, params } table) or a list of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Setting, E> {
                NamedVisitor.visit_str(v).map(Setting::One)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Setting, A::Error> {
                NamedVisitor.visit_map(map).map(Setting::One)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Setting, A::Error> {
                let mut chain = Vec::new();
                while let Some(d) = seq.next_element::<Spanned<NamedParams>>()? {
                    chain.push(d);
                }
                Ok(Setting::Chain(chain))
            }
        }
        d.deserialize_any(SettingVisitor)
    }
}

/// Every setting as a spanned list: a lone defence becomes a one-element list spanned like
/// the setting, so every defence, however written, names its line.
fn defence_settings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DefenceSetting>, D::Error> {
    let settings = Vec::<Spanned<Setting>>::deserialize(d)?;
    Ok(settings
        .into_iter()
        .map(|s| {
            let span = s.span();
            let chain = match s.into_inner() {
                Setting::One(d) => vec![Spanned::new(span.clone(), d)],
                Setting::Chain(chain) => chain,
            };
            Spanned::new(span, chain)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const BLOCK: &str = "corpus = \"sotu\"\nattacks = [\"naive\"]\n";

    #[test]
    fn rag_blocks_one_or_many_with_defaults() {
        let one = Config::parse(&format!("[rag]\n{BLOCK}")).unwrap();
        let rag = &one.rag[0];
        assert_eq!(rag.retrievers().len(), 1);
        assert_eq!(rag.retrievers()[0].get_ref(), "minilm");
        assert_eq!(rag.target_source(), RagTargets::Count(DEFAULT_RAG_TARGETS));
        assert_eq!(rag.poisons(), DEFAULT_POISONS_PER_TARGET.to_vec());
        assert!(rag.defences.is_empty());
        let many = Config::parse(&format!(
            "[[rag]]\n{BLOCK}[[rag]]\ncorpus = \"c.jsonl\"\ntargets = \"t.jsonl\"\nattacks = [\"naive\"]\n"
        ))
        .unwrap();
        assert_eq!(many.rag.len(), 2);
        assert_eq!(many.line_of(&many.rag[1].corpus), 5);
        assert_eq!(
            many.rag[1].target_source(),
            RagTargets::File("t.jsonl".into())
        );
    }

    #[test]
    fn every_defence_names_its_line_however_written() {
        let text =
            "[rag]\ncorpus = \"sotu\"\nattacks = [\"naive\"]\ndefences = [\n  \"query-echo\",\n  \
                    { name = \"two-means\", params = { threshold = 0.8 } },\n  \
                    [\"perplexity\",\n   \"query-echo\"],\n]\n";
        let c = Config::parse(text).unwrap();
        let settings = &c.rag[0].defences;
        let lines: Vec<Vec<usize>> = settings
            .iter()
            .map(|s| s.get_ref().iter().map(|d| c.line_of(d)).collect())
            .collect();
        assert_eq!(lines, vec![vec![5], vec![6], vec![7, 8]]);
        let names: Vec<&str> = settings[2]
            .get_ref()
            .iter()
            .map(|d| d.get_ref().name.as_str())
            .collect();
        assert_eq!(names, ["perplexity", "query-echo"]);
        assert_eq!(
            settings[1].get_ref()[0].get_ref().params_json(),
            serde_json::json!({"threshold": 0.8})
        );
    }

    #[test]
    fn rag_mistakes_name_their_line() {
        let line = |text: &str| {
            let e = Config::parse(text).unwrap_err();
            (e.line, e.message)
        };
        let (l, m) = line(
            "[rag]\ncorpus = \"sotu\"\nattacks = [\"naive\"]\npoisons_per_target = [1,\n 0]\n",
        );
        assert_eq!(l, Some(5));
        assert!(m.contains("1..=1000, got 0"), "{m}");
        let (l, m) = line("[rag]\ncorpus = \"sotu\"\nattacks = []\n");
        assert_eq!(l, Some(3));
        assert!(m.contains("no attacks"), "{m}");
        let (l, _) = line("[rag]\ncorpus = \"sotu\"\nattacks = [\"naive\"]\ntargets = 0\n");
        assert_eq!(l, Some(4));
        let (l, m) = line("[rag]\ncorpus = \"sotu\"\nattacks = [\"naive\"]\ntargets = -3\n");
        assert_eq!(l, Some(4));
        assert!(m.contains("number of built-in targets"), "{m}");
        let (l, m) =
            line("[rag]\ncorpus = \"sotu\"\nattacks = [{ name = \"naive\", parms = {} }]\n");
        assert_eq!(l, Some(3));
        assert!(m.contains("parms"), "{m}");
        let (l, m) =
            line("[rag]\ncorpus = \"sotu\"\nattacks = [\"naive\"]\nretriever = [\"bm25\"]\n");
        assert_eq!(l, Some(4));
        assert!(m.contains("retriever"), "{m}");
        let (l, _) = line("[rag]\ncorpus = \"sotu\"\nattacks = [\"naive\"]\nretrievers = []\n");
        assert_eq!(l, Some(4));
        let (l, m) = line("[rag]\ncorpus = \"sotu\"\nattacks = [\"naive\"]\ndefences = [3]\n");
        assert_eq!(l, Some(4));
        assert!(m.contains("a defence"), "{m}");
    }
}
