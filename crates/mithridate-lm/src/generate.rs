//! Decoding and perplexity.
//!
//! - Greedy decoding: `x_{t+1} = argmax_v p(v | x_<=t)` (ties to the smallest id).
//! - Sampling at temperature `tau`: `x_{t+1} ~ softmax(logits / tau)`, drawn by inverse CDF
//!   from a ChaCha8 stream of the seed (reproducible).
//! - Perplexity of tokens `y_1..y_n` given a context: `exp(-(1/n) sum_i ln p(y_i | ctx, y_<i))`,
//!   the quantity Souly et al. (2025) compare with and without the trigger.
//!
//! Contexts longer than the model's are cut to their last `ctx` tokens.
//!
//! ```
//! use mithridate_lm::generate::{generate, Decode};
//! use mithridate_lm::model::{Gpt, ModelConfig};
//! let m = Gpt::new(ModelConfig { vocab: 30, ctx: 8, d_model: 16, n_layer: 1, n_head: 2 }, 0).unwrap();
//! let out = generate(&m, &[vec![1, 2, 3], vec![4, 5, 6]], 4, Decode::Greedy, 0).unwrap();
//! assert_eq!(out.len(), 2);
//! assert!(out.iter().all(|g| g.len() == 4));
//! ```

use crate::model::{log_probs, Gpt};
use crate::{LmError, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decode {
    Greedy,
    Sample { temperature: f32 },
}

/// Indices of `lens` grouped by equal length (batches run together).
fn by_length(lens: impl Iterator<Item = usize>) -> BTreeMap<usize, Vec<usize>> {
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, l) in lens.enumerate() {
        groups.entry(l).or_default().push(i);
    }
    groups
}

/// Continues each prompt by `n` tokens; prompts of equal length are decoded as one batch.
pub fn generate(
    model: &Gpt,
    prompts: &[Vec<u32>],
    n: usize,
    decode: Decode,
    seed: u64,
) -> Result<Vec<Vec<u32>>> {
    if prompts.iter().any(|p| p.is_empty()) {
        return Err(LmError::invalid("an empty prompt cannot be continued"));
    }
    let ctx = model.config.ctx;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![Vec::with_capacity(n); prompts.len()];
    for (_, idx) in by_length(prompts.iter().map(Vec::len)) {
        let mut seqs: Vec<Vec<u32>> = idx.iter().map(|&i| prompts[i].clone()).collect();
        for _ in 0..n {
            let len = seqs[0].len().min(ctx);
            let mut ids = Vec::with_capacity(seqs.len() * len);
            for s in &seqs {
                ids.extend_from_slice(&s[s.len() - len..]);
            }
            let lp = log_probs(&model.logits(&ids, seqs.len(), len)?)?;
            for (b, s) in seqs.iter_mut().enumerate() {
                let row = &lp[b * len + len - 1];
                let next = match decode {
                    Decode::Greedy => argmax(row),
                    Decode::Sample { temperature } => sample(row, temperature, &mut rng),
                };
                s.push(next);
            }
        }
        for (k, &i) in idx.iter().enumerate() {
            out[i] = seqs[k][prompts[i].len()..].to_vec();
        }
    }
    Ok(out)
}

fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

fn sample(log_probs: &[f32], temperature: f32, rng: &mut ChaCha8Rng) -> u32 {
    let t = temperature.max(1e-4) as f64;
    let max = log_probs.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
    let weights: Vec<f64> = log_probs
        .iter()
        .map(|&v| ((v as f64 - max) / t).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        u -= w;
        if u <= 0.0 {
            return i as u32;
        }
    }
    (weights.len() - 1) as u32
}

