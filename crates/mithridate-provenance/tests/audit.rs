//! Audit log: every single-record edit, swap, deletion and truncation is found at the right
//! line; concurrent writers in separate processes keep the chain valid; a killed writer's
//! partial line is repaired; trace walks from a model back to its data.

use mithridate_data::{Dataset, Features, Modality};
use mithridate_provenance::audit::{RecordSignature, VersionDiff};
use mithridate_provenance::{
    keys, AuditLog, CheckedDiffParams, DatasetVersionPayload, Digest, GateDecisionPayload,
    IncidentPayload, Manifest, NotePayload, ProblemKind, ProvenanceError, RecordKind, ScanPayload,
    SigningKey, TrainingRunPayload, VerifyOptions, VerifyReport,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CHILD_LOG: &str = "MITHRIDATE_AUDIT_TEST_CHILD_LOG";
const CHILD_NAME: &str = "MITHRIDATE_AUDIT_TEST_CHILD_NAME";
const CHILD_COUNT: &str = "MITHRIDATE_AUDIT_TEST_CHILD_COUNT";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// A log with one record of every kind (8 records), all signed.
fn sample_log(dir: &Path) -> AuditLog {
    build_sample_log(dir, Some(&key()))
}

fn build_sample_log(dir: &Path, k: Option<&SigningKey>) -> AuditLog {
    let log = AuditLog::open(dir.join("audit.jsonl")).unwrap();
    let root_a = Digest([1; 32]);
    let root_b = Digest([2; 32]);
    log.append_payload(
        &DatasetVersionPayload {
            root: root_a,
            name: "mnist-train".into(),
            manifest_path: Some("a.manifest.json".into()),
            parent_root: None,
            num_samples: Some(60000),
        },
        k,
    )
    .unwrap();
    log.append_payload(
        &DatasetVersionPayload {
            root: root_b,
            name: "mnist-train+vendor".into(),
            manifest_path: Some("b.manifest.json".into()),
            parent_root: Some(root_a),
            num_samples: Some(60100),
        },
        k,
    )
    .unwrap();
    log.append_payload(
        &ScanPayload {
            detector: "spectral".into(),
            dataset_root: Some(root_b),
            model_hash: None,
            flagged: vec![60_003, 60_007],
            verdict: Some("suspicious".into()),
        },
        k,
    )
    .unwrap();
    log.append_payload(
        &TrainingRunPayload {
            model_hash: "ab12cd34ef56".into(),
            dataset_roots: vec![root_b],
            config: json!({"arch": "cnn", "epochs": 3, "lr": 0.001}),
            seed: 7,
            code_version: "0.1.0".into(),
        },
        k,
    )
    .unwrap();
    log.append_payload(
        &GateDecisionPayload {
            candidate_model_hash: "ab12cd34ef56".into(),
            baseline_model_hash: Some("0000aaaa".into()),
            passed: false,
            reasons: vec!["class 7 recall dropped 12 points".into()],
            policy: None,
        },
        k,
    )
    .unwrap();
    log.append_payload(
        &IncidentPayload {
            summary: "backdoor suspected".into(),
            model_hash: Some("ab12cd34ef56".into()),
            dataset_roots: vec![],
            sample_ids: vec![60_003],
        },
        k,
    )
    .unwrap();
    log.append_payload(
        &NotePayload {
            text: "rolled back".into(),
        },
        k,
    )
    .unwrap();
    log.append(
        RecordKind::Note,
        json!({"text": "unicode é ✓ \"quoted\"\n", "extra": [1, 2.5, null]}),
        k,
    )
    .unwrap();
    log
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

fn verify(log: &AuditLog) -> VerifyReport {
    log.verify(&VerifyOptions {
        pubkey: Some(key().verifying_key()),
        expect_head: None,
    })
    .unwrap()
}

fn first_problem(report: &VerifyReport) -> (usize, ProblemKind) {
    let p = report
        .problems
        .first()
        .unwrap_or_else(|| panic!("no problem found: {report:?}"));
    (p.line, p.kind)
}

#[test]
fn clean_log_verifies_and_every_kind_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    let report = verify(&log);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(
        (report.records, report.signed, report.last_seq),
        (8, 8, Some(7))
    );
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    let records = log.records().unwrap();
    assert_eq!(records[0].prev_hash, Digest::ZERO);
    for w in records.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
    }
    assert_eq!(report.head, Some(records[7].hash));
    // Extra payload fields are kept and covered by the hash.
    assert_eq!(records[7].payload["extra"], json!([1, 2.5, null]));
    // A wrong public key: every record is by another key.
    let other = SigningKey::from_bytes(&[9; 32]).verifying_key();
    let wrong = log
        .verify(&VerifyOptions {
            pubkey: Some(other),
            expect_head: None,
        })
        .unwrap();
    assert_eq!(wrong.problems.len(), 8);
    assert!(wrong
        .problems
        .iter()
        .all(|p| p.kind == ProblemKind::WrongKey));
}

