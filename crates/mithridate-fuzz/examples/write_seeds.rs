//! Writes the committed seed corpora, `fuzz/corpus/<target>/`: small valid files of every
//! format, made by Mithridate's own writers (or copied from the repository's fixtures),
//! so the fuzzer starts from inputs that reach deep into each parser.
//!
//! ```text
//! cargo run -p mithridate-fuzz --example write_seeds
//! MITHRIDATE_FUZZ_SEEDS=$PWD/fuzz/corpus cargo test -p mithridate-data --lib -- --ignored write_fuzz_seeds
//! ```
//! The second command writes the `.rda` seeds (made by the R-serialization writer that
//! lives in `mithridate-data`'s unit tests). Seeds are overwritten, never deleted.

use mithridate_attack::{registry, AttackInput, Budget};
use mithridate_data::readers::fuzz::{seeds as reader_seeds, Target};
use mithridate_data::{Dataset, Features, Modality};
use mithridate_detect::{ClassVerdict, Detection};
use mithridate_engine::{Architecture, Classifier, ModelCard};
use mithridate_provenance::{
    AuditLog, DatasetVersionPayload, Digest, GateDecisionPayload, Manifest, NotePayload,
    ScanPayload,
};
use serde_json::json;
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let corpus = root.join("fuzz/corpus");
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let tmp = tmp.path();
    let mut w = Writer { corpus };

    for name in [
        "tabular_compressed.npz",
        "text_savez.npz",
        "images_nhw_savez.npz",
        "images_nchw_fortran_compressed.npz",
    ] {
        w.copy(
            "npz",
            &root
                .join("crates/mithridate-data/tests/fixtures")
                .join(name),
        );
    }
    for (i, data) in datasets().iter().enumerate() {
        let path = tmp.join(format!("d{i}.npz"));
        mithridate_data::npz::write_uncompressed(&path, data).expect("writing a seed .npz");
        w.copy_as("npz", &path, &format!("written-{i}.npz"));
    }

    npy_seeds(&mut w, tmp);
    idx_seeds(&mut w);

    for (target, dir) in [
        (Target::Csv, "csv"),
        (Target::Jsonl, "jsonl"),
        (Target::Png, "image"),
        (Target::Jpeg, "image"),
        (Target::Parquet, "parquet"),
    ] {
        for (i, seed) in reader_seeds(target).iter().enumerate() {
            w.put(dir, &format!("{}-{i}", target.name()), seed);
        }
    }

    for (name, text) in ARFF {
        w.put("arff", name, text.as_bytes());
    }

    for file in [
        "crates/mithridate-assess/default.toml",
        "examples/assess.toml",
        "bench/detect-quick.toml",
    ] {
        w.copy("assess_config", &root.join(file));
    }
    let results = std::fs::read_to_string(root.join("bench/results/detect_unseen_seed7.jsonl"))
        .expect("the committed results file");
    let head: String = results.lines().take(3).map(|l| format!("{l}\n")).collect();
    w.put("assess_results", "three-cells.jsonl", head.as_bytes());
    w.copy(
        "gate_policy",
        &root.join("crates/mithridate-gate/examples/gate.toml"),
    );
    w.copy(
        "continual_config",
        &root.join("crates/mithridate-continual/examples/continual.toml"),
    );

    provenance_seeds(&mut w, tmp);
    truth_and_flags_seeds(&mut w);
    model_seeds(&mut w, tmp);

    for name in ["ops_nhwc_torchscript.onnx", "ops_nhwc_dynamo.onnx"] {
        w.copy(
            "onnx",
            &root
                .join("crates/mithridate-onnx/tests/fixtures")
                .join(name),
        );
    }
}

/// ARFF tables: numeric, quoted and nominal attributes, comments, a sparse-looking id.
const ARFF: [(&str, &str); 2] = [
    (
        "mixed.arff",
        "% comment\n@RELATION 'toy data'\n\n@attribute age numeric\n\
         @attribute 'colour' { red, 'dark blue', \"green\"}\n@Attribute weight REAL\n\
         @attribute class {yes,no}\n@data\n% rows\n30, red, 1.5, yes\n41,'dark blue',2,no\n\
         \n25 , green , 0.5 , yes\n",
    ),
    (
        "id-first.arff",
        "@relation r\n@attribute id integer\n@attribute x numeric\n@attribute c {a,b}\n\
         @data\n1,0.5,a\n2,-1e3,b\n",
    ),
];

struct Writer {
    corpus: PathBuf,
}

