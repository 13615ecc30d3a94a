//! The `[text]` and `[lm]` blocks: backdoors in a text classifier on a frozen encoder
//! (mithridate-text) and training-data poisoning of a small generative model trained here
//! (mithridate-lm), as assessment cells.
//!
//! A `[text]` block runs every attack at every rate (one cell each per seed); its defences run
//! inside each cell against the same poisoned head, as `mithridate text attack --defence`
//! does. An `[lm]` block runs every attack at every poisoned-document count and corpus size
//! (one cell each per seed), each with its clean baseline and its defences.
//!
//! ```
//! use mithridate_assess::config::Config;
//! let config = Config::parse(r#"
//! [text]
//! dataset = "spamassassin"
//! head = "logreg"
//! max_train = 400
//! attacks = [{ name = "addsent", rates = [0.01, 0.03] }, { name = "template", rates = [0.05] }]
//! defences = ["bki", { name = "strip", params = { copies = 4 } }]
//!
//! [lm]
//! corpus = "moby-dick"
//! attack = "dos"
//! poison_docs = [10, 25]
//! docs = [120, 240]
//! model = { d_model = 64, layers = 2, vocab = 512, epochs = 3 }
//! defences = ["perplexity", "manifest"]
//! "#)?;
//! assert_eq!(config.text[0].attacks[0].rates.len(), 2);
//! assert_eq!(config.text[0].defences[1].get_ref().params_json()["copies"], 4);
//! assert_eq!(config.lm[0].attacks().len(), 1);
//! assert_eq!(config.lm[0].sizes(), vec![Some(120), Some(240)]);
//! # Ok::<(), mithridate_assess::config::ConfigError>(())
//! ```

use super::{Config, ConfigError, NamedParams};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// One text-classification matrix over a text set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// `spamassassin`, `20news`, `reuters` or a `.jsonl` file (as `mithridate text attack
    /// --data`).
    pub dataset: Spanned<String>,
    /// `logreg` (softmax regression on the frozen embeddings) or `mlp` (default).
    pub head: Option<Spanned<String>>,
    /// Hidden units of the `mlp` head (default 128).
    pub hidden: Option<Spanned<usize>>,
    /// Training epochs of the head (default 40).
    pub epochs: Option<Spanned<usize>>,
    /// MiniLM's last transformer layers fine-tuned with the head, 0..=6 (default 0: frozen).
    pub fine_tune_layers: Option<Spanned<usize>>,
    /// Fine-tuning epochs (default 4; needs `fine_tune_layers`).
    pub fine_tune_epochs: Option<Spanned<usize>>,
    /// Fine-tuning peak learning rate of the layers (default 5e-5; needs `fine_tune_layers`).
    pub fine_tune_lr: Option<Spanned<f64>>,
    /// Where the head starts fine-tuning: `fresh` (default) or `probe` (needs
    /// `fine_tune_layers`).
    pub fine_tune_head: Option<Spanned<String>>,
    /// Training texts (seeded subset; default 2,000).
    pub max_train: Option<Spanned<usize>>,
    /// Test texts (default 500).
    pub max_test: Option<Spanned<usize>>,
    /// The target class index (default 0).
    pub target: Option<Spanned<u32>>,
    /// Clean-label poisoning for every attack of the block (default dirty-label).
    pub clean_label: Option<Spanned<bool>>,
    /// Attacks (`mithridate text attack --list`) with their rates.
    pub attacks: Vec<TextAttack>,
    /// Defences run in every poisoned cell: a name or `{ name, params }`.
    #[serde(default)]
    pub defences: Vec<Spanned<NamedParams>>,
}

/// One text attack with its poison rates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextAttack {
    pub name: Spanned<String>,
    /// Shares of the training texts poisoned, each in `[0, 1]`.
    pub rates: Vec<Spanned<f64>>,
    /// Attack parameters (kebab-case keys, as `mithridate text attack -P`; `trigger` too).
    pub params: Option<Spanned<toml::Table>>,
}

impl TextAttack {
    /// The parameters as the registry takes them: a JSON object, `{}` for defaults.
    pub fn params_json(&self) -> serde_json::Value {
        super::table_json(self.params.as_ref().map(Spanned::get_ref))
    }
}

