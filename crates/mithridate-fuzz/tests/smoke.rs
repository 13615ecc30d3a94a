//! The fuzzing smoke run of `cargo test` (CI): every harness over every committed seed of
//! its corpus, `fuzz/corpus/<target>/`, then over seeded mutations of those seeds (the
//! readers' mutation fuzzer, `mithridate_data::readers::fuzz::mutate`), each input under
//! `catch_unwind`. The coverage-guided runs of millions of inputs are `fuzz/run.sh`; this
//! keeps every harness compiling, its seeds present, and the cheap bugs out between runs.

use mithridate_data::readers::fuzz::mutate;
use mithridate_fuzz::{Harness, TARGETS};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The committed seeds of `target`, in name order.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("a seed"))
        .collect()
}

fn harness(target: &str) -> Harness {
    TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|&(_, h)| h)
        .unwrap_or_else(|| panic!("no harness {target}"))
}

/// Runs `target`'s harness on its seeds and `mutations` mutated inputs; panics naming the
/// first input that panicked (hex, to paste into a regression test).
fn smoke(target: &str, mutations: u64) {
    let run = harness(target);
    let seeds = seeds(target);
    assert!(!seeds.is_empty(), "{target}: no committed seeds");
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    for i in 0..seeds.len() as u64 + mutations {
        let input = match seeds.get(i as usize) {
            Some(seed) => seed.clone(),
            None => mutate(&mut rng, &seeds, target == "image"),
        };
        if std::panic::catch_unwind(|| run(&input)).is_err() {
            let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
            panic!("{target}: input {i} panicked; input (hex): {hex}");
        }
    }
}

macro_rules! smoke_tests {
    ($($target:ident: $mutations:expr,)*) => {
        $(
            #[test]
            fn $target() {
                smoke(stringify!($target), $mutations);
            }
        )*

        /// Every harness has a smoke test here and a cargo-fuzz binary in `fuzz/`.
        #[test]
        fn every_target_is_smoked_and_has_a_fuzz_binary() {
            let smoked = [$(stringify!($target)),*];
            let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
            for (name, _) in TARGETS {
                assert!(smoked.contains(name), "{name} has no smoke test");
                let source = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
                let text = std::fs::read_to_string(&source)
                    .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
                assert!(text.contains(&format!("mithridate_fuzz::{name}(data)")));
                assert!(manifest.contains(&format!("name = \"{name}\"")));
            }
            assert_eq!(smoked.len(), TARGETS.len());
        }
    };
}

// Mutation counts keep the whole file near 10 s in a dev build on 2 cores (the model,
// ONNX and Parquet harnesses build a network or decode pages per input, so they get fewer).
smoke_tests! {
    npz: 4_000,
    npy: 5_000,
    idx: 5_000,
    rda: 5_000,
    csv: 4_000,
    arff: 4_000,
    jsonl: 4_000,
    image: 4_000,
    parquet: 2_000,
    assess_config: 3_000,
    assess_results: 4_000,
    gate_policy: 4_000,
    continual_config: 4_000,
    manifest: 4_000,
    keys: 5_000,
    audit_log: 2_000,
    truth: 4_000,
    flags: 5_000,
    model: 1_000,
    onnx: 1_000,
}

/// The seeds are valid files (so mutations start deep inside each parser), checked through
/// the in-memory entry points the harnesses use.
#[test]
fn seeds_parse() {
    use mithridate_provenance::{keys, AuditLog, Manifest, VerifyOptions};
    let name = Path::new("seed");
    for seed in seeds("npz") {
        mithridate_data::npz::read_bytes(name, &seed).unwrap();
    }
    for seed in seeds("arff") {
        mithridate_data::arff::parse("seed.arff", &seed).unwrap();
    }
    for seed in seeds("manifest") {
        let manifest = Manifest::from_slice(&seed, name).unwrap();
        if manifest.signature().is_some() {
            let key = mithridate_fuzz::fuzz_signing_key().verifying_key();
            manifest.verify_signature(&key).unwrap();
        }
    }
    let key = keys::signing_key_from_pem(&seeds("keys")[1], name).unwrap();
    assert_eq!(
        keys::verifying_key_from_pem(&seeds("keys")[0], name).unwrap(),
        key.verifying_key()
    );
    for seed in seeds("audit_log") {
        let report = AuditLog::verify_bytes(&seed, &VerifyOptions::default());
        assert!(report.is_ok() && report.records == 4, "{report:?}");
    }
    for seed in seeds("truth") {
        mithridate_attack::GroundTruth::from_slice(&seed, name).unwrap();
    }
    for seed in seeds("flags") {
        mithridate_detect::Detection::from_slice(&seed, name).unwrap();
    }
    for seed in seeds("model") {
        let at = seed.iter().position(|&b| b == 0).unwrap();
        mithridate_engine::Classifier::load_bytes(name, &seed[..at], &seed[at + 1..]).unwrap();
    }
}
