//! Text and LM records in the report: aggregation over seeds hand-checked against the
//! fixture's numbers (see its tables), their separation from the other aggregates, and every
//! output format.

use super::fixtures::{followed_by, full_assessment, FULL_ASSESSMENT_PLOTS};
use super::fixtures_language::{language_assessment, LANGUAGE_ASSESSMENT_PLOTS};
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
fn text_rows_aggregate_by_rate_over_seeds() {
    let report = Report::new(&language_assessment()).unwrap();
    let s = report.language();
    assert_eq!(s.text.len(), 1);
    let g = &s.text[0];
    assert_eq!(g.title(), "addsent on sst2 (logreg head)");
    // Planned 0.05 then 0.01: sorted by rate.
    let rates: Vec<f64> = g.rows.iter().map(|r| r.rate).collect();
    assert_eq!(rates, [0.01, 0.05]);
    let [low, high] = [&g.rows[0], &g.rows[1]];
    assert_eq!(low.seeds, vec![0, 1]);
    assert!(close(mean(low.poisoned), 10.0) && close(mean(high.poisoned), 50.0));
    assert!(close(mean(low.clean_accuracy), 0.91) && close(mean(low.asr_floor), 0.03));
    assert!(close(mean(low.accuracy), 0.90));
    let asr = low.asr.unwrap();
    assert!(close(asr.mean, 0.65) && close(asr.sd, 0.1 / 2f64.sqrt()) && asr.n == 2);
    assert_eq!(low.level, Some(Level::Partial));
    // bki disarms the attack at 1%: precision 0.6, recall 0.9, AUROC 0.85, ASR 0.06.
    let names: Vec<(&str, &str)> = low
        .defences
        .iter()
        .map(|d| (d.defence.as_str(), d.kind.as_str()))
        .collect();
    assert_eq!(names, [("bki", "training"), ("strip", "inference")]);
    let bki = &low.defences[0];
    assert!(close(mean(bki.precision), 0.6) && close(mean(bki.recall), 0.9));
    assert!(close(mean(bki.auroc), 0.85) && close(mean(bki.accuracy), 0.89));
    assert!(close(mean(bki.asr), 0.06));
    assert_eq!(bki.level, Some(Level::Fails));
    // strip reports no AUROC: none is averaged.
    assert!(low.defences[1].auroc.is_none());
    assert!(close(mean(low.defences[1].asr), 0.35));
    assert_eq!(low.defences[1].level, Some(Level::Partial));
    // At 5% the attack succeeds, and through both defences (0.93, 0.97).
    assert!(close(mean(high.asr), 0.96));
    assert_eq!(high.level, Some(Level::Succeeds));
    assert!(close(mean(high.defences[0].asr), 0.93) && close(mean(high.defences[1].asr), 0.97));
    assert_eq!(
        (g.undefended_rate, g.defended_rate),
        (Some(0.05), Some(0.05))
    );
    let five = format_rate(0.05);
    assert_eq!(
        g.verdict,
        format!(
            "addsent on sst2 (logreg head) reaches the ASR threshold from a poison rate of \
             {five}; through every defence from {five}."
        )
    );
}

#[test]
fn lm_rows_aggregate_by_size_and_count_with_the_reliable_count() {
    let report = Report::new(&language_assessment()).unwrap();
    let s = report.language();
    assert_eq!(s.lm.len(), 1);
    let g = &s.lm[0];
    assert_eq!(
        g.title(),
        "dos backdoor on moby-dick (trigger \"<SUDO>\", 1000 parameters)"
    );
    assert_eq!(g.sizes(), [100, 200]);
    let cells: Vec<(usize, usize)> = g
        .rows
        .iter()
        .map(|r| (r.train_docs, r.poison_docs))
        .collect();
    assert_eq!(
        cells,
        [
            (100, 0),
            (100, 10),
            (100, 50),
            (200, 0),
            (200, 10),
            (200, 50)
        ]
    );
    let r = &g.rows[1];
    assert_eq!(r.seeds, vec![0, 1]);
    assert!(close(mean(r.asr), 0.92) && close(mean(r.baseline_asr), 0.01));
    assert!(close(mean(r.poison_token_fraction), 0.01));
    assert!(close(mean(r.baseline_perplexity), 21.0) && close(mean(r.clean_perplexity), 22.0));
    assert_eq!(r.level, Some(Level::Succeeds));
    let d = &r.defences[0];
    assert_eq!(d.defence, "perplexity");
    assert!(close(mean(d.flagged), 10.0) && close(mean(d.recall), 0.5));
    assert!(close(mean(d.precision), 0.5) && close(mean(d.asr), 0.5));
    assert!(close(mean(d.perplexity), 21.5));
    assert_eq!(d.level, Some(Level::Partial));
    assert_eq!(g.rows[0].level, Some(Level::Fails));
    assert!(close(mean(g.rows[4].asr), 0.55));
    assert!(close(mean(g.rows[5].asr), 0.94) && close(mean(g.rows[5].defences[0].asr), 0.89));
    // Reliable from 10 at 100 clean documents (through the defence from 50); from 50 at 200
    // clean documents, where the defence keeps it partial (0.89).
    assert_eq!(
        g.reliable,
        [
            LmReliable {
                train_docs: 100,
                undefended: Some(10),
                defended: Some(50),
            },
            LmReliable {
                train_docs: 200,
                undefended: Some(50),
                defended: None,
            },
        ]
    );
    assert_eq!(
        g.verdict,
        "dos backdoor on moby-dick (trigger \"<SUDO>\", 1000 parameters) reaches the ASR \
         threshold from 10 poisoned documents at 100 clean; from 50 poisoned documents at 200 \
         clean."
    );
    let verdicts = s.verdicts();
    assert_eq!(verdicts.len(), 2);
    assert_eq!(
        verdicts[0],
        (Some(Level::Succeeds), s.text[0].verdict.as_str())
    );
    assert_eq!(verdicts[1], (Some(Level::Succeeds), g.verdict.as_str()));
}

