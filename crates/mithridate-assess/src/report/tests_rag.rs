//! RAG records in the report: aggregation over seeds (hand-checked against the fixture's
//! numbers), the risk and verdicts, their separation from the other aggregates, and every
//! output format.

use super::fixtures::{
    followed_by, full_assessment, rag, rag_assessment, FULL_ASSESSMENT_PLOTS, RAG_ASSESSMENT_PLOTS,
};
use super::*;
use crate::record::CellRecord;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn mean(map: &std::collections::BTreeMap<String, Stat>, k: &str) -> f64 {
    map[k].mean
}

fn setting(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn rag_runs_aggregate_over_seeds_by_setting_and_poisons() {
    let report = Report::new(&rag_assessment()).unwrap();
    assert_eq!(report.rag().len(), 2);
    let g = &report.rag()[0];
    assert_eq!(g.title(), "poisoned-rag on sotu (minilm)");
    assert_eq!(
        (g.k.as_str(), g.cutoffs.clone()),
        ("5", setting(&["1", "5", "20"]))
    );
    assert_eq!(g.poisons, vec![1, 5]);
    let settings = vec![
        setting(&[]),
        setting(&["query-echo"]),
        setting(&["perplexity"]),
    ];
    assert_eq!(g.settings, settings);
    assert_eq!(g.taxonomy.mitre_atlas, ["AML.T0070"]);
    let order: Vec<(String, usize)> = g
        .rows
        .iter()
        .map(|r| (r.setting(), r.poisons_per_target))
        .collect();
    let expected = [
        ("none", 1),
        ("none", 5),
        ("query-echo", 1),
        ("query-echo", 5),
        ("perplexity", 1),
        ("perplexity", 5),
    ];
    assert_eq!(order, expected.map(|(s, p)| (s.to_string(), p)));

    // Undefended at P = 1: ASR@5 0.8 and 0.9 over seeds 0 and 1.
    let none1 = g.row(&[], 1).unwrap();
    assert_eq!(none1.seeds, vec![0, 1]);
    let asr = none1.asr_at_k["5"];
    assert!(close(asr.mean, 0.85) && close(asr.sd, 0.1 / 2f64.sqrt()) && asr.n == 2);
    assert!(close(mean(&none1.asr_at_k, "1"), 0.425));
    assert!(close(mean(&none1.asr_at_k, "20"), 0.9));
    assert!(close(mean(&none1.poison_precision_at_k, "5"), 0.17));
    assert!(close(mean(&none1.poison_recall_at_k, "5"), 0.85));
    assert!(close(
        mean(&none1.recall_under_attack_at_k, "5"),
        0.22 * 0.15
    ));
    assert_eq!(none1.level, Some(Level::Partial));
    assert_eq!(
        (none1.reduces, none1.clean_recall_cost_at_k.is_empty()),
        (None, true)
    );
    assert_eq!(none1.injected.unwrap().mean, 20.0);

    // query-echo at P = 5: 0.0 and 0.2 -> 10%, disarmed, at no clean-recall cost.
    let echo5 = g.row(&setting(&["query-echo"]), 5).unwrap();
    assert!(close(mean(&echo5.asr_at_k, "5"), 0.1));
    assert_eq!(
        (echo5.level, echo5.reduces),
        (Some(Level::Fails), Some(true))
    );
    assert!(close(mean(&echo5.clean_recall_cost_at_k, "5"), 0.0));
    // perplexity at P = 5: 1.0 and 0.95, still succeeds; costs 2 points of clean recall@5
    // and 1 point at 1 (0.11 -> 0.10).
    let perplexity5 = g.row(&setting(&["perplexity"]), 5).unwrap();
    assert!(close(mean(&perplexity5.asr_at_k, "5"), 0.975));
    assert_eq!(
        (perplexity5.level, perplexity5.reduces),
        (Some(Level::Succeeds), Some(true))
    );
    assert!(close(mean(&perplexity5.clean_recall_cost_at_k, "5"), 0.02));
    assert!(close(mean(&perplexity5.clean_recall_cost_at_k, "1"), 0.01));
    assert_eq!(perplexity5.refused_at_index.unwrap().mean, 98.0);

    assert_eq!(g.succeeds_undefended_at, Some(5));
    assert_eq!(g.succeeds_through_every_defence_at, None);
    assert_eq!(g.level, Some(Level::Succeeds));
    assert_eq!(
        g.verdict,
        "poisoned-rag on sotu (minilm): 5 poisons per target reach ASR@5 100.0% undefended; \
         with query-echo 10.0%, with perplexity 97.5% (costs 2.0 pts of clean recall@5)."
    );

    let naive = &report.rag()[1];
    assert_eq!(naive.level, Some(Level::Partial));
    assert_eq!(naive.succeeds_undefended_at, None);
    assert_eq!(
        naive.verdict,
        "naive on sotu (bm25): ASR@5 stays below the success threshold up to 1 poison per \
         target (50.0% undefended); no defences configured."
    );
}

#[test]
fn without_defences_the_defended_budget_is_the_undefended_one() {
    let undefended: Vec<CellRecord> = rag_assessment()
        .into_iter()
        .filter(|r| matches!(&r.outcome, crate::record::Outcome::Rag(g) if g.defences.is_empty()))
        .collect();
    let report = Report::new(&undefended).unwrap();
    let g = &report.rag()[0];
    assert_eq!(g.settings, vec![Vec::<String>::new()]);
    assert_eq!(
        (
            g.succeeds_undefended_at,
            g.succeeds_through_every_defence_at
        ),
        (Some(5), Some(5))
    );
    // Only perplexity behind it: it succeeds through every setting at 5 as well.
    let mut with_perplexity = undefended.clone();
    let next = with_perplexity.len();
    for (i, (seed, asr)) in [(0, 1.0), (1, 0.95)].into_iter().enumerate() {
        with_perplexity.push(rag(
            next + i,
            seed,
            ("poisoned-rag", "minilm"),
            &["perplexity"],
            5,
            (asr, 0.2),
        ));
    }
    let report = Report::new(&with_perplexity).unwrap();
    assert_eq!(report.rag()[0].succeeds_through_every_defence_at, Some(5));
}

#[test]
fn rag_records_stay_out_of_the_other_aggregates() {
    let full = full_assessment();
    let with_rag = followed_by(full.clone(), rag_assessment());
    let a = Report::new(&full).unwrap().to_json();
    let report = Report::new(&with_rag).unwrap();
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
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["rag"], serde_json::json!([]));
    assert_eq!(b["rag"].as_array().unwrap().len(), 2);
    assert_eq!(
        report.plot_count(),
        FULL_ASSESSMENT_PLOTS + RAG_ASSESSMENT_PLOTS
    );
    let kinds: Vec<PlotKind> = report.plots().iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds[FULL_ASSESSMENT_PLOTS..],
        [PlotKind::RagPoisons; RAG_ASSESSMENT_PLOTS]
    );
    let html = report.to_html();
    assert_eq!(html.matches("<svg").count(), report.plot_count());
    assert!(html.contains("49 cells (24 centralized, 12 federated, 0 continual, 13 RAG)"));
}

