//! Continual-retraining records in the report: aggregation over seeds (hand-checked against
//! the fixture's timelines), their separation from the centralized and federated aggregates,
//! and every output format.

use super::fixtures::{continual, full_assessment, FULL_ASSESSMENT_PLOTS};
use super::*;
use crate::record::CellRecord;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Slow-burn blocked at its first poisoned batch (seed 0) and never blocked (seed 1), and a
/// clean stream with a false block at batch 4.
fn mixed_outcomes() -> Vec<CellRecord> {
    vec![
        continual(0, 0, "slow-burn", Some(2)),
        continual(1, 1, "slow-burn", None),
        continual(2, 0, "clean", Some(4)),
    ]
}

fn row<'a>(report: &'a Report, campaign: &str) -> &'a ContinualRow {
    report
        .continual()
        .iter()
        .find(|r| r.campaign == campaign)
        .unwrap()
}

#[test]
fn continual_runs_aggregate_over_seeds() {
    let report = Report::new(&mixed_outcomes()).unwrap();
    assert_eq!(report.continual().len(), 2);
    let slow = row(&report, "slow-burn");
    assert_eq!(slow.seeds, vec![0, 1]);
    assert_eq!(slow.rate, Some(0.005));
    assert_eq!(slow.label(), "slow-burn 0.5%");
    assert_eq!(slow.parameters_text(), "start 2, target 0");
    assert_eq!((slow.poisoned_seeds, slow.caught_seeds), (2, 1));
    let retrains = slow.retrains_to_block.unwrap();
    assert_eq!((retrains.mean, retrains.n), (0.0, 1));
    assert_eq!(slow.max_retrains_to_block, Some(0));
    // Deployed ASR peaks at 0.4% (blocked) and 97% (never blocked).
    let asr = slow.max_deployed_asr.unwrap();
    assert!(close(asr.mean, (0.004 + 0.97) / 2.0));
    assert!(close(asr.sd, (0.97 - 0.004) / 2.0_f64.sqrt()));
    assert_eq!(slow.worst_deployed_asr, Some(0.97));
    assert_eq!(slow.level, Some(Level::Partial));
    // Every poison named on seed 0, none on seed 1.
    assert!(close(slow.named_recall.unwrap().mean, 0.5));
    assert_eq!(
        (slow.false_blocks, slow.alerts, slow.false_alerts),
        (0, 2, 0)
    );
    // Final accuracy: 0.95 + 0.004 per deployed retrain (2 on seed 0, 6 on seed 1).
    assert!(close(
        slow.final_accuracy.unwrap().mean,
        (0.958 + 0.974) / 2.0
    ));
    assert_eq!(
        slow.verdict,
        "slow-burn 0.5% on mnist (mlp, scratch retrain): blocked at the first poisoned batch \
         on 1/2 seeds, never on the others; deployed ASR reached 97.0%."
    );

    let clean = row(&report, "clean");
    assert_eq!((clean.poisoned_seeds, clean.caught_seeds), (0, 0));
    assert_eq!((clean.false_blocks, clean.false_alerts), (1, 1));
    assert_eq!(clean.level, None);
    assert!(clean.runs[0].first_block_false());
    assert_eq!(
        clean.verdict,
        "clean on mnist (mlp, scratch retrain): no poison; 1 false block and 1 false alert \
         over 1 seed; final accuracy 97.0%."
    );
}