impl Writer {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.corpus.join(target);
        std::fs::create_dir_all(&dir).expect("creating the corpus directory");
        std::fs::write(dir.join(name), bytes).expect("writing a seed");
        println!("{target}/{name}: {} bytes", bytes.len());
    }

    fn copy(&mut self, target: &str, from: &Path) {
        let name = from
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a file name");
        self.copy_as(target, from, name);
    }

    fn copy_as(&mut self, target: &str, from: &Path, name: &str) {
        let bytes =
            std::fs::read(from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display()));
        self.put(target, name, &bytes);
    }
}

/// A tabular, an image and a text dataset (with class names and a vocabulary), 4 samples each.
fn datasets() -> Vec<Dataset> {
    let tabular = Dataset::new(
        Modality::Tabular { features: 3 },
        Features::Dense((0..12).map(|i| i as f32 * 0.25 - 1.0).collect()),
        vec![0, 1, 1, 0],
        vec![10, 11, 12, 13],
        2,
        vec!["no".into(), "yes".into()],
    );
    let image = Dataset::new(
        Modality::Image {
            channels: 1,
            height: 4,
            width: 4,
        },
        Features::Dense((0..64).map(|i| (i % 16) as f32 / 15.0).collect()),
        vec![0, 1, 2, 1],
        vec![0, 1, 2, 3],
        3,
        vec![],
    );
    let text = Dataset::new(
        Modality::Text {
            max_len: 3,
            vocab_size: 5,
        },
        Features::Tokens(vec![1, 2, 0, 3, 4, 1, 2, 2, 0, 4, 0, 0]),
        vec![0, 1, 0, 1],
        vec![5, 6, 7, 8],
        2,
        vec![],
    )
    .and_then(|d| d.with_vocabulary(["<pad>", "a", "b", "c", "d"].map(String::from).to_vec()));
    vec![
        tabular.expect("a valid dataset"),
        image.expect("a valid dataset"),
        text.expect("a valid dataset"),
    ]
}

/// `.npy` headers (version 1 and 2) of the dtypes the readers take, with payloads.
fn npy_seeds(w: &mut Writer, tmp: &Path) {
    let path = tmp.join("a.npy");
    mithridate_data::npy::write_f32(&path, &[2, 3], &[0.5, 1.0, -2.0, 3.0, 4.5, 6.0])
        .expect("writing a seed .npy");
    w.copy_as("npy", &path, "f4-2x3.npy");
    mithridate_data::npy::write_f64(&path, &[3], &[1.0, f64::MAX, -0.0]).expect("writing");
    w.copy_as("npy", &path, "f8-3.npy");
    for (descr, fortran, shape, payload) in [
        ("<i8", false, "(2,)", vec![7u8; 16]),
        ("|u1", true, "(2, 2)", vec![1, 2, 3, 4]),
        (">i4", false, "(1,)", vec![0, 0, 0, 9]),
        (
            "<U2",
            false,
            "(2,)",
            b"a\0\0\0b\0\0\0c\0\0\0d\0\0\0".to_vec(),
        ),
        ("|S3", false, "()", b"abc".to_vec()),
    ] {
        let dict = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        for version in [1u8, 2] {
            let prefix = if version == 1 { 10 } else { 12 };
            let mut header = dict.clone();
            while (prefix + header.len() + 1) % 64 != 0 {
                header.push(' ');
            }
            header.push('\n');
            let mut bytes = b"\x93NUMPY".to_vec();
            bytes.extend([version, 0]);
            if version == 1 {
                bytes.extend((header.len() as u16).to_le_bytes());
            } else {
                bytes.extend((header.len() as u32).to_le_bytes());
            }
            bytes.extend(header.as_bytes());
            bytes.extend(&payload);
            let name = format!("{}-v{version}.npy", descr.replace(['<', '>', '|'], ""));
            w.put("npy", &name, &bytes);
        }
    }
}

/// IDX images `[2, 3, 3]` and labels `[2]`, and both halves of one input for
/// `images_and_labels` (the harness splits at the middle).
fn idx_seeds(w: &mut Writer) {
    let idx = |dims: &[u32], data: &[u8]| {
        let mut out = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            out.extend(d.to_be_bytes());
        }
        out.extend(data);
        out
    };
    let images = idx(&[2, 3, 3], &(0..18).map(|i| i * 14).collect::<Vec<u8>>());
    let labels = idx(&[2], &[3, 7]);
    w.put("idx", "images", &images);
    w.put("idx", "labels", &labels);
    let mut labels_padded = labels.clone();
    labels_padded.resize(images.len(), 0);
    let both = [images, labels_padded].concat();
    w.put("idx", "images-then-labels", &both);
}