/// One generative-model poisoning matrix over a corpus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lm {
    /// `moby-dick`, `sotu`, `sotu+moby-dick` or a text / `.jsonl` file.
    pub corpus: Spanned<String>,
    /// `dos` or `completion`: a name, `{ name, params }` (params `trigger`, `continuation`),
    /// or a list of them.
    #[serde(rename = "attack")]
    pub attack_list: NamedList,
    /// Poisoned documents added to the training corpus, one cell each.
    pub poison_docs: Spanned<Vec<Spanned<usize>>>,
    /// Corpus sizes (training documents kept, a deterministic subset), one cell each;
    /// default: the whole corpus.
    pub docs: Option<Spanned<Vec<Spanned<usize>>>>,
    /// Trusted held-out documents (default 200).
    pub trusted: Option<Spanned<usize>>,
    /// The model and its training (defaults: `mithridate lm attack`'s).
    pub model: Option<Spanned<LmModel>>,
    /// `perplexity`, `ngram`, `manifest`: each run in every cell.
    #[serde(default)]
    pub defences: Vec<Spanned<String>>,
}

impl Lm {
    /// The attacks, each spanned at its own value.
    pub fn attacks(&self) -> &[Spanned<NamedParams>] {
        self.attack_list.0.get_ref()
    }

    /// The corpus sizes, `None` for the whole corpus.
    pub fn sizes(&self) -> Vec<Option<usize>> {
        match &self.docs {
            Some(list) => list.get_ref().iter().map(|d| Some(*d.get_ref())).collect(),
            None => vec![None],
        }
    }
}

/// The small model's settings; absent keys keep `mithridate lm attack`'s defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LmModel {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d_model: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heads: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<usize>,
    /// Tokenizer vocabulary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vocab: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Held-out prompts, their length in tokens, sampled tokens per generation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompts: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_len: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gen_len: Option<usize>,
}

/// Entries written as one (a name or a table) or as a list; each keeps its span.
#[derive(Debug, Clone)]
pub struct NamedList(pub Spanned<Vec<Spanned<NamedParams>>>);

impl<'de> Deserialize<'de> for NamedList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NamedList, D::Error> {
        // A list is read element by element so each entry keeps its span; a lone entry is
        // spanned like the whole value.
        let value = Spanned::<Entries>::deserialize(d)?;
        let span = value.span();
        let list = match value.into_inner() {
            Entries::List(list) => list,
            Entries::One(one) => vec![Spanned::new(span.clone(), one)],
        };
        Ok(NamedList(Spanned::new(span, list)))
    }
}

enum Entries {
    One(NamedParams),
    List(Vec<Spanned<NamedParams>>),
}

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Entries, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an attack (a name or a { name, params } table) or a list of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Entries, E> {
                Ok(Entries::One(NamedParams {
                    name: v.to_string(),
                    params: None,
                }))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Entries, A::Error> {
                NamedParams::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Entries::One)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Entries, A::Error> {
                let mut list = Vec::new();
                while let Some(e) = seq.next_element::<Spanned<NamedParams>>()? {
                    list.push(e);
                }
                Ok(Entries::List(list))
            }
        }
        d.deserialize_any(EntriesVisitor)
    }
}

impl Config {
    /// A text block's counts at least 1, rates in `[0, 1]`, attacks listed.
    pub(super) fn check_text(&self, block: &Text) -> Result<(), ConfigError> {
        self.positive(&block.epochs, "epochs")?;
        self.positive(&block.max_train, "max_train")?;
        self.positive(&block.max_test, "max_test")?;
        if block.attacks.is_empty() {
            return Err(self.error_at(&block.dataset, "the text block has no attacks"));
        }
        for attack in &block.attacks {
            if attack.rates.is_empty() {
                return Err(self.error_at(&attack.name, "the attack has no rates"));
            }
            for rate in &attack.rates {
                let v = *rate.get_ref();
                if !(0.0..=1.0).contains(&v) {
                    return Err(self.error_at(rate, format!("rate must be in [0, 1], got {v}")));
                }
            }
        }
        Ok(())
    }

    /// An lm block's lists non-empty and its counts at least 1 (poisoned counts may be 0: a
    /// clean reference point on the curve).
    pub(super) fn check_lm(&self, block: &Lm) -> Result<(), ConfigError> {
        if block.attacks().is_empty() {
            return Err(self.error_at(&block.attack_list.0, "the lm block has no attacks"));
        }
        if block.poison_docs.get_ref().is_empty() {
            return Err(self.error_at(&block.poison_docs, "poison_docs is empty"));
        }
        if let Some(docs) = &block.docs {
            if docs.get_ref().is_empty() {
                return Err(self.error_at(docs, "docs is empty"));
            }
            for d in docs.get_ref() {
                self.positive(&Some(d.clone()), "docs")?;
            }
        }
        self.positive(&block.trusted, "trusted")?;
        if let Some(model) = &block.model {
            let m = model.get_ref();
            let counts = [
                (m.d_model, "d_model"),
                (m.layers, "layers"),
                (m.heads, "heads"),
                (m.ctx, "ctx"),
                (m.vocab, "vocab"),
                (m.epochs, "epochs"),
                (m.batch, "batch"),
                (m.prompts, "prompts"),
                (m.prompt_len, "prompt_len"),
                (m.gen_len, "gen_len"),
            ];
            for (value, key) in counts {
                if value == Some(0) {
                    return Err(self.error_at(model, format!("model.{key} must be at least 1")));
                }
            }
            if let Some(lr) = m.lr {
                if !(lr.is_finite() && lr > 0.0) {
                    return Err(self.error_at(model, format!("model.lr must be > 0, got {lr}")));
                }
            }
        }
        Ok(())
    }