#[test]
fn html_shows_rag_verdicts_risk_tables_cells_and_plots() {
    let report = Report::new(&rag_assessment()).unwrap();
    let html = report.to_html();
    assert!(html.contains("13 cells (0 centralized, 0 federated, 0 continual, 13 RAG)"));
    assert!(html.contains("<h3>Retrieval (RAG) poisoning: top-k attack success</h3>"));
    assert!(html.contains("5 poisons per target reach ASR@5 100.0% undefended"));
    // Risk: the budgets and the taxonomy.
    assert!(html.contains("<td>5 per target</td><td>none within the tested budgets</td>"));
    assert!(html.contains("<span class=\"mono\">AML.T0070</span>"));
    assert!(html.contains("<span class=\"mono\">LLM04, LLM08</span>"));
    // The group's table: headings, spreads over seeds, the cost and the refusals.
    assert!(html.contains("<h4>poisoned-rag on sotu (minilm)</h4>"));
    for heading in [
        "ASR@1",
        "ASR@5",
        "ASR@20",
        "clean recall@5 cost",
        "poison F1@5",
        "refused (poisons)",
    ] {
        assert!(html.contains(&format!("<th>{heading}</th>")), "{heading}");
    }
    assert!(html.contains("<td class=\"num\">85.0 ± 7.1%</td>"));
    assert!(html.contains("<td class=\"num\">2.0 ± 0.0 pts</td>"));
    assert!(html.contains("<td class=\"num\">98 (0)</td>"));
    assert!(html.contains("<span class=\"badge fails\">disarmed</span>"));
    // Every cell, and the plots.
    assert!(html.contains("rag poisoned-rag") && html.contains("5 per target"));
    assert!(
        html.contains("RAG poisoning: top-k attack success and clean recall vs poisons per target")
    );
    assert!(!html.contains("only clean baselines") && !html.contains("no defence-effect"));
    assert!(!html.contains("NaN"));
    assert_eq!(report.plot_count(), 2);
    assert_eq!(html.matches("<svg").count(), 2);
    let plot = &report.plots()[0];
    assert_eq!(plot.kind, PlotKind::RagPoisons);
    assert_eq!(
        plot.title,
        "RAG, poisoned-rag on sotu (minilm): ASR@5 vs poisons per target"
    );
    for label in [
        "undefended ASR@5",
        "query-echo ASR@5",
        "perplexity ASR@5",
        "perplexity clean",
        "recall@5",
    ] {
        assert!(plot.svg.contains(label), "{label}");
    }
}

