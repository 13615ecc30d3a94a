//! Privacy and DPA records in the report: aggregation over seeds hand-checked against the
//! fixture's numbers, their separation from the other aggregates, and every output format.

use super::fixtures::{followed_by, full_assessment, FULL_ASSESSMENT_PLOTS};
use super::fixtures_privacy::{privacy_assessment, PRIVACY_ASSESSMENT_PLOTS};
use super::tests::{csv_rows, expect_cells};
use super::*;
use crate::record::CellRecord;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn mean(stat: Option<Stat>) -> f64 {
    stat.expect("a value").mean
}

#[test]
fn deployments_aggregate_side_by_side_over_seeds() {
    let report = Report::new(&privacy_assessment()).unwrap();
    let privacy = report.privacy();
    assert_eq!(privacy.groups.len(), 1);
    let g = &privacy.groups[0];
    assert_eq!(
        g.title(),
        "mnist · mlp: 20 clients, 10 per round (2 malicious), 5 rounds"
    );
    let attacks: Vec<(&str, Family)> = g
        .attacks
        .iter()
        .map(|a| (a.attack.as_str(), a.family))
        .collect();
    assert_eq!(
        attacks,
        [
            ("model-replacement", Family::Backdoor),
            ("sign-flip", Family::ModelPoisoning)
        ]
    );
    let labels: Vec<&str> = g
        .deployments
        .iter()
        .map(|d| d.deployment.as_str())
        .collect();
    assert_eq!(
        labels,
        [
            "fedavg",
            "median",
            "dp-fedavg:clip=1,noise-multiplier=1",
            "fedavg + secagg+:k=10, dropout 10%"
        ]
    );

    // FedAvg: clean 0.90 / 0.92; model replacement ASR 1.0 / 0.98 at an accuracy 0.01 below
    // the clean run on both seeds; sign flip 0.30 / 0.40, so damage 0.60 / 0.52.
    let fedavg = &g.deployments[0];
    assert_eq!(fedavg.seeds, vec![0, 1]);
    let clean = fedavg.clean_accuracy.unwrap();
    assert!(close(clean.mean, 0.91) && close(clean.sd, 0.02 / 2f64.sqrt()) && clean.n == 2);
    assert_eq!(
        (fedavg.epsilon, fedavg.epsilon_text().as_str()),
        (None, "no DP")
    );
    let [replaced, flipped] = [&fedavg.effects[0], &fedavg.effects[1]];
    assert!(close(mean(replaced.asr), 0.99) && close(mean(replaced.damage), 0.01));
    assert_eq!(replaced.level, Some(Level::Succeeds));
    assert!(close(mean(flipped.damage), 0.56) && flipped.asr.is_none());
    assert!(close(mean(flipped.accuracy), 0.35));
    assert_eq!(flipped.level, Some(Level::Succeeds));

    // Median holds both: ASR 0.04, damage 0.015.
    let median = &g.deployments[1];
    assert!(close(mean(median.effects[0].asr), 0.04));
    assert!(close(mean(median.effects[1].damage), 0.015));
    assert_eq!(
        (median.effects[0].level, median.effects[1].level),
        (Some(Level::Fails), Some(Level::Fails))
    );

    // DP-FedAvg at z = 1: epsilon 2.5 (one value per seed, not per attack), clean 0.81, the
    // backdoor disarmed (0.07), sign flip's damage 0.10 / 0.06 against DP's own clean run.
    let dp = &g.deployments[2];
    let epsilon = dp.epsilon.unwrap();
    assert_eq!((epsilon.mean, epsilon.n), (2.5, 2));
    assert_eq!(
        (dp.noise_multiplier, dp.epsilon_text().as_str()),
        (Some(1.0), "2.50")
    );
    assert!(close(mean(dp.clean_accuracy), 0.81));
    assert!(close(mean(dp.effects[0].asr), 0.07));
    assert_eq!(dp.effects[0].level, Some(Level::Fails));
    assert!(close(mean(dp.effects[1].damage), 0.08));
    assert_eq!(dp.effects[1].level, Some(Level::Partial));

    let secure = &g.deployments[3];
    assert_eq!(
        (secure.secure_aggregation.as_deref(), secure.dropout),
        (Some("secagg+:k=10"), 0.1)
    );
    assert!(close(mean(secure.effects[0].asr), 0.995));
    assert!(close(mean(secure.effects[1].damage), 0.55));

    // The curve, sorted by noise multiplier although planned 2 then 0.5.
    let z: Vec<Option<f64>> = g.curve.iter().map(|r| r.noise_multiplier).collect();
    assert_eq!(z, [Some(0.5), Some(2.0)]);
    let [low, high] = [&g.curve[0], &g.curve[1]];
    assert_eq!(
        (low.epsilon_text(), high.epsilon_text()),
        ("9.00".into(), "0.90".into())
    );
    assert!(close(mean(low.effects[0].asr), 0.6) && close(mean(high.effects[0].asr), 0.01));
    assert_eq!(
        (low.effects[0].level, high.effects[0].level),
        (Some(Level::Partial), Some(Level::Fails))
    );
    assert!(close(mean(high.clean_accuracy), 0.62));
    assert!(close(mean(high.effects[0].damage), 0.015));
    assert!(close(mean(high.effects[1].damage), 0.03));
}

