//! `.npz` reading against files written by NumPy (`fixtures/make_fixtures.py`) and every
//! malformed-input case, plus write -> read round trips.

use mithridate_data::{npz, Dataset, Features, Modality};
use std::io::Write;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn reads_numpy_savez_images_with_ids() {
    let d = npz::read(&fixture("images_nhw_savez.npz")).unwrap();
    assert_eq!(
        d.modality(),
        &Modality::Image {
            channels: 1,
            height: 2,
            width: 2
        }
    );
    assert_eq!(d.labels(), &[2, 0, 1]);
    assert_eq!(d.ids(), &[7, 3, (1u64 << 63) + 5]);
    assert_eq!(d.num_classes(), 3);
    assert_eq!(d.dense_row(0).unwrap(), &[0.0, 0.25, 0.5, 1.0]);
}

#[test]
fn reads_numpy_compressed_fortran_float64_with_names() {
    let d = npz::read(&fixture("images_nchw_fortran_compressed.npz")).unwrap();
    let c = npz::read(&fixture("images_nhw_savez.npz")).unwrap();
    assert_eq!(d.modality(), c.modality());
    // Fortran order is reordered to row-major: same pixels as the C-ordered fixture.
    assert_eq!(d.features(), c.features());
    assert_eq!(d.ids(), &[0, 1, 2]);
    assert_eq!(d.num_classes(), 4);
    assert_eq!(d.class_names(), vec!["zero", "one", "two", "three"]);
}

#[test]
fn reads_numpy_tabular_and_text() {
    let t = npz::read(&fixture("tabular_compressed.npz")).unwrap();
    assert_eq!(t.modality(), &Modality::Tabular { features: 3 });
    assert_eq!(t.dense_row(1).unwrap(), &[0.0, 1e6, -7.25]);
    assert_eq!(t.labels(), &[1, 0]);
    let x = npz::read(&fixture("text_savez.npz")).unwrap();
    assert_eq!(
        x.modality(),
        &Modality::Text {
            max_len: 4,
            vocab_size: 4
        }
    );
    assert_eq!(
        x.features(),
        &Features::Tokens(vec![2, 3, 0, 0, 1, 2, 2, 0])
    );
    assert_eq!(x.vocabulary().unwrap()[3], "win");
}

fn err_of(path: &Path) -> String {
    let e = npz::read(path).unwrap_err().to_string();
    assert!(!e.contains('\n'), "one-line error: {e}");
    assert!(
        e.contains(&path.display().to_string()),
        "error names the file: {e}"
    );
    e
}

#[test]
fn rejects_bad_numpy_files() {
    assert!(err_of(&fixture("bad_float_labels.npz")).contains("'y' must hold integer labels"));
    assert!(err_of(&fixture("bad_string_x.npz")).contains("'x' must be float"));
    assert!(err_of(&fixture("bad_nan.npz")).contains("non-finite value NaN in sample 1"));
    assert!(err_of(&fixture("bad_missing_y.npz")).contains("missing array 'y'"));
    assert!(err_of(&fixture("bad_object.npz")).contains("'ids'"));
}

/// One array of a hand-made `.npz`: `(name, dtype descr, shape, little-endian payload)`.
type RawArray = (&'static str, &'static str, Vec<u64>, Vec<u8>);

