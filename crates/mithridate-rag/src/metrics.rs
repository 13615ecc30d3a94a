//! Retrieval-level metrics of an attack, per cut-off `k`.
//!
//! For target question `t` with poisoned ids `P_t`, gold passage `g_t` (when known) and
//! retrieved list `R_t` (best first, after defences):
//!
//! - `asr@k`: share of targets with at least one of `P_t` in `R_t[..k]` (PoisonedRAG's
//!   retrieval-level success: the generator sees attacker text);
//! - `clean_recall@k`: share of targets with a gold passage whose `g_t` is in `R_t[..k]`
//!   (`None` when no target has one);
//! - `poison_precision@k`: mean over targets of `|P_t ∩ R_t[..k]| / |R_t[..k]|` (0 when
//!   nothing is returned); `poison_recall@k`: mean of `|P_t ∩ R_t[..k]| / |P_t|`;
//!   `poison_f1@k`: the harmonic mean of the two means.
//!
//! ```
//! use mithridate_rag::metrics::RetrievalMetrics;
//! let retrieved = vec![vec!["p1".to_string(), "g".into(), "x".into()], vec!["y".to_string()]];
//! let poisons = vec![vec!["p1".to_string(), "p2".into()], vec!["p3".to_string()]];
//! let gold = vec![Some("g".to_string()), Some("z".to_string())];
//! let m = RetrievalMetrics::compute(&retrieved, &poisons, &gold, &[1, 2]);
//! assert_eq!(m.asr_at_k["1"], 0.5);
//! assert_eq!(m.clean_recall_at_k.as_ref().unwrap()["2"], 0.5);
//! assert_eq!(m.poison_precision_at_k["2"], 0.25); // (1/2 + 0/1) / 2
//! assert_eq!(m.poison_recall_at_k["1"], 0.25);    // (1/2 + 0/1) / 2
//! ```

use std::collections::{BTreeMap, HashSet};

/// The cut-offs reported by default.
pub const CUTOFFS: &[usize] = &[1, 5, 20];

/// Maps from `k` (as a string key, for JSON) to a value in `[0, 1]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RetrievalMetrics {
    pub asr_at_k: BTreeMap<String, f64>,
    pub clean_recall_at_k: Option<BTreeMap<String, f64>>,
    pub poison_precision_at_k: BTreeMap<String, f64>,
    pub poison_recall_at_k: BTreeMap<String, f64>,
    pub poison_f1_at_k: BTreeMap<String, f64>,
}

impl RetrievalMetrics {
    /// Metrics of `retrieved[t]` against `poisons[t]` and `gold[t]`.
    pub fn compute(
        retrieved: &[Vec<String>],
        poisons: &[Vec<String>],
        gold: &[Option<String>],
        cutoffs: &[usize],
    ) -> RetrievalMetrics {
        Self::compute_widened(retrieved, poisons, gold, cutoffs, 1)
    }

    /// The metrics when the generator reads the top `factor x k` instead of the top `k`
    /// (the `wider` defence, PoisonedRAG's "retrieving more"): every metric at `k` is taken
    /// over `R_t[..factor k]`, and attack success at `k` needs at least `factor` poisons
    /// there, the same share (`1/k`) of the generator's context that one poison in the
    /// undefended top `k` holds. `factor = 1` is [`compute`](Self::compute).
    ///
    /// ```
    /// use mithridate_rag::metrics::RetrievalMetrics;
    /// let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    /// // Top 4 = p1, x, p2, g: two poisons among 4 passages.
    /// let retrieved = vec![ids(&["p1", "x", "p2", "g", "y", "z"])];
    /// let poisons = vec![ids(&["p1", "p2", "p3"])];
    /// let gold = vec![Some("g".to_string())];
    /// let wide = RetrievalMetrics::compute_widened(&retrieved, &poisons, &gold, &[1, 2], 2);
    /// assert_eq!(wide.asr_at_k["1"], 0.0); // 1 poison in the top 2: below 2
    /// assert_eq!(wide.asr_at_k["2"], 1.0); // 2 poisons in the top 4
    /// assert_eq!(wide.poison_precision_at_k["2"], 0.5);
    /// assert_eq!(wide.clean_recall_at_k.unwrap()["2"], 1.0);
    /// let plain = RetrievalMetrics::compute(&retrieved, &poisons, &gold, &[1]);
    /// assert_eq!(plain.asr_at_k["1"], 1.0);
    /// ```
    pub fn compute_widened(
        retrieved: &[Vec<String>],
        poisons: &[Vec<String>],
        gold: &[Option<String>],
        cutoffs: &[usize],
        factor: usize,
    ) -> RetrievalMetrics {
        let factor = factor.max(1);
        let n = retrieved.len().max(1) as f64;
        let mut m = RetrievalMetrics {
            asr_at_k: BTreeMap::new(),
            clean_recall_at_k: None,
            poison_precision_at_k: BTreeMap::new(),
            poison_recall_at_k: BTreeMap::new(),
            poison_f1_at_k: BTreeMap::new(),
        };
        let with_gold = gold.iter().filter(|g| g.is_some()).count();
        let mut recall_map = BTreeMap::new();
        for &k in cutoffs {
            let (mut hit, mut found, mut precision, mut recall) = (0.0, 0.0, 0.0, 0.0);
            for (t, list) in retrieved.iter().enumerate() {
                let top = &list[..(k * factor).min(list.len())];
                let own: HashSet<&str> = poisons
                    .get(t)
                    .map(|p| p.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                let planted = top.iter().filter(|id| own.contains(id.as_str())).count() as f64;
                if planted >= factor as f64 {
                    hit += 1.0;
                }
                if !top.is_empty() {
                    precision += planted / top.len() as f64;
                }
                if !own.is_empty() {
                    recall += planted / own.len() as f64;
                }
                if let Some(Some(g)) = gold.get(t) {
                    if top.contains(g) {
                        found += 1.0;
                    }
                }
            }
            let key = k.to_string();
            let (p, r) = (precision / n, recall / n);
            m.asr_at_k.insert(key.clone(), hit / n);
            m.poison_precision_at_k.insert(key.clone(), p);
            m.poison_recall_at_k.insert(key.clone(), r);
            m.poison_f1_at_k.insert(
                key.clone(),
                if p + r > 0.0 {
                    2.0 * p * r / (p + r)
                } else {
                    0.0
                },
            );
            recall_map.insert(key, found / with_gold.max(1) as f64);
        }
        if with_gold > 0 {
            m.clean_recall_at_k = Some(recall_map);
        }
        m
    }
}
