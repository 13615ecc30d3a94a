//! Fuzz harnesses: one `pub fn <target>(data: &[u8])` per file format Mithridate parses,
//! feeding the bytes to the real parser and dropping the result. A returned error is the
//! correct answer to garbage; only a panic, an abort, a hang or unbounded memory is a
//! finding.
//!
//! Two drivers share these functions so they cannot drift apart:
//! - `fuzz/` (cargo-fuzz, libFuzzer, coverage-guided): one binary per [`TARGETS`] entry,
//!   run by `fuzz/run.sh` on the stable toolchain (`cargo fuzz run -s none`);
//! - `tests/smoke.rs` (part of `cargo test`): every committed seed in `fuzz/corpus/<target>/`
//!   plus a few thousand seeded mutations of them, under `catch_unwind`.
//!
//! Parsers are called through their in-memory entry points (`read_bytes`, `from_slice`,
//! `load_bytes`, ...), which their path-taking functions call after reading the file, so
//! the harnesses exercise the same code without touching the file system.

use mithridate_data::readers::{self, ReadOptions};
use std::path::Path;
use std::sync::OnceLock;

mod contained;

pub use contained::{contained_panics, tolerate_panics_in};

/// A harness: parses `data`, never panics on any input (the property fuzzed).
pub type Harness = fn(&[u8]);

/// Every target: its name (the `fuzz/fuzz_targets/<name>.rs` binary and the
/// `fuzz/corpus/<name>/` seed directory) and its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("npz", npz),
    ("npy", npy),
    ("idx", idx),
    ("rda", rda),
    ("csv", csv),
    ("arff", arff),
    ("jsonl", jsonl),
    ("image", image),
    ("parquet", parquet),
    ("assess_config", assess_config),
    ("assess_results", assess_results),
    ("gate_policy", gate_policy),
    ("continual_config", continual_config),
    ("manifest", manifest),
    ("keys", keys),
    ("audit_log", audit_log),
    ("truth", truth),
    ("flags", flags),
    ("model", model),
    ("onnx", onnx),
];

/// The name parsers see in their error messages. Absolute and in a directory that does not
/// exist, so a parser looking for a sidecar next to it (`FILE.npz.vocab.txt`) finds none.
fn name() -> &'static Path {
    Path::new("/nonexistent-mithridate-fuzz/input")
}

/// Bring-your-own-data limits small enough that no input makes a reader hold much memory
/// (the readers' own fuzzer uses the same ones).
fn read_options() -> &'static ReadOptions {
    static OPTIONS: OnceLock<ReadOptions> = OnceLock::new();
    OPTIONS.get_or_init(readers::fuzz::fuzz_options)
}

/// `data` as text, for parsers whose callers read files with `read_to_string` (invalid
/// UTF-8 never reaches them).
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// A `.npz` dataset archive (zip of `.npy` arrays).
pub fn npz(data: &[u8]) {
    let _ = mithridate_data::npz::read_bytes(name(), data);
}

/// A standalone `.npy` array: the float reader, then the any-dtype header and payload
/// reader the `.npz` reader uses per entry.
pub fn npy(data: &[u8]) {
    use mithridate_data::npy::{self, Element};
    let _ = npy::read_f32_bytes(name(), data);
    let mut reader = data;
    let Ok(header) = npy::read_any_header(&mut reader, data.len() as u64) else {
        return;
    };
    let (count, big) = (header.len(), header.dtype.big_endian);
    let r = &mut reader;
    let _ = match header.dtype.element {
        Element::F4 => npy::read_values::<f32>(r, count, big).map(drop),
        Element::F8 => npy::read_values::<f64>(r, count, big).map(drop),
        Element::I1 | Element::U1 => npy::read_values::<u8>(r, count, big).map(drop),
        Element::I2 | Element::U2 => npy::read_values::<u16>(r, count, big).map(drop),
        Element::I4 | Element::U4 => npy::read_values::<u32>(r, count, big).map(drop),
        Element::I8 | Element::U8 => npy::read_values::<u64>(r, count, big).map(drop),
        Element::Unicode(_) | Element::Bytes(_) => Ok(()),
    };
}

/// An IDX file (MNIST's format): as an images file `[n, rows, cols]` and as a labels file
/// `[n]`, then both as one labelled set (the input split at its middle).
pub fn idx(data: &[u8]) {
    use mithridate_data::idx;
    let _ = idx::parse("images", data, 3);
    let _ = idx::parse("labels", data, 1);
    let (images, labels) = data.split_at(data.len() / 2);
    let _ = idx::images_and_labels("images", images, "labels", labels, 10);
}

/// An R `.rda` file (XDR serialization, optionally gzip/bzip2): all objects, then the
/// first one as a data frame.
pub fn rda(data: &[u8]) {
    use mithridate_data::rdata;
    if let Ok(objects) = rdata::read_rda("input.rda", data) {
        if let Some((first, _)) = objects.first() {
            let _ = rdata::read_data_frame("input.rda", data, first);
        }
    }
}