#[test]
fn every_single_record_edit_is_found_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    let original = lines(log.path());
    for k in 0..original.len() {
        // A naive edit: change the payload, leave the hash.
        let mut edited = original.clone();
        let mut record: Value = serde_json::from_str(&edited[k]).unwrap();
        record["payload"]["tampered"] = json!(true);
        edited[k] = serde_json::to_string(&record).unwrap();
        write_lines(log.path(), &edited);
        let report = verify(&log);
        assert_eq!(
            first_problem(&report),
            (k + 1, ProblemKind::HashMismatch),
            "record {k}"
        );

        // A careful edit: recompute the record's hash too. Its signature (over the old
        // hash) no longer verifies.
        let mut r: mithridate_provenance::Record = serde_json::from_value(record).unwrap();
        r.hash = r.content_hash();
        edited[k] = serde_json::to_string(&r).unwrap();
        write_lines(log.path(), &edited);
        let report = verify(&log);
        assert_eq!(
            first_problem(&report),
            (k + 1, ProblemKind::BadSignature),
            "record {k}"
        );

        // Dropping the signature as well: a required key catches it at the record, and
        // even without one the next link (or, for the last record, the head file) breaks.
        r.signature = None;
        edited[k] = serde_json::to_string(&r).unwrap();
        write_lines(log.path(), &edited);
        assert_eq!(first_problem(&verify(&log)), (k + 1, ProblemKind::Unsigned));
        let keyless = log.verify(&VerifyOptions::default()).unwrap();
        let expected = if k + 1 < original.len() {
            (k + 2, ProblemKind::BrokenLink)
        } else {
            (k + 1, ProblemKind::HeadMismatch)
        };
        assert_eq!(
            first_problem(&keyless),
            expected,
            "record {k} without a key"
        );
    }
    write_lines(log.path(), &original);
    assert!(verify(&log).is_ok());
}

#[test]
fn every_swap_and_deletion_is_found_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    let original = lines(log.path());
    let n = original.len();
    for k in 0..n - 1 {
        let mut swapped = original.clone();
        swapped.swap(k, k + 1);
        write_lines(log.path(), &swapped);
        assert_eq!(
            first_problem(&verify(&log)),
            (k + 1, ProblemKind::OutOfSequence),
            "swap {k}"
        );
    }
    for k in 0..n {
        let mut deleted = original.clone();
        deleted.remove(k);
        write_lines(log.path(), &deleted);
        let report = verify(&log);
        if k + 1 < n {
            assert_eq!(
                first_problem(&report),
                (k + 1, ProblemKind::OutOfSequence),
                "delete {k}"
            );
            assert!(report.problems[0]
                .message
                .contains(&format!("seq {k}..{k} missing")));
        } else {
            // The last record: only the head file can tell.
            assert_eq!(
                first_problem(&report),
                (n, ProblemKind::Truncated),
                "delete last"
            );
        }
    }
    // A duplicated record is out of sequence where the copy sits.
    let mut duplicated = original.clone();
    duplicated.insert(4, original[3].clone());
    write_lines(log.path(), &duplicated);
    assert_eq!(
        first_problem(&verify(&log)),
        (5, ProblemKind::OutOfSequence)
    );
}