/// An `.npz` holding `arrays`, written without any validation.
fn custom_npz(dir: &Path, name: &str, arrays: &[RawArray]) -> PathBuf {
    let path = dir.join(name);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (array, descr, shape, payload) in arrays {
        zip.start_file(
            format!("{array}.npy"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        let mut bytes = Vec::new();
        write_header(&mut bytes, descr, shape);
        zip.write_all(&bytes).unwrap();
        zip.write_all(payload).unwrap();
    }
    zip.finish().unwrap();
    path
}

/// NPY v1.0 header for a C-ordered array.
fn write_header(out: &mut Vec<u8>, descr: &str, shape: &[u64]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn i64s(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn rejects_malformed_archives_and_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let x2 = ("x", "<f4", vec![2, 1], f32s(&[0.5, 1.5]));
    let y2 = ("y", "<i8", vec![2], i64s(&[0, 1]));
    let cases: Vec<(&str, Vec<RawArray>, &str)> = vec![
        ("missing_x.npz", vec![y2.clone()], "missing array 'x'"),
        (
            "y_len.npz",
            vec![x2.clone(), ("y", "<i8", vec![3], i64s(&[0, 1, 1]))],
            "'x' has 2 samples but 'y' has 3",
        ),
        (
            "y_2d.npz",
            vec![x2.clone(), ("y", "<i8", vec![2, 1], i64s(&[0, 1]))],
            "'y' must be 1-D",
        ),
        (
            "neg.npz",
            vec![x2.clone(), ("y", "<i8", vec![2], i64s(&[0, -1]))],
            "negative value -1",
        ),
        (
            "ids_len.npz",
            vec![x2.clone(), y2.clone(), ("ids", "<u8", vec![1], i64s(&[4]))],
            "'ids' must have shape [2]",
        ),
        (
            "dup.npz",
            vec![
                x2.clone(),
                y2.clone(),
                ("ids", "<u8", vec![2], i64s(&[4, 4])),
            ],
            "duplicate sample id 4",
        ),
        (
            "empty.npz",
            vec![
                ("x", "<f4", vec![0, 3], vec![]),
                ("y", "<i8", vec![0], vec![]),
            ],
            "empty dataset",
        ),
        (
            "inf.npz",
            vec![
                ("x", "<f4", vec![2, 1], f32s(&[0.5, f32::INFINITY])),
                y2.clone(),
            ],
            "non-finite value inf in sample 1",
        ),
        (
            "pixels.npz",
            vec![
                ("x", "<f4", vec![1, 1, 2], f32s(&[0.5, 1.5])),
                ("y", "<i8", vec![1], i64s(&[0])),
            ],
            "outside [0, 1]",
        ),
        (
            "rank.npz",
            vec![
                ("x", "<f4", vec![1, 1, 1, 1, 1], f32s(&[0.5])),
                ("y", "<i8", vec![1], i64s(&[0])),
            ],
            "must be [N, D]",
        ),
        (
            "scalar.npz",
            vec![("x", "<f4", vec![], f32s(&[0.5])), y2.clone()],
            "'x' is a scalar",
        ),
        (
            "trunc.npz",
            vec![("x", "<f4", vec![2, 1000], f32s(&[0.5, 1.5])), y2.clone()],
            "truncated",
        ),
        (
            "k.npz",
            vec![
                x2.clone(),
                y2.clone(),
                ("num_classes", "<i8", vec![], i64s(&[1])),
            ],
            "'num_classes' is 1 but 'y' contains label 1",
        ),
        (
            "bool.npz",
            vec![x2.clone(), ("y", "|b1", vec![2], vec![0, 1])],
            "unsupported dtype",
        ),
        (
            "text_vocab.npz",
            vec![
                ("x", "<i8", vec![1, 2], i64s(&[0, 5])),
                ("y", "<i8", vec![1], i64s(&[0])),
                ("vocab", "<U1", vec![2], vec![b'a', 0, 0, 0, b'b', 0, 0, 0]),
            ],
            "vocabulary has 2 tokens but 'x' uses token id 5",
        ),
        (
            "neg_token.npz",
            vec![
                ("x", "<i8", vec![1, 2], i64s(&[0, -5])),
                ("y", "<i8", vec![1], i64s(&[0])),
            ],
            "'x' has negative value -5",
        ),
    ];
    for (name, arrays, expected) in cases {
        let path = custom_npz(d, name, &arrays);
        let e = err_of(&path);
        assert!(e.contains(expected), "{name}: {e}");
    }
    // Not a zip at all, and a truncated real file.
    let garbage = d.join("garbage.npz");
    std::fs::write(&garbage, b"definitely not a zip archive").unwrap();
    assert!(err_of(&garbage).contains("not a valid .npz"));
    let good = std::fs::read(fixture("tabular_compressed.npz")).unwrap();
    for cut in [10, good.len() / 2, good.len() - 5] {
        let truncated = d.join(format!("cut{cut}.npz"));
        std::fs::write(&truncated, &good[..cut]).unwrap();
        err_of(&truncated);
    }
    let missing = d.join("nope.npz");
    assert!(npz::read(&missing)
        .unwrap_err()
        .to_string()
        .contains("nope.npz"));
}

#[test]
fn writes_atomically_and_round_trips_large_ids() {
    let dir = tempfile::tempdir().unwrap();
    let data = Dataset::new(
        Modality::Tabular { features: 2 },
        Features::Dense(vec![1.0, -2.5, 3.25, 0.0]),
        vec![0, 4],
        vec![u64::MAX, 0],
        5,
        vec![],
    )
    .unwrap();
    let path = dir.path().join("t.npz");
    std::fs::write(&path, b"old").unwrap();
    npz::write(&path, &data).unwrap();
    assert_eq!(npz::read(&path).unwrap(), data);
    npz::write_uncompressed(&path, &data).unwrap();
    assert_eq!(npz::read(&path).unwrap(), data);
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    // Writing into a missing directory fails with an error naming it, not a panic.
    assert!(npz::write(Path::new("/proc/definitely/not/here.npz"), &data).is_err());
}