#[test]
fn dpa_settings_aggregate_by_radius() {
    let report = Report::new(&privacy_assessment()).unwrap();
    let dpa = &report.privacy().dpa;
    assert_eq!(dpa.len(), 2);
    let k1200 = &dpa[0];
    assert_eq!(
        (k1200.label().as_str(), k1200.seeds.clone()),
        ("k = 1200 logreg", vec![0, 1])
    );
    assert!(close(mean(k1200.vote_accuracy), 0.91) && close(mean(k1200.base_accuracy), 0.61));
    assert!(close(mean(k1200.median_radius), 310.0));
    let curve: Vec<(u32, f64)> = k1200
        .certified
        .iter()
        .map(|c| (c.radius, mean(c.accuracy)))
        .collect();
    assert_eq!(curve.iter().map(|c| c.0).collect::<Vec<_>>(), [0, 200, 400]);
    assert!(close(curve[1].1, 0.71) && close(curve[2].1, 0.45));
    assert!(close(mean(k1200.seconds), 30.5));
    assert_eq!(dpa[1].certified.len(), 2);
}

#[test]
fn privacy_records_stay_out_of_the_other_aggregates() {
    let full = full_assessment();
    let a = Report::new(&full).unwrap().to_json();
    let report = Report::new(&followed_by(full, privacy_assessment())).unwrap();
    let b = report.to_json();
    for key in [
        "verdicts",
        "risk",
        "family_risk",
        "federated_risk",
        "clean",
        "attacks",
        "federated",
        "continual",
        "rag",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["privacy"], serde_json::json!({"groups": [], "dpa": []}));
    let kinds: Vec<PlotKind> = report.plots().iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds[FULL_ASSESSMENT_PLOTS..],
        [PlotKind::PrivacyNoise, PlotKind::DpaCertified]
    );
    assert_eq!(
        kinds.len(),
        FULL_ASSESSMENT_PLOTS + PRIVACY_ASSESSMENT_PLOTS
    );
    let html = report.to_html();
    assert!(html.contains("(24 centralized, 12 federated, 0 continual, 0 RAG, 36 privacy, 3 DPA)"));
    assert_eq!(html.matches("<svg").count(), report.plot_count());
}

#[test]
fn html_shows_deployments_curve_attacks_dpa_and_plots() {
    let report = Report::new(&privacy_assessment()).unwrap();
    let html = report.to_html();
    assert!(html.contains("<h3>Privacy-preserving deployments: update attacks side by side</h3>"));
    assert!(html.contains("<h4>mnist · mlp: 20 clients, 10 per round (2 malicious), 5 rounds</h4>"));
    for heading in [
        "ε (δ = 1e-5)",
        "ASR · model-replacement",
        "damage · sign-flip",
        "noise multiplier",
        "certified @ 0",
        "certified @ 10",
        "certified @ 400",
        "MITRE ATLAS",
    ] {
        assert!(html.contains(&format!("<th>{heading}</th>")), "{heading}");
    }
    assert!(html.contains(
        "<td><strong>fedavg</strong></td><td class=\"num\">2</td><td class=\"num\">no DP</td>\
         <td class=\"num\">91.0 ± 1.4%</td><td><span class=\"badge succeeds\">succeeds</span> \
         99.0 ± 1.4%</td><td><span class=\"badge succeeds\">succeeds</span> 56.0 ± 5.7 pts</td>"
    ));
    assert!(html.contains("<td class=\"num\">2.50</td>"));
    assert!(html.contains("<span class=\"badge partial\">partial</span> 8.0 ± 2.8 pts"));
    assert!(html
        .contains("<td class=\"num\">0.5</td><td class=\"num\">2</td><td class=\"num\">9.00</td>"));
    assert!(html.contains("<td><strong>k = 1200 logreg</strong></td>"));
    assert!(html.contains("<td class=\"num\">45.0 ± 7.1%</td>"));
    assert!(html.contains("<td class=\"num\">30–71 (median 50)</td>"));
    assert!(html.contains("DPA, 1200 partitions") && html.contains("certified at radius 400"));
    assert!(html.contains("dp-fedavg:clip=1,noise-multiplier=1, ε 2.50"));
    assert!(!html.contains("NaN"));
    assert_eq!(html.matches("<svg").count(), PRIVACY_ASSESSMENT_PLOTS);
    let [curve, dpa] = [&report.plots()[0], &report.plots()[1]];
    assert_eq!(
        curve.title,
        "DP-FedAvg on mnist (mlp, 2 malicious / round): vs noise multiplier"
    );
    for label in [
        "no-attack accuracy",
        "ASR under",
        "model-replacement",
        "sign-flip",
    ] {
        assert!(curve.svg.contains(label), "{label}");
    }
    // The log axis is labelled at the curve's multipliers, without floating-point noise.
    assert!(curve.svg.contains("\n0.5\n") && curve.svg.contains("\n2\n"));
    assert!(!curve.svg.contains("00000\n"));
    assert_eq!(
        dpa.title,
        "DPA on mnist: certified accuracy vs poisoned samples"
    );
    assert!(dpa.svg.contains("k = 1200 logreg") && dpa.svg.contains("k = 50 logreg"));
}

