//! STRIP for text: inputs whose prediction survives heavy perturbation carry a trigger.
//!
//! Paper: Gao et al. (2021), "Design and Evaluation of a Multi-Domain Trojan Detection Method
//! on Deep Neural Networks" (IEEE TDSC; STRIP-ViTA, the text extension of Gao et al. 2019
//! STRIP). For an input `x` of `n` words, `copies` perturbed copies are made by replacing each
//! word independently with probability `replace` by a word drawn from the unigram distribution
//! of the defender's training texts; the input's score is the mean prediction entropy
//! `H(x) = (1/N) sum_k -sum_c p_c(x_k) log p_c(x_k)`. A trigger keeps forcing the target class
//! however the rest changes, so triggered inputs have low `H`. The threshold is the `frr`
//! quantile of `H` over `calibration` training texts (mostly clean: the poison is a small
//! share); an input with `H` below it is rejected. Assumes the trigger survives partial
//! replacement (a multi-word sentence or frame is partly destroyed, a single rare word is
//! replaced with probability `replace`).
//!
//! Evaluated on `eval` clean and `eval` triggered test inputs (each needs `copies` encoder
//! passes).

use super::{input_detection, share, DefenceContext, DefenceKind, DefenceOutcome, TextDefence};
use crate::data::Sample;
use crate::registry::{checked_defence, DefenceEntry, TEXT_INPUT_FILTERING};
use crate::words::{sample_rng, words};
use crate::{Result, TextError};
use mithridate_core::registry::{Entry, Role};
use mithridate_core::ParamGuard;
use mithridate_detect::metrics::score_detection;
use rand::seq::SliceRandom;
use rand::Rng;

pub const ENTRY: DefenceEntry = Entry {
    name: "strip",
    role: Role::InputDetector,
    modalities: &["text"],
    summary: "rejects inputs whose predictions keep low entropy under random word replacement (copies=8, replace=0.5, frr=0.05, calibration=100, eval=100)",
    paper: "Gao et al. 2021 (STRIP-ViTA, text STRIP)",
    taxonomy: TEXT_INPUT_FILTERING,
    requires: &[],
    provides: &[],
    build: |p| checked_defence::<StripParams>("strip", p),
};

/// Parameters of [`Strip`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct StripParams {
    /// Perturbed copies per input, 2..=64.
    pub copies: usize,
    /// Probability of replacing each word, in (0, 1].
    pub replace: f64,
    /// False-rejection rate on the calibration texts, in (0, 0.5].
    pub frr: f64,
    /// Training texts used to set the threshold, >= 10.
    pub calibration: usize,
    /// Clean and triggered test inputs evaluated (each), >= 1.
    pub eval: usize,
}

impl Default for StripParams {
    fn default() -> Self {
        StripParams {
            copies: 8,
            replace: 0.5,
            frr: 0.05,
            calibration: 100,
            eval: 100,
        }
    }
}

impl ParamGuard for StripParams {
    type Checked = Strip;
    type Error = TextError;
    fn check_ref(&self) -> Result<()> {
        let bad = |m: &str| Err(TextError::invalid(format!("strip: {m}")));
        if !(2..=64).contains(&self.copies) {
            return bad("copies must be 2..=64");
        }
        if !(self.replace > 0.0 && self.replace <= 1.0) {
            return bad("replace must be in (0, 1]");
        }
        if !(self.frr > 0.0 && self.frr <= 0.5) {
            return bad("frr must be in (0, 0.5]");
        }
        if self.calibration < 10 || self.eval == 0 {
            return bad("calibration must be >= 10 and eval >= 1");
        }
        Ok(())
    }
    fn build(self) -> Strip {
        Strip(self)
    }
}

/// The checked defence.
#[derive(Debug, Clone)]
pub struct Strip(StripParams);

const STREAM_PERTURB: u64 = 21;
const STREAM_PICK: u64 = 22;

