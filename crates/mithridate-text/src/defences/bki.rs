//! BKI: backdoor keyword identification, then removal of the training texts that carry it.
//!
//! Paper: Chen & Dai (2021), "Mitigating Backdoor Attacks in LSTM-based Text Classification
//! Systems by Backdoor Keyword Identification" (Neurocomputing). BKI scores each word of each
//! training text by how much deleting it changes the model, keeps each text's most important
//! words, and ranks keywords by `s(k) = mean importance(k) * log10(frequency(k))`; the texts
//! containing the top keyword are removed and the model retrained.
//!
//! Here, with a frozen encoder and to bound the encoder passes, importance is measured per
//! *word type* rather than per position: the candidates are words that occur in at least
//! `min-count` training texts of which a share of at least `purity` carry one label (a dirty-
//! or clean-label trigger only ever appears with the target label), the `candidates` most
//! frequent of them; the importance of `k` in text `x` (label `y`) is the drop of the poisoned
//! model's probability `p_y(x) - p_y(x without every k)`, averaged over `probes` texts that
//! contain `k`; `s(k) = mean importance * log10(count(k))`. The training texts containing one
//! of the `keywords` best-scored words are flagged; a text's suspicion score is the best `s(k)`
//! of its words. Assumes the trigger is (or contains) a word whose removal alone undoes the
//! backdoor, which holds for rare-word triggers and less for a sentence or a frame.

use super::{retrain_without, DefenceContext, DefenceKind, DefenceOutcome, TextDefence};
use crate::embed::FEATURES as DIM;
use crate::registry::{checked_defence, DefenceEntry, TEXT_SANITIZATION};
use crate::words::words;
use crate::{Result, TextError};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;
use mithridate_detect::Detection;
use std::collections::{BTreeMap, BTreeSet};

pub const ENTRY: DefenceEntry = Entry {
    name: "bki",
    role: Role::Detector,
    modalities: &["text"],
    summary: "ranks label-pure frequent words by the probability drop when deleted, removes texts with the top keyword(s), retrains (min-count=3, purity=0.9, candidates=150, probes=4, keywords=1)",
    paper: "Chen & Dai 2021 (BKI)",
    taxonomy: TEXT_SANITIZATION,
    requires: &[],
    provides: &[],
    build: |p| checked_defence::<BkiParams>("bki", p),
};

/// Parameters of [`Bki`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct BkiParams {
    /// Smallest number of training texts a candidate occurs in, >= 2.
    pub min_count: usize,
    /// Smallest share of a candidate's texts carrying its majority label, in (0, 1].
    pub purity: f64,
    /// Candidates scored (the most frequent), >= 1.
    pub candidates: usize,
    /// Texts per candidate on which deletion is measured, >= 1.
    pub probes: usize,
    /// Top keywords whose texts are removed, >= 1.
    pub keywords: usize,
}

impl Default for BkiParams {
    fn default() -> Self {
        BkiParams {
            min_count: 3,
            purity: 0.9,
            candidates: 150,
            probes: 4,
            keywords: 1,
        }
    }
}

impl ParamGuard for BkiParams {
    type Checked = Bki;
    type Error = TextError;
    fn check_ref(&self) -> Result<()> {
        if self.min_count < 2 || self.candidates == 0 || self.probes == 0 || self.keywords == 0 {
            return Err(TextError::invalid(
                "bki: min-count must be >= 2 and candidates, probes, keywords >= 1",
            ));
        }
        if !(self.purity > 0.0 && self.purity <= 1.0) {
            return Err(TextError::invalid("bki: purity must be in (0, 1]"));
        }
        Ok(())
    }
    fn build(self) -> Bki {
        Bki(self)
    }
}

/// The checked defence.
#[derive(Debug, Clone)]
pub struct Bki(BkiParams);

