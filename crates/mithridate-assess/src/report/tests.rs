use super::fixtures::{centralized, full_assessment, Attack, Defence, FULL_ASSESSMENT_PLOTS};
use super::*;
use crate::record::Family;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn badnets(rate: f64) -> Option<Attack> {
    Some(Attack {
        name: "badnets",
        family: Family::Backdoor,
        rate,
    })
}

fn flip(rate: f64) -> Option<Attack> {
    Some(Attack {
        name: "label_flip_random",
        family: Family::Availability,
        rate,
    })
}

fn defence(detector: &'static str, accuracy: f64, success: Option<f64>) -> Option<Defence> {
    Some(Defence {
        detector,
        accuracy,
        success,
        auroc: 0.8,
    })
}

#[test]
fn no_records_is_an_error() {
    assert!(matches!(Report::new(&[]), Err(ReportError::NoRecords)));
}

#[test]
fn aggregates_mean_and_sample_sd_over_seeds() {
    let report = Report::new(&full_assessment()).unwrap();
    let badnets = report
        .attacks()
        .iter()
        .find(|g| g.attack == "badnets")
        .unwrap();
    let one_percent = &badnets.rates[0];
    assert!(close(one_percent.rate, 0.01));
    assert_eq!(one_percent.seeds, vec![0, 1]);
    // ASR 0.95 and 0.97: mean 0.96, sample sd sqrt(2 * 0.01^2 / 1).
    let success = one_percent.success.unwrap();
    assert!(close(success.mean, 0.96));
    assert!(close(success.sd, 0.02_f64.powi(2).sqrt() / 2.0_f64.sqrt()));
    assert_eq!(success.n, 2);
    assert_eq!(one_percent.level, Some(Level::Succeeds));
    let spectral = one_percent
        .defences
        .iter()
        .find(|d| d.detector == "spectral")
        .unwrap();
    assert!(close(spectral.success.unwrap().mean, 0.025));
    assert_eq!(spectral.level, Some(Level::Fails));
    let ac = one_percent
        .defences
        .iter()
        .find(|d| d.detector == "activation_clustering")
        .unwrap();
    assert_eq!(ac.level, Some(Level::Succeeds));
    let text = &report.verdicts()[0].text;
    assert!(text.contains("spectral disarms it"), "{text}");
    assert!(
        text.contains("activation_clustering does not stop it (ASR 94.0%)"),
        "{text}"
    );
}

#[test]
fn stat_ignores_non_finite_values() {
    let stat = Stat::of([1.0, f64::NAN, 3.0]).unwrap();
    assert_eq!((stat.mean, stat.n), (2.0, 2));
    assert!(close(stat.sd, 2.0_f64.sqrt()));
    assert!(Stat::of([f64::NAN]).is_none());
}

#[test]
fn risk_summary_picks_the_smallest_succeeding_budget() {
    // Budgets listed out of order; all succeed undefended; spectral disarms the attack at 1%
    // and 2% but not at 10%.
    let mut records = Vec::new();
    for (i, (rate, after)) in [(0.10, 0.95), (0.01, 0.02), (0.02, 0.03)]
        .into_iter()
        .enumerate()
    {
        records.push(centralized(
            i,
            "mnist",
            0,
            badnets(rate),
            (0.97, Some(0.99)),
            defence("spectral", 0.96, Some(after)),
        ));
    }
    records.push(centralized(
        9,
        "mnist",
        0,
        badnets(0.005),
        (0.97, Some(0.5)),
        None,
    ));
    let report = Report::new(&records).unwrap();
    let risk = &report.risk_summary()[0];
    assert_eq!(risk.tested_rates, vec![0.005, 0.01, 0.02, 0.10]);
    assert_eq!(risk.undefended, Some(0.01));
    assert_eq!(risk.defended, Some(0.10));
    let family = &report.family_risk()[0];
    let budget = |rate: f64| {
        Some(Budget {
            rate,
            attack: "badnets".to_string(),
        })
    };
    assert_eq!(family.undefended, budget(0.01));
    assert_eq!(family.defended, budget(0.10));

    let full = Report::new(&full_assessment()).unwrap();
    let badnets = full
        .risk_summary()
        .iter()
        .find(|r| r.attack == "badnets")
        .unwrap();
    assert_eq!(badnets.undefended, Some(0.01));
    assert_eq!(badnets.defended, None);
    assert!(full.to_html().contains("none within the tested budgets"));
}

