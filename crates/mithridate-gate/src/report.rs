//! Judging a [`Comparison`] (and trigger probes) against a [`CheckedPolicy`].

use crate::{CheckedPolicy, Comparison, ProbeOutcome, TriggerComparison};
use serde::{Deserialize, Serialize};

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Passed,
    Failed,
    /// Not judged: too little evidence (e.g. too few disagreements); never fails the gate.
    Skipped,
}

/// One gate check: a measured value against a policy threshold (fails when `value > threshold`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Stable identifier, e.g. `accuracy_drop`, `probe:p.npz.truth.json`.
    pub name: String,
    pub value: f64,
    pub threshold: f64,
    pub status: CheckStatus,
    /// One line saying what was measured and why it passed, failed or was skipped.
    pub detail: String,
}

impl Check {
    /// A check that fails exactly when `value > threshold`.
    fn threshold(name: &str, value: f64, threshold: f64, detail: String) -> Check {
        Check {
            name: name.to_string(),
            value,
            threshold,
            status: if value > threshold {
                CheckStatus::Failed
            } else {
                CheckStatus::Passed
            },
            detail,
        }
    }

    pub fn failed(&self) -> bool {
        self.status == CheckStatus::Failed
    }
}

/// The gate's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
}

/// Everything the gate measured and decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    pub verdict: Verdict,
    pub checks: Vec<Check>,
    pub comparison: Comparison,
    pub probes: Vec<ProbeOutcome>,
    /// Reverse-engineered triggers, when they were computed.
    pub triggers: Option<TriggerComparison>,
    /// The policy the checks were judged against.
    pub policy: serde_json::Value,
}

impl GateReport {
    /// The failed checks' details, one line each (the reasons recorded in the audit log).
    pub fn reasons(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| c.failed())
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
    }

    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

/// Runs every check of `policy` on `comparison` and `probes`. The gate fails when any check
/// fails; skipped checks do not count.
///
/// ```
/// use mithridate_gate::{evaluate, Comparison, GatePolicy, ParamGuard, Verdict};
/// let labels = vec![0u32; 100];
/// let candidate: Vec<u32> = (0..100).map(|i| if i < 5 { 1 } else { 0 }).collect();
/// let c = Comparison::new(&labels, &labels, &candidate, 2)?;
/// let report = evaluate(&GatePolicy::default().check()?, &c, &[]);
/// assert_eq!(report.verdict, Verdict::Fail); // a 5-point accuracy drop
/// # Ok::<(), mithridate_gate::GateError>(())
/// ```
pub fn evaluate(
    policy: &CheckedPolicy,
    comparison: &Comparison,
    probes: &[ProbeOutcome],
) -> GateReport {
    evaluate_with_triggers(policy, comparison, probes, None)
}