#[test]
fn markdown_has_a_rag_section() {
    let md = Report::new(&rag_assessment()).unwrap().to_markdown();
    assert!(md.contains("### Retrieval (RAG) poisoning"));
    assert!(md.contains("- **succeeds**: poisoned-rag on sotu (minilm): 5 poisons per target"));
    assert!(md.contains("- **partial**: naive on sotu (bm25)"));
    assert!(md.contains(
        "| sotu · minilm | poisoned-rag | 1, 5 | 5 per target | none within the tested budgets \
         | query-echo; perplexity | AML.T0070 | — | LLM04, LLM08 | 3.4 |"
    ), "{md}");
    assert!(md.contains("#### poisoned-rag on sotu (minilm)"));
    assert!(
        md.contains("| query-echo | 5 | 5.0% | 10.0% | 15.0% | 22.0% | 0.0 pts |"),
        "{md}"
    );
    assert!(!md.contains("<svg"));
}

#[test]
fn csv_and_json_carry_rag_runs() {
    let report = Report::new(&rag_assessment()).unwrap();
    let text = report.to_csv().unwrap();
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    let column = |name: &str| CSV_HEADER.iter().position(|h| *h == name).unwrap();
    let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 13);
    assert!(rows.iter().all(|r| r.len() == CSV_HEADER.len()));
    let first = &rows[0];
    let expect = [
        ("kind", "rag"),
        ("dataset", "sotu"),
        ("attack", "poisoned-rag"),
        ("retriever", "minilm"),
        ("defences", ""),
        ("poisons_per_target", "1"),
        ("poisoned", "20"),
        ("injected", "20"),
        ("success_rate", "0.8"),
        ("asr_at_1", "0.4"),
        ("asr_at_5", "0.8"),
        ("asr_at_20", "0.8500000000000001"),
        ("clean_recall_at_5", "0.22"),
        ("poison_recall_at_5", "0.8"),
        ("mitre_atlas", "AML.T0070"),
        ("owasp_llm", "LLM04;LLM08"),
        ("parameters", "{}"),
        ("targets", "20"),
        ("passages", "1747"),
        ("rule", ""),
        ("detector", ""),
    ];
    for (name, value) in expect {
        assert_eq!(&first[column(name)], value, "{name}");
    }
    assert_eq!(&rows[5][column("defences")], "perplexity");
    assert_eq!(&rows[5][column("refused_at_index")], "98");

    let json = report.to_json();
    let g = &json["rag"][0];
    assert_eq!(g["succeeds_undefended_at"], 5);
    assert_eq!(
        g["succeeds_through_every_defence_at"],
        serde_json::Value::Null
    );
    assert_eq!(g["level"], "succeeds");
    assert!(close(
        g["rows"][3]["asr_at_k"]["5"]["mean"].as_f64().unwrap(),
        0.1
    ));
    assert_eq!(g["rows"][3]["defences"], serde_json::json!(["query-echo"]));
    assert_eq!(json["rag"][1]["level"], "partial");
}

#[test]
fn rag_output_does_not_depend_on_record_order() {
    let records = rag_assessment();
    let mut shuffled = records.clone();
    shuffled.reverse();
    let a = Report::new(&records).unwrap();
    let b = Report::new(&shuffled).unwrap();
    assert_eq!(a.to_html(), b.to_html());
    assert_eq!(a.to_markdown(), b.to_markdown());
    assert_eq!(a.to_csv().unwrap(), b.to_csv().unwrap());
    assert_eq!(a.to_json(), b.to_json());
}

#[test]
fn other_parameters_or_targets_are_other_groups_with_telling_titles() {
    let with = |index: usize, edit: fn(&mut crate::record::RagOutcome)| {
        let mut r = rag(index, 0, ("poisoned-rag", "minilm"), &[], 5, (1.0, 0.2));
        if let crate::record::Outcome::Rag(g) = &mut r.outcome {
            edit(g);
        }
        r
    };
    let records = vec![
        with(0, |_| {}),
        with(1, |g| {
            g.parameters = serde_json::json!({"prefix-question": false})
        }),
        with(2, |g| g.targets = 12),
    ];
    let report = Report::new(&records).unwrap();
    let titles: Vec<String> = report.rag().iter().map(|g| g.title()).collect();
    assert_eq!(
        titles,
        [
            "poisoned-rag on sotu (minilm, 20 targets)",
            "poisoned-rag (prefix-question false) on sotu (minilm, 20 targets)",
            "poisoned-rag on sotu (minilm, 12 targets)",
        ]
    );
    assert!(report.rag().iter().all(|g| g.rows.len() == 1));
}
