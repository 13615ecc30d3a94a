//! Bring-your-own-data files through the CLI: a CSV with named label/id columns and a
//! categorical column exports to .npz (same ids) with its encoding recorded, the recorded
//! encoding reproduces the layout on another file, and malformed files exit 2 with one line.

mod common;
use common::{arg, json, mithridate};

#[test]
fn csv_exports_to_npz_with_its_encoding_and_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.csv");
    std::fs::write(
        &train,
        "uid,kind,amount,fraud\n5,card,1.5,no\n6,wire,2,yes\n9,card,3,no\n",
    )
    .unwrap();
    let out = dir.path().join("train.npz");
    let exported = json(&mithridate(&[
        "--json",
        "--label-column",
        "fraud",
        "--id-column",
        "uid",
        "data",
        "export",
        arg(&train),
        "-o",
        arg(&out),
    ]));
    assert_eq!(exported["samples"], 3);
    assert_eq!(exported["shape"], serde_json::json!([3, 3]));
    let back = mithridate_data::npz::read(&out).unwrap();
    assert_eq!(back.ids(), &[5, 6, 9]);
    assert_eq!(back.labels(), &[0, 1, 0]);
    assert_eq!(back.class_names(), vec!["no", "yes"]);
    // The round trip: the .npz holds exactly what the CSV reader gives.
    let options = mithridate_data::readers::ReadOptions {
        label_column: Some("fraud".into()),
        id_column: Some("uid".into()),
        ..Default::default()
    };
    assert_eq!(
        mithridate_data::readers::read_path(&train, &options).unwrap(),
        back
    );
    let encoding = dir.path().join("train.npz.encoding.json");
    assert!(encoding.is_file());

    // A test table with one category only gets the train layout through the encoding.
    let test = dir.path().join("test.csv");
    std::fs::write(&test, "uid,kind,amount,fraud\n77,wire,8,yes\n").unwrap();
    let out2 = dir.path().join("test.npz");
    json(&mithridate(&[
        "--json",
        "--table-encoding",
        arg(&encoding),
        "data",
        "export",
        arg(&test),
        "-o",
        arg(&out2),
    ]));
    let t = mithridate_data::npz::read(&out2).unwrap();
    assert_eq!(t.dense_row(0).unwrap(), &[0.0, 1.0, 8.0]);
    assert_eq!(t.labels(), &[1]);
    assert_eq!(t.ids(), &[77]);
}

#[test]
fn malformed_files_exit_2_with_one_line_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "a,label\n1,0\n2,1,3\n").unwrap();
    let out = dir.path().join("o.npz");
    let run = mithridate(&["data", "export", arg(&bad), "-o", arg(&out)]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("bad.csv: line 3: 3 fields, expected 2"),
        "{stderr}"
    );
    assert!(!out.exists());
    let run = mithridate(&["--image-size", "big", "data", "info", arg(&bad)]);
    assert_eq!(run.status.code(), Some(2));
    let jsonl = dir.path().join("t.jsonl");
    std::fs::write(&jsonl, "{\"text\": \"hi\"}\n").unwrap();
    let run = mithridate(&["data", "info", arg(&jsonl)]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("t.jsonl: line 1: no 'label' field"),
        "{stderr}"
    );
}
