//! `mithridate gate` end to end on real data (sklearn digits, 8x8 images): a BadNets candidate
//! fails, a clean retrain with another seed passes, both decisions land in a verifiable audit
//! log, and bad input exits 2 with one error line.

use crate::common;
use common::*;

use std::path::Path;
use std::process::Output;

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Trains an MLP on `data` (a built-in name or an .npz, tested on the digits test split).
fn train(data: &str, seed: &str, out: &Path) {
    let o = mithridate(&[
        "--seed",
        seed,
        "train",
        "--data",
        data,
        "--test",
        "digits",
        "--model",
        "mlp",
        "--epochs",
        "20",
        "-o",
        path(out),
    ]);
    assert!(o.status.success(), "train {data}: {}", stderr(&o));
}

/// The digits holdout has 359 samples (about 36 per class): one sample moves accuracy by
/// 0.28 points and a class's recall by 2.8 points, so the accuracy and recall thresholds are
/// wider than the MNIST-sized defaults; the flip, concentration and probe thresholds are the
/// defaults.
const SMALL_HOLDOUT_POLICY: &str = "\
# digits: 359 holdout samples
max_accuracy_drop = 0.03
max_class_recall_drop = 0.15
";

#[test]
fn badnets_candidate_fails_clean_retrain_passes_and_both_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    train("digits", "0", &p("base.safetensors"));
    let poison = mithridate(&[
        "--seed",
        "0",
        "poison",
        "--data",
        "digits",
        "--attack",
        "badnets",
        "--rate",
        "0.1",
        "--target",
        "0",
        "-o",
        path(&p("poisoned.npz")),
    ]);
    assert!(poison.status.success(), "{}", stderr(&poison));
    train(path(&p("poisoned.npz")), "1", &p("poisoned.safetensors"));
    train("digits", "1", &p("clean.safetensors"));
    std::fs::write(p("gate.toml"), SMALL_HOLDOUT_POLICY).unwrap();
    let truth = p("poisoned.npz.truth.json");
    let log = p("audit.jsonl");

    let gate = |candidate: &str, junit: &str| {
        mithridate(&[
            "--json",
            "gate",
            "--baseline",
            path(&p("base.safetensors")),
            "--candidate",
            path(&p(candidate)),
            "--holdout",
            "digits",
            "--policy",
            path(&p("gate.toml")),
            "--probe",
            path(&truth),
            "--junit",
            path(&p(junit)),
            "--audit",
            path(&log),
        ])
    };

    // The backdoored candidate: the trigger probe fails it, exit 1, one error line.
    let bad = gate("poisoned.safetensors", "bad.xml");
    assert_eq!(code(&bad), Some(1), "{}", stderr(&bad));
    assert!(
        stderr(&bad).starts_with("error: gate failed: "),
        "{}",
        stderr(&bad)
    );
    assert!(!stderr(&bad).contains("panicked"));
    let report: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(report["passed"], false);
    let checks = report["report"]["checks"].as_array().unwrap();
    let probe = checks
        .iter()
        .find(|c| c["name"] == "probe:poisoned.npz.truth.json")
        .expect("probe check");
    assert_eq!(probe["status"], "failed", "{probe}");
    assert!(probe["value"].as_f64().unwrap() > 0.5, "{probe}");
    let xml = std::fs::read_to_string(p("bad.xml")).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("<testsuite name=\"mithridate-gate\""), "{xml}");
    assert!(
        xml.contains("name=\"probe:poisoned.npz.truth.json\">\n      <failure "),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), checks.len());

    // The clean retrain with another seed passes, exit 0.
    let good = gate("clean.safetensors", "good.xml");
    assert_eq!(code(&good), Some(0), "{}", stderr(&good));
    let report = json(&good);
    assert_eq!(report["passed"], true);
    let xml = std::fs::read_to_string(p("good.xml")).unwrap();
    assert!(!xml.contains("<failure"), "{xml}");
    assert!(
        xml.contains("<property name=\"verdict\" value=\"pass\"/>"),
        "{xml}"
    );

    // Both decisions are in the log, in order, with the candidates' BLAKE3 hashes.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let hash = |name: &str| {
        blake3::hash(&std::fs::read(p(name)).unwrap())
            .to_hex()
            .to_string()
    };
    for (record, (candidate, passed)) in lines
        .iter()
        .zip([("poisoned.safetensors", false), ("clean.safetensors", true)])
    {
        assert_eq!(record["kind"], "gate_decision");
        assert_eq!(record["payload"]["passed"], passed, "{record}");
        assert_eq!(record["payload"]["candidate_model_hash"], hash(candidate));
        assert_eq!(
            record["payload"]["baseline_model_hash"],
            hash("base.safetensors")
        );
        assert_eq!(record["payload"]["policy"]["max_accuracy_drop"], 0.03);
    }
    assert!(lines[0]["payload"]["reasons"][0]
        .as_str()
        .unwrap()
        .starts_with("probe:"));
    let verify = mithridate(&["audit", "verify", "--log", path(&log)]);
    assert_eq!(code(&verify), Some(0), "{}", stderr(&verify));

    // Without a probe, trigger reverse-engineering still finds the backdoor: class 0 is
    // reached with a much smaller mask under the candidate than under the baseline.
    let reversed = mithridate(&[
        "--json",
        "gate",
        "--baseline",
        path(&p("base.safetensors")),
        "--candidate",
        path(&p("poisoned.safetensors")),
        "--holdout",
        "digits",
        "--policy",
        path(&p("gate.toml")),
        "--reverse-trigger",
    ]);
    assert_eq!(code(&reversed), Some(1), "{}", stderr(&reversed));
    let report: serde_json::Value = serde_json::from_slice(&reversed.stdout).unwrap();
    let shrink = report["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "trigger_shrink")
        .expect("trigger_shrink check")
        .clone();
    assert_eq!(shrink["status"], "failed", "{shrink}");
    assert_eq!(report["report"]["triggers"]["worst_class"], 0, "{shrink}");

    // Without the probe and under a strict negative-flip rule the clean candidate fails too:
    // the policy is honoured, not just the probe.
    std::fs::write(p("strict.toml"), "max_negative_flip_rate = 0.0\n").unwrap();
    let strict = mithridate(&[
        "gate",
        "--baseline",
        path(&p("base.safetensors")),
        "--candidate",
        path(&p("clean.safetensors")),
        "--holdout",
        "digits",
        "--policy",
        path(&p("strict.toml")),
    ]);
    assert_eq!(code(&strict), Some(1), "{}", stderr(&strict));
    assert!(
        stderr(&strict).contains("negative_flip_rate"),
        "{}",
        stderr(&strict)
    );

    // Usage errors exit 2 with one line naming the problem.
    std::fs::write(
        p("typo.toml"),
        "max_accuracy_drop = 0.01\nmax_flip_rat = 0.1\n",
    )
    .unwrap();
    let (base, clean) = (p("base.safetensors"), p("clean.safetensors"));
    let usage = |extra: &[&str], holdout: &str| {
        let mut args = vec![
            "gate",
            "--baseline",
            path(&base),
            "--candidate",
            path(&clean),
            "--holdout",
            holdout,
        ];
        args.extend_from_slice(extra);
        mithridate(&args)
    };
    for (out, needle) in [
        (
            usage(&["--policy", path(&p("typo.toml"))], "digits"),
            "max_flip_rat",
        ),
        (usage(&[], "breast-cancer"), "incompatible"),
        (
            usage(&["--probe", path(&p("gate.toml"))], "digits"),
            "gate.toml",
        ),
    ] {
        let err = stderr(&out);
        assert_eq!(code(&out), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("error: ") && err.contains(needle), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let typo = stderr(&usage(&["--policy", path(&p("typo.toml"))], "digits"));
    assert!(typo.contains("line 2"), "{typo}");
    // A missing policy file is an I/O failure: exit 3.
    let missing = usage(&["--policy", path(&p("nope.toml"))], "digits");
    assert_eq!(code(&missing), Some(3), "{}", stderr(&missing));
    // Failed usage runs wrote nothing to the log.
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 2);
}