#[test]
fn availability_success_uses_the_same_seed_baseline() {
    // Baselines 0.90 (seed 0) and 0.80 (seed 1); the attack ran on seed 1 only. Against its
    // own seed the drop is 0.05 (partial); against the mean baseline it would be 0.10.
    let records = vec![
        centralized(0, "mnist", 0, None, (0.90, None), None),
        centralized(1, "mnist", 1, None, (0.80, None), None),
        centralized(2, "mnist", 1, flip(0.2), (0.75, None), None),
        centralized(
            3,
            "mnist",
            1,
            flip(0.2),
            (0.75, None),
            defence("confident_learning", 0.79, None),
        ),
    ];
    let report = Report::new(&records).unwrap();
    let row = &report.attacks()[0].rates[0];
    assert!(close(row.success.unwrap().mean, 0.05));
    assert_eq!(row.level, Some(Level::Partial));
    let after = row.defences[0].success.unwrap().mean;
    assert!(close(after, 0.01));
    assert_eq!(row.defences[0].level, Some(Level::Fails));
}

#[test]
fn availability_without_baseline_is_unknown_not_nan() {
    let records = vec![centralized(0, "mnist", 0, flip(0.2), (0.75, None), None)];
    let report = Report::new(&records).unwrap();
    assert_eq!(report.attacks()[0].rates[0].success, None);
    assert_eq!(report.attacks()[0].rates[0].level, None);
    let html = report.to_html();
    assert!(!html.contains("NaN"));
    assert!(html.contains("no clean baseline"));
}

#[test]
fn federated_drop_is_against_the_same_rule_benign_run() {
    let report = Report::new(&full_assessment()).unwrap();
    let row = |attack: &str, rule: &str| {
        report
            .federated()
            .iter()
            .find(|r| r.attack == attack && r.rule == rule)
            .unwrap()
    };
    let fedavg = row("sign_flip", "fedavg");
    assert!(close(fedavg.accuracy_drop.unwrap().mean, 0.8));
    assert_eq!(fedavg.level, Some(Level::Succeeds));
    assert_eq!(row("sign_flip", "median").level, Some(Level::Fails));
    // Model replacement barely moves accuracy but its ASR succeeds under FedAvg.
    assert_eq!(
        row("model_replacement", "fedavg").level,
        Some(Level::Succeeds)
    );
    assert_eq!(row("none", "fedavg").level, None);
    let risk = report
        .federated_risk()
        .iter()
        .find(|r| r.attack == "model_replacement")
        .unwrap();
    assert_eq!(risk.succeeds_under, vec!["fedavg".to_string()]);
    assert_eq!(risk.resisted_by, vec!["median".to_string()]);
    assert_eq!(row("none", "median").rounds.len(), 5);
}

#[test]
fn plot_count_matches_svg_elements() {
    let report = Report::new(&full_assessment()).unwrap();
    assert_eq!(report.plot_count(), FULL_ASSESSMENT_PLOTS);
    let html = report.to_html();
    assert_eq!(html.matches("<svg").count(), report.plot_count());
    for plot in report.plots() {
        assert!(plot.svg.starts_with("<svg"), "{}", plot.title);
        assert!(plot.svg.matches("<text").count() > 5, "{}", plot.title);
    }
}

#[test]
fn no_federated_and_no_defence_records_drop_their_sections() {
    let records = vec![
        centralized(0, "mnist", 0, None, (0.97, None), None),
        centralized(1, "mnist", 0, badnets(0.01), (0.96, Some(0.97)), None),
        centralized(2, "mnist", 0, badnets(0.05), (0.96, Some(0.99)), None),
    ];
    let report = Report::new(&records).unwrap();
    // One attack curve; no defence-effect, ROC or federated plots.
    assert_eq!(report.plot_count(), 1);
    let html = report.to_html();
    assert_eq!(html.matches("<svg").count(), 1);
    assert!(html.contains("No defences configured"));
    assert!(!html.contains("Federated learning"));
    assert_eq!(report.risk_summary()[0].defended, Some(0.01));
    assert!(report.to_markdown().contains("no defences configured"));
}

#[test]
fn html_escapes_record_strings_and_forbids_network() {
    let evil = "<script>alert('x')</script>&\"";
    let records = vec![
        centralized(0, evil, 0, None, (0.97, None), None),
        centralized(1, evil, 0, badnets(0.01), (0.96, Some(0.97)), None),
    ];
    let report = Report::new(&records).unwrap();
    let html = report.to_html();
    assert!(!html.to_lowercase().contains("<script"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
    assert!(html.contains("Content-Security-Policy"));
    assert!(html.contains("default-src 'none'"));
    // Nothing that could load: no external URLs in src/href attributes, no @import / url().
    assert!(!html.contains("src=\""));
    assert!(!html.contains("href=\"http"));
    assert!(!html.contains("url("));
    assert!(!html.contains("@import"));
}

#[test]
fn csv_has_one_row_per_record_and_round_trips() {
    let mut records = full_assessment();
    records[0].dataset = "data/a,b \"quoted\"\nnewline.npz".to_string();
    let report = Report::new(&records).unwrap();
    let text = report.to_csv().unwrap();
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header, CSV_HEADER.to_vec());
    let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), records.len());
    assert!(rows.iter().all(|r| r.len() == CSV_HEADER.len()));
    assert_eq!(&rows[0][3], records[0].dataset.as_str());
    let kind = CSV_HEADER.iter().position(|h| *h == "kind").unwrap();
    let federated = rows.iter().filter(|r| &r[kind] == "federated").count();
    assert_eq!(federated, 12);
}

