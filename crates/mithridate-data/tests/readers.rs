//! Bring-your-own-data readers on small hand-made files: valid files give hand-checked
//! datasets, every class of malformed input gives a one-line error naming the file and the
//! line/entry, ids do not depend on row order, and a recorded encoding is reproduced.

use mithridate_data::readers::{
    self, csv, image_folder, jsonl, ColumnEncoding, ReadLimits, ReadOptions,
};
use mithridate_data::{Dataset, Features, Modality};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, text: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn csv_err(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "t.csv", text.as_bytes());
    let e = csv::read(&path, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with(&path.display().to_string()), "{e}");
    assert!(!e.contains('\n'), "{e}");
    e
}

/// id -> (label, dense row) of a dataset.
fn by_id(d: &Dataset) -> HashMap<u64, (u32, Vec<f32>)> {
    (0..d.len())
        .map(|r| {
            (
                d.ids()[r],
                (d.labels()[r], d.dense_row(r).unwrap().to_vec()),
            )
        })
        .collect()
}

#[test]
fn csv_numeric_table_with_id_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "t.csv",
        b"id,x1,label,x2\n10,1.5,1,-2\n11, 0 ,0,3e2\n\n12,4,2,0.25\n",
    );
    let (d, enc) = csv::read(&path, &ReadOptions::default()).unwrap();
    assert_eq!(d.modality(), &Modality::Tabular { features: 2 });
    assert_eq!(
        d.features(),
        &Features::Dense(vec![1.5, -2.0, 0.0, 300.0, 4.0, 0.25])
    );
    assert_eq!(d.labels(), &[1, 0, 2]);
    assert_eq!(d.ids(), &[10, 11, 12]);
    assert_eq!(d.num_classes(), 3);
    assert_eq!(enc.id_column.as_deref(), Some("id"));
    assert_eq!(enc.label_column, "label");
    // Through the extension dispatch too.
    assert_eq!(
        readers::read_path(&path, &ReadOptions::default()).unwrap(),
        d
    );
}

#[test]
fn csv_named_columns_string_ids_and_class_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "t.csv",
        b"user,amount,is_fraud\nu-1,3,yes\nu-2,4,no\nu-3,5,yes\n",
    );
    let options = ReadOptions {
        label_column: Some("is_fraud".into()),
        id_column: Some("user".into()),
        ..ReadOptions::default()
    };
    let (d, _) = csv::read(&path, &options).unwrap();
    assert_eq!(d.class_names(), vec!["no", "yes"]);
    assert_eq!(d.labels(), &[1, 0, 1]);
    assert_eq!(d.ids()[0], readers::hashed_id("u-1"));
    assert_eq!(d.features(), &Features::Dense(vec![3.0, 4.0, 5.0]));
}