#[test]
fn truncation_anywhere_is_found() {
    let dir = tempfile::tempdir().unwrap();
    // Unsigned, to keep the byte-by-byte sweep fast; signatures play no part here.
    let log = build_sample_log(dir.path(), None);
    let bytes = std::fs::read(log.path()).unwrap();
    let ends: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    // Every line boundary and the bytes either side of it, and every 7th byte elsewhere.
    let cuts: Vec<usize> = (0..bytes.len())
        .filter(|&c| c % 7 == 0 || ends.iter().any(|&e| c + 1 >= e && c <= e + 1))
        .collect();
    for cut in cuts {
        std::fs::write(log.path(), &bytes[..cut]).unwrap();
        let report = log.verify(&VerifyOptions::default()).unwrap();
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        let expected = if ends.contains(&cut) || cut == 0 {
            (complete + 1, ProblemKind::Truncated)
        } else {
            (complete + 1, ProblemKind::TornTail)
        };
        assert_eq!(first_problem(&report), expected, "cut at byte {cut}");
    }
    // Without the head file, a clean cut is invisible to the chain, but an anchor kept
    // elsewhere catches it.
    std::fs::write(log.path(), &bytes).unwrap();
    let head = log.verify(&VerifyOptions::default()).unwrap().head.unwrap();
    std::fs::remove_file(log.head_path()).unwrap();
    std::fs::write(log.path(), &bytes[..ends[5]]).unwrap();
    let report = log.verify(&VerifyOptions::default()).unwrap();
    assert!(report.is_ok());
    assert!(report.notes[0].contains("no head file"));
    let anchored = log
        .verify(&VerifyOptions {
            pubkey: None,
            expect_head: Some(head),
        })
        .unwrap();
    assert_eq!(first_problem(&anchored), (7, ProblemKind::Truncated));
}

#[test]
fn every_single_byte_change_is_detected_and_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    let bytes = std::fs::read(log.path()).unwrap();
    // Deterministic sweep over every 3rd byte (all fields of all records), replaced by a
    // digit, a quote, a hex letter or an invalid UTF-8 byte in turn.
    for (i, pos) in (0..bytes.len()).step_by(3).enumerate() {
        {
            let replacement = [b'0', b'"', b'a', 0xff][i % 4];
            if bytes[pos] == replacement {
                continue;
            }
            let mut changed = bytes.clone();
            changed[pos] = replacement;
            std::fs::write(log.path(), &changed).unwrap();
            let report = log.verify(&VerifyOptions::default()).unwrap();
            assert!(
                !report.is_ok(),
                "byte {pos} ({:?} -> {:?}) went unnoticed",
                bytes[pos] as char,
                replacement as char
            );
        }
    }
}

#[test]
fn appends_refuse_a_broken_chain_and_repair_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    let original = std::fs::read(log.path()).unwrap();

    // A writer died mid-line: verify reports it; the next append drops only that line.
    let mut torn = original.clone();
    torn.extend_from_slice(br#"{"seq":8,"timestamp":"2026-11-25T00:00:00Z","ki"#);
    std::fs::write(log.path(), &torn).unwrap();
    assert_eq!(first_problem(&verify(&log)), (9, ProblemKind::TornTail));
    let record = log
        .append_payload(
            &NotePayload {
                text: "after crash".into(),
            },
            Some(&key()),
        )
        .unwrap();
    assert_eq!(record.seq, 8);
    assert!(verify(&log).is_ok());
    let now = std::fs::read(log.path()).unwrap();
    assert_eq!(&now[..original.len()], &original[..]);

    // An edited record: append refuses rather than extend a corrupt history.
    let mut edited = lines(log.path());
    edited[2] = edited[2].replace("spectral", "spectrum");
    write_lines(log.path(), &edited);
    let err = log
        .append_payload(&NotePayload { text: "x".into() }, None)
        .unwrap_err();
    assert!(matches!(err, ProvenanceError::CorruptLog { .. }));
    assert!(err.to_string().contains("line 3"), "{err}");

    // Records cut off the end: the head file makes append refuse too.
    std::fs::write(log.path(), &original[..original.len() - 10]).unwrap();
    let mut cut = lines(log.path());
    cut.pop();
    write_lines(log.path(), &cut);
    let err = log
        .append_payload(&NotePayload { text: "x".into() }, None)
        .unwrap_err();
    assert!(err.to_string().contains("cut off the end"), "{err}");
}