impl Strip {
    /// Mean prediction entropy of each of `samples` under perturbation.
    fn entropies(
        &self,
        ctx: &mut DefenceContext,
        pool: &[&str],
        samples: &[Sample],
        stream: u64,
    ) -> Result<Vec<f64>> {
        let k = self.0.copies;
        let mut texts = Vec::with_capacity(samples.len() * k);
        for s in samples {
            let mut rng = sample_rng(ctx.seed, STREAM_PERTURB + stream, s.id);
            for _ in 0..k {
                let copy: Vec<&str> = words(&s.text)
                    .into_iter()
                    .map(|w| {
                        if rng.random_bool(self.0.replace) {
                            pool[rng.random_range(0..pool.len())]
                        } else {
                            w
                        }
                    })
                    .collect();
                texts.push(copy.join(" "));
            }
        }
        let emb = ctx.embed(&texts)?;
        let c = ctx.num_classes;
        let probs = ctx.head.probabilities(&emb);
        Ok(probs
            .chunks(k * c)
            .map(|copies| {
                copies
                    .chunks_exact(c)
                    .map(|p| {
                        -p.iter()
                            .filter(|&&v| v > 0.0)
                            .map(|&v| v as f64 * (v as f64).ln())
                            .sum::<f64>()
                    })
                    .sum::<f64>()
                    / k as f64
            })
            .collect())
    }
}

fn pick(samples: &[Sample], n: usize, seed: u64, stream: u64) -> Vec<Sample> {
    let mut v = samples.to_vec();
    v.shuffle(&mut sample_rng(seed, STREAM_PICK + stream, 0));
    v.truncate(n);
    v
}

impl TextDefence for Strip {
    fn name(&self) -> &'static str {
        "strip"
    }
    fn kind(&self) -> DefenceKind {
        DefenceKind::Inference
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }
    fn run(&self, ctx: &mut DefenceContext, _poisoned_ids: &[u64]) -> Result<DefenceOutcome> {
        let pool: Vec<&str> = ctx.train.iter().flat_map(|s| words(&s.text)).collect();
        if pool.is_empty() {
            return Err(TextError::invalid(
                "strip: the training texts have no words",
            ));
        }
        let calibration = pick(ctx.train, self.0.calibration, ctx.seed, 0);
        let clean = pick(ctx.test, self.0.eval, ctx.seed, 1);
        let triggered = pick(ctx.triggered, self.0.eval, ctx.seed, 2);
        let mut cal = self.entropies(ctx, &pool, &calibration, 0)?;
        cal.sort_by(f64::total_cmp);
        let threshold = cal[((self.0.frr * cal.len() as f64).floor() as usize).min(cal.len() - 1)];
        let hc = self.entropies(ctx, &pool, &clean, 1)?;
        let ht = self.entropies(ctx, &pool, &triggered, 2)?;
        let rows = |s: &[Sample], h: &[f64]| -> Vec<(u64, f64, bool)> {
            s.iter()
                .zip(h)
                .map(|(s, &h)| (s.id, -h, h < threshold))
                .collect()
        };
        let (d, positives) = input_detection("strip", &rows(&clean, &hc), &rows(&triggered, &ht));
        let emb_of = |set: &[Sample], all: &[Sample], emb: &[f32]| -> Vec<f32> {
            let dim = crate::embed::FEATURES;
            set.iter()
                .flat_map(|s| {
                    let i = all.iter().position(|a| a.id == s.id).unwrap_or(0);
                    emb[i * dim..(i + 1) * dim].to_vec()
                })
                .collect()
        };
        let pc = ctx.head.predict(&emb_of(&clean, ctx.test, ctx.test_emb));
        let pt = ctx
            .head
            .predict(&emb_of(&triggered, ctx.triggered, ctx.triggered_emb));
        let ca = pc
            .iter()
            .zip(&clean)
            .zip(&hc)
            .filter(|((p, s), h)| **p == s.label && **h >= threshold)
            .count();
        let (asr_after, asr_after_beyond_clean) = ctx.floor.rates(
            pt.iter()
                .zip(&ht)
                .zip(&triggered)
                .map(|((p, h), s)| (s.id, *p == ctx.target && *h >= threshold)),
        );
        let rejected = hc.iter().chain(&ht).filter(|&&h| h < threshold).count();
        Ok(DefenceOutcome {
            defence: self.name().into(),
            kind: DefenceKind::Inference,
            parameters: self.parameters(),
            detection: score_detection(&d, &positives).map_err(TextError::Detect)?,
            ca_after: share(ca, clean.len()),
            asr_after,
            asr_after_beyond_clean,
            acted_on: rejected,
            details: serde_json::json!({
                "threshold": threshold,
                "clean_rejected": share(hc.iter().filter(|&&h| h < threshold).count(), hc.len()),
                "evaluated_clean": clean.len(),
                "evaluated_triggered": triggered.len(),
            }),
        })
    }
}