/// A bring-your-own-data CSV table.
pub fn csv(data: &[u8]) {
    let _ = readers::csv::read_bytes(name(), data, read_options());
}

/// A Weka ARFF table (the built-in `german-credit` ships as one).
pub fn arff(data: &[u8]) {
    let _ = mithridate_data::arff::read_bytes(name(), data, read_options());
}

/// A bring-your-own-data JSONL text file.
pub fn jsonl(data: &[u8]) {
    let _ = readers::jsonl::read_from(name(), data, read_options());
}

/// One image of an image folder (PNG or JPEG): header check, then decode, as the folder
/// reader does.
pub fn image(data: &[u8]) {
    let file = name();
    if readers::image_folder::header(file, data, read_options()).is_ok() {
        let _ = readers::image_folder::decode(file, data, read_options());
    }
}

/// A bring-your-own-data Parquet table. The `parquet` crate panics on some corrupt pages;
/// the reader contains those (`catch_unwind`, reported as a corrupt file), so the harness
/// lets panics located in that crate's own source unwind to the reader instead of aborting
/// (see [`tolerate_panics_in`]). A panic anywhere else still aborts: a finding.
pub fn parquet(data: &[u8]) {
    tolerate_panics_in(&["/parquet-"]);
    let _ = readers::parquet::read_bytes(name(), data.to_vec(), read_options());
}

/// An assessment matrix configuration (TOML).
pub fn assess_config(data: &[u8]) {
    if let Some(text) = text(data) {
        let _ = mithridate_assess::config::Config::parse(text);
    }
}

/// An assessment results file (JSONL, one cell record per line).
pub fn assess_results(data: &[u8]) {
    if let Some(text) = text(data) {
        let _ = mithridate_assess::store::parse(name(), text);
    }
}

/// A deployment gate policy (TOML).
pub fn gate_policy(data: &[u8]) {
    if let Some(text) = text(data) {
        let _ = mithridate_gate::GatePolicy::from_toml_str(text);
    }
}

/// A continual-learning run configuration (TOML).
pub fn continual_config(data: &[u8]) {
    if let Some(text) = text(data) {
        let _ = mithridate_continual::ContinualParams::from_toml_str(text);
    }
}

/// The fixed key signatures are checked against (the seeds are signed with it, so
/// mutations reach the verification code with a matching key id).
pub fn fuzz_signing_key() -> mithridate_provenance::SigningKey {
    mithridate_provenance::SigningKey::from_bytes(&[42; 32])
}

/// A dataset manifest (JSON), then its embedded signature against [`fuzz_signing_key`].
pub fn manifest(data: &[u8]) {
    use mithridate_provenance::Manifest;
    if let Ok(manifest) = Manifest::from_slice(data, name()) {
        let _ = manifest.verify_signature(&fuzz_signing_key().verifying_key());
    }
}

/// PEM keys: as an Ed25519 PKCS#8 secret key and as an SPKI public key.
pub fn keys(data: &[u8]) {
    use mithridate_provenance::keys;
    let _ = keys::signing_key_from_pem(data, name());
    let _ = keys::verifying_key_from_pem(data, name());
}

/// An audit log (JSONL hash chain): verified without and with a required signer.
pub fn audit_log(data: &[u8]) {
    use mithridate_provenance::{AuditLog, VerifyOptions};
    let _ = AuditLog::verify_bytes(data, &VerifyOptions::default());
    let _ = AuditLog::verify_bytes(
        data,
        &VerifyOptions {
            pubkey: Some(fuzz_signing_key().verifying_key()),
            expect_head: None,
        },
    );
}

/// An attack's ground-truth file (JSON), then the accessors scoring uses.
pub fn truth(data: &[u8]) {
    if let Ok(truth) = mithridate_attack::GroundTruth::from_slice(data, name()) {
        let _ = truth.poisoned_ids();
        let _ = truth.trigger();
    }
}

/// A detector's `flags.json` (one detection object or an array of them).
pub fn flags(data: &[u8]) {
    let _ = mithridate_detect::Detection::from_slice(data, name());
}

/// A saved model: the JSON model card and the safetensors weights, given as
/// `CARD \0 WEIGHTS` (a JSON card never contains a raw NUL byte; without one the whole
/// input is the card and the weights are empty).
pub fn model(data: &[u8]) {
    let (card, weights) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let _ = mithridate_engine::Classifier::load_bytes(name(), card, weights);
}

/// An ONNX model (protobuf): parsed, validated and planned as `mithridate scan --onnx` does.
pub fn onnx(data: &[u8]) {
    use mithridate_onnx::{InputOptions, OnnxClassifier};
    let _ = OnnxClassifier::from_bytes(data, InputOptions::default());
}