#[test]
fn payloads_are_checked_against_their_kind() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path().join("a.jsonl")).unwrap();
    let bad = [
        (RecordKind::TrainingRun, json!({"model_hash": "m"})),
        (
            RecordKind::TrainingRun,
            json!({"model_hash": "bad hash!", "dataset_roots": [], "config": {}, "seed": 1, "code_version": "v"}),
        ),
        (
            RecordKind::DatasetVersion,
            json!({"root": "00", "name": "x"}),
        ),
        (
            RecordKind::DatasetVersion,
            json!({"root": "AB".repeat(32), "name": "x"}),
        ),
        (RecordKind::Scan, json!({"detector": "d"})),
        (RecordKind::Incident, json!({"summary": "  "})),
        (RecordKind::Note, json!("just a string")),
        (
            RecordKind::GateDecision,
            json!({"candidate_model_hash": "m", "passed": "yes"}),
        ),
    ];
    for (kind, payload) in bad {
        let err = log.append(kind, payload.clone(), None).unwrap_err();
        assert!(
            matches!(err, ProvenanceError::Invalid(_)),
            "{kind} {payload}: {err}"
        );
    }
    assert!(
        !log.path().exists(),
        "rejected payloads must not create the log"
    );
    assert_eq!(
        "gate_decision".parse::<RecordKind>(),
        Ok(RecordKind::GateDecision)
    );
    assert!("gate".parse::<RecordKind>().unwrap_err().contains("one of"));
}

#[test]
fn malformed_log_lines_are_clear_problems() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_log(dir.path());
    let mut text = lines(log.path());
    let good = text[1].clone();
    text[1] = "not json at all".into();
    text.insert(3, String::new());
    write_lines(log.path(), &text);
    let report = verify(&log);
    let unparseable: Vec<usize> = report
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::Unparseable)
        .map(|p| p.line)
        .collect();
    assert_eq!(unparseable, vec![2, 4]);
    assert!(log.records().unwrap_err().to_string().contains("line 2"));

    // A signature with upper-case hex, a bad key id or a short value is malformed.
    text = lines(log.path());
    text[1] = good;
    text.remove(3);
    for mutate in [
        (|s: &mut RecordSignature| s.value = s.value.to_uppercase()) as fn(&mut RecordSignature),
        |s| s.key_id = "0123456789abcdef".into(),
        |s| s.value.truncate(100),
    ] {
        let mut edited = text.clone();
        let mut r: mithridate_provenance::Record = serde_json::from_str(&edited[0]).unwrap();
        mutate(r.signature.as_mut().unwrap());
        edited[0] = serde_json::to_string(&r).unwrap();
        write_lines(log.path(), &edited);
        assert_eq!(first_problem(&verify(&log)), (1, ProblemKind::BadSignature));
    }
    // A garbage head file is reported, not a panic.
    write_lines(log.path(), &text);
    std::fs::write(log.head_path(), b"{\"seq\": -1}").unwrap();
    assert_eq!(first_problem(&verify(&log)).1, ProblemKind::HeadMismatch);
    assert!(matches!(
        AuditLog::open(dir.path()),
        Err(ProvenanceError::Invalid(_))
    ));
}

/// Child-process entry point for the concurrency tests: does nothing unless the parent
/// test set the environment variables.
#[test]
fn child_writer() {
    let (Ok(path), Ok(name), Ok(count)) = (
        std::env::var(CHILD_LOG),
        std::env::var(CHILD_NAME),
        std::env::var(CHILD_COUNT),
    ) else {
        return;
    };
    let log = AuditLog::open(&path).unwrap();
    let count: usize = count.parse().unwrap();
    for i in 0..count {
        log.append_payload(
            &NotePayload {
                text: format!("{name} {i}"),
            },
            Some(&key()),
        )
        .unwrap();
    }
}

/// `child_writer`'s name as the test harness filters it: its module path without the
/// crate (this file is a module of the crate's one integration-test binary).
fn child_test_name() -> String {
    match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::child_writer"),
        None => "child_writer".to_string(),
    }
}

