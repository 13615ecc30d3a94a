//! `mithridate aggregate` end to end: `.npy` in (float32 and float64), `.npy` out, `--json`
//! per-client report, and the input errors the issue names (NaN/Inf rows, wrong dimensions,
//! `f` beyond the rule's tolerance) as exit code 2 with no output file written.
//!
//! The `.npy` files are written by hand here (format 1.0), independently of the reader under
//! test.

use crate::common;
use common::*;
use std::path::{Path, PathBuf};

/// Writes a little-endian C-order `.npy` (format 1.0) of `f32` or `f64` values.
fn write_npy(path: &Path, shape: &[usize], values: &[f64], f64_dtype: bool) {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let descr = if f64_dtype { "<f8" } else { "<f4" };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for v in values {
        if f64_dtype {
            bytes.extend(v.to_le_bytes());
        } else {
            bytes.extend((*v as f32).to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

/// Reads back a float32 `.npy` written by `mithridate aggregate` (header skipped).
fn read_f32_npy(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'<f4'"), "{header}");
    bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Five clients, three coordinates; client 4 is wildly off.
const ROWS: [f64; 15] = [
    1.0, 2.0, 3.0, //
    1.5, 2.5, 2.0, //
    0.5, 1.0, 4.0, //
    2.0, 3.0, 1.0, //
    100.0, -100.0, 50.0,
];

fn updates(dir: &Path, f64_dtype: bool) -> PathBuf {
    let path = dir.join(if f64_dtype { "u64.npy" } else { "u32.npy" });
    write_npy(&path, &[5, 3], &ROWS, f64_dtype);
    path
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn median_of_float32_and_float64_inputs_with_a_json_client_report() {
    let dir = tempfile::tempdir().unwrap();
    for f64_dtype in [false, true] {
        let input = updates(dir.path(), f64_dtype);
        let output = dir.path().join("agg.npy");
        let out = mithridate(&[
            "--json",
            "aggregate",
            "--rule",
            "median",
            "-f",
            "1",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ]);
        let report = json(&out);
        // Per-coordinate medians of the five rows, by hand.
        assert_eq!(read_f32_npy(&output), vec![1.5, 2.0, 3.0]);
        assert_eq!(report["n"], 5);
        assert_eq!(report["d"], 3);
        assert_eq!(report["rule"], "median");
        let clients = report["clients"].as_array().unwrap();
        assert_eq!(clients.len(), 5);
        // The outlier never holds a median and is flagged by the anomaly scores.
        assert_eq!(clients[4]["weight"], 0.0);
        assert!(report["flagged"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(4)));
        std::fs::remove_file(&output).unwrap();
    }
}

#[test]
fn krum_selects_one_honest_update_and_weights_are_used_by_fedavg() {
    let dir = tempfile::tempdir().unwrap();
    let input = updates(dir.path(), false);
    let output = dir.path().join("krum.npy");
    let report = json(&mithridate(&[
        "--json",
        "aggregate",
        "--rule",
        "krum",
        "-f",
        "1",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ]));
    assert_eq!(report["selected"], 1);
    let chosen = read_f32_npy(&output);
    assert!(ROWS[..12]
        .chunks(3)
        .any(|r| r.iter().zip(&chosen).all(|(a, b)| *a as f32 == *b)));

    let weights = dir.path().join("w.npy");
    write_npy(&weights, &[5], &[1.0, 1.0, 1.0, 1.0, 0.0], false);
    let output = dir.path().join("avg.npy");
    let out = mithridate(&[
        "aggregate",
        "--rule",
        "fedavg",
        "--weights",
        weights.to_str().unwrap(),
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(read_f32_npy(&output), vec![1.25, 2.125, 2.5]);
}

#[test]
fn bad_inputs_exit_2_naming_the_problem_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = updates(dir.path(), false);
    let output = dir.path().join("never.npy");
    let run = |args: &[&str]| {
        let mut all = vec!["aggregate"];
        all.extend_from_slice(args);
        all.extend(["-o", output.to_str().unwrap()]);
        mithridate(&all)
    };
    let expect = |out: std::process::Output, code: i32, needle: &str| {
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        assert!(
            stderr(&out).to_lowercase().contains(needle),
            "{needle}: {}",
            stderr(&out)
        );
        assert!(!output.exists(), "an output was written for a failed run");
    };

    let mut with_nan = ROWS;
    with_nan[7] = f64::NAN;
    let nan = dir.path().join("nan.npy");
    write_npy(&nan, &[5, 3], &with_nan, false);
    expect(
        run(&["--rule", "median", "-f", "1", nan.to_str().unwrap()]),
        2,
        "row 2",
    );

    let mut with_inf = ROWS;
    with_inf[0] = f64::INFINITY;
    let inf = dir.path().join("inf.npy");
    write_npy(&inf, &[5, 3], &with_inf, true);
    expect(
        run(&["--rule", "median", "-f", "1", inf.to_str().unwrap()]),
        2,
        "row 0",
    );

    let flat = dir.path().join("flat.npy");
    write_npy(&flat, &[15], &ROWS, false);
    expect(run(&["--rule", "median", flat.to_str().unwrap()]), 2, "2-d");

    // Krum needs n >= 2f + 3: f = 2 of 5 is beyond its tolerance.
    expect(
        run(&["--rule", "krum", "-f", "2", good.to_str().unwrap()]),
        2,
        "tolerates at most",
    );

    let short = dir.path().join("short.npy");
    write_npy(&short, &[4], &[1.0; 4], false);
    expect(
        run(&[
            "--rule",
            "fedavg",
            "--weights",
            short.to_str().unwrap(),
            good.to_str().unwrap(),
        ]),
        2,
        "weights",
    );

    expect(
        run(&["--rule", "fltrust", good.to_str().unwrap()]),
        2,
        "root",
    );

    let garbage = dir.path().join("garbage.npy");
    std::fs::write(&garbage, b"not a numpy file").unwrap();
    expect(
        run(&["--rule", "median", garbage.to_str().unwrap()]),
        2,
        "not a valid .npy",
    );

    expect(
        run(&["--rule", "no-such-rule", good.to_str().unwrap()]),
        2,
        "no-such-rule",
    );

    let missing = dir.path().join("missing.npy");
    let out = run(&["--rule", "median", missing.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    assert!(!output.exists());
}

#[test]
fn text_output_ranks_the_outlier_first_only_with_report() {
    let dir = tempfile::tempdir().unwrap();
    let input = updates(dir.path(), false);
    let output = dir.path().join("agg.npy");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "aggregate",
            "--rule",
            "trimmed-mean:beta=0.2",
            "-f",
            "1",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ];
        args.extend(extra);
        let out = mithridate(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let plain = run(&[]);
    assert_eq!(
        plain.lines().count(),
        1,
        "no client table without --report: {plain}"
    );
    let report = run(&["--report"]);
    // The first table row after the header names client 4, the outlier.
    let first_row = report
        .lines()
        .find(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or_default();
    assert!(first_row.trim_start().starts_with('4'), "{report}");
    // Trimmed mean with one value cut from each end of 5, coordinate by coordinate (by hand).
    assert_eq!(read_f32_npy(&output), vec![1.5, 1.8333334, 3.0]);
}