/// A manifest (signed and unsigned), the fuzz key's PEM files, a signed audit log.
fn provenance_seeds(w: &mut Writer, tmp: &Path) {
    let key = mithridate_fuzz::fuzz_signing_key();
    let data = &datasets()[0];
    let mut manifest = Manifest::build(data, Some("fuzz seed".into()), Some("CC0".into()));
    w.put("manifest", "unsigned.json", &manifest.to_json());
    manifest.sign(&key);
    w.put("manifest", "signed.json", &manifest.to_json());

    let secret = tmp.join("fuzz.key");
    let public = mithridate_provenance::keys::write_keypair(&secret, &key, true)
        .expect("writing the key pair");
    w.copy_as("keys", &secret, "secret.pem");
    w.copy_as("keys", &public, "public.pem");

    let log = AuditLog::open(tmp.join("audit.jsonl")).expect("a log path");
    let root = Digest([1; 32]);
    log.append_payload(
        &DatasetVersionPayload {
            root,
            name: "train".into(),
            manifest_path: Some("train.manifest.json".into()),
            parent_root: None,
            num_samples: Some(4),
        },
        Some(&key),
    )
    .expect("appending");
    log.append_payload(
        &ScanPayload {
            detector: "spectral".into(),
            dataset_root: Some(root),
            model_hash: None,
            flagged: vec![11, 12],
            verdict: Some("suspicious".into()),
        },
        Some(&key),
    )
    .expect("appending");
    log.append_payload(
        &GateDecisionPayload {
            candidate_model_hash: "ab12".into(),
            baseline_model_hash: None,
            passed: true,
            reasons: vec![],
            policy: None,
        },
        None,
    )
    .expect("appending");
    log.append_payload(
        &NotePayload {
            text: "é \"q\"".into(),
        },
        Some(&key),
    )
    .expect("appending");
    w.copy_as("audit_log", log.path(), "four-records.jsonl");
}

/// Ground truth from real attacks on a tiny image set; flags in both file shapes.
fn truth_and_flags_seeds(w: &mut Writer) {
    let train = &datasets()[1];
    for (name, params) in [
        (
            "badnets",
            json!({"target": 0, "size": 2, "pattern": "white"}),
        ),
        ("label-flip", json!({})),
        ("blend", json!({"target": 1})),
    ] {
        let attack = match registry::build(name, &params) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("skipping truth seed {name}: {e}");
                continue;
            }
        };
        match attack.poison(&AttackInput::new(train, Budget::Rate(0.5), 1)) {
            Ok(poisoned) => {
                let json = serde_json::to_vec_pretty(&poisoned.truth).expect("serialising");
                w.put("truth", &format!("{name}.json"), &json);
            }
            Err(e) => eprintln!("skipping truth seed {name}: {e}"),
        }
    }
    let detection = Detection {
        detector: "spectral".into(),
        parameters: json!({"expected_rate": 0.1}),
        flagged: vec![2, 3],
        scores: vec![(0, 0.1), (1, 0.2), (2, 3.5), (3, 1e300)],
        classes: vec![ClassVerdict {
            class: 1,
            samples: 2,
            flagged: 2,
            suspicious: true,
            statistic: 2.0,
        }],
        relabel: vec![(2, 0)],
    };
    let one = serde_json::to_vec(&detection).expect("serialising");
    w.put("flags", "one.json", &one);
    let many = serde_json::to_vec(&vec![detection.clone(), detection]).expect("serialising");
    w.put("flags", "two.json", &many);
}

/// Saved models (`CARD \0 WEIGHTS`, the model harness's input). No MLP: its fixed hidden
/// layers make a 136 kB seed, which slows every execution; it shares the dense path of
/// `logreg`.
fn model_seeds(w: &mut Writer, tmp: &Path) {
    let image = Modality::Image {
        channels: 1,
        height: 4,
        width: 4,
    };
    let text = Modality::Text {
        max_len: 3,
        vocab_size: 5,
    };
    for (arch, modality) in [
        (Architecture::LogReg, Modality::Tabular { features: 3 }),
        (Architecture::Cnn, image),
        (Architecture::Text, text),
    ] {
        let model = Classifier::new(arch, &modality, 2, 1).expect("a small model");
        let card = ModelCard::describe(&model, "fuzz seed", 1, None);
        let path = tmp.join(format!("{arch}.safetensors"));
        model.save(&path, &card).expect("saving a seed model");
        let card_path = tmp.join(format!("{arch}.safetensors.json"));
        let mut bytes = std::fs::read(card_path).expect("the card beside the weights");
        bytes.push(0);
        bytes.extend(std::fs::read(&path).expect("weights"));
        w.put("model", &format!("{arch}.card-nul-safetensors"), &bytes);
    }
}