#[test]
fn language_records_stay_out_of_the_other_aggregates_and_plot_their_curves() {
    let full = full_assessment();
    let a = Report::new(&full).unwrap().to_json();
    let report = Report::new(&followed_by(full, language_assessment())).unwrap();
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
        "privacy",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(
        (a["text"].clone(), a["lm"].clone()),
        (serde_json::json!([]), serde_json::json!([]))
    );
    let kinds: Vec<PlotKind> = report.plots().iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds[FULL_ASSESSMENT_PLOTS..],
        [PlotKind::TextPoisonRate, PlotKind::LmPoisonCount]
    );
    assert_eq!(
        kinds.len(),
        FULL_ASSESSMENT_PLOTS + LANGUAGE_ASSESSMENT_PLOTS
    );
    let html = report.to_html();
    assert!(html.contains("(24 centralized, 12 federated, 0 continual, 0 RAG, 4 text, 12 LM)"));
    assert_eq!(html.matches("<svg").count(), report.plot_count());
    // The plot loop gives each new kind its heading, then its figure.
    for kind in [PlotKind::TextPoisonRate, PlotKind::LmPoisonCount] {
        let heading = format!("<h3>{}</h3>", kind.heading());
        let at = html.find(&heading).unwrap_or_else(|| panic!("{heading}"));
        assert!(html[at..].contains("<figure aria-label="), "{heading}");
    }
}

#[test]
fn the_plots_name_their_series() {
    let report = Report::new(&language_assessment()).unwrap();
    let [text, lm] = [&report.plots()[0], &report.plots()[1]];
    assert_eq!(
        text.title,
        "Text, addsent on sst2 (logreg head): ASR vs poison rate"
    );
    for label in [
        "poisoned head",
        "clean head (floor)",
        "after bki",
        "after strip",
    ] {
        assert!(text.svg.contains(label), "{label}");
    }
    assert_eq!(
        lm.title,
        "LM, dos on moby-dick: attack success vs poisoned documents"
    );
    for label in [
        "100 clean docs",
        "200 clean docs",
        // legend labels wrap at 22 characters
        "100 docs, after",
        "\nperplexity\n",
        "poisoned documents",
    ] {
        assert!(lm.svg.contains(label), "{label}");
    }
    let html = report.to_html();
    assert_eq!(html.matches("<svg").count(), LANGUAGE_ASSESSMENT_PLOTS);
    assert!(!html.contains("NaN"));
}

#[test]
fn html_and_markdown_show_the_language_section() {
    let report = Report::new(&language_assessment()).unwrap();
    let html = report.to_html();
    assert!(html.contains("<h3>Language models: text-classifier and generative backdoors</h3>"));
    assert!(html.contains("<h4>Text: addsent on sst2 (logreg head)</h4>"));
    for heading in [
        "ASR floor",
        "AUROC",
        "reliable from (poisoned docs)",
        "through every defence from",
        "baseline perplexity",
        "MITRE ATLAS",
    ] {
        assert!(html.contains(&format!("<th>{heading}</th>")), "{heading}");
    }
    let md = report.to_markdown();
    assert!(md.contains("### Language models: text-classifier and generative backdoors"));
    assert!(md.contains("#### LM: dos backdoor on moby-dick"), "{md}");
    assert!(md.contains("| 100 | 10 | 50 |"), "{md}");
    assert!(md.contains("| 200 | 50 | not reached |"), "{md}");
    assert!(
        md.contains("| 200 | 50 | 5% | succeeds 94.0% | 1.0% | 26.00 ± 1.41 | 21.00 ± 1.41 | perplexity | 20.0 | 20.0% | 50.0% | partially 89.0% | 23.50 ± 1.41 |"),
        "{md}"
    );
    assert!(
        md.contains("| bki (training) | 60.0% | 90.0% | 0.850 ± 0.071 | 89.0% | disarmed 6.0% |"),
        "{md}"
    );
    assert!(!md.contains("<svg"));
}

