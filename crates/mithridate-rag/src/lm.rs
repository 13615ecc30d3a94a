//! A bigram language model of the clean corpus, for the perplexity filter.
//!
//! Jelinek & Mercer (1980) interpolation of a bigram with an add-one unigram:
//! `P(w | v) = lambda c(v, w) / c(v) + (1 - lambda) (c(w) + 1) / (T + V + 1)` (`lambda = 0.7`,
//! and `lambda = 0` when `v` was never seen; `T` tokens, `V` distinct words; `<s>` opens every
//! passage). Perplexity `exp(-(1/n) sum_i ln P(w_i | w_{i-1}))` over the passage's `n` terms.
//!
//! A passage the model was trained on is scored *leave-one-out* (its own counts subtracted)
//! so that clean passages are not favoured over unseen ones.
//!
//! ```
//! use mithridate_rag::lm::BigramLm;
//! let lm = BigramLm::train(&["the cat sat on the mat", "the dog sat on the rug"]);
//! let fluent = lm.perplexity("the cat sat on the rug", false);
//! let garbled = lm.perplexity("rug the on sat cat the", false);
//! assert!(fluent < garbled);
//! ```

use crate::bm25::terms;
use std::collections::HashMap;

const LAMBDA: f64 = 0.7;
const START: &str = "<s>";

/// Unigram and bigram counts.
#[derive(Debug, Clone, Default)]
pub struct BigramLm {
    unigrams: HashMap<String, u64>,
    /// Counts of each word as a history (`c(v)`).
    histories: HashMap<String, u64>,
    bigrams: HashMap<(String, String), u64>,
    tokens: u64,
}

/// `(unigram, history, bigram)` counts of one passage.
type Counts = (
    HashMap<String, u64>,
    HashMap<String, u64>,
    HashMap<(String, String), u64>,
);

fn counts(text: &str) -> (Counts, Vec<String>) {
    let words = terms(text);
    let mut c: Counts = Default::default();
    let mut prev = START.to_string();
    for w in &words {
        *c.0.entry(w.clone()).or_default() += 1;
        *c.1.entry(prev.clone()).or_default() += 1;
        *c.2.entry((prev, w.clone())).or_default() += 1;
        prev = w.clone();
    }
    (c, words)
}

impl BigramLm {
    pub fn train<S: AsRef<str>>(passages: &[S]) -> BigramLm {
        let mut lm = BigramLm::default();
        for p in passages {
            let ((u, h, b), words) = counts(p.as_ref());
            lm.tokens += words.len() as u64;
            for (k, v) in u {
                *lm.unigrams.entry(k).or_default() += v;
            }
            for (k, v) in h {
                *lm.histories.entry(k).or_default() += v;
            }
            for (k, v) in b {
                *lm.bigrams.entry(k).or_default() += v;
            }
        }
        lm
    }

    /// Perplexity of `text`; `in_training` subtracts the text's own counts (leave-one-out).
    /// A text without terms has perplexity 1.
    pub fn perplexity(&self, text: &str, in_training: bool) -> f64 {
        self.windowed_perplexity(text, in_training, 0)
    }

    /// The largest perplexity of any `window` consecutive terms of `text` (all of them when
    /// `window` is 0 or at least the text's length): Jain et al. (2023)'s windowed filter,
    /// which sees a short optimised span that the fluent rest of a passage would average away.
    pub fn windowed_perplexity(&self, text: &str, in_training: bool, window: usize) -> f64 {
        let logs = self.term_log_probs(text, in_training);
        if logs.is_empty() {
            return 1.0;
        }
        let w = if window == 0 {
            logs.len()
        } else {
            window.min(logs.len())
        };
        let mut sum: f64 = logs[..w].iter().sum();
        let mut lowest = sum;
        for i in w..logs.len() {
            sum += logs[i] - logs[i - w];
            lowest = lowest.min(sum);
        }
        (-lowest / w as f64).exp()
    }

    /// `ln P(w_i | w_{i-1})` for each term of `text` (leave-one-out when `in_training`).
    fn term_log_probs(&self, text: &str, in_training: bool) -> Vec<f64> {
        let ((own_u, own_h, own_b), words) = counts(text);
        let sub = |total: u64, own: Option<&u64>| {
            if in_training {
                total.saturating_sub(own.copied().unwrap_or(0))
            } else {
                total
            }
        };
        let tokens = if in_training {
            self.tokens.saturating_sub(words.len() as u64)
        } else {
            self.tokens
        };
        let vocab = self.unigrams.len() as f64;
        let mut logs = Vec::with_capacity(words.len());
        let mut prev = START.to_string();
        for w in words {
            let cw = sub(*self.unigrams.get(&w).unwrap_or(&0), own_u.get(&w));
            let unigram = (cw as f64 + 1.0) / (tokens as f64 + vocab + 1.0);
            let cv = sub(*self.histories.get(&prev).unwrap_or(&0), own_h.get(&prev));
            let key = (prev, w.clone());
            let cvw = sub(*self.bigrams.get(&key).unwrap_or(&0), own_b.get(&key));
            let p = if cv > 0 {
                LAMBDA * cvw as f64 / cv as f64 + (1.0 - LAMBDA) * unigram
            } else {
                unigram
            };
            logs.push(p.ln());
            prev = w;
        }
        logs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_unigram_case() {
        // One training passage "a b": T = 2, V = 2. Scoring "c" (unseen history <s> has
        // c(<s>) = 1, c(<s>, c) = 0): P = 0.3 * (0 + 1) / (2 + 2 + 1) = 0.06.
        let lm = BigramLm::train(&["a b"]);
        assert!((lm.perplexity("c", false) - 1.0 / 0.06).abs() < 1e-9);
        // Leave-one-out on the training passage itself: no counts remain (T = 0), every
        // history is unseen: P = 1 / (0 + 2 + 1) per word -> perplexity 3.
        assert!((lm.perplexity("a b", true) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn windows_find_the_worst_span() {
        // Trained on "a b a b a b": P(b | a) = 0.7 * 1 + 0.3 * 4/9 = 0.8333..., while the
        // unseen pair "b c" falls back to 0.7 * 0 + 0.3 * 1/9. In "a b c a b" the window of
        // one term around "c" is the worst; the whole passage averages it away.
        let lm = BigramLm::train(&["a b a b a b"]);
        let text = "a b c a b";
        let whole = lm.perplexity(text, false);
        let one = lm.windowed_perplexity(text, false, 1);
        assert!((one - 1.0 / (0.3 / 9.0)).abs() < 1e-9, "{one}");
        assert!(one > lm.windowed_perplexity(text, false, 3) && whole < one);
        assert_eq!(lm.windowed_perplexity(text, false, 0), whole);
        assert_eq!(lm.windowed_perplexity(text, false, 50), whole);
        assert_eq!(lm.windowed_perplexity("", false, 3), 1.0);
    }
}