#[test]
fn markdown_and_json_carry_verdicts_risk_and_taxonomy() {
    let mut records = full_assessment();
    for record in &mut records {
        record.dataset = "a|b".to_string();
    }
    let report = Report::new(&records).unwrap();
    let md = report.to_markdown();
    assert!(md.contains("### Risk summary"));
    assert!(md.contains("AML.T0020"));
    assert!(md.contains("ML10"));
    assert!(md.contains("a\\|b"));
    assert!(!md.contains("<svg"));
    let json = report.to_json();
    assert_eq!(json["records"], records.len());
    assert_eq!(json["risk"].as_array().unwrap().len(), 2);
    assert_eq!(
        json["attacks"][0]["taxonomy"]["mitre_atlas"][0],
        "AML.T0020"
    );
    assert_eq!(json["thresholds"]["success_rate"], SUCCESS_RATE_THRESHOLD);
}

#[test]
fn nan_measurements_print_as_dash() {
    let mut records = full_assessment();
    if let crate::record::Outcome::Centralized(c) = &mut records[2].outcome {
        c.undefended.clean_accuracy = f64::NAN;
    }
    records[3].seconds = f64::NAN;
    let report = Report::new(&records).unwrap();
    let html = report.to_html();
    assert!(!html.contains("NaN"));
    assert!(!report.to_markdown().contains("NaN"));
}

#[test]
fn rates_format_without_trailing_zeros() {
    assert_eq!(format_rate(0.01), "1%");
    assert_eq!(format_rate(0.005), "0.5%");
    assert_eq!(format_rate(0.125), "12.5%");
    assert_eq!(format_percent(Some(f64::NAN)), "—");
}

#[test]
fn output_does_not_depend_on_record_order() {
    let records = full_assessment();
    let mut shuffled = records.clone();
    shuffled.reverse();
    shuffled.swap(3, 17);
    let a = Report::new(&records).unwrap();
    let b = Report::new(&shuffled).unwrap();
    assert_eq!(a.to_html(), b.to_html());
    assert_eq!(a.to_csv().unwrap(), b.to_csv().unwrap());
    assert_eq!(a.to_json(), b.to_json());
}

#[test]
fn non_finite_budget_never_reaches_the_output() {
    let records = vec![
        centralized(0, "mnist", 0, None, (0.97, None), None),
        centralized(1, "mnist", 0, badnets(f64::NAN), (0.96, Some(0.97)), None),
        centralized(2, "mnist", 0, badnets(0.01), (0.96, Some(0.97)), None),
    ];
    let report = Report::new(&records).unwrap();
    let html = report.to_html();
    // The fixture's cell id spells the rate; everything the report computes must not.
    let html = html.replace(&records[1].id, "");
    assert!(
        !html.contains("NaN"),
        "{}",
        &html[html.find("NaN").unwrap_or(0)..][..200]
    );
    assert_eq!(html.matches("<svg").count(), report.plot_count());
}

#[test]
fn a_defence_that_raises_success_is_not_called_partial_disarming() {
    // Baseline 0.90; the attack drops accuracy to 0.85 (5 points, partial); the sanitizer
    // removes clean samples and the retrained model drops to 0.82 (8 points).
    let records = vec![
        centralized(0, "mnist", 0, None, (0.90, None), None),
        centralized(1, "mnist", 0, flip(0.4), (0.85, None), None),
        centralized(
            2,
            "mnist",
            0,
            flip(0.4),
            (0.85, None),
            defence("spectral", 0.82, None),
        ),
    ];
    let report = Report::new(&records).unwrap();
    let defence = &report.attacks()[0].rates[0].defences[0];
    assert_eq!(defence.level, Some(Level::Partial));
    assert_eq!(defence.reduces, Some(false));
    let text = &report.verdicts()[0].text;
    assert!(text.contains("spectral does not reduce it"), "{text}");
    assert!(report.to_html().contains("not reduced"));
}

/// The report's CSV rows, each checked to carry every column of the header.
pub(super) fn csv_rows(report: &super::Report) -> Vec<::csv::StringRecord> {
    let text = report.to_csv().unwrap();
    let rows: Vec<::csv::StringRecord> = ::csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert!(rows.iter().all(|r| r.len() == super::CSV_HEADER.len()));
    rows
}

/// Asserts the value of each named column of `rows[row]`.
pub(super) fn expect_cells(rows: &[::csv::StringRecord], row: usize, pairs: &[(&str, &str)]) {
    let column = |name: &str| super::CSV_HEADER.iter().position(|h| *h == name).unwrap();
    for (name, value) in pairs {
        assert_eq!(&rows[row][column(name)], *value, "row {row} {name}");
    }
}
