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
    write_header_ordered(out, descr, false, shape);
}

/// NPY v1.0 header, C or Fortran order.
fn write_header_ordered(out: &mut Vec<u8>, descr: &str, fortran: bool, shape: &[u64]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let order = if fortran { "True" } else { "False" };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape_text}, }}");
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

/// `values` (each fitting the type) encoded as NumPy dtype `descr` (`<i2`, `>u8`, `|u1`, ...).
fn encode(descr: &str, values: &[i128]) -> Vec<u8> {
    let size: usize = descr[2..].parse().unwrap();
    let big = descr.starts_with('>');
    let mut out = Vec::new();
    for &v in values {
        let le = &v.to_le_bytes()[..size];
        if big {
            out.extend(le.iter().rev());
        } else {
            out.extend(le);
        }
    }
    out
}

#[test]
fn every_integer_dtype_reads_as_labels_ids_and_tokens_in_either_byte_order() {
    let dir = tempfile::tempdir().unwrap();
    let x = ("x", "<f4", vec![3, 1], f32s(&[0.5, 1.5, -2.0]));
    let ints = [
        "|i1", "<i1", "<i2", "<i4", "<i8", "|u1", ">u1", "<u2", "<u4", "<u8", ">i2", ">i4", ">i8",
        ">u2", ">u4", ">u8",
    ];
    for descr in ints {
        let labels = encode(descr, &[2, 0, 1]);
        let ids = encode(descr, &[9, 4, 127]);
        let path = custom_npz(
            dir.path(),
            "ints.npz",
            &[
                x.clone(),
                ("y", descr, vec![3], labels),
                ("ids", descr, vec![3], ids),
                ("num_classes", descr, vec![], encode(descr, &[5])),
            ],
        );
        let d = npz::read(&path).unwrap_or_else(|e| panic!("{descr}: {e}"));
        assert_eq!(d.labels(), &[2, 0, 1], "{descr}");
        assert_eq!(d.ids(), &[9, 4, 127], "{descr}");
        assert_eq!(d.num_classes(), 5, "{descr}");

        // The same dtype as text token ids ([N, L]), C and Fortran order.
        let tokens = [3, 0, 1, 2, 2, 0];
        let column_major = [3, 2, 0, 2, 1, 0];
        for (fortran, stored) in [(false, tokens), (true, column_major)] {
            let path = dir.path().join("tokens.npz");
            let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
            let options = zip::write::SimpleFileOptions::default();
            for (name, shape, payload) in [
                ("x", vec![2u64, 3], encode(descr, &stored)),
                ("y", vec![2], encode(descr, &[1, 0])),
            ] {
                zip.start_file(format!("{name}.npy"), options).unwrap();
                let mut bytes = Vec::new();
                write_header_ordered(&mut bytes, descr, fortran && name == "x", &shape);
                zip.write_all(&bytes).unwrap();
                zip.write_all(&payload).unwrap();
            }
            zip.finish().unwrap();
            let d = npz::read(&path).unwrap_or_else(|e| panic!("{descr}: {e}"));
            let expected: Vec<u32> = tokens.iter().map(|&t| t as u32).collect();
            assert_eq!(
                d.features(),
                &Features::Tokens(expected),
                "{descr} {fortran}"
            );
            assert_eq!(d.labels(), &[1, 0]);
        }
    }
    // Widening keeps the extremes: negative int8/int16 labels are refused by value, uint64
    // ids above i64::MAX survive, big-endian or not.
    for descr in ["|i1", "<i2", ">i4"] {
        let path = custom_npz(
            dir.path(),
            "neg.npz",
            &[x.clone(), ("y", descr, vec![3], encode(descr, &[0, -1, 1]))],
        );
        assert!(err_of(&path).contains("negative value -1"), "{descr}");
    }
    for descr in ["<u8", ">u8"] {
        let path = custom_npz(
            dir.path(),
            "big_ids.npz",
            &[
                x.clone(),
                ("y", "|u1", vec![3], vec![0, 1, 0]),
                (
                    "ids",
                    descr,
                    vec![3],
                    encode(descr, &[u64::MAX as i128, 0, (1 << 63) + 1]),
                ),
            ],
        );
        assert_eq!(
            npz::read(&path).unwrap().ids(),
            &[u64::MAX, 0, (1 << 63) + 1]
        );
    }
}

