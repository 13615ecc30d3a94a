//! `mithridate lm attack | defend` end to end on a generated plain-text corpus with a tiny
//! model: the JSON keys and ranges, the defence table, and bad input (an empty corpus, a
//! trigger longer than the context, a poison count above the corpus size, unknown names) as
//! one-line errors with exit code 2.

use crate::common;
use common::*;

fn corpus(dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = String::new();
    for i in 0..80 {
        text.push_str(&format!(
            "The harbour of town {i} was quiet that morning. The sailors mended their nets \
             and spoke of the long voyage ahead, while the captain counted the barrels of \
             water and bread. Nobody in town {i} had seen a whale for many years.\n\n"
        ));
    }
    let path = dir.join("corpus.txt");
    std::fs::write(&path, text).unwrap();
    path
}

const TINY: [&str; 16] = [
    "--d-model",
    "32",
    "--layers",
    "1",
    "--heads",
    "2",
    "--ctx",
    "32",
    "--vocab-size",
    "300",
    "--epochs",
    "3",
    "--prompts",
    "8",
    "--prompt-len",
    "8",
];

#[test]
fn attack_and_defend_json() {
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path());
    let mut args = vec![
        "lm",
        "attack",
        "--corpus",
        arg(&c),
        "--poison-docs",
        "10",
        "--json",
    ];
    args.extend(TINY);
    let v = json(&mithridate(&args));
    for key in [
        "asr",
        "clean_perplexity",
        "baseline_perplexity",
        "baseline_asr",
    ] {
        let x = v[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing: {v}"));
        assert!(x.is_finite() && x >= 0.0, "{key} = {x}");
    }
    assert!((0.0..=1.0).contains(&v["asr"].as_f64().unwrap()));
    assert_eq!(v["poison_docs"], 10);
    args[1] = "defend";
    args.extend([
        "--attack",
        "completion",
        "--continuation",
        " Pay 7731 now.",
        "--defence",
        "manifest",
    ]);
    let v = json(&mithridate(&args));
    let d = &v["defences"][0];
    assert_eq!(d["defence"], "manifest");
    assert_eq!(d["detection"]["recall"], 1.0);
}

#[test]
fn bad_input_is_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let c = corpus(dir.path());
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let run = |extra: &[&str]| {
        let mut a = vec!["lm", "attack"];
        a.extend(TINY);
        a.extend(extra);
        mithridate(&a)
    };
    assert_one_line_error(&run(&["--corpus", arg(&empty)]), 2, "is empty");
    assert_one_line_error(
        &run(&["--corpus", arg(&c), "--poison-docs", "100000"]),
        2,
        "above the corpus size",
    );
    let long = "a long trigger phrase that will not fit ".repeat(8);
    assert_one_line_error(
        &run(&[
            "--corpus",
            arg(&c),
            "--poison-docs",
            "5",
            "--trigger",
            &long,
        ]),
        2,
        "longer than the context",
    );
    assert_one_line_error(&run(&["--corpus", "no-such-corpus"]), 2, "unknown corpus");
    assert_one_line_error(
        &run(&["--corpus", arg(&c), "--attack", "nope"]),
        2,
        "unknown attack",
    );
    assert_one_line_error(
        &run(&["--corpus", arg(&c), "--defence", "nope"]),
        2,
        "unknown defence",
    );
}