fn spawn_writer(path: &Path, name: &str, count: usize) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &child_test_name(), "--test-threads=1", "--quiet"])
        .env(CHILD_LOG, path)
        .env(CHILD_NAME, name)
        .env(CHILD_COUNT, count.to_string())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn concurrent_appends_from_two_processes_keep_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("shared.jsonl");
    let a = spawn_writer(&path, "alpha", 60);
    let b = spawn_writer(&path, "beta", 60);
    for mut child in [a, b] {
        assert!(child.wait().unwrap().success());
    }
    let log = AuditLog::open(&path).unwrap();
    let report = verify(&log);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.records, 120);
    let texts: Vec<String> = log
        .records()
        .unwrap()
        .iter()
        .map(|r| r.payload["text"].as_str().unwrap().to_string())
        .collect();
    for name in ["alpha", "beta"] {
        let mine: Vec<&String> = texts.iter().filter(|t| t.starts_with(name)).collect();
        // Each writer's records are all there, in its own order.
        let expected: Vec<String> = (0..60).map(|i| format!("{name} {i}")).collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>());
    }
}

#[test]
fn a_killed_writer_never_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("killed.jsonl");
    let mut child = spawn_writer(&path, "doomed", 1_000_000);
    // Let it write a while, then SIGKILL it mid-stream.
    let log = AuditLog::open(&path).unwrap();
    let start = std::time::Instant::now();
    while log.records().map(|r| r.len()).unwrap_or(0) < 20 {
        assert!(start.elapsed().as_secs() < 60, "child wrote nothing");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let report = log.verify(&VerifyOptions::default()).unwrap();
    // At most a partial last line, never a broken link.
    assert!(
        report
            .problems
            .iter()
            .all(|p| p.kind == ProblemKind::TornTail),
        "{:?}",
        report.problems
    );
    let record = log
        .append_payload(
            &NotePayload {
                text: "survivor".into(),
            },
            None,
        )
        .unwrap();
    assert_eq!(Some(record.seq), report.last_seq.map(|s| s + 1));
    assert!(log.verify(&VerifyOptions::default()).unwrap().is_ok());
}

fn small_dataset(ids: Vec<u64>, labels: Vec<u32>) -> Dataset {
    let values = ids.iter().map(|&i| i as f32).collect();
    Dataset::new(
        Modality::Tabular { features: 1 },
        Features::Dense(values),
        labels,
        ids,
        2,
        vec![],
    )
    .unwrap()
}