#[test]
fn csv_categorical_columns_are_one_hot_and_the_encoding_is_reproduced() {
    let dir = tempfile::tempdir().unwrap();
    let train = write(
        dir.path(),
        "train.csv",
        b"country,amount,label\nFR,1,0\nDE,2,1\nUS,3,0\nDE,4,1\n",
    );
    let (d, enc) = csv::read(&train, &ReadOptions::default()).unwrap();
    assert_eq!(
        enc.columns[0],
        ColumnEncoding::OneHot {
            name: "country".into(),
            categories: vec!["DE".into(), "FR".into(), "US".into()],
        }
    );
    assert_eq!(
        enc.columns[1],
        ColumnEncoding::Numeric {
            name: "amount".into()
        }
    );
    assert_eq!(d.modality(), &Modality::Tabular { features: 4 });
    #[rustfmt::skip]
    let expected = vec![
        0.0, 1.0, 0.0, 1.0,
        1.0, 0.0, 0.0, 2.0,
        0.0, 0.0, 1.0, 3.0,
        1.0, 0.0, 0.0, 4.0,
    ];
    assert_eq!(d.features(), &Features::Dense(expected));
    // The encoding survives JSON and gives a test file with fewer categories (and its
    // columns in another order) the same layout.
    let enc: readers::TableEncoding =
        serde_json::from_str(&serde_json::to_string(&enc).unwrap()).unwrap();
    let test = write(dir.path(), "test.csv", b"amount,label,country\n7,1,US\n");
    let inferred = csv::read(&test, &ReadOptions::default()).unwrap().0;
    assert_eq!(inferred.modality(), &Modality::Tabular { features: 2 });
    let options = ReadOptions {
        encoding: Some(enc.clone()),
        ..ReadOptions::default()
    };
    let (t, enc2) = csv::read(&test, &options).unwrap();
    assert_eq!(enc2, enc);
    assert_eq!(t.features(), &Features::Dense(vec![0.0, 0.0, 1.0, 7.0]));
    assert_eq!(t.num_classes(), 2);
    // Unknown categories and unknown classes are errors, not silent zeros.
    let bad = write(dir.path(), "bad.csv", b"amount,label,country\n7,1,IT\n");
    let e = csv::read(&bad, &options).unwrap_err().to_string();
    assert!(
        e.contains("line 2: unknown category 'IT' in column 'country'"),
        "{e}"
    );
    let bad = write(dir.path(), "bad2.csv", b"amount,label,country\n7,5,US\n");
    let e = csv::read(&bad, &options).unwrap_err().to_string();
    assert!(
        e.contains("line 2: label '5' is not a recorded class"),
        "{e}"
    );
    let bad = write(
        dir.path(),
        "bad3.csv",
        b"amount,label,country,extra\n7,1,US,1\n",
    );
    let e = csv::read(&bad, &options).unwrap_err().to_string();
    assert!(
        e.contains("column 'extra' is not in the recorded encoding"),
        "{e}"
    );
}

#[test]
fn csv_content_ids_do_not_depend_on_row_order() {
    let dir = tempfile::tempdir().unwrap();
    let rows = ["1,2,0", "3,4,1", "1,2,0", "5,6,1", "7,8,0"];
    let a = write(
        dir.path(),
        "a.csv",
        format!("a,b,label\n{}\n", rows.join("\n")).as_bytes(),
    );
    let reversed: Vec<&str> = rows.iter().rev().copied().collect();
    let b = write(
        dir.path(),
        "b.csv",
        format!("a,b,label\n{}\n", reversed.join("\n")).as_bytes(),
    );
    let da = csv::read(&a, &ReadOptions::default()).unwrap().0;
    let db = csv::read(&b, &ReadOptions::default()).unwrap().0;
    assert_eq!(by_id(&da), by_id(&db));
    // The duplicated row got two distinct ids; no id is the row index.
    let mut ids = da.ids().to_vec();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    assert!(da.ids().iter().all(|&id| id > 4));
    // Changing a value changes that row's id only.
    let c = write(
        dir.path(),
        "c.csv",
        b"a,b,label\n1,2,0\n3,4,1\n1,2,0\n5,6,1\n7,9,0\n",
    );
    let dc = csv::read(&c, &ReadOptions::default()).unwrap().0;
    assert_eq!(&dc.ids()[..4], &da.ids()[..4]);
    assert_ne!(dc.ids()[4], da.ids()[4]);
}