#[test]
fn markdown_has_a_privacy_section() {
    let md = Report::new(&privacy_assessment()).unwrap().to_markdown();
    assert!(md.contains("### Privacy and certified defences"));
    assert!(md.contains("#### mnist · mlp: 20 clients, 10 per round (2 malicious), 5 rounds"));
    assert!(
        md.contains("| fedavg | no DP | 91.0% | succeeds 99.0% | succeeds 56.0 pts |"),
        "{md}"
    );
    assert!(
        md.contains(
            "| dp-fedavg:clip=1,noise-multiplier=1 | 2.50 | 81.0% | fails 7.0% | partial 8.0 pts |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| 2 | 0.90 | 62.0% | fails 1.0% | partial 3.0 pts |"),
        "{md}"
    );
    assert!(md.contains("#### Deep Partition Aggregation (certified)"));
    assert!(
        md.contains("| mnist | k = 1200 logreg | 91.0% | 310.0 | 91.0% | — | 71.0% | 45.0% |"),
        "{md}"
    );
    assert!(!md.contains("<svg"));
}

#[test]
fn csv_and_json_carry_privacy_and_dpa_runs() {
    let report = Report::new(&privacy_assessment()).unwrap();
    let rows = csv_rows(&report);
    assert_eq!(rows.len(), 39);
    let expect = |row: usize, pairs: &[(&str, &str)]| expect_cells(&rows, row, pairs);
    expect(
        0,
        &[
            ("kind", "privacy"),
            ("deployment", "fedavg"),
            ("rule", "fedavg"),
            ("attack", "none"),
            ("epsilon", ""),
            ("delta", "0.00001"),
            ("curve", "false"),
            ("final_accuracy", "0.9"),
            ("clients", "20"),
        ],
    );
    expect(2, &[("epsilon", "2.5"), ("noise_multiplier", "1")]);
    expect(
        3,
        &[
            ("rule", "fedavg"),
            ("secure_aggregation", "secagg+:k=10"),
            ("dropout", "0.1"),
        ],
    );
    expect(4, &[("curve", "true"), ("epsilon", "0.9")]);
    expect(
        18,
        &[
            ("kind", "dpa"),
            ("model", "logreg"),
            ("partitions", "1200"),
            ("clean_accuracy", "0.9"),
            ("median_radius", "300"),
            ("certified_accuracy", "0:0.9;200:0.7;400:0.4"),
            ("rule", ""),
        ],
    );

    let json = report.to_json();
    let g = &json["privacy"]["groups"][0];
    assert_eq!(g["deployments"][2]["epsilon"]["mean"], 2.5);
    assert_eq!(g["deployments"][0]["effects"][0]["level"], "succeeds");
    assert_eq!(g["curve"][0]["noise_multiplier"], 0.5);
    let radius = &json["privacy"]["dpa"][0]["certified"][2];
    assert_eq!(radius["radius"], 400);
    assert!(close(radius["accuracy"]["mean"].as_f64().unwrap(), 0.45));
}

#[test]
fn a_dpa_record_from_before_features_reads_as_raw() {
    let mut line = serde_json::to_value(&privacy_assessment()[18]).unwrap();
    let outcome = line["outcome"].as_object_mut().unwrap();
    assert_eq!(outcome.remove("features"), Some(serde_json::json!("raw")));
    let back: CellRecord = serde_json::from_value(line).unwrap();
    assert!(back.same_result(&privacy_assessment()[18]));
}

#[test]
fn privacy_records_round_trip_and_order_does_not_matter() {
    let records = privacy_assessment();
    for r in &records {
        let line = serde_json::to_string(r).unwrap();
        let back: CellRecord = serde_json::from_str(&line).unwrap();
        assert!(back.same_result(r));
    }
    let mut shuffled = records.clone();
    shuffled.reverse();
    let a = Report::new(&records).unwrap();
    let b = Report::new(&shuffled).unwrap();
    assert_eq!(a.to_html(), b.to_html());
    assert_eq!(a.to_csv().unwrap(), b.to_csv().unwrap());
    assert_eq!(a.to_json(), b.to_json());
}
