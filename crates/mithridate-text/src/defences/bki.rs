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
//! of its words.
//!
//! Extension for sentence and frame triggers (ours, not the paper's): deleting one word of an
//! inserted sentence leaves the rest of it, which still carries the backdoor, so a topic word
//! of a short text outscores it (measured at stop 37: on Reuters R8 with an unseen AddSent
//! sentence, single-word deletion ranked `grain`, `trade` and `profits` above the trigger's
//! words on 3 seeds of 3). The words of one inserted sentence occur in the same texts, so `k` is
//! deleted together with its *companions*: every word `v` (of at least `min-count` texts,
//! label-pure or not, candidate or not) that occurs in most of `k`'s texts and mostly there,
//! `|T(v) ∩ T(k)| >= group-overlap * |T(k)|` and `|T(v) ∩ T(k)| > |T(v)| / 2` (default
//! overlap 0.9). The first condition makes the group the rest of the phrase; the second keeps
//! out words that are everywhere (`the`, or `I` and `this` of the default AddSent sentence),
//! yet lets in a trigger word that also occurs naturally in a few other texts (`watched` in
//! SpamAssassin: 48 poisoned texts and 8 others), which a symmetric overlap rule missed
//! (stop 38: the sentence's words were deleted one at a time and BKI flagged the wrong texts
//! on 2 seeds of 3). A rare-word trigger's group is usually itself; `group-overlap=1` asks
//! for companions in every one of `k`'s texts.
//! `scrub` (ours, off by default): the retrained model is also judged on inputs with the top
//! keywords and their companions deleted. Why: removing the poisoned texts removes the
//! backdoor, but a trigger can move a *clean* model too (a friendly frame around a spam
//! e-mail reads as ham to a model that never saw a poison: the clean floor), and no
//! retraining undoes that; deleting the identified trigger words from incoming texts does.
//! The cost is that clean texts which contain those words lose them as well (measured as CA
//! after).
//! Assumes the trigger's words occur (almost) only in poisoned texts.

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
    summary: "ranks label-pure frequent words by the probability drop when deleted with their companions (words in most of their texts, and mostly there), removes texts with the top keyword(s), retrains; scrub also deletes the keywords and companions from the inputs it classifies (min-count=3, purity=0.9, candidates=150, probes=4, keywords=1, group-overlap=0.9, scrub=false)",
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
    /// Share of a keyword's texts another word must occur in to be deleted with it, in (0, 1].
    pub group_overlap: f64,
    /// Also delete the top keywords and their companions from every input the retrained
    /// model classifies (test and triggered texts), not only the training texts that carry
    /// them.
    pub scrub: bool,
}