#[test]
fn trace_walks_from_a_model_to_its_data_scans_and_injected_samples() {
    let dir = tempfile::tempdir().unwrap();
    let clean = Manifest::build(
        &small_dataset(vec![1, 2, 3, 4], vec![0, 1, 0, 1]),
        None,
        None,
    );
    // The vendor drop adds samples 100 and 101 and relabels sample 2.
    let poisoned = Manifest::build(
        &small_dataset(vec![1, 2, 3, 4, 100, 101], vec![0, 0, 0, 1, 1, 1]),
        None,
        None,
    );
    clean.save(&dir.path().join("clean.manifest.json")).unwrap();
    poisoned
        .save(&dir.path().join("poisoned.manifest.json"))
        .unwrap();
    let log = AuditLog::open(dir.path().join("audit.jsonl")).unwrap();
    let version =
        |m: &Manifest, name: &str, file: &str, parent: Option<Digest>| DatasetVersionPayload {
            root: m.root(),
            name: name.into(),
            manifest_path: Some(file.into()),
            parent_root: parent,
            num_samples: Some(m.num_samples() as u64),
        };
    log.append_payload(&version(&clean, "clean", "clean.manifest.json", None), None)
        .unwrap();
    log.append_payload(
        &version(
            &poisoned,
            "vendor",
            "poisoned.manifest.json",
            Some(clean.root()),
        ),
        None,
    )
    .unwrap();
    let run = |model: &str, root: Digest| TrainingRunPayload {
        model_hash: model.into(),
        dataset_roots: vec![root],
        config: json!({}),
        seed: 1,
        code_version: "test".into(),
    };
    log.append_payload(&run("ffff0000aaaa1111", clean.root()), None)
        .unwrap();
    log.append_payload(
        &ScanPayload {
            detector: "activation-clustering".into(),
            dataset_root: Some(poisoned.root()),
            model_hash: None,
            flagged: vec![100],
            verdict: None,
        },
        None,
    )
    .unwrap();
    log.append_payload(&run("DEADBEEF00112233", poisoned.root()), None)
        .unwrap();
    log.append_payload(
        &IncidentPayload {
            summary: "misclassifies 7s with a sticker".into(),
            model_hash: Some("deadbeef00112233".into()),
            dataset_roots: vec![],
            sample_ids: vec![],
        },
        None,
    )
    .unwrap();

    // A prefix, in another case, resolves to the recorded hash.
    let trace = log.trace("deadbeef").unwrap();
    assert_eq!(trace.model_hash, "DEADBEEF00112233");
    assert!(trace.integrity_problems.is_empty());
    assert_eq!(trace.training_runs.len(), 1);
    assert_eq!(trace.training_runs[0].seq, 4);
    let roots: Vec<(Digest, usize)> = trace.datasets.iter().map(|d| (d.root, d.depth)).collect();
    assert_eq!(roots, vec![(poisoned.root(), 0), (clean.root(), 1)]);
    assert_eq!(trace.scans.len(), 1);
    assert_eq!(trace.incidents.len(), 1);
    let diffs: Vec<VersionDiff> = trace.version_diffs(dir.path(), &CheckedDiffParams::default());
    assert_eq!(diffs.len(), 1);
    let diff = diffs[0].diff.as_ref().expect("both manifests are present");
    assert_eq!(diff.added, vec![100, 101]);
    assert_eq!(diff.changed_labels.len(), 1);
    assert_eq!(diff.changed_labels[0].id, 2);

    // The clean model's trace does not pull in the vendor data, its scan or the incident.
    let clean_trace = log.trace("ffff0000aaaa1111").unwrap();
    assert_eq!(clean_trace.datasets.len(), 1);
    assert!(clean_trace.scans.is_empty() && clean_trace.incidents.is_empty());
    // Unknown model: an empty trace; a too-short prefix does not guess.
    assert!(log.trace("0123456789").unwrap().training_runs.is_empty());
    assert!(log.trace("dead").unwrap().training_runs.is_empty());

    // A manifest replaced after logging is called out instead of diffed.
    Manifest::build(&small_dataset(vec![1], vec![0]), None, None)
        .save(&dir.path().join("poisoned.manifest.json"))
        .unwrap();
    let diffs = log
        .trace("deadbeef00112233")
        .unwrap()
        .version_diffs(dir.path(), &CheckedDiffParams::default());
    assert!(diffs[0].diff.is_none());
    assert!(diffs[0]
        .note
        .as_ref()
        .unwrap()
        .contains("replaced after logging"));
}

#[test]
fn key_files_work_with_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("ops.key");
    let k = keys::generate().unwrap();
    let public = keys::write_keypair(&secret, &k, false).unwrap();
    let log = AuditLog::open(dir.path().join("l.jsonl")).unwrap();
    let signer = keys::read_signing_key(&secret).unwrap();
    log.append_payload(
        &NotePayload {
            text: "signed".into(),
        },
        Some(&signer),
    )
    .unwrap();
    log.append_payload(
        &NotePayload {
            text: "unsigned".into(),
        },
        None,
    )
    .unwrap();
    let report = log
        .verify(&VerifyOptions {
            pubkey: Some(keys::read_verifying_key(&public).unwrap()),
            expect_head: None,
        })
        .unwrap();
    assert_eq!(first_problem(&report), (2, ProblemKind::Unsigned));
}

/// Floats in payloads survive the write / read-back / re-hash cycle exactly: 2,000 seeded
/// 17-significant-digit values (some of which a non-round-trip float parser reads one ulp off).
#[test]
fn float_payloads_verify() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path().join("audit.jsonl")).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let values: Vec<f64> = (0..2000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect();
    log.append(
        RecordKind::Note,
        json!({"text": "floats", "values": values}),
        None,
    )
    .unwrap();
    let report = log.verify(&VerifyOptions::default()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}