/// [`evaluate`] plus the `trigger_shrink` check on reverse-engineered triggers
/// ([`crate::reverse_triggers`]) when `triggers` is given.
pub fn evaluate_with_triggers(
    policy: &CheckedPolicy,
    comparison: &Comparison,
    probes: &[ProbeOutcome],
    triggers: Option<&TriggerComparison>,
) -> GateReport {
    let p = policy.params();
    let c = comparison;
    let f = &c.flips;
    let mut checks = vec![Check::threshold(
        "accuracy_drop",
        c.accuracy_drop(),
        p.max_accuracy_drop,
        format!(
            "accuracy {} -> {} on {} holdout samples (drop {}, max {})",
            pct(c.baseline_accuracy),
            pct(c.candidate_accuracy),
            c.samples,
            pct(c.accuracy_drop()),
            pct(p.max_accuracy_drop)
        ),
    )];

    let judged = c
        .per_class
        .iter()
        .filter(|r| r.support >= p.min_class_support);
    // Largest drop, lowest class on ties.
    let worst = judged.fold(None, |best: Option<&crate::ClassRecall>, r| match best {
        Some(b) if b.drop >= r.drop => best,
        _ => Some(r),
    });
    checks.push(match worst {
        Some(r) => Check::threshold(
            "class_recall_drop",
            r.drop,
            p.max_class_recall_drop,
            format!(
                "largest recall drop: class {} {} -> {} over {} samples (max {})",
                r.class,
                pct(r.baseline_recall),
                pct(r.candidate_recall),
                r.support,
                pct(p.max_class_recall_drop)
            ),
        ),
        None => Check {
            name: "class_recall_drop".into(),
            value: 0.0,
            threshold: p.max_class_recall_drop,
            status: CheckStatus::Skipped,
            detail: format!(
                "no class has the {} holdout samples needed to judge its recall",
                p.min_class_support
            ),
        },
    });

    checks.push(Check::threshold(
        "flip_rate",
        f.flip_rate,
        p.max_flip_rate,
        format!(
            "{} of {} predictions changed ({}, max {})",
            f.changed,
            c.samples,
            pct(f.flip_rate),
            pct(p.max_flip_rate)
        ),
    ));
    checks.push(Check::threshold(
        "negative_flip_rate",
        f.negative_flip_rate,
        p.max_negative_flip_rate,
        format!(
            "{} samples right before and wrong now ({}, max {}); {} fixed",
            f.negative,
            pct(f.negative_flip_rate),
            pct(p.max_negative_flip_rate),
            f.positive
        ),
    ));

    let target = f
        .top_class
        .map_or_else(|| "none".to_string(), |k| k.to_string());
    let into_top = f.top_class.map_or(0, |k| f.negative_into[k]);
    let concentration_detail = format!(
        "{into_top} of {} negative flips go to class {target} ({}, max {})",
        f.negative,
        pct(f.concentration),
        pct(p.max_target_concentration)
    );
    checks.push(if f.negative < p.min_disagreements {
        Check {
            name: "target_concentration".into(),
            value: f.concentration,
            threshold: p.max_target_concentration,
            status: CheckStatus::Skipped,
            detail: format!(
                "{concentration_detail}; skipped: fewer than {} negative flips",
                p.min_disagreements
            ),
        }
    } else {
        Check::threshold(
            "target_concentration",
            f.concentration,
            p.max_target_concentration,
            concentration_detail,
        )
    });

    for probe in probes {
        checks.push(Check::threshold(
            &format!("probe:{}", probe.name),
            probe.increase(),
            p.max_probe_success_increase,
            format!(
                "{} trigger: {} of {} triggered inputs go to the target under the candidate, {} under the baseline (increase {}, max {})",
                probe.attack,
                pct(probe.candidate_success),
                probe.samples,
                pct(probe.baseline_success),
                pct(probe.increase()),
                pct(p.max_probe_success_increase)
            ),
        ));
    }

    if let Some(t) = triggers {
        let worst = t.classes.iter().find(|c| c.class == t.worst_class);
        let (b, c) = worst.map_or((0.0, 0.0), |w| {
            (w.baseline.mask_norm, w.candidate.mask_norm)
        });
        checks.push(Check::threshold(
            "trigger_shrink",
            t.max_shrink,
            p.max_trigger_shrink,
            format!(
                "class {} is reached with a reverse-engineered mask of {c:.1} under the candidate vs {b:.1} under the baseline ({:.2}x smaller, max {:.2}x)",
                t.worst_class, t.max_shrink, p.max_trigger_shrink
            ),
        ));
    }

    let verdict = if checks.iter().any(Check::failed) {
        Verdict::Fail
    } else {
        Verdict::Pass
    };
    GateReport {
        verdict,
        checks,
        comparison: comparison.clone(),
        probes: probes.to_vec(),
        triggers: triggers.cloned(),
        policy: policy.to_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GatePolicy;
    use mithridate_core::ParamGuard;

    fn status(report: &GateReport, name: &str) -> CheckStatus {
        report
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name}"))
            .status
    }

    /// 1000 samples of 10 classes (100 each), baseline perfect, candidate wrong on `wrong`
    /// rows, each mapped to the given class.
    fn case(wrong: &[(usize, u32)]) -> Comparison {
        let labels: Vec<u32> = (0..1000).map(|i| (i % 10) as u32).collect();
        let mut candidate = labels.clone();
        for &(row, to) in wrong {
            candidate[row] = to;
        }
        Comparison::new(&labels, &labels, &candidate, 10).unwrap()
    }

    fn policy(edit: impl FnOnce(&mut GatePolicy)) -> CheckedPolicy {
        let mut p = GatePolicy {
            // Loose everything so each test isolates one check.
            max_accuracy_drop: 1.0,
            max_class_recall_drop: 1.0,
            min_class_support: 1,
            max_flip_rate: 1.0,
            max_negative_flip_rate: 1.0,
            max_target_concentration: 1.0,
            min_disagreements: 1,
            max_probe_success_increase: 1.0,
            max_trigger_shrink: 1e9,
        };
        edit(&mut p);
        p.check().unwrap()
    }

    #[test]
    fn accuracy_check_fails_exactly_past_its_threshold() {
        // 10 wrong of 1000: drop 0.01 exactly.
        let wrong: Vec<(usize, u32)> = (0..10).map(|i| (i * 10 + 1, 2)).collect();
        let c = case(&wrong);
        let at = evaluate(&policy(|p| p.max_accuracy_drop = 0.01), &c, &[]);
        assert_eq!(status(&at, "accuracy_drop"), CheckStatus::Passed);
        assert_eq!(at.verdict, Verdict::Pass);
        let below = evaluate(&policy(|p| p.max_accuracy_drop = 0.009), &c, &[]);
        assert_eq!(status(&below, "accuracy_drop"), CheckStatus::Failed);
        assert_eq!(below.verdict, Verdict::Fail);
        assert_eq!(below.reasons().len(), 1);
        assert!(below.reasons()[0].starts_with("accuracy_drop:"));
    }

    #[test]
    fn class_recall_check_names_the_worst_class_and_respects_support() {
        // Class 3 loses 6 of its 100 samples: recall drop 0.06; accuracy drop only 0.006.
        let wrong: Vec<(usize, u32)> = (0..6).map(|i| (i * 10 + 3, 5)).collect();
        let c = case(&wrong);
        let r = evaluate(&policy(|p| p.max_class_recall_drop = 0.05), &c, &[]);
        assert_eq!(status(&r, "class_recall_drop"), CheckStatus::Failed);
        assert!(r.reasons()[0].contains("class 3"), "{:?}", r.reasons());
        let r = evaluate(&policy(|p| p.max_class_recall_drop = 0.06), &c, &[]);
        assert_eq!(status(&r, "class_recall_drop"), CheckStatus::Passed);
        // No class has 101 samples: nothing to judge.
        let r = evaluate(
            &policy(|p| {
                p.max_class_recall_drop = 0.0;
                p.min_class_support = 101;
            }),
            &c,
            &[],
        );
        assert_eq!(status(&r, "class_recall_drop"), CheckStatus::Skipped);
        assert_eq!(r.verdict, Verdict::Pass);
    }

    #[test]
    fn flip_checks_fail_exactly_past_their_thresholds() {
        let wrong: Vec<(usize, u32)> = (0..30).map(|i| (i * 10 + 1, 2)).collect();
        let c = case(&wrong); // 30 flips, all negative: 0.03
        for (name, set) in [
            (
                "flip_rate",
                (|p: &mut GatePolicy, v| p.max_flip_rate = v) as fn(&mut _, f64),
            ),
            ("negative_flip_rate", |p: &mut GatePolicy, v| {
                p.max_negative_flip_rate = v
            }),
        ] {
            let ok = evaluate(&policy(|p| set(p, 0.03)), &c, &[]);
            assert_eq!(status(&ok, name), CheckStatus::Passed, "{name}");
            let bad = evaluate(&policy(|p| set(p, 0.029)), &c, &[]);
            assert_eq!(status(&bad, name), CheckStatus::Failed, "{name}");
        }
    }

    #[test]
    fn concentration_fails_when_flips_pile_on_one_class() {
        // 20 negative flips: 16 to class 0, 4 spread: concentration 0.8.
        let mut wrong: Vec<(usize, u32)> = (0..16).map(|i| (i * 10 + 1, 0)).collect();
        wrong.extend((0..4).map(|i| (i * 10 + 2, (4 + i) as u32)));
        let c = case(&wrong);
        let r = evaluate(
            &policy(|p| {
                p.max_target_concentration = 0.5;
                p.min_disagreements = 20;
            }),
            &c,
            &[],
        );
        assert_eq!(status(&r, "target_concentration"), CheckStatus::Failed);
        assert!(r.reasons()[0].contains("class 0"), "{:?}", r.reasons());
        let r = evaluate(&policy(|p| p.max_target_concentration = 0.8), &c, &[]);
        assert_eq!(status(&r, "target_concentration"), CheckStatus::Passed);
    }

    #[test]
    fn concentration_ignores_few_disagreements() {
        // 3 negative flips, all to class 0: concentration 1.0 but too little evidence.
        let c = case(&[(1, 0), (2, 0), (3, 0)]);
        let strict = |min| {
            evaluate(
                &policy(|p| {
                    p.max_target_concentration = 0.5;
                    p.min_disagreements = min;
                }),
                &c,
                &[],
            )
        };
        let r = strict(4);
        assert_eq!(status(&r, "target_concentration"), CheckStatus::Skipped);
        assert_eq!(r.verdict, Verdict::Pass);
        assert_eq!(
            status(&strict(3), "target_concentration"),
            CheckStatus::Failed
        );
    }

    #[test]
    fn probe_check_fails_exactly_past_its_threshold() {
        let c = case(&[]);
        let probe = |b: f64, cand: f64| ProbeOutcome {
            name: "t.json".into(),
            attack: "badnets".into(),
            samples: 900,
            baseline_success: b,
            candidate_success: cand,
        };
        let pol = policy(|p| p.max_probe_success_increase = 0.25);
        let r = evaluate(&pol, &c, &[probe(0.25, 0.5)]);
        assert_eq!(status(&r, "probe:t.json"), CheckStatus::Passed);
        let r = evaluate(&pol, &c, &[probe(0.25, 0.5), probe(0.0, 0.75)]);
        assert_eq!(r.checks.iter().filter(|c| c.failed()).count(), 1);
        assert_eq!(r.verdict, Verdict::Fail);
    }

    #[test]
    fn identical_models_pass_the_default_policy() {
        let c = case(&[]);
        let r = evaluate(&GatePolicy::default().check().unwrap(), &c, &[]);
        assert_eq!(r.verdict, Verdict::Pass);
        assert_eq!(
            status(&r, "target_concentration"),
            CheckStatus::Skipped,
            "no flips at all"
        );
    }
}