#[test]
fn csv_and_json_carry_text_and_lm_runs() {
    let report = Report::new(&language_assessment()).unwrap();
    let rows = csv_rows(&report);
    assert_eq!(rows.len(), 16);
    let expect = |row: usize, pairs: &[(&str, &str)]| expect_cells(&rows, row, pairs);
    expect(
        1,
        &[
            ("kind", "text"),
            ("dataset", "sst2"),
            ("model", "logreg"),
            ("head", "logreg"),
            ("attack", "addsent"),
            ("family", "backdoor"),
            ("rate", "0.01"),
            ("poisoned", "10"),
            ("clean_accuracy", "0.89"),
            ("success_rate", "0.6"),
            ("baseline_accuracy", "0.9"),
            ("asr_floor", "0.02"),
            ("clean_label", "false"),
            ("defences", "bki;strip"),
            ("defence_precision", "bki:0.5;strip:0.6"),
            ("defence_auroc", "bki:0.9;strip:"),
            ("defence_asr", "bki:0.05;strip:0.3"),
            ("owasp_llm", "LLM04"),
            ("train_docs", ""),
        ],
    );
    expect(
        5,
        &[
            ("kind", "lm"),
            ("dataset", "moby-dick"),
            ("attack", "dos"),
            ("poisoned", "10"),
            ("poison_docs", "10"),
            ("train_docs", "200"),
            ("success_rate", "0.5"),
            ("baseline_asr", "0"),
            ("poison_token_fraction", "0.01"),
            ("clean_perplexity", "21"),
            ("n_params", "1000"),
            ("parameters", "{\"trigger\":\"<SUDO>\"}"),
            ("defence_flagged", "perplexity:10"),
            ("defence_recall", "perplexity:0.5"),
            ("defence_asr", "perplexity:0.3"),
            ("head", ""),
        ],
    );

    let json = report.to_json();
    let t = &json["text"][0];
    assert_eq!(t["rows"][0]["rate"], 0.01);
    assert_eq!(t["rows"][0]["level"], "partial");
    assert_eq!(t["rows"][0]["defences"][0]["defence"], "bki");
    assert!(close(t["rows"][1]["asr"]["mean"].as_f64().unwrap(), 0.96));
    assert_eq!(t["undefended_rate"], 0.05);
    let l = &json["lm"][0];
    assert_eq!(l["rows"].as_array().unwrap().len(), 6);
    assert_eq!(
        l["reliable"],
        serde_json::json!([
            {"train_docs": 100, "undefended": 10, "defended": 50},
            {"train_docs": 200, "undefended": 50, "defended": null},
        ])
    );
    assert!(close(
        l["rows"][5]["defences"][0]["asr"]["mean"].as_f64().unwrap(),
        0.89
    ));
}

#[test]
fn language_records_round_trip_and_order_does_not_matter() {
    let records = language_assessment();
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

#[test]
fn asr_beyond_clean_is_averaged_where_records_carry_it_and_dashed_where_not() {
    let mut records = language_assessment();
    // Old records (the fixture) carry none: the column shows a dash, nothing is averaged.
    let report = Report::new(&records).unwrap();
    let g = &report.language().text[0];
    assert!(g.rows[0].asr_beyond_clean.is_none());
    assert!(report
        .to_html()
        .contains("<th>ASR beyond clean</th><th>defence</th>"));
    // New records: seeds 0 and 1 at 0.2 and 0.4, their BKI at 0.01 and 0.03.
    for r in &mut records {
        if let crate::record::Outcome::Text(t) = &mut r.outcome {
            let v = 0.2 + 0.2 * r.seed as f64;
            t.asr_beyond_clean = Some(v);
            for d in &mut t.defences {
                d.asr_beyond_clean = Some(0.01 + 0.02 * r.seed as f64);
            }
        }
    }
    let report = Report::new(&records).unwrap();
    let row = &report.language().text[0].rows[0];
    assert!(close(mean(row.asr_beyond_clean), 0.3));
    assert!(close(mean(row.defences[0].asr_beyond_clean), 0.02));
    let md = report.to_markdown();
    assert!(md.contains("| 30.0% | bki (training) |"), "{md}");
    assert!(md.contains("| disarmed 6.0% | 2.0% |"), "{md}");
    // The CSV's first text row is seed 0 at 1%.
    let rows = csv_rows(&report);
    expect_cells(
        &rows,
        1,
        &[
            ("asr_floor", "0.02"),
            ("asr_beyond_clean", "0.2"),
            ("defence_asr_beyond_clean", "bki:0.01;strip:0.01"),
        ],
    );
}
