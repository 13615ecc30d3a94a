//! Bring-your-own-data files through the CLI: a CSV with named label/id columns and a
//! categorical column exports to .npz (same ids) with its encoding recorded, the recorded
//! encoding reproduces the layout on another file, and malformed files exit 2 with one line.

use crate::common;
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

/// Issue 20, item 5: inputs too large to hold are refused before memory is spent, with one
/// line naming the file and the limit: a 10 GB sparse file, a compressed array that expands
/// past the configured `--max-input-bytes`, and a CSV with a million columns.
#[test]
fn oversized_inputs_are_refused_before_memory_is_spent() {
    use common::assert_one_line_error;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.npz");
    for name in ["sparse.csv", "sparse.jsonl", "sparse.npz"] {
        let sparse = dir.path().join(name);
        let file = std::fs::File::create(&sparse).unwrap();
        file.set_len(10 << 30).unwrap(); // a hole: no disk space used
        drop(file);
        let run = mithridate(&["data", "export", arg(&sparse), "-o", arg(&out)]);
        assert_one_line_error(&run, 2, "over the 4294967296-byte limit");
        assert!(!out.exists());
    }

    // 2,000 x 1,000 zeros: 8 MB of float32 that deflate to a few KB.
    let zeros = mithridate_data::Dataset::new(
        mithridate_data::Modality::Tabular { features: 1000 },
        mithridate_data::Features::Dense(vec![0.0; 2_000_000]),
        vec![0; 2000],
        (0..2000).collect(),
        1,
        vec![],
    )
    .unwrap();
    let small = dir.path().join("zeros.npz");
    mithridate_data::npz::write(&small, &zeros).unwrap();
    assert!(std::fs::metadata(&small).unwrap().len() < 1 << 20);
    let limited = |limit: &str| {
        mithridate(&[
            "--max-input-bytes",
            limit,
            "data",
            "export",
            arg(&small),
            "-o",
            arg(&out),
        ])
    };
    assert_one_line_error(&limited("1M"), 2, "over the 1048576-byte input limit");
    assert!(!out.exists());
    assert!(limited("64M").status.success());
    assert_one_line_error(&limited("lots"), 2, "--max-input-bytes");

    let wide = dir.path().join("wide.csv");
    let header: Vec<String> = (0..1_000_000).map(|i| format!("c{i}")).collect();
    std::fs::write(&wide, format!("{},label\n", header.join(","))).unwrap();
    let run = mithridate(&["data", "export", arg(&wide), "-o", arg(&out)]);
    assert_one_line_error(&run, 2, "over the 100000-column limit");
}