#[test]
fn retrains_to_block_count_from_the_first_poison_and_skip_false_blocks() {
    // Seed 0: batch 2 deployed, blocked from 3 (1 retrain). Seed 1: clean batch 1 blocked
    // first (a false block), then every poisoned batch from 2 (0 retrains).
    let records = vec![
        continual(0, 0, "slow-burn", Some(3)),
        continual(1, 1, "slow-burn", Some(1)),
    ];
    let report = Report::new(&records).unwrap();
    let slow = row(&report, "slow-burn");
    let caught: Vec<Option<usize>> = slow.runs.iter().map(|r| r.caught_at).collect();
    assert_eq!(caught, vec![Some(3), Some(2)]);
    let retrains = slow.retrains_to_block.unwrap();
    assert!(close(retrains.mean, 0.5));
    assert_eq!(slow.max_retrains_to_block, Some(1));
    assert_eq!(slow.false_blocks, 1);
    assert_eq!(slow.worst_deployed_asr, Some(0.3));
    // Mean of the seeds' peaks, 30% and 0.4%: above the 10% residual level.
    assert_eq!(slow.level, Some(Level::Partial));
    assert!(
        slow.verdict.ends_with(
            "blocked within 1 retrain of the first poison on 2/2 seeds; deployed ASR never \
             above 30.0%; 1 false block."
        ),
        "{}",
        slow.verdict
    );
    let md = report.to_markdown();
    assert!(md.contains("| 3, 1 (false) |"), "{md}");
    assert!(md.contains("| 0.5 ± 0.7, max 1 (2/2 seeds) |"), "{md}");
}

#[test]
fn continual_records_stay_out_of_centralized_and_federated_aggregates() {
    let full = full_assessment();
    let mut with_continual = full.clone();
    let next = full.len();
    with_continual.extend(mixed_outcomes().into_iter().enumerate().map(|(i, mut r)| {
        r.index = next + i;
        r
    }));
    let a = Report::new(&full).unwrap().to_json();
    let report = Report::new(&with_continual).unwrap();
    let b = report.to_json();
    for key in [
        "verdicts",
        "risk",
        "family_risk",
        "federated_risk",
        "clean",
        "attacks",
        "federated",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["continual"], serde_json::json!([]));
    assert_eq!(b["continual"].as_array().unwrap().len(), 2);
    // One timeline per continual record, after the other plots.
    assert_eq!(report.plot_count(), FULL_ASSESSMENT_PLOTS + 3);
    let kinds: Vec<PlotKind> = report.plots().iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds[FULL_ASSESSMENT_PLOTS..],
        [PlotKind::ContinualTimeline; 3]
    );
    let html = report.to_html();
    assert_eq!(html.matches("<svg").count(), report.plot_count());
    assert!(html.contains("39 cells (24 centralized, 12 federated, 3 continual, 0 RAG)"));
}

#[test]
fn html_shows_continual_table_verdicts_cells_and_timelines() {
    let report = Report::new(&mixed_outcomes()).unwrap();
    let html = report.to_html();
    assert!(html.contains("3 cells (0 centralized, 0 federated, 3 continual, 0 RAG)"));
    assert!(html.contains("<h3>Continual retraining</h3>"));
    assert!(html.contains("Continual retraining timeline"));
    assert!(html.contains("blocked at the first poisoned batch on 1/2 seeds"));
    assert!(html.contains("<td class=\"num\">0 (1/2 seeds)</td>"));
    assert!(html.contains("<td class=\"num\">2, never</td>"));
    assert!(html.contains("<td class=\"num\">4 (false)</td>"));
    assert!(html.contains("continual slow-burn"));
    assert!(html.contains("scratch retrain, never blocked"));
    // Not an attack-only report: no "only clean baselines", no defence-plot note.
    assert!(!html.contains("only clean baselines"));
    assert!(!html.contains("no defence-effect or ROC plots"));
    assert!(!html.contains("NaN"));
    assert_eq!(report.plot_count(), 3);
    assert_eq!(html.matches("<svg").count(), 3);
    let slow = &report.plots()[0];
    assert_eq!(slow.kind, PlotKind::ContinualTimeline);
    assert_eq!(
        slow.title,
        "slow-burn 0.5% on mnist (mlp, scratch retrain), seed 0"
    );
    // Legend labels (wrapped at 22 characters).
    for label in [
        "poisoned batch",
        "first poison (batch 2)",
        "deployed accuracy",
        "deployed ASR",
        "blocked (deployed",
        "model kept)",
        "monitor alert",
    ] {
        assert!(slow.svg.contains(label), "{label}");
    }
    // The clean stream has no poison, so no ASR and no first-poison line.
    let clean = &report.plots()[2];
    assert!(clean.title.starts_with("clean on mnist"));
    assert!(!clean.svg.contains("deployed ASR"));
    assert!(!clean.svg.contains("first poison"));
}

