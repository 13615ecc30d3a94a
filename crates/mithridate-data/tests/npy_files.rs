//! The bulk `.npy` reader and writer: round trips, hand-written NumPy-style files (C and
//! Fortran order, format versions 1 and 2), hostile headers rejected with one-line errors
//! naming the problem, and the written files' permissions.

use mithridate_data::npy::{self, AnyDtype, Dtype, Element};
use std::path::Path;

/// A `.npy` file written by hand (independently of the writer under test).
fn raw_npy(version: u8, dict: &str, payload: &[u8]) -> Vec<u8> {
    let length_bytes = if version == 1 { 2 } else { 4 };
    let mut text = dict.to_string();
    while !(8 + length_bytes + text.len() + 1).is_multiple_of(64) {
        text.push(' ');
    }
    text.push('\n');
    let mut bytes = b"\x93NUMPY".to_vec();
    bytes.extend([version, 0]);
    if version == 1 {
        bytes.extend((text.len() as u16).to_le_bytes());
    } else {
        bytes.extend((text.len() as u32).to_le_bytes());
    }
    bytes.extend(text.as_bytes());
    bytes.extend(payload);
    bytes
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn error_of(path: &Path) -> String {
    npy::read_f32(path).unwrap_err().to_string()
}

#[test]
fn round_trips_f32_and_f64_and_matches_numpy_header_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    let values: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 2.0).collect();
    npy::write_f32(&path, &[3, 4], &values).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert!((10 + header_len).is_multiple_of(64));
    let text = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(
        text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4, ), }"),
        "{text}"
    );
    let back = npy::read_f32(&path).unwrap();
    assert_eq!((back.shape, back.data), (vec![3, 4], values.clone()));

    let wide: Vec<f64> = values.iter().map(|&v| f64::from(v) + 1e-12).collect();
    npy::write_f64(&path, &[12], &wide).unwrap();
    assert_eq!(npy::read_f64(&path).unwrap().data, wide);
    // float64 read as float32 is rounded.
    let rounded: Vec<f32> = wide.iter().map(|&v| v as f32).collect();
    assert_eq!(npy::read_f32(&path).unwrap().data, rounded);
    assert!(npy::write_f32(&path, &[5], &values).is_err());
}

#[test]
fn reads_fortran_order_version_2_and_python2_headers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.npy");
    // The 2 x 3 matrix [[1, 2, 3], [4, 5, 6]] stored column-major.
    let column_major = f32_bytes(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    std::fs::write(
        &path,
        raw_npy(
            2,
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
            &column_major,
        ),
    )
    .unwrap();
    let a = npy::read_f32(&path).unwrap();
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);

    std::fs::write(
        &path,
        raw_npy(
            1,
            "{\"shape\": (2L,), \"fortran_order\": False, \"descr\": \"<f4\"}",
            &f32_bytes(&[7.0, 8.0]),
        ),
    )
    .unwrap();
    assert_eq!(npy::read_f64(&path).unwrap().data, vec![7.0, 8.0]);
}

#[test]
fn hostile_headers_are_one_line_errors_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.npy");
    let ok_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    let two = f32_bytes(&[1.0, 2.0]);
    let mut cases: Vec<(Vec<u8>, &str)> = vec![
        (b"\x93NUM".to_vec(), "preamble"),
        (b"PK\x03\x04 not npy at all".to_vec(), "magic"),
        (
            {
                let mut b = raw_npy(1, ok_dict, &two);
                b[6] = 9;
                b
            },
            "version 9",
        ),
        (
            {
                let mut b = raw_npy(1, ok_dict, &two);
                b[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
                b
            },
            "header length",
        ),
        (
            raw_npy(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
                &two,
            ),
            "unknown header key 'x'",
        ),
        (
            raw_npy(
                1,
                "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
                &two,
            ),
            "twice",
        ),
        (
            raw_npy(1, "{'descr': '<f4', 'fortran_order': False}", &two),
            "no 'shape'",
        ),
        (
            raw_npy(
                1,
                "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
                &two,
            ),
            "dtype <i4",
        ),
        (
            raw_npy(
                1,
                "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
                &two,
            ),
            "big-endian",
        ),
        (
            raw_npy(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }",
                &two,
            ),
            "overflows",
        ),
        (
            raw_npy(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000,), }",
                &two,
            ),
            "needs 4000000000 bytes",
        ),
        (
            raw_npy(1, ok_dict, &f32_bytes(&[1.0, 2.0, 3.0])),
            "needs 8 bytes of data, the file holds 12",
        ),
        (
            raw_npy(
                1,
                "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }",
                &two,
            ),
            "true or false",
        ),
        (
            raw_npy(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }",
                &two,
            ),
            "non-negative integer",
        ),
    ];
    cases.push((raw_npy(1, "{'descr': 'é'}", &two), "not ascii"));
    cases.push((
        raw_npy(
            1,
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
            &two,
        ),
        "unsupported structured dtype",
    ));
    for (bytes, needle) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let e = error_of(&path);
        assert!(!e.contains('\n'), "{e}");
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(
            e.to_lowercase().contains(&needle.to_lowercase()),
            "{needle}: {e}"
        );
    }
    assert!(matches!(
        npy::read_f32(&dir.path().join("missing.npy")),
        Err(mithridate_data::DataError::Io { .. })
    ));
}