#[test]
fn malformed_csv_is_named_by_line() {
    let cases: &[(&str, &str)] = &[
        ("a,label\n1,0\n2\n", "line 3: 1 fields, expected 2"),
        ("a,b\n1,0\n", "no label column 'label' (columns: a, b)"),
        (
            "a,label\n1,0\nx,1\n",
            "line 3: column 'a' mixes numbers and text ('x')",
        ),
        ("a,label\n1,0\n,1\n", "line 3: missing value in column 'a'"),
        (
            "a,label\nNaN,0\n",
            "line 2: non-finite value NaN in column 'a'",
        ),
        (
            "a,label\n1e39,0\n",
            "line 2: value 1e39 in column 'a' is not a finite float32",
        ),
        (
            "id,a,label\n7,1,0\n7,2,1\n",
            "line 3: duplicate id 7 (first at line 2)",
        ),
        ("id,a,label\n,1,0\n", "line 2: missing id in column 'id'"),
        ("a,label\n1,\n", "line 2: missing label in column 'label'"),
        ("a,label\n", "no data rows"),
        ("", "line 1: empty header"),
        ("a,a,label\n1,2,0\n", "line 1: duplicate column name 'a'"),
        ("a,,label\n1,2,0\n", "line 1: column 2 has no name"),
        ("label\n1\n", "no feature columns"),
    ];
    for (text, expected) in cases {
        let e = csv_err(text);
        assert!(e.contains(expected), "{text:?}: {e}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "u.csv", b"a,label\n\xff\xfe,0\n");
    let e = csv::read(&path, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2: column 'a' is not UTF-8"), "{e}");
}

#[test]
fn limits_are_checked_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let header: Vec<String> = (0..50).map(|i| format!("c{i}")).collect();
    let path = write(
        dir.path(),
        "wide.csv",
        format!("{},label\n", header.join(",")).as_bytes(),
    );
    let options = ReadOptions {
        limits: ReadLimits {
            max_columns: 10,
            ..ReadLimits::default()
        },
        ..ReadOptions::default()
    };
    let e = csv::read(&path, &options).unwrap_err().to_string();
    assert!(
        e.contains("line 1: 51 columns, over the 10-column limit"),
        "{e}"
    );
    let small = ReadOptions {
        limits: ReadLimits {
            max_file_bytes: 8,
            ..ReadLimits::default()
        },
        ..ReadOptions::default()
    };
    let path = write(dir.path(), "t.csv", b"a,label\n1,0\n");
    let e = csv::read(&path, &small).unwrap_err().to_string();
    assert!(e.contains("file is 12 bytes, over the 8-byte limit"), "{e}");
    let cats = write(dir.path(), "cats.csv", b"a,label\nx,0\ny,0\nz,0\n");
    let options = ReadOptions {
        limits: ReadLimits {
            max_categories: 2,
            ..ReadLimits::default()
        },
        ..ReadOptions::default()
    };
    let e = csv::read(&cats, &options).unwrap_err().to_string();
    assert!(
        e.contains("line 4: column 'a' has more than 2 distinct text values"),
        "{e}"
    );
    let values = ReadOptions {
        limits: ReadLimits {
            max_values: 5,
            ..ReadLimits::default()
        },
        ..ReadOptions::default()
    };
    let many = write(dir.path(), "many.csv", b"a,b,label\n1,2,0\n3,4,0\n5,6,1\n");
    let e = csv::read(&many, &values).unwrap_err().to_string();
    assert!(
        e.contains("3 rows x 2 features is over the 5-value limit"),
        "{e}"
    );
}

#[test]
fn jsonl_text_is_tokenised_like_the_builtin_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "t.jsonl",
        br#"{"id": 3, "text": "FREE money <b>now</b>", "label": "spam"}
{"id": "msg-9", "text": "meeting at noon, free lunch", "label": "ham", "extra": [1]}

{"id": 5, "text": "money money", "label": "spam"}
"#,
    );
    let d = jsonl::read(&path, &ReadOptions::default()).unwrap();
    assert_eq!(d.ids(), &[3, readers::hashed_id("msg-9"), 5]);
    assert_eq!(d.labels(), &[1, 0, 1]);
    assert_eq!(d.class_names(), vec!["ham", "spam"]);
    // "money" x3, "free" x2 reach MIN_COUNT = 2; everything else is <unk>.
    let vocab = d.vocabulary().unwrap().to_vec();
    assert_eq!(vocab, vec!["<pad>", "<unk>", "money", "free"]);
    let row0 = d.token_row(0).unwrap();
    assert_eq!(&row0[..4], &[3, 2, 1, 0]);
    assert_eq!(
        row0,
        mithridate_data::text::encode_text("FREE money <b>now</b>", &vocab, 256).as_slice()
    );
    // A given vocabulary is used as is (a test file encoded like its train file).
    let options = ReadOptions {
        vocabulary: Some(vec!["<pad>".into(), "<unk>".into(), "lunch".into()]),
        ..ReadOptions::default()
    };
    let t = jsonl::read(&path, &options).unwrap();
    assert_eq!(&t.token_row(1).unwrap()[..6], &[1, 1, 1, 1, 2, 0]);
    assert_eq!(
        readers::read_path(&path, &ReadOptions::default()).unwrap(),
        d
    );
}