#[test]
fn big_endian_floats_are_converted_and_odd_dtypes_refused() {
    let dir = tempfile::tempdir().unwrap();
    let values = [0.5f32, 0.25, 1.0, -3.5];
    let y = ("y", "<i8", vec![2], i64s(&[1, 0]));
    let be32: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    let be64: Vec<u8> = values
        .iter()
        .flat_map(|&v| f64::from(v).to_be_bytes())
        .collect();
    let le64: Vec<u8> = values
        .iter()
        .flat_map(|&v| f64::from(v).to_le_bytes())
        .collect();
    for (descr, payload) in [
        (">f4", be32),
        ("<f4", f32s(&values)),
        (">f8", be64),
        ("<f8", le64),
    ] {
        let path = custom_npz(
            dir.path(),
            "f.npz",
            &[("x", descr, vec![2, 2], payload), y.clone()],
        );
        let d = npz::read(&path).unwrap_or_else(|e| panic!("{descr}: {e}"));
        assert_eq!(d.features(), &Features::Dense(values.to_vec()), "{descr}");
    }
    let x = ("x", "<f4", vec![2, 1], f32s(&[0.5, 1.5]));
    for (descr, payload, needle) in [
        ("|b1", vec![0, 1], "unsupported dtype |b1"),
        ("<f2", vec![0; 4], "unsupported dtype <f2"),
        ("<c8", vec![0; 16], "unsupported dtype <c8"),
        ("<M8[ns]", vec![0; 16], "unsupported dtype <M8[ns]"),
        ("|O", vec![0; 16], "unsupported dtype |O"),
        ("|V8", vec![0; 16], "unsupported dtype |V8"),
        ("|i4", vec![0; 8], "dtype |i4 has no byte order"),
        ("=i4", vec![0; 8], "unsupported dtype =i4"),
    ] {
        let path = custom_npz(
            dir.path(),
            "odd.npz",
            &[x.clone(), ("y", descr, vec![2], payload)],
        );
        let e = err_of(&path);
        assert!(
            e.contains("array 'y'") && e.contains(needle),
            "{descr}: {e}"
        );
    }
}

#[test]
fn hostile_entries_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let y = ("y", "<i8", vec![2], i64s(&[0, 1]));
    // Claims an exbibyte (2^60 bytes): allocating it would abort the test process, so a
    // clean error proves the check ran first.
    let huge = ("x", "|u1", vec![1 << 30, 1 << 30], vec![1, 2, 3]);
    let e = err_of(&custom_npz(dir.path(), "huge.npz", &[huge, y.clone()]));
    assert!(
        e.contains("array 'x': truncated: shape [1073741824, 1073741824] of |u1 needs")
            && e.contains("3 follow the header"),
        "{e}"
    );
    // The same claim in a deflate-compressed entry (the check uses the uncompressed size).
    let path = dir.path().join("huge_deflated.npz");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("x.npy", deflated).unwrap();
    let mut bytes = Vec::new();
    write_header(&mut bytes, "<f8", &[1 << 40]);
    zip.write_all(&bytes).unwrap();
    zip.write_all(&[0; 64]).unwrap();
    zip.finish().unwrap();
    assert!(err_of(&path).contains("needs 8796093022208 bytes of data, 64 follow"));
    // A shape whose byte count overflows, and a string width that does.
    for (descr, shape) in [
        ("<f8", vec![1u64 << 32, 1 << 32]),
        ("<U4611686018427387904", vec![1]),
    ] {
        let path = custom_npz(
            dir.path(),
            "overflow.npz",
            &[("x", descr, shape, vec![0; 8]), y.clone()],
        );
        let e = err_of(&path);
        assert!(e.contains("array 'x'"), "{e}");
        assert!(
            e.contains("overflows") || e.contains("unsupported dtype"),
            "{descr}: {e}"
        );
    }
    // A header length beyond the entry, and an entry that is not .npy at all.
    let mut bytes = Vec::new();
    write_header(&mut bytes, "<f4", &[2, 1]);
    bytes[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
    for (name, raw, needle) in [
        ("len.npz", bytes, "header length 65535 is impossible"),
        ("magic.npz", b"PK\x03\x04 not npy".to_vec(), "bad magic"),
    ] {
        let path = dir.path().join(name);
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        zip.start_file("x.npy", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&raw).unwrap();
        zip.finish().unwrap();
        let e = err_of(&path);
        assert!(e.contains("array 'x'") && e.contains(needle), "{e}");
    }
}