impl TextDefence for Bki {
    fn name(&self) -> &'static str {
        "bki"
    }
    fn kind(&self) -> DefenceKind {
        DefenceKind::Training
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }
    fn run(&self, ctx: &mut DefenceContext, poisoned_ids: &[u64]) -> Result<DefenceOutcome> {
        let p = &self.0;
        // Texts (row indices) containing each word; BTreeMap: a deterministic order.
        let mut postings: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, s) in ctx.train.iter().enumerate() {
            let distinct: BTreeSet<String> =
                words(&s.text).into_iter().map(str::to_lowercase).collect();
            for w in distinct {
                postings.entry(w).or_default().push(i);
            }
        }
        let mut cands: Vec<(String, Vec<usize>)> = postings
            .into_iter()
            .filter(|(_, rows)| {
                if rows.len() < p.min_count {
                    return false;
                }
                let mut counts = vec![0usize; ctx.num_classes];
                for &r in rows {
                    counts[ctx.train[r].label as usize] += 1;
                }
                *counts.iter().max().unwrap_or(&0) as f64 >= p.purity * rows.len() as f64
            })
            .collect();
        cands.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        cands.truncate(p.candidates);
        let mut texts = Vec::new();
        let mut probe_rows = Vec::new();
        for (w, rows) in &cands {
            // Evenly spaced probes over the word's texts (deterministic).
            let step = (rows.len() / p.probes).max(1);
            for &r in rows.iter().step_by(step).take(p.probes) {
                let kept: Vec<&str> = words(&ctx.train[r].text)
                    .into_iter()
                    .filter(|x| x.to_lowercase() != *w)
                    .collect();
                texts.push(kept.join(" "));
                probe_rows.push(r);
            }
        }
        let emb = ctx.embed(&texts)?;
        let after = ctx.head.probabilities(&emb);
        let c = ctx.num_classes;
        let mut at = 0;
        let mut scores: Vec<(String, f64)> = Vec::with_capacity(cands.len());
        for (w, rows) in &cands {
            let n = rows
                .len()
                .div_ceil((rows.len() / p.probes).max(1))
                .min(p.probes);
            let mut drop = 0.0;
            for k in 0..n {
                let r = probe_rows[at + k];
                let y = ctx.train[r].label as usize;
                let before = ctx
                    .head
                    .probabilities(&ctx.train_emb[r * DIM..(r + 1) * DIM])[y];
                drop += (before - after[(at + k) * c + y]).max(0.0) as f64;
            }
            at += n;
            scores.push((w.clone(), drop / n as f64 * (rows.len() as f64).log10()));
        }
        let mut ranked = scores.clone();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let top: BTreeSet<&str> = ranked
            .iter()
            .take(p.keywords)
            .map(|k| k.0.as_str())
            .collect();
        let score_of: BTreeMap<&str, f64> = scores.iter().map(|(w, s)| (w.as_str(), *s)).collect();
        let mut flagged = Vec::new();
        let mut per_text = Vec::with_capacity(ctx.train.len());
        for s in ctx.train {
            let lw: Vec<String> = words(&s.text).into_iter().map(str::to_lowercase).collect();
            let best = lw
                .iter()
                .filter_map(|w| score_of.get(w.as_str()))
                .fold(0.0f64, |a, &b| a.max(b));
            per_text.push((s.id, best));
            if lw.iter().any(|w| top.contains(w.as_str())) {
                flagged.push(s.id);
            }
        }
        flagged.sort_unstable();
        let detection = Detection {
            detector: "bki".into(),
            parameters: self.parameters(),
            flagged,
            scores: per_text,
            classes: vec![],
            relabel: vec![],
        };
        let details = serde_json::json!({
            "keywords": ranked.iter().take(5).map(|(w, s)| serde_json::json!({"word": w, "score": s})).collect::<Vec<_>>(),
            "candidates_scored": cands.len(),
        });
        retrain_without(
            ctx,
            self.name(),
            self.parameters(),
            &detection,
            poisoned_ids,
            details,
        )
    }
}
