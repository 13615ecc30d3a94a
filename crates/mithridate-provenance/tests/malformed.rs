//! Malformed or tampered manifests give clear errors or failed signature checks, never
//! panics or silent acceptance.

use mithridate_data::{Dataset, Features, Modality};
use mithridate_provenance::{Manifest, ProvenanceError, SigningKey};
use serde_json::{json, Value};
use std::path::Path;

fn signed_manifest() -> (Manifest, SigningKey) {
    let ds = Dataset::new(
        Modality::Image {
            channels: 1,
            height: 2,
            width: 2,
        },
        Features::Dense((0..12).map(|v| v as f32 / 11.0).collect()),
        vec![0, 1, 1],
        vec![5, 9, 2],
        2,
        vec!["cat".into(), "dog".into()],
    )
    .unwrap();
    let key = SigningKey::from_bytes(&[3; 32]);
    let mut m = Manifest::build(&ds, Some("test".into()), Some("CC0".into()));
    m.sign(&key);
    (m, key)
}

fn load(bytes: &[u8]) -> Result<Manifest, ProvenanceError> {
    Manifest::from_slice(bytes, Path::new("m.json"))
}

fn error_of(value: &Value) -> String {
    match load(&serde_json::to_vec(value).unwrap()) {
        Ok(_) => panic!("accepted: {value}"),
        Err(e) => {
            assert!(matches!(e, ProvenanceError::Malformed { .. }), "{e}");
            e.to_string()
        }
    }
}

/// An edit to a manifest's JSON.
type Mutation = fn(&mut Value);

#[test]
fn structural_errors_name_the_problem() {
    let (m, _) = signed_manifest();
    let good: Value = serde_json::from_slice(&m.to_json()).unwrap();
    assert!(load(&m.to_json()).is_ok());
    let cases: Vec<(Mutation, &str)> = vec![
        (
            |v| v["signed"]["format"] = json!("other"),
            "format is 'other'",
        ),
        (
            |v| v["signed"]["format_version"] = json!(2),
            "unsupported format_version 2",
        ),
        (
            |v| v["signed"]["hash_scheme"] = json!("sha1"),
            "unsupported hash_scheme",
        ),
        (
            |v| v["signed"]["created"] = json!("yesterday"),
            "not an RFC 3339 time",
        ),
        (
            |v| v["signed"]["num_samples"] = json!(4),
            "num_samples is 4",
        ),
        (
            |v| v["signed"]["class_counts"] = json!([2, 1]),
            "class_counts",
        ),
        (
            |v| v["signed"]["class_names"] = json!(["a"]),
            "1 class names for 2 classes",
        ),
        (|v| v["signed"]["samples"][1]["label"] = json!(7), "label 7"),
        (
            |v| v["signed"]["samples"][0]["label"] = json!(0),
            "class_counts",
        ),
        (
            |v| v["signed"]["samples"][1]["id"] = json!(2),
            "listed twice",
        ),
        (|v| v["signed"]["samples"][1]["id"] = json!(1), "not sorted"),
        (|v| v["signed"]["samples"][2]["id"] = json!(10), "root"),
        (
            |v| v["signed"]["samples"][0]["features"] = json!("00"),
            "64",
        ),
        (
            |v| {
                let f = v["signed"]["samples"][0]["features"]
                    .as_str()
                    .unwrap()
                    .to_uppercase();
                v["signed"]["samples"][0]["features"] = json!(f);
            },
            "lower-case",
        ),
        (
            |v| v["signed"]["root"] = json!("0".repeat(64)),
            "does not match the listed samples",
        ),
        (|v| v["signed"]["surprise"] = json!(1), "unknown field"),
        (
            |v| v["signature"]["algorithm"] = json!("rsa"),
            "only ed25519",
        ),
        (
            |v| v["signature"]["key_id"] = json!("0000000000000000"),
            "does not belong",
        ),
        (
            |v| v["signature"]["value"] = json!("zz"),
            "128 lower-case hex",
        ),
        (
            |v| v["signature"]["public_key"] = json!("ab"),
            "64 lower-case hex",
        ),
        (
            |v| v["signed"]["modality"] = json!({"kind": "sound"}),
            "unknown variant",
        ),
        (|v| *v = json!([]), "not a Mithridate manifest"),
    ];
    for (mutate, expected) in cases {
        let mut v = good.clone();
        mutate(&mut v);
        let err = error_of(&v);
        assert!(err.contains(expected), "expected '{expected}' in: {err}");
        assert!(err.starts_with("m.json: "), "{err}");
    }
    for bytes in [&b""[..], b"{", b"\xff\xfe", b"null"] {
        assert!(matches!(
            load(bytes),
            Err(ProvenanceError::Malformed { .. })
        ));
    }
}

#[test]
fn every_content_byte_change_is_rejected_or_breaks_the_signature() {
    let (m, key) = signed_manifest();
    let bytes = m.to_json();
    let public = key.verifying_key();
    let mut rejected = 0;
    let mut unsigned = 0;
    for pos in 0..bytes.len() {
        // Whitespace is formatting, not content (the signature covers canonical bytes).
        if bytes[pos].is_ascii_whitespace() {
            continue;
        }
        let mut changed = bytes.clone();
        changed[pos] = if bytes[pos] == b'1' { b'2' } else { b'1' };
        match load(&changed) {
            Err(_) => rejected += 1,
            Ok(tampered) => {
                assert!(
                    tampered.verify_signature(&public).is_err(),
                    "byte {pos} ({:?}) changed without detection",
                    bytes[pos] as char
                );
                unsigned += 1;
            }
        }
    }
    // Both defences are exercised: structure/root checks and the signature.
    assert!(rejected > 0 && unsigned > 0, "{rejected} {unsigned}");
    // Re-indenting keeps the signature valid.
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let compact = load(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(compact.verify_signature(&public), Ok(()));
}
