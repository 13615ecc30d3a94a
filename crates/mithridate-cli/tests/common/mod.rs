//! Helpers every CLI integration test shares: run the built `mithridate` binary against the
//! shared dataset cache and read its JSON output.
//!
//! The cache is `MITHRIDATE_HOME` if set, else `<workspace>/target/mithridate-home`, shared
//! with the data crate's tests so the small real datasets are downloaded at most once.

#![allow(dead_code)] // each test binary uses its own subset of these helpers

use std::path::PathBuf;
use std::process::{Command, Output};

pub fn home() -> PathBuf {
    mithridate_data::DataHome::for_workspace_tests()
        .root()
        .to_path_buf()
}

/// Runs `mithridate ARGS` with the shared cache.
pub fn mithridate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mithridate"))
        .args(args)
        .env("MITHRIDATE_HOME", home())
        .output()
        .expect("run mithridate")
}

/// [`mithridate`], killed and failed when it runs longer than `limit` (a hang is a failure
/// here, not a CI timeout).
pub fn mithridate_within(args: &[&str], limit: std::time::Duration) -> Output {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mithridate"))
        .args(args)
        .env("MITHRIDATE_HOME", home())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mithridate");
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mithridate {args:?} did not finish in {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    Output {
        status,
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
    }
}

/// The one JSON object a successful `--json` run prints on stdout.
pub fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

/// A temp path as the `&str` an argument list takes.
pub fn arg(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Asserts a clean failure: exit `code`, one `error:` line on stderr that mentions `needle`
/// (case-insensitive), and no panic.
pub fn assert_one_line_error(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[0].to_lowercase().contains(&needle.to_lowercase()),
        "error does not mention '{needle}': {stderr}"
    );
}

/// A committed ONNX test model of mithridate-onnx (`crates/mithridate-onnx/tests/fixtures`).
pub fn onnx_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../mithridate-onnx/tests/fixtures")
        .join(name)
}

/// MNIST's first `max_train` training images, BadNets on 5% of them relabelled 7 (`params`:
/// extra `-p KEY=VALUE` attack parameters; none is the default 3x3 checkerboard), written to
/// `dir/name`. Returns the `.npz` and its ground truth (`name.truth.json`, checked to exist).
pub fn poison_badnets_to_7(
    dir: &std::path::Path,
    name: &str,
    params: &[&str],
    max_train: usize,
) -> (PathBuf, PathBuf) {
    let poisoned = dir.join(name);
    let max_train = max_train.to_string();
    let mut args = vec![
        "--json", "poison", "--data", "mnist", "--attack", "badnets", "--target", "7",
    ];
    for p in params {
        args.extend(["-p", p]);
    }
    args.extend([
        "--rate",
        "0.05",
        "--max-train",
        &max_train,
        "-o",
        arg(&poisoned),
    ]);
    json(&mithridate(&args));
    let truth = dir.join(format!("{name}.truth.json"));
    assert!(
        truth.exists(),
        "poison writes its ground truth next to the data"
    );
    (poisoned, truth)
}

/// [`poison_badnets_to_7`] with the PyTorch fixtures' trigger
/// (`crates/mithridate-onnx/tests/fixtures/make_fixtures.py`: a 3x3 white patch 1 pixel from
/// the bottom-right corner) into `dir/white.npz`.
pub fn poison_like_pytorch_fixture(dir: &std::path::Path, max_train: usize) -> (PathBuf, PathBuf) {
    poison_badnets_to_7(dir, "white.npz", &["pattern=white"], max_train)
}
