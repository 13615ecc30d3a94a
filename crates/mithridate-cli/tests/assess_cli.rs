//! `mithridate assess` end to end on a small real dataset (sklearn digits): a SIGKILLed run
//! resumes to the same results as an uninterrupted one, shards merge to the unsharded results,
//! and malformed configurations fail before any work, naming the line.

use crate::common;

use common::{home, json, mithridate};
use mithridate_assess::record::CellRecord;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Centralized poisoning with two defences plus a federated scenario: every cell kind.
const CONFIG: &str = r#"
seeds = 2

[[centralized]]
dataset = "digits"
model = "logreg"
epochs = 3
defences = ["spectral", "knn"]

[[centralized.attacks]]
name = "badnets"
rates = [0.05]
params = { target = 0 }

[[centralized.attacks]]
name = "label-flip"
rates = [0.2]

[[federated]]
dataset = "digits"
model = "logreg"
clients = 10
per_round = 1.0
rounds = 2
byzantine = 0.2
rules = ["fedavg", "median"]
attacks = ["none", "sign-flip"]
"#;

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("assess.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn assess(config: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "--json",
        "assess",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    json(&mithridate(&args))
}

/// Records sorted by plan index, wall time zeroed: what must be reproducible.
fn results(dirs: &[&Path]) -> Vec<CellRecord> {
    let dirs: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    let mut records = mithridate_assess::store::read_merged(&dirs).unwrap();
    for r in &mut records {
        r.seconds = 0.0;
    }
    records
}

fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[test]
fn killed_run_resumes_and_shards_merge_to_the_same_results() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), CONFIG);
    let full = tmp.path().join("full");
    let summary = assess(&config, &full, &["--workers", "2"]);
    let planned = summary["planned"].as_u64().unwrap() as usize;
    // Per seed: 1 clean + 2 attacked + 2 x 2 defended + 2 x 2 federated.
    assert_eq!(planned, 2 * (1 + 2 + 4 + 4));
    let expected = results(&[&full]);
    assert_eq!(expected.len(), planned);
    assert!(full.join("report.html").is_file());

    // SIGKILL mid-run, as soon as some cells are stored, then rerun.
    let killed = tmp.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mithridate"))
        .args(["assess", "--workers", "2", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&killed)
        .env("MITHRIDATE_HOME", home())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let results_file = killed.join("results.jsonl");
    let deadline = Instant::now() + Duration::from_secs(120);
    while line_count(&results_file) < 3 && Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let survived = line_count(&results_file);
    assert!(survived >= 1, "no cell finished before the kill");
    assert!(survived < planned, "the run finished before the kill");
    // Whatever the kill interrupted, the file parses completely.
    let partial = results(&[&killed]);
    assert_eq!(partial.len(), survived);
    let resumed = assess(&config, &killed, &[]);
    assert_eq!(
        resumed["resumed"].as_u64().unwrap() as usize + resumed["ran"].as_u64().unwrap() as usize,
        planned
    );
    assert_eq!(line_count(&results_file), planned, "no duplicate rows");
    assert_eq!(results(&[&killed]), expected);

    // Shards 1/2 and 2/2, merged, equal the unsharded run; so does `report --format json`.
    let (a, b) = (tmp.path().join("shard1"), tmp.path().join("shard2"));
    let s1 = assess(&config, &a, &["--shard", "1/2"]);
    let s2 = assess(&config, &b, &["--shard", "2/2"]);
    assert_eq!(
        s1["in_shard"].as_u64().unwrap() + s2["in_shard"].as_u64().unwrap(),
        planned as u64
    );
    assert_eq!(results(&[&a, &b]), expected);
    let html = tmp.path().join("merged.html");
    let out = mithridate(&[
        "report",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_to_string(&html).unwrap().contains("<svg"));

    // A finished assessment reruns nothing.
    let again = assess(&config, &full, &[]);
    assert_eq!(again["ran"], 0);
}

/// Runs `assess` on a broken configuration: exit 2, no results, the message names `line`.
fn rejected(text: &str, line: usize, needle: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path(), text);
    let out_dir = tmp.path().join("out");
    let out = mithridate(&[
        "assess",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("assess.toml:{line}:")),
        "expected line {line}: {stderr}"
    );
    assert!(stderr.contains(needle), "expected '{needle}': {stderr}");
    assert!(!out_dir.join("results.jsonl").exists(), "no work may start");
}

#[test]
fn malformed_configs_fail_before_any_work_naming_the_line() {
    let base = "[[centralized]]\ndataset = \"digits\"\nmodel = \"logreg\"\n";
    rejected(
        &format!("{base}[[centralized.attacks]]\nname = \"badnetz\"\nrates = [0.1]\n"),
        5,
        "unknown data attack",
    );
    rejected(
        &format!("{base}[[centralized.attacks]]\nname = \"badnets\"\nrates = [0.1, 1.5]\n"),
        6,
        "1.5",
    );
    rejected(
        "[[centralized]]\ndataset = \"breast-cancer\"\n[[centralized.attacks]]\nname = \"badnets\"\nrates = [0.1]\n",
        4,
        "does not apply to tabular data",
    );
    rejected(
        &format!("{base}defences = [\"spectral\", \"strip-it\"]\n"),
        4,
        "strip-it",
    );
    rejected(
        &format!("{base}[[centralized.attacks]]\nname = \"badnets\"\nrates = [0.1]\nparams = {{ target = 12 }}\n"),
        7,
        "12",
    );
    rejected(
        "[[centralized]]\ndataset = \"no-such-data\"\n",
        2,
        "no-such-data",
    );
    // A defence that does not fit: STRIP on text, STRIP against an attack without a trigger.
    rejected(
        "[[centralized]]\ndataset = \"spamassassin\"\ndefences = [\"strip\"]\n\
         [[centralized.attacks]]\nname = \"text-trigger\"\nrates = [0.05]\n",
        3,
        "does not apply to text data",
    );
    rejected(
        &format!("{base}defences = [\"strip\"]\n[[centralized.attacks]]\nname = \"label-flip\"\nrates = [0.1]\n"),
        4,
        "plants no trigger",
    );
    rejected(
        "[[federated]]\ndataset = \"digits\"\nclients = 10\nper_round = 1.0\nrounds = 1\nbyzantine = 0.4\n\
         rules = [\"median\", \"krum\"]\nattacks = [\"sign-flip\"]\n",
        7,
        "krum",
    );
    rejected(
        "seeds = 1\n[[centralized]]\ndataset = \"digits\"\nmodle = \"mlp\"\n",
        4,
        "modle",
    );
}

/// The documented example and the built-in default both validate against the real datasets.
#[test]
fn example_and_default_configs_validate() {
    let tmp = tempfile::tempdir().unwrap();
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/assess.toml");
    let out = tmp.path().join("example");
    let plan = json(&mithridate(&[
        "--json",
        "assess",
        "--dry-run",
        "--config",
        example.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(plan["pending"].as_u64().unwrap() > 100);
    let default = json(&mithridate(&[
        "--json",
        "assess",
        "--dry-run",
        "--out",
        tmp.path().join("default").to_str().unwrap(),
    ]));
    let cells = default["cells"].as_array().unwrap();
    assert_eq!(cells.len(), default["pending"].as_u64().unwrap() as usize);
    assert!(cells
        .iter()
        .any(|c| c["id"].as_str().unwrap().contains("/fl/")));
}