#[test]
fn jsonl_content_ids_do_not_depend_on_order() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"text": "a b", "label": 0}"#,
        r#"{"text": "c d", "label": 1}"#,
        r#"{"text": "a b", "label": 0}"#,
    ];
    let a = write(dir.path(), "a.jsonl", lines.join("\n").as_bytes());
    let b = write(
        dir.path(),
        "b.jsonl",
        [lines[1], lines[2], lines[0]].join("\n").as_bytes(),
    );
    let da = jsonl::read(&a, &ReadOptions::default()).unwrap();
    let db = jsonl::read(&b, &ReadOptions::default()).unwrap();
    assert_eq!(da.ids()[1], db.ids()[0]);
    let (mut x, mut y) = (da.ids().to_vec(), db.ids().to_vec());
    x.sort_unstable();
    y.sort_unstable();
    assert_eq!(x, y);
}

#[test]
fn malformed_jsonl_is_named_by_line() {
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let cases: Vec<(String, &str)> = vec![
        ("{\"text\": \"a\", \"label\": 0}\n{\"text\": ".into(), "line 2: invalid JSON"),
        ("[1, 2]".into(), "line 1: not a JSON object"),
        (deep, "line 1: invalid JSON (recursion limit exceeded"),
        ("{\"label\": 0}".into(), "line 1: no 'text' field"),
        ("{\"text\": 5, \"label\": 0}".into(), "line 1: 'text' is not a string"),
        ("{\"text\": \"a\"}".into(), "line 1: no 'label' field"),
        ("{\"text\": \"a\", \"label\": -1}".into(), "line 1: 'label' is not a class name"),
        ("{\"text\": \"a\", \"label\": 1.5}".into(), "line 1: 'label' is not a class name"),
        (
            "{\"id\": 1, \"text\": \"a\", \"label\": 0}\n{\"text\": \"b\", \"label\": 0}".into(),
            "line 2: 'id' is present on some records only",
        ),
        (
            "{\"id\": 1, \"text\": \"a\", \"label\": 0}\n{\"id\": 1, \"text\": \"b\", \"label\": 0}".into(),
            "line 2: duplicate id 1 (first at line 1)",
        ),
        ("{\"id\": [1], \"text\": \"a\", \"label\": 0}".into(), "line 1: 'id' is not a string"),
        ("\n\n".into(), "no records"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("{i}.jsonl"), text.as_bytes());
        let e = jsonl::read(&path, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(e.contains(expected), "{text:.60}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
    let path = write(dir.path(), "u.jsonl", b"{\"text\": \"\xff\", \"label\": 0}");
    let e = jsonl::read(&path, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 1: not UTF-8"), "{e}");
}

fn save_gray(path: &Path, w: u32, h: u32, pixels: &[u8]) {
    image::GrayImage::from_raw(w, h, pixels.to_vec())
        .unwrap()
        .save(path)
        .unwrap();
}

#[test]
fn image_folders_read_classes_pixels_and_content_ids() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("imgs");
    for class in ["cat", "dog"] {
        std::fs::create_dir_all(root.join(class)).unwrap();
    }
    save_gray(&root.join("cat/a.png"), 2, 1, &[0, 255]);
    save_gray(&root.join("dog/b.png"), 2, 1, &[51, 102]);
    std::fs::write(root.join("dog/.DS_Store"), b"junk").unwrap();
    let d = image_folder::read(&root, &ReadOptions::default()).unwrap();
    assert_eq!(
        d.modality(),
        &Modality::Image {
            channels: 1,
            height: 1,
            width: 2
        }
    );
    assert_eq!(d.class_names(), vec!["cat", "dog"]);
    assert_eq!(d.labels(), &[0, 1]);
    assert_eq!(d.features(), &Features::Dense(vec![0.0, 1.0, 0.2, 0.4]));
    // Renaming a file keeps its id (content hash); the dispatch reads directories.
    std::fs::rename(root.join("dog/b.png"), root.join("dog/zz.png")).unwrap();
    let again = readers::read_path(&root, &ReadOptions::default()).unwrap();
    assert_eq!(again.ids(), d.ids());
    // A colour image makes the set RGB; grey images are replicated over the channels.
    image::RgbImage::from_raw(2, 1, vec![255, 0, 0, 0, 0, 255])
        .unwrap()
        .save(root.join("dog/c.png"))
        .unwrap();
    let rgb = image_folder::read(&root, &ReadOptions::default()).unwrap();
    assert_eq!(
        rgb.modality(),
        &Modality::Image {
            channels: 3,
            height: 1,
            width: 2
        }
    );
    assert_eq!(rgb.dense_row(0).unwrap(), &[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
    assert_eq!(rgb.dense_row(1).unwrap(), &[1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn image_folders_refuse_or_resize_mixed_sizes_and_name_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("imgs");
    std::fs::create_dir_all(root.join("a")).unwrap();
    save_gray(&root.join("a/1.png"), 2, 2, &[0, 0, 0, 0]);
    save_gray(&root.join("a/2.png"), 4, 4, &[255; 16]);
    let e = image_folder::read(&root, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("2.png: image is 4x4 but"), "{e}");
    assert!(e.contains("pass --image-size"), "{e}");
    let options = ReadOptions {
        image_size: Some((3, 3)),
        ..ReadOptions::default()
    };
    let d = image_folder::read(&root, &options).unwrap();
    assert_eq!(
        d.modality(),
        &Modality::Image {
            channels: 1,
            height: 3,
            width: 3
        }
    );
    assert_eq!(d.dense_row(0).unwrap(), &[0.0; 9]);
    assert_eq!(d.dense_row(1).unwrap(), &[1.0; 9]);

    std::fs::write(root.join("a/3.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let e = image_folder::read(&root, &options).unwrap_err().to_string();
    assert!(e.contains("3.png: unreadable image"), "{e}");
    std::fs::remove_file(root.join("a/3.png")).unwrap();
    std::fs::write(root.join("a/notes.txt"), b"x").unwrap();
    let e = image_folder::read(&root, &options).unwrap_err().to_string();
    assert!(
        e.contains("notes.txt: not a .png, .jpg or .jpeg image"),
        "{e}"
    );
    std::fs::remove_file(root.join("a/notes.txt")).unwrap();
    std::fs::write(root.join("stray.png"), b"x").unwrap();
    let e = image_folder::read(&root, &options).unwrap_err().to_string();
    assert!(
        e.contains("stray.png: a file directly in the image folder"),
        "{e}"
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = image_folder::read(&empty, &options)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no images"), "{e}");
}

#[test]
fn unknown_extensions_and_parquet_without_the_feature_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "t.tsv", b"a\tlabel\n");
    let e = readers::read_path(&path, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown file type"), "{e}");
    #[cfg(not(feature = "parquet"))]
    {
        let path = write(dir.path(), "t.parquet", b"PAR1");
        let e = readers::read_path(&path, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("this build reads no Parquet"), "{e}");
    }
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_tables_read_like_csv() {
    use mithridate_data::readers::parquet;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "t.parquet", &parquet::example_file());
    let (d, enc) = parquet::read(&path, &ReadOptions::default()).unwrap();
    assert_eq!(d.ids(), &[7, 8, 9]);
    assert_eq!(d.labels(), &[1, 0, 1]);
    // `a` numeric, `b` one-hot over [x, y].
    assert_eq!(
        d.features(),
        &Features::Dense(vec![0.5, 1.0, 0.0, -2.0, 0.0, 1.0, 4.0, 1.0, 0.0])
    );
    assert_eq!(enc.id_column.as_deref(), Some("id"));
    // The same table as CSV gives the same dataset.
    let csv_path = write(
        dir.path(),
        "t.csv",
        b"id,a,b,label\n7,0.5,x,1\n8,-2,y,0\n9,4,x,1\n",
    );
    assert_eq!(csv::read(&csv_path, &ReadOptions::default()).unwrap().0, d);
    assert_eq!(
        readers::read_path(&path, &ReadOptions::default()).unwrap(),
        d
    );
    let bytes = parquet::example_file();
    for bad in [
        &bytes[..bytes.len() / 2],
        b"PAR1PAR1".as_slice(),
        b"".as_slice(),
    ] {
        let e = parquet::read_bytes(&path, bad.to_vec(), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(e.contains("unreadable Parquet"), "{e}");
    }
}

/// The one-line error `readers::parquet` gives for the fixture `name`.
#[cfg(feature = "parquet")]
fn parquet_fixture_error(name: &str, options: &ReadOptions) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let bytes = std::fs::read(&path).unwrap();
    mithridate_data::readers::parquet::read_bytes(&path, bytes, options)
        .unwrap_err()
        .to_string()
}

/// Found by cargo-fuzz: a 759-byte file whose page header declares a Thrift list of 2^31
/// doubles made `parquet` 60.1 skip 2^31 times past the end of the file (~25 s). The reader
/// now fails the first read past the end, so the file is refused at once.
#[cfg(feature = "parquet")]
#[test]
fn a_page_header_skipping_past_the_end_is_refused_at_once() {
    let e = parquet_fixture_error("parquet_thrift_skip_loop.parquet", &ReadOptions::default());
    // Refused by the Thrift walk (`readers::thrift_guard`), or else by the strict reader,
    // not after 2^31 empty reads.
    assert!(
        e.contains("Thrift list declares") || e.contains("read past the end of the Parquet file"),
        "{e}"
    );
}

/// Found by cargo-fuzz: an 824-byte file that made the reader hold more than 4 GB.
#[cfg(feature = "parquet")]
#[test]
fn a_hostile_824_byte_parquet_file_is_refused_within_bounded_memory() {
    let e = parquet_fixture_error(
        "parquet_oom_824b.parquet",
        &mithridate_data::readers::fuzz::fuzz_options(),
    );
    // Since the Thrift walk (`readers::thrift_guard`) its page header is refused even
    // before the dictionary check (`readers::parquet::check_dictionaries`) sees it.
    assert!(
        e.contains("dictionary page declares") || e.contains("Thrift list declares"),
        "{e}"
    );
}

/// Found by cargo-fuzz: a 534-byte file whose footer declares a list of 2^31 booleans in an
/// unknown field; `parquet` 60.1 skips booleans without reading a byte, so it looped 2^31
/// times (over 12 s in the fuzz build). The footer is now walked first and refused.
#[cfg(feature = "parquet")]
#[test]
fn a_footer_list_of_two_billion_booleans_is_refused_before_parquet_walks_it() {
    let e = parquet_fixture_error(
        "parquet_bool_list_skip.parquet",
        &mithridate_data::readers::fuzz::fuzz_options(),
    );
    assert!(
        e.contains("footer metadata") && e.contains("booleans"),
        "{e}"
    );
}
