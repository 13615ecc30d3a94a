//! Cells of `[text]` and `[lm]` blocks: one per attack, rate (or poisoned-document count and
//! corpus size) and seed; the block's defences run inside each cell.

use crate::config::{Lm, LmModel, NamedParams, Text};
use serde::Serialize;

/// A text defence with its parameters (`{}` for defaults).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedCell {
    pub name: String,
    pub params: serde_json::Value,
}

impl NamedCell {
    fn of(n: &NamedParams) -> NamedCell {
        NamedCell {
            name: n.name.clone(),
            params: n.params_json(),
        }
    }
}

/// One text-classifier backdoor run (mithridate-text's experiment): a text set, a trigger
/// attack at one rate, a clean and a poisoned head, the defences.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextCell {
    pub dataset: String,
    /// `logreg` or `mlp`.
    pub head: String,
    pub hidden: Option<usize>,
    pub epochs: Option<usize>,
    /// Fine-tuned encoder layers; absent (0) from the serialised cell so that frozen cells
    /// keep their identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fine_tune_layers: Option<usize>,
    /// The fine-tuning recipe's settings the block gives (absent: the defaults; omitted from
    /// the serialised cell then, so older cells keep their identity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fine_tune_epochs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fine_tune_lr: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fine_tune_head: Option<String>,
    pub max_train: Option<usize>,
    pub max_test: Option<usize>,
    pub target: u32,
    pub clean_label: bool,
    pub attack: String,
    pub params: serde_json::Value,
    pub rate: f64,
    pub defences: Vec<NamedCell>,
    pub seed: u64,
}

/// One generative-model poisoning run (mithridate-lm's experiment): the corpus (cut to `docs`
/// training documents), `poison_docs` poisoned documents, the clean baseline, the defences.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LmCell {
    pub corpus: String,
    /// Training documents kept; `None`: the whole corpus.
    pub docs: Option<usize>,
    pub trusted: Option<usize>,
    pub model: LmModel,
    pub attack: String,
    pub params: serde_json::Value,
    pub poison_docs: usize,
    pub defences: Vec<String>,
    pub seed: u64,
}

/// The cells of a text block at `seed`: per attack, per rate.
pub fn text_cells(block: &Text, seed: u64) -> Vec<TextCell> {
    let defences: Vec<NamedCell> = block
        .defences
        .iter()
        .map(|d| NamedCell::of(d.get_ref()))
        .collect();
    let mut cells = Vec::new();
    for attack in &block.attacks {
        for rate in &attack.rates {
            cells.push(TextCell {
                dataset: block.dataset.get_ref().clone(),
                head: block
                    .head
                    .as_ref()
                    .map_or("mlp".to_string(), |h| h.get_ref().clone()),
                hidden: block.hidden.as_ref().map(|v| *v.get_ref()),
                epochs: block.epochs.as_ref().map(|v| *v.get_ref()),
                fine_tune_layers: block
                    .fine_tune_layers
                    .as_ref()
                    .map(|v| *v.get_ref())
                    .filter(|&k| k > 0),
                fine_tune_epochs: block.fine_tune_epochs.as_ref().map(|v| *v.get_ref()),
                fine_tune_lr: block.fine_tune_lr.as_ref().map(|v| *v.get_ref()),
                fine_tune_head: block.fine_tune_head.as_ref().map(|v| v.get_ref().clone()),
                max_train: block.max_train.as_ref().map(|v| *v.get_ref()),
                max_test: block.max_test.as_ref().map(|v| *v.get_ref()),
                target: block.target.as_ref().map_or(0, |v| *v.get_ref()),
                clean_label: block.clean_label.as_ref().is_some_and(|v| *v.get_ref()),
                attack: attack.name.get_ref().clone(),
                params: attack.params_json(),
                rate: *rate.get_ref(),
                defences: defences.clone(),
                seed,
            });
        }
    }
    cells
}

/// The cells of an lm block at `seed`: per attack, corpus size and poisoned-document count
/// (counts innermost, so a size's cells share their baseline as they run).
pub fn lm_cells(block: &Lm, seed: u64) -> Vec<LmCell> {
    let mut cells = Vec::new();
    for attack in block.attacks() {
        let a = attack.get_ref();
        for docs in block.sizes() {
            for count in block.poison_docs.get_ref() {
                cells.push(LmCell {
                    corpus: block.corpus.get_ref().clone(),
                    docs,
                    trusted: block.trusted.as_ref().map(|v| *v.get_ref()),
                    model: block
                        .model
                        .as_ref()
                        .map_or_else(LmModel::default, |m| m.get_ref().clone()),
                    attack: a.name.clone(),
                    params: a.params_json(),
                    poison_docs: *count.get_ref(),
                    defences: block.defences.iter().map(|d| d.get_ref().clone()).collect(),
                    seed,
                });
            }
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::plan::{plan, CellSpec};

    #[test]
    fn one_cell_per_attack_budget_size_and_seed() {
        let config = Config::parse(
            "[text]\ndataset = \"spamassassin\"\nhead = \"logreg\"\ndefences = [\"bki\"]\n\
             attacks = [{ name = \"addsent\", rates = [0.01, 0.03] }, { name = \"badnl\", rates = [0.05] }]\n\
             [lm]\ncorpus = \"moby-dick\"\nattack = [\"dos\", \"completion\"]\npoison_docs = [10, 25, 50]\n\
             docs = [120, 240]\ndefences = [\"manifest\"]\n",
        )
        .unwrap();
        let cells = plan(&config, 2, 0);
        let text = cells
            .iter()
            .filter(|c| matches!(c.spec, CellSpec::Text(_)))
            .count();
        let lm: Vec<_> = cells
            .iter()
            .filter_map(|c| match &c.spec {
                CellSpec::Lm(l) => Some(l),
                _ => None,
            })
            .collect();
        assert_eq!(text, 2 * 3);
        assert_eq!(lm.len(), 2 * 2 * 2 * 3);
        assert_eq!(
            (lm[0].attack.as_str(), lm[0].docs, lm[0].poison_docs),
            ("dos", Some(120), 10)
        );
        assert_eq!((lm[3].docs, lm[3].poison_docs), (Some(240), 10));
        let id = &cells
            .iter()
            .find(|c| matches!(c.spec, CellSpec::Lm(_)))
            .unwrap()
            .id;
        assert!(id.starts_with("moby-dick/lm/dos@10/docs120/seed0#"), "{id}");
        let id = &cells[0].id;
        assert!(
            id.starts_with("spamassassin/text/addsent@0.01/seed0#"),
            "{id}"
        );
    }
}