#[test]
fn many_seeds_draw_the_lowest_seed_of_each_configuration() {
    let records: Vec<CellRecord> = (0..14)
        .map(|seed| continual(seed as usize, seed, "slow-burn", Some(2)))
        .collect();
    let report = Report::new(&records).unwrap();
    assert_eq!(report.continual()[0].seeds.len(), 14);
    assert_eq!(report.plot_count(), 1);
    assert!(report.plots()[0].title.ends_with("seed 0"));
    let html = report.to_html();
    assert!(html.contains("1 of 14 runs: the lowest seed of each configuration"));
    assert!(html.contains("blocked at the first poisoned batch on 14/14 seeds"));
}

#[test]
fn markdown_has_a_continual_retraining_section() {
    let md = Report::new(&mixed_outcomes()).unwrap().to_markdown();
    assert!(md.contains("### Continual retraining"));
    assert!(md.contains("- **partial**: slow-burn 0.5% on mnist"));
    assert!(md.contains("- **clean stream**: clean on mnist"));
    assert!(md.contains("| retrains to block |"));
    assert!(md.contains("| mnist · mlp | slow-burn 0.5% | start 2, target 0 | scratch |"));
    assert!(!md.contains("<svg"));
}

#[test]
fn csv_and_json_carry_continual_runs() {
    let records = mixed_outcomes();
    let report = Report::new(&records).unwrap();
    let text = report.to_csv().unwrap();
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    let column = |name: &str| CSV_HEADER.iter().position(|h| *h == name).unwrap();
    let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.len() == CSV_HEADER.len()));
    let never = &rows[1];
    assert_eq!(&never[column("kind")], "continual");
    assert_eq!(&never[column("attack")], "slow-burn");
    assert_eq!(&never[column("rate")], "0.005");
    assert_eq!(&never[column("success_rate")], "0.97");
    assert_eq!(&never[column("first_poisoned_batch")], "2");
    assert_eq!(&never[column("blocked_at")], "");
    assert_eq!(&never[column("named_recall")], "0");
    assert_eq!(&never[column("retrain")], "scratch");
    assert_eq!(&never[column("alerts")], "1");
    assert_eq!(&rows[0][column("blocked_at")], "2");
    assert_eq!(&rows[2][column("false_blocks")], "1");
    assert_eq!(&rows[2][column("first_poisoned_batch")], "");
    // Columns another kind owns stay empty.
    assert_eq!(&never[column("rule")], "");
    assert_eq!(&never[column("detector")], "");

    let json = report.to_json();
    let slow = &json["continual"][0];
    assert_eq!(slow["campaign"], "slow-burn");
    assert_eq!(slow["caught_seeds"], 1);
    assert_eq!(slow["runs"][1]["blocked_at"], serde_json::Value::Null);
    assert_eq!(slow["runs"][0]["cell"], "mnist/continual/slow-burn/seed0");
    assert_eq!(slow["level"], "partial");
    assert_eq!(json["records"], 3);
}

#[test]
fn continual_output_does_not_depend_on_record_order() {
    let records = mixed_outcomes();
    let mut shuffled = records.clone();
    shuffled.reverse();
    let a = Report::new(&records).unwrap();
    let b = Report::new(&shuffled).unwrap();
    assert_eq!(a.to_html(), b.to_html());
    assert_eq!(a.to_markdown(), b.to_markdown());
    assert_eq!(a.to_csv().unwrap(), b.to_csv().unwrap());
    assert_eq!(a.to_json(), b.to_json());
}
