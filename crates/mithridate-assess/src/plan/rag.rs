//! The cells of a `[rag]` block: one retrieval-poisoning run per retriever, attack, poisons
//! per target and defence setting (the undefended one first), per seed.

use crate::config::{Rag, RagTargets};
use serde::Serialize;

/// One defence of a RAG cell's setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RagDefenceCell {
    /// Retrieval-defence registry name.
    pub name: String,
    /// Its parameters as configured (kebab-case keys); `{}`: defaults.
    pub params: serde_json::Value,
}

impl RagDefenceCell {
    /// `query-echo`, or `two-means:threshold=0.8` with configured parameters: the
    /// `mithridate rag attack --defence` syntax, so a setting reads as it would be typed.
    pub fn label(&self) -> String {
        let pairs: Vec<String> = self
            .params
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, value)| match value {
                serde_json::Value::String(s) => format!("{key}={s}"),
                other => format!("{key}={other}"),
            })
            .collect();
        if pairs.is_empty() {
            self.name.clone()
        } else {
            format!("{}:{}", self.name, pairs.join(","))
        }
    }
}

/// One retrieval-poisoning run (mithridate-rag): a corpus, a retriever, an attack with P
/// passages per target question, and the defences applied in order (none: undefended).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RagCell {
    /// Built-in corpus name or a path.
    pub corpus: String,
    /// `minilm` or `bm25`.
    pub retriever: String,
    pub targets: RagTargets,
    /// Retrieval-attack registry name.
    pub attack: String,
    /// The attack's parameters (kebab-case keys); `{}`: defaults.
    pub params: serde_json::Value,
    pub poisons_per_target: usize,
    /// Empty: the undefended run.
    pub defences: Vec<RagDefenceCell>,
    pub seed: u64,
}

impl RagCell {
    /// The defences' labels joined by `+` in the order they apply; `none` when undefended.
    pub fn defence_label(&self) -> String {
        if self.defences.is_empty() {
            "none".to_string()
        } else {
            let labels: Vec<String> = self.defences.iter().map(RagDefenceCell::label).collect();
            labels.join("+")
        }
    }
}

/// The cells of a `[rag]` block for one seed, in plan order: per retriever, attack and
/// poisons per target, the undefended run, then each defence setting.
pub(super) fn cells(block: &Rag, seed: u64) -> Vec<RagCell> {
    let configured = block.defences.iter().map(|setting| {
        setting
            .get_ref()
            .iter()
            .map(|d| RagDefenceCell {
                name: d.get_ref().name.clone(),
                params: d.get_ref().params_json(),
            })
            .collect()
    });
    let settings: Vec<Vec<RagDefenceCell>> =
        std::iter::once(Vec::new()).chain(configured).collect();
    let mut cells = Vec::new();
    for retriever in block.retrievers() {
        for attack in block.attacks.get_ref() {
            for poisons_per_target in block.poisons() {
                for defences in &settings {
                    cells.push(RagCell {
                        corpus: block.corpus.get_ref().clone(),
                        retriever: retriever.get_ref().clone(),
                        targets: block.target_source(),
                        attack: attack.get_ref().name.clone(),
                        params: attack.get_ref().params_json(),
                        poisons_per_target,
                        defences: defences.clone(),
                        seed,
                    });
                }
            }
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::plan::{plan, CellSpec};

    #[test]
    fn rag_cells_run_undefended_and_per_defence_setting() {
        let text = "[rag]\ncorpus = \"sotu\"\nretrievers = [\"minilm\", \"bm25\"]\n\
                    poisons_per_target = [1, 5]\nattacks = [\"naive\", \"poisoned-rag\"]\n\
                    defences = [\"query-echo\", [\"perplexity\", \
                    { name = \"two-means\", params = { threshold = 0.8 } }]]\n";
        let cells = plan(&Config::parse(text).unwrap(), 2, 0);
        // Per seed: 2 retrievers x 2 attacks x 2 poisons x (undefended + 2 settings).
        assert_eq!(cells.len(), 2 * 2 * 2 * 2 * 3);
        let readable: Vec<&str> = cells[..3]
            .iter()
            .map(|c| c.id.split('#').next().unwrap())
            .collect();
        assert_eq!(
            readable,
            [
                "sotu/rag/minilm/naive@1/none/seed0",
                "sotu/rag/minilm/naive@1/query-echo/seed0",
                "sotu/rag/minilm/naive@1/perplexity+two-means:threshold=0.8/seed0",
            ]
        );
        let CellSpec::Rag(last) = &cells[23].spec else {
            panic!("{:?}", cells[23].spec)
        };
        assert_eq!(
            (
                last.retriever.as_str(),
                last.attack.as_str(),
                last.poisons_per_target
            ),
            ("bm25", "poisoned-rag", 5)
        );
        assert_eq!(last.targets, RagTargets::Count(50));
        assert_eq!(cells[24].spec.seed(), 1);
        assert_eq!(cells[24].spec.dataset(), "sotu");
    }
}