#[test]
fn header_reader_stops_at_the_payload() {
    let bytes = raw_npy(
        1,
        "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
        &2.5f64.to_le_bytes(),
    );
    let mut reader = &bytes[..];
    let header = npy::read_header(&mut reader, bytes.len() as u64).unwrap();
    assert_eq!(header.dtype, Dtype::F64);
    assert_eq!((header.len(), header.payload_bytes()), (1, 8));
    assert_eq!(reader, 2.5f64.to_le_bytes());
    assert_eq!(header.data_offset, bytes.len() - 8);
}

#[cfg(unix)]
#[test]
fn written_npy_and_npz_files_are_0644() {
    use mithridate_data::{Dataset, Features, Modality};
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agg.npy");
    npy::write_f32(&path, &[2], &[1.0, 2.0]).unwrap();
    assert_eq!(mode(&path), 0o644);
    let data = Dataset::new(
        Modality::Tabular { features: 1 },
        Features::Dense(vec![0.5, 1.5]),
        vec![0, 1],
        vec![0, 1],
        2,
        vec![],
    )
    .unwrap();
    let npz = dir.path().join("d.npz");
    mithridate_data::npz::write(&npz, &data).unwrap();
    assert_eq!(mode(&npz), 0o644);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temporary file left behind"
    );
}

#[test]
fn any_header_takes_every_npz_dtype_and_bounds_the_payload_by_the_stream() {
    for (descr, element, big_endian, item_bytes) in [
        ("<f4", Element::F4, false, 4),
        (">f8", Element::F8, true, 8),
        ("|i1", Element::I1, false, 1),
        (">i1", Element::I1, false, 1),
        ("<i2", Element::I2, false, 2),
        ("<i4", Element::I4, false, 4),
        (">i8", Element::I8, true, 8),
        ("|u1", Element::U1, false, 1),
        ("<u2", Element::U2, false, 2),
        (">u4", Element::U4, true, 4),
        ("<u8", Element::U8, false, 8),
        ("<U7", Element::Unicode(7), false, 28),
        ("|S5", Element::Bytes(5), false, 5),
        ("|a3", Element::Bytes(3), false, 3),
    ] {
        let dtype = AnyDtype::parse(descr).unwrap();
        assert_eq!((dtype.element, dtype.big_endian), (element, big_endian));
        assert_eq!(dtype.item_bytes(), Some(item_bytes), "{descr}");
    }
    for bad in [
        "|b1", "<f2", "<f16", "<c16", "<i16", "<M8[s]", "|O", "|V4", "f4", "", "<é",
    ] {
        assert!(AnyDtype::parse(bad).is_err(), "{bad}");
    }
    assert!(AnyDtype::parse("|u2")
        .unwrap_err()
        .contains("no byte order"));

    let payload: Vec<u8> = [1i16, -2, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut bytes = raw_npy(
        1,
        "{'descr': '<i2', 'fortran_order': True, 'shape': (3,), }",
        &payload,
    );
    let offset = bytes.len() - payload.len();
    bytes.extend([0xAA; 3]); // trailing bytes are allowed
    let mut reader = &bytes[..];
    let header = npy::read_any_header(&mut reader, bytes.len() as u64).unwrap();
    assert_eq!(
        (header.descr.as_str(), header.fortran_order, header.len()),
        ("<i2", true, 3)
    );
    assert_eq!((header.payload_bytes, header.data_offset), (6, offset));
    let values: Vec<i16> = npy::read_values(&mut reader, header.len(), false).unwrap();
    assert_eq!(values, vec![1, -2, 3]);
    // Too short for its shape: refused by the header reader, before any payload read.
    let short = &bytes[..offset + 4];
    let e = npy::read_any_header(&mut &short[..], short.len() as u64).unwrap_err();
    assert!(
        e.contains("needs 6 bytes of data, 4 follow the header"),
        "{e}"
    );
    // Big-endian values are converted.
    let be: Vec<u8> = [7u32, 1 << 31]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let back: Vec<u32> = npy::read_values(&mut &be[..], 2, true).unwrap();
    assert_eq!(back, vec![7, 1 << 31]);
}