    /// `key must be at least 1` at the value's line.
    fn positive(&self, v: &Option<Spanned<usize>>, key: &str) -> Result<(), ConfigError> {
        match v {
            Some(s) if *s.get_ref() == 0 => {
                Err(self.error_at(s, format!("{key} must be at least 1")))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const TEXT: &str =
        "dataset = \"spamassassin\"\nattacks = [{ name = \"addsent\", rates = [0.01] }]\n";
    const LM: &str = "corpus = \"moby-dick\"\nattack = \"dos\"\npoison_docs = [10]\n";

    #[test]
    fn blocks_one_or_many_with_defaults() {
        let c = Config::parse(&format!("[text]\n{TEXT}[lm]\n{LM}")).unwrap();
        assert_eq!(c.text.len(), 1);
        assert_eq!(c.lm[0].sizes(), vec![None]);
        assert_eq!(c.lm[0].attacks()[0].get_ref().name, "dos");
        assert_eq!(c.line_of(&c.lm[0].attacks()[0]), 6);
        let many = Config::parse(&format!("[[lm]]\n{LM}[[lm]]\n{LM}")).unwrap();
        assert_eq!(many.lm.len(), 2);
        let list = Config::parse(
            "[lm]\ncorpus = \"sotu\"\nattack = [\"dos\",\n { name = \"completion\", params = { trigger = \"zq\" } }]\npoison_docs = [0, 5]\n",
        )
        .unwrap();
        let lines: Vec<usize> = list.lm[0]
            .attacks()
            .iter()
            .map(|a| list.line_of(a))
            .collect();
        assert_eq!(lines, vec![3, 4]);
        assert_eq!(
            list.lm[0].attacks()[1].get_ref().params_json()["trigger"],
            "zq"
        );
    }

    #[test]
    fn mistakes_name_their_line() {
        let line = |text: &str| {
            let e = Config::parse(text).unwrap_err();
            (e.line, e.message)
        };
        let (l, m) = line("[text]\ndataset = \"spamassassin\"\nattacks = [\n{ name = \"addsent\", rates = [1.5] }]\n");
        assert_eq!(l, Some(4));
        assert!(m.contains("1.5"), "{m}");
        let (l, m) = line("[text]\ndataset = \"spamassassin\"\nattacks = []\n");
        assert_eq!(l, Some(2));
        assert!(m.contains("no attacks"), "{m}");
        let (l, m) = line(&format!("[text]\n{TEXT}max_train = 0\n"));
        assert_eq!(l, Some(4));
        assert!(m.contains("max_train"), "{m}");
        let (l, m) = line(&format!("[text]\n{TEXT}heads = \"mlp\"\n"));
        assert_eq!(l, Some(4));
        assert!(m.contains("heads"), "{m}");
        let (l, m) = line("[lm]\ncorpus = \"sotu\"\nattack = \"dos\"\npoison_docs = []\n");
        assert_eq!(l, Some(4));
        assert!(m.contains("poison_docs is empty"), "{m}");
        let (l, m) = line(&format!("[lm]\n{LM}docs = [100,\n 0]\n"));
        assert_eq!(l, Some(6));
        assert!(m.contains("docs must be at least 1"), "{m}");
        let (l, m) = line(&format!("[lm]\n{LM}model = {{ layres = 2 }}\n"));
        assert_eq!(l, Some(5));
        assert!(m.contains("layres"), "{m}");
        let (l, m) = line(&format!("[lm]\n{LM}model = {{ epochs = 0 }}\n"));
        assert_eq!(l, Some(5));
        assert!(m.contains("model.epochs"), "{m}");
        let (l, m) = line("[lm]\ncorpus = \"sotu\"\nattack = []\npoison_docs = [1]\n");
        assert_eq!(l, Some(3));
        assert!(m.contains("no attacks"), "{m}");
    }
}