impl Default for BkiParams {
    fn default() -> Self {
        BkiParams {
            min_count: 3,
            purity: 0.9,
            candidates: 150,
            probes: 4,
            keywords: 1,
            group_overlap: 0.9,
            scrub: false,
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
        if !(self.group_overlap > 0.0 && self.group_overlap <= 1.0) {
            return Err(TextError::invalid("bki: group-overlap must be in (0, 1]"));
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
        // Every word of at least `min-count` texts may be a companion; candidates also need
        // label purity.
        let frequent: Vec<(String, Vec<usize>)> = postings
            .into_iter()
            .filter(|(_, rows)| rows.len() >= p.min_count)
            .collect();
        let mut cands: Vec<(String, Vec<usize>)> = frequent
            .iter()
            .filter(|(_, rows)| {
                let mut counts = vec![0usize; ctx.num_classes];
                for &r in rows {
                    counts[ctx.train[r].label as usize] += 1;
                }
                *counts.iter().max().unwrap_or(&0) as f64 >= p.purity * rows.len() as f64
            })
            .cloned()
            .collect();
        cands.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        cands.truncate(p.candidates);
        let groups = phrase_groups(&cands, &frequent, p.group_overlap);
        let mut texts = Vec::new();
        let mut probe_rows = Vec::new();
        for ((_, rows), group) in cands.iter().zip(&groups) {
            let group: BTreeSet<&str> = group.iter().map(|&g| frequent[g].0.as_str()).collect();
            // Evenly spaced probes over the word's texts (deterministic).
            let step = (rows.len() / p.probes).max(1);
            for &r in rows.iter().step_by(step).take(p.probes) {
                let kept: Vec<&str> = words(&ctx.train[r].text)
                    .into_iter()
                    .filter(|x| !group.contains(x.to_lowercase().as_str()))
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
        let group_of: BTreeMap<&str, Vec<&str>> = cands
            .iter()
            .zip(&groups)
            .map(|((w, _), g)| {
                (
                    w.as_str(),
                    g.iter().map(|&i| frequent[i].0.as_str()).collect(),
                )
            })
            .collect();
        // The top keywords with their companions: what `scrub` deletes from inputs.
        let scrub: BTreeSet<String> = match p.scrub {
            false => BTreeSet::new(),
            true => top
                .iter()
                .flat_map(|k| group_of.get(k).into_iter().flatten().chain([k]))
                .map(|w| w.to_string())
                .collect(),
        };
        let details = serde_json::json!({
            "keywords": ranked.iter().take(5).map(|(w, s)| serde_json::json!({
                "word": w, "score": s, "deleted_with": group_of.get(w.as_str()),
            })).collect::<Vec<_>>(),
            "candidates_scored": cands.len(),
            "scrubbed": scrub,
        });
        retrain_without(
            ctx,
            self.name(),
            self.parameters(),
            &detection,
            poisoned_ids,
            details,
            &scrub,
        )
    }
}

/// For each candidate `k` (word, sorted text rows), the indices into `words` of its companions
/// (itself included when it is in `words`): the words `v` with
/// `|T(v) ∩ T(k)| >= overlap * |T(k)|` and `|T(v) ∩ T(k)| > |T(v)| / 2`.
fn phrase_groups(
    cands: &[(String, Vec<usize>)],
    words: &[(String, Vec<usize>)],
    overlap: f64,
) -> Vec<Vec<usize>> {
    let shared = |a: &[usize], b: &[usize]| {
        let (mut i, mut j, mut n) = (0, 0, 0);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    n += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        n
    };
    cands
        .iter()
        .map(|(_, rows)| {
            let need = overlap * rows.len() as f64;
            words
                .iter()
                .enumerate()
                .filter(|(_, (_, other))| {
                    // Cheap bounds first: v needs >= need texts and fewer than 2 |T(k)|.
                    other.len() as f64 >= need && other.len() < 2 * rows.len().max(1) && {
                        let n = shared(rows, other);
                        n as f64 >= need && 2 * n > other.len()
                    }
                })
                .map(|(j, _)| j)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(word: &str, rows: &[usize]) -> (String, Vec<usize>) {
        (word.to_string(), rows.to_vec())
    }

    #[test]
    fn the_words_of_one_inserted_sentence_form_one_group() {
        // "garden", "fence" and "repainted" occur in the same 10 texts (one inserted sentence;
        // "fence" also in 2 other texts); "grain" overlaps them in 2 texts; "wheat" shares 8 of
        // grain's 10 texts; "the" is in every text.
        let poisoned: Vec<usize> = (0..10).collect();
        let mut fence = poisoned.clone();
        fence.extend([40, 41]);
        let words = vec![
            cand("garden", &poisoned),
            cand("fence", &fence),
            cand("repainted", &poisoned),
            cand("grain", &[8, 9, 20, 21, 22, 23, 24, 25, 26, 27]),
            cand("wheat", &[20, 21, 22, 23, 24, 25, 26, 27, 30, 31]),
            cand("the", &(0..50).collect::<Vec<_>>()),
        ];
        let g = phrase_groups(&words, &words, 0.9);
        // fence is in all 10 of garden's texts and 10 of its own 12 are there (> 6)
        assert_eq!(g[0], vec![0, 1, 2]);
        // for fence, garden covers only 10 of 12 texts (< 0.9 * 12 = 10.8)
        assert_eq!(g[1], vec![1]);
        assert_eq!(g[2], vec![0, 1, 2]);
        // 8 of 10 shared is below 0.9 * 10: topic words stay alone; "the" covers every text
        // but only 10 of its 50 are the sentence's, so it never joins
        assert_eq!(g[3], vec![3]);
        assert_eq!(g[4], vec![4]);
        assert_eq!(g[5], vec![5]);
        // a looser overlap joins grain and wheat, and fence's group takes the sentence
        let loose = phrase_groups(&words, &words, 0.8);
        assert_eq!(loose[3], vec![3, 4]);
        assert_eq!(loose[1], vec![0, 1, 2]);
        // companions need not be candidates: a group indexes into all frequent words
        let g = phrase_groups(&words[..1], &words, 1.0);
        assert_eq!(g, vec![vec![0, 1, 2]]);
    }

    #[test]
    fn group_overlap_outside_the_unit_interval_is_refused() {
        for bad in [0.0, -0.5, 1.5, f64::NAN] {
            let p = BkiParams {
                group_overlap: bad,
                ..BkiParams::default()
            };
            assert!(p.check_ref().is_err(), "{bad}");
        }
    }
}