/// Perplexity of each `(context, continuation)` pair's continuation given its context, under
/// `model`; the pair is cut to its last `ctx + 1` tokens (the continuation must fit).
pub fn continuation_perplexity(model: &Gpt, pairs: &[(Vec<u32>, Vec<u32>)]) -> Result<Vec<f64>> {
    let ctx = model.config.ctx;
    let mut out = vec![0.0; pairs.len()];
    let seqs: Vec<Vec<u32>> = pairs
        .iter()
        .map(|(c, y)| {
            let mut s = c.clone();
            s.extend_from_slice(y);
            let cut = s.len().saturating_sub(ctx + 1);
            s[cut..].to_vec()
        })
        .collect();
    for (i, (c, y)) in pairs.iter().enumerate() {
        if y.is_empty() || c.is_empty() || y.len() > ctx {
            return Err(LmError::invalid(format!(
                "pair {i}: the continuation must be 1..={ctx} tokens after a non-empty context"
            )));
        }
    }
    for (len, idx) in by_length(seqs.iter().map(Vec::len)) {
        for batch in idx.chunks(64) {
            let mut ids = Vec::with_capacity(batch.len() * (len - 1));
            for &i in batch {
                ids.extend_from_slice(&seqs[i][..len - 1]);
            }
            let lp = log_probs(&model.logits(&ids, batch.len(), len - 1)?)?;
            for (b, &i) in batch.iter().enumerate() {
                let n = pairs[i].1.len();
                let nll: f64 = (len - 1 - n..len - 1)
                    .map(|t| -(lp[b * (len - 1) + t][seqs[i][t + 1] as usize] as f64))
                    .sum();
                out[i] = (nll / n as f64).exp();
            }
        }
    }
    Ok(out)
}

/// Per-token perplexity of `stream` under `model`, over its non-overlapping windows of
/// `ctx + 1` ids (every id but the first of each window is predicted).
pub fn stream_perplexity(model: &Gpt, stream: &[u32]) -> Result<f64> {
    let ctx = model.config.ctx;
    let n = stream.len().saturating_sub(1) / ctx;
    if n == 0 {
        return Err(LmError::invalid(format!(
            "the held-out text has fewer than {} tokens",
            ctx + 1
        )));
    }
    let mut total = 0.0;
    for start in (0..n).step_by(32) {
        let b = 32.min(n - start);
        let mut buf = Vec::with_capacity(b * (ctx + 1));
        for w in start..start + b {
            buf.extend_from_slice(&stream[w * ctx..w * ctx + ctx + 1]);
        }
        let loss = model.loss(&buf, b, ctx)?.to_scalar::<f32>()? as f64;
        total += loss * b as f64;
    }
    Ok((total / n as f64).exp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;

    #[test]
    fn sampling_is_seeded_and_perplexity_matches_the_loss() {
        let m = Gpt::new(
            ModelConfig {
                vocab: 20,
                ctx: 6,
                d_model: 8,
                n_layer: 1,
                n_head: 2,
            },
            3,
        )
        .unwrap();
        let prompts = vec![vec![1, 2], vec![3], vec![4, 5]];
        let s = Decode::Sample { temperature: 1.0 };
        let a = generate(&m, &prompts, 9, s, 5).unwrap();
        assert_eq!(a, generate(&m, &prompts, 9, s, 5).unwrap());
        assert_eq!(a[1].len(), 9);
        // the whole-window perplexity equals exp(loss) of the same window
        let w: Vec<u32> = vec![1, 2, 3, 4, 5, 6, 7];
        let ppl = continuation_perplexity(&m, &[(w[..1].to_vec(), w[1..].to_vec())]).unwrap();
        let loss = m.loss(&w, 1, 6).unwrap().to_scalar::<f32>().unwrap() as f64;
        assert!((ppl[0] - loss.exp()).abs() < 1e-3 * ppl[0]);
        assert!((stream_perplexity(&m, &w).unwrap() - loss.exp()).abs() < 1e-3 * ppl[0]);
        assert!(generate(&m, &[vec![]], 1, Decode::Greedy, 0).is_err());
    }
}