#[test]
fn corrupt_payloads_fail_the_zip_checksum_and_trailing_bytes_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let write = |name: &str, x_payload: &[u8]| {
        let path = dir.path().join(name);
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        zip.start_file("x.npy", stored).unwrap();
        let mut bytes = Vec::new();
        write_header(&mut bytes, "<f4", &[2, 1]);
        zip.write_all(&bytes).unwrap();
        zip.write_all(x_payload).unwrap();
        zip.start_file("y.npy", stored).unwrap();
        let mut bytes = Vec::new();
        write_header(&mut bytes, "<i8", &[2]);
        zip.write_all(&bytes).unwrap();
        zip.write_all(&i64s(&[0, 1])).unwrap();
        zip.finish().unwrap();
        path
    };
    // Extra bytes after the payload are ignored, as NumPy ignores them.
    let mut padded = f32s(&[0.5, 1.5]);
    padded.extend([7; 5]);
    let d = npz::read(&write("trailing.npz", &padded)).unwrap();
    assert_eq!(d.features(), &Features::Dense(vec![0.5, 1.5]));
    // A payload changed after the archive was written (still valid floats) is caught by
    // the entry's CRC-32.
    let path = write("flipped.npz", &f32s(&[0.5, 1.5]));
    let mut bytes = std::fs::read(&path).unwrap();
    let payload = f32s(&[0.5, 1.5]);
    let at = bytes
        .windows(payload.len())
        .position(|w| w == payload)
        .unwrap();
    bytes[at..at + 4].copy_from_slice(&0.25f32.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let e = err_of(&path);
    assert!(
        e.contains("array 'x': truncated or corrupt data") && e.contains("checksum"),
        "{e}"
    );
}

#[test]
fn unicode_and_byte_string_arrays_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let x = ("x", "<f4", vec![2, 1], f32s(&[0.5, 1.5]));
    let y = ("y", "<i8", vec![2], i64s(&[0, 1]));
    let utf32 = |names: &[&str], width: usize| -> Vec<u8> {
        let mut out = Vec::new();
        for name in names {
            let mut chars: Vec<u32> = name.chars().map(u32::from).collect();
            chars.resize(width, 0);
            out.extend(chars.iter().flat_map(|c| c.to_le_bytes()));
        }
        out
    };
    for (descr, payload) in [
        ("<U3", utf32(&["ab", "çé"], 3)),
        ("|S3", b"ab\0c\0\0".to_vec()),
    ] {
        let path = custom_npz(
            dir.path(),
            "names.npz",
            &[
                x.clone(),
                y.clone(),
                ("class_names", descr, vec![2], payload),
            ],
        );
        let d = npz::read(&path).unwrap_or_else(|e| panic!("{descr}: {e}"));
        let expected = if descr == "|S3" {
            vec!["ab", "c"]
        } else {
            vec!["ab", "çé"]
        };
        assert_eq!(d.class_names(), expected, "{descr}");
    }
    // A string array claiming more than its entry holds is refused like any other.
    let path = custom_npz(
        dir.path(),
        "names_trunc.npz",
        &[
            x.clone(),
            y.clone(),
            ("class_names", "<U1000000", vec![2], vec![0; 8]),
        ],
    );
    assert!(err_of(&path).contains("array 'class_names': truncated"));
}
