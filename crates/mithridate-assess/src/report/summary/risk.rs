//! Plain-words verdicts and the risk summary: the smallest budgets at which attacks succeed,
//! per attack, per family, and the rules each federated update attack beats.

use super::{
    AttackGroup, Budget, DefenceVerdict, FamilyRisk, FederatedRisk, FederatedRow, RateRow, RiskRow,
    Verdict,
};
use crate::report::{format_rate, format_success, Level};

pub(super) fn verdicts_of(group: &AttackGroup) -> Vec<Verdict> {
    let metric = crate::report::metric_name(group.family);
    group
        .rates
        .iter()
        .map(|row| {
            let mut text = format!(
                "{} at {}: {} {} undefended",
                group.attack,
                format_rate(row.rate),
                metric,
                format_success(group.family, row.success.map(|s| s.mean)),
            );
            text.push_str(match row.level {
                Some(Level::Succeeds) => " (succeeds)",
                Some(Level::Partial) => " (partial)",
                Some(Level::Fails) => " (fails)",
                None => " (no clean baseline to compare with)",
            });
            if row.defences.is_empty() {
                text.push_str("; no defences configured.");
            } else {
                let parts: Vec<String> = row
                    .defences
                    .iter()
                    .map(|d| {
                        let value = format!(
                            "{} {}",
                            metric,
                            format_success(group.family, d.success.map(|s| s.mean))
                        );
                        let phrase = match (row.level, d.level, d.reduces) {
                            (_, None, _) => return format!("{} (no measurement)", d.detector),
                            // Nothing to disarm: just report the number.
                            (Some(Level::Fails), _, _) => return format!("{} {value}", d.detector),
                            (_, Some(_), Some(false)) => "does not reduce it",
                            (_, Some(Level::Fails), _) => "disarms it",
                            (_, Some(Level::Partial), _) => "partially disarms it",
                            (_, Some(Level::Succeeds), _) => "does not stop it",
                        };
                        format!("{} {phrase} ({value})", d.detector)
                    })
                    .collect();
                text.push_str("; ");
                text.push_str(&parts.join(", "));
                text.push('.');
            }
            Verdict {
                dataset: group.dataset.clone(),
                model: group.model.clone(),
                attack: group.attack.clone(),
                family: group.family,
                rate: row.rate,
                level: row.level,
                defences: row
                    .defences
                    .iter()
                    .map(|d| DefenceVerdict {
                        detector: d.detector.clone(),
                        level: d.level,
                    })
                    .collect(),
                text,
            }
        })
        .collect()
}

pub(super) fn risk_of(group: &AttackGroup) -> RiskRow {
    let mut defences: Vec<String> = Vec::new();
    for row in &group.rates {
        for d in &row.defences {
            if !defences.contains(&d.detector) {
                defences.push(d.detector.clone());
            }
        }
    }
    let succeeds = |row: &RateRow| row.level == Some(Level::Succeeds);
    // Rates are sorted ascending, so the first hit is the smallest budget.
    let undefended = group.rates.iter().find(|r| succeeds(r)).map(|r| r.rate);
    let defended = group
        .rates
        .iter()
        .find(|r| succeeds(r) && r.defences.iter().all(|d| d.level == Some(Level::Succeeds)))
        .map(|r| r.rate);
    RiskRow {
        dataset: group.dataset.clone(),
        model: group.model.clone(),
        family: group.family,
        attack: group.attack.clone(),
        taxonomy: group.taxonomy.clone(),
        tested_rates: group.rates.iter().map(|r| r.rate).collect(),
        defences,
        undefended,
        defended,
    }
}

pub(super) fn family_risk(risk: &[RiskRow]) -> Vec<FamilyRisk> {
    let mut out: Vec<FamilyRisk> = Vec::new();
    for row in risk {
        let position = out.iter().position(|f| {
            f.dataset == row.dataset && f.model == row.model && f.family == row.family
        });
        let entry = match position {
            Some(p) => &mut out[p],
            None => {
                out.push(FamilyRisk {
                    dataset: row.dataset.clone(),
                    model: row.model.clone(),
                    family: row.family,
                    undefended: None,
                    defended: None,
                });
                out.last_mut().expect("just pushed")
            }
        };
        let cheaper = |current: &Option<Budget>, rate: Option<f64>| match (current, rate) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(best), Some(r)) => r < best.rate,
        };
        if cheaper(&entry.undefended, row.undefended) {
            entry.undefended = row.undefended.map(|rate| Budget {
                rate,
                attack: row.attack.clone(),
            });
        }
        if cheaper(&entry.defended, row.defended) {
            entry.defended = row.defended.map(|rate| Budget {
                rate,
                attack: row.attack.clone(),
            });
        }
    }
    out.sort_by(|a, b| (&a.dataset, &a.model, a.family).cmp(&(&b.dataset, &b.model, b.family)));
    out
}

pub(super) fn federated_risk(rows: &[FederatedRow]) -> Vec<FederatedRisk> {
    let several = crate::report::several_fractions(rows);
    let mut out: Vec<FederatedRisk> = Vec::new();
    for row in rows.iter().filter(|r| r.attack != "none") {
        let position = out.iter().position(|f| {
            f.dataset == row.dataset && f.model == row.model && f.attack == row.attack
        });
        let entry = match position {
            Some(p) => &mut out[p],
            None => {
                out.push(FederatedRisk {
                    dataset: row.dataset.clone(),
                    model: row.model.clone(),
                    attack: row.attack.clone(),
                    family: row.family,
                    succeeds_under: Vec::new(),
                    partial_under: Vec::new(),
                    resisted_by: Vec::new(),
                });
                out.last_mut().expect("just pushed")
            }
        };
        let label = row.rule_label(several);
        match row.level {
            Some(Level::Succeeds) => entry.succeeds_under.push(label),
            Some(Level::Partial) => entry.partial_under.push(label),
            Some(Level::Fails) => entry.resisted_by.push(label),
            None => {}
        }
    }
    out
}
