//! `.arff` files through the readers layer: selected by extension, `--label-column` and a
//! recorded encoding applied as for CSV.

use mithridate_data::readers::{read_path, read_path_with_encoding, ReadOptions};

const TRAIN: &str = "@relation loans\n\
@attribute amount numeric\n\
@attribute purpose {car, 'radio/tv', education}\n\
@attribute class {good, bad}\n\
@data\n\
1000, car, good\n\
250, 'radio/tv', bad\n";

#[test]
fn arff_files_are_read_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loans.ARFF");
    std::fs::write(&path, TRAIN).unwrap();
    let data = read_path(&path, &ReadOptions::default()).unwrap();
    assert_eq!(data.modality().sample_len(), 4);
    assert_eq!(data.class_names(), vec!["good", "bad"]);
    assert_eq!(data.dense_row(1).unwrap(), &[250.0, 0.0, 1.0, 0.0]);

    // --label-column picks another nominal attribute; the old class becomes a feature.
    let by_purpose = ReadOptions {
        label_column: Some("purpose".into()),
        ..ReadOptions::default()
    };
    let (data, encoding) = read_path_with_encoding(&path, &by_purpose).unwrap();
    let encoding = encoding.expect("ARFF is a table with an encoding");
    assert_eq!(encoding.classes, ["car", "radio/tv", "education"]);
    assert_eq!(data.dense_row(0).unwrap(), &[1000.0, 1.0, 0.0]);

    // A recorded encoding (e.g. the train file's) is applied, not re-derived.
    let test = dir.path().join("test.arff");
    std::fs::write(&test, TRAIN.replace("250, 'radio/tv'", "7, bike")).unwrap();
    let recorded = ReadOptions {
        encoding: Some(encoding),
        ..ReadOptions::default()
    };
    let e = read_path(&test, &recorded).unwrap_err().to_string();
    assert!(e.contains("test.arff") && e.contains("line 7"), "{e}");
}
