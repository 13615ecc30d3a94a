//! Rounds under secure aggregation: which rules can run there, dropouts, client-side clipping
//! and quantisation, the protocol, and the server's step on the unmasked sum.
//!
//! Under secure aggregation the server learns only `sum_u enc(clip(x_u))` over the clients
//! that did not drop out. A rule runs there only if its aggregate is a function of that sum
//! ([`mithridate_aggregate::SumForm`]): `fedavg` (uniform weights), `norm-bound` with a fixed
//! `bound` (each client clips itself; noise added by the server) and `dp-fedavg` (fixed or
//! adaptive clipping: the within-clip indicator is summed as one more coordinate). Every rule
//! that inspects individual updates — order statistics (median, trimmed mean, Bulyan),
//! distances (Krum, geometric median, centered clipping, FLAME), similarities (FoolsGold,
//! FLTrust) or relative norms (norm-bound's default median bound), and every pre-aggregator —
//! is refused with an error saying so. What remains against poisoning there is client-side
//! clipping and DP noise, and clipping is only as good as the clients: a malicious client
//! does not clip (here: attackers send their crafted update unclipped; only the quantiser's
//! range bounds it).

use crate::error::{FlError, Result};
use crate::sim::{derive_seed, FlConfig, FlParams, DROPOUT, SECAGG};
use mithridate_aggregate::rules::sum_form::clip_factor;
use mithridate_aggregate::{Aggregator, RoundState};
use mithridate_secagg::quantize::{decode, encode, range};
use mithridate_secagg::{Cost, ParamGuard, SecAgg};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Validates the secure-aggregation settings against the rule: `None` without secure
/// aggregation (and then no dropout), the checked protocol otherwise.
pub(crate) fn check(
    p: &FlParams,
    aggregator: &dyn Aggregator,
    participants: usize,
) -> Result<Option<SecAgg>> {
    if !(0.0..1.0).contains(&p.dropout) {
        return Err(FlError::param(
            "dropout",
            format!("must be in [0, 1), got {}", p.dropout),
        ));
    }
    let Some(params) = p.secure_aggregation else {
        if p.dropout > 0.0 {
            return Err(FlError::param(
                "dropout",
                "dropouts are simulated under secure aggregation only (add --secagg)",
            ));
        }
        return Ok(None);
    };
    let needs_individual = !p.rule.pre().is_empty() || aggregator.sum_form().is_none();
    if needs_individual {
        return Err(FlError::param(
            "rule",
            format!(
                "{} cannot run under secure aggregation: it needs the individual updates, and the server sees only their sum; rules that can: {}",
                p.rule,
                SUM_RULES
            ),
        ));
    }
    if participants < 2 {
        return Err(FlError::param(
            "per-round",
            "secure aggregation needs at least 2 participants per round",
        ));
    }
    Ok(Some(params.check()?))
}

/// The rules with a sum form, for messages and docs.
pub const SUM_RULES: &str = "fedavg, norm-bound:bound=M[,noise-std=S], dp-fedavg:clip=C[,...]";

/// The server's result of one secure round.
pub(crate) struct SecureRound {
    pub aggregate: Vec<f32>,
    pub dropped: Vec<u64>,
    pub cost: Cost,
}

impl FlConfig {
    /// One round under secure aggregation: `round(dropout n)` seeded participants drop out;
    /// every honest survivor clips its update to the rule's client clip, every attacker sends
    /// its crafted update as is; each is quantised (plus the within-clip indicator when the
    /// rule clips), masked and summed by the protocol; the rule finishes on the dequantised
    /// sum.
    pub(crate) fn secure_round(
        &self,
        secagg: &SecAgg,
        rows: &[f32],
        participants: &[u64],
        attackers: &[u64],
        state: &mut RoundState,
        round: usize,
    ) -> Result<SecureRound> {
        let p = &self.params;
        let n = participants.len();
        let d = rows.len() / n;
        let form = self
            .aggregator
            .sum_form()
            .ok_or_else(|| FlError::param("rule", "no sum form"))?;
        let r = round as u64;
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
            p.seed,
            &[DROPOUT, r],
        )));
        let mut dropped_flags = vec![false; n];
        for &i in &order[..(p.dropout * n as f64).round() as usize] {
            dropped_flags[i] = true;
        }
        let clip = form.client_clip(state);
        let bits = secagg.fraction_bits();
        let limit = range(bits, n);
        let inputs: Vec<Vec<u32>> = (0..n)
            .map(|i| {
                let row = &rows[i * d..(i + 1) * d];
                let honest = attackers.binary_search(&participants[i]).is_err();
                let factor = if honest { clip_factor(row, clip) } else { 1.0 };
                let mut x: Vec<f64> = row.iter().map(|v| *v as f64 * factor).collect();
                if clip.is_some() {
                    x.push(if clip_factor(row, clip) >= 1.0 {
                        1.0
                    } else {
                        0.0
                    });
                }
                encode(&x, bits, limit)
            })
            .collect();
        let out = secagg.aggregate(
            round,
            &inputs,
            &dropped_flags,
            derive_seed(p.seed, &[SECAGG, r]),
        )?;
        let mut sum = decode(&out.sum, bits);
        let within = if clip.is_some() {
            sum.pop().unwrap_or(0.0)
        } else {
            0.0
        };
        let aggregate = form.finish(
            &sum,
            within,
            out.survivors.len(),
            n,
            derive_seed(p.seed, &[crate::sim::AGGREGATE, r]),
            state,
        )?;
        let dropped = (0..n)
            .filter(|&i| dropped_flags[i])
            .map(|i| participants[i])
            .collect();
        Ok(SecureRound {
            aggregate,
            dropped,
            cost: out.cost,
        })
    }
}
