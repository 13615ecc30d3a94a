//! `mithridate provenance` end to end on real data: keygen, manifest (signed at once or
//! later), verify against the data, and diff naming the label-flipped samples by id.

use crate::common;
use common::*;

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn signed_manifests_verify_and_diff_names_flipped_samples() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let key = json(&mithridate(&[
        "--json",
        "provenance",
        "keygen",
        "-o",
        arg(&p("k.key")),
    ]));
    assert_eq!(key["key_id"].as_str().unwrap().len(), 16, "{key}");
    #[cfg(unix)]
    assert_eq!((mode(&p("k.key")), mode(&p("k.key.pub"))), (0o600, 0o644));

    let clean = json(&mithridate(&[
        "--json",
        "provenance",
        "manifest",
        "--data",
        "digits",
        "--source",
        "sklearn wheel",
        "--license",
        "BSD-3-Clause",
        "--key",
        arg(&p("k.key")),
        "-o",
        arg(&p("clean.json")),
    ]));
    assert_eq!(clean["num_samples"], 1438);
    assert_eq!(clean["signed_by"], key["key_id"]);
    let verified = json(&mithridate(&[
        "--json",
        "provenance",
        "verify",
        arg(&p("clean.json")),
        "--pubkey",
        arg(&p("k.key.pub")),
        "--data",
        "digits",
    ]));
    assert_eq!(verified["signature_valid"], true, "{verified}");
    assert_eq!(
        verified["data"]["changed_labels"].as_array().unwrap().len(),
        0
    );

    // 10% of labels flipped: an unsigned manifest, signed afterwards.
    let poisoned = p("p.npz");
    json(&mithridate(&[
        "--json",
        "poison",
        "--data",
        "digits",
        "--attack",
        "label-flip",
        "--rate",
        "0.1",
        "-o",
        arg(&poisoned),
    ]));
    let flipped = json(&mithridate(&[
        "--json",
        "provenance",
        "manifest",
        "--data",
        arg(&poisoned),
        "-o",
        arg(&p("flipped.json")),
    ]));
    assert_eq!(flipped["signed_by"], serde_json::Value::Null);
    assert_ne!(flipped["root"], clean["root"]);
    let signed = json(&mithridate(&[
        "--json",
        "provenance",
        "sign",
        arg(&p("flipped.json")),
        "--key",
        arg(&p("k.key")),
    ]));
    assert_eq!(signed["key_id"], key["key_id"]);

    let diff = json(&mithridate(&[
        "--json",
        "provenance",
        "diff",
        arg(&p("clean.json")),
        arg(&p("flipped.json")),
    ]));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("p.npz.truth.json")).unwrap()).unwrap();
    let mut want: Vec<u64> = truth["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    want.sort_unstable();
    let got: Vec<u64> = diff["changed_labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(got, want, "diff must name exactly the flipped samples");
    assert!(diff["added"].as_array().unwrap().is_empty());

    // Failing checks: exit 1 with the difference on one line.
    let fail_on_change = mithridate(&[
        "provenance",
        "diff",
        arg(&p("clean.json")),
        arg(&p("flipped.json")),
        "--fail-on-change",
    ]);
    assert_one_line_error(&fail_on_change, 1, "144 with changed labels");
    let wrong_data = mithridate(&[
        "provenance",
        "verify",
        arg(&p("clean.json")),
        "--pubkey",
        arg(&p("k.key.pub")),
        "--data",
        arg(&poisoned),
    ]);
    assert_one_line_error(&wrong_data, 1, "144 with changed labels");
}

#[test]
fn bad_inputs_fail_cleanly_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    std::fs::write(p("bad.npz"), b"not a zip archive").unwrap();
    let out = mithridate(&[
        "provenance",
        "manifest",
        "--data",
        arg(&p("bad.npz")),
        "-o",
        arg(&p("m.json")),
    ]);
    assert_one_line_error(&out, 2, "not a valid .npz file");
    assert!(!p("m.json").exists());
    // A missing manifest is an I/O failure: exit 3 (the project's convention for I/O).
    json(&mithridate(&[
        "--json",
        "provenance",
        "keygen",
        "-o",
        arg(&p("k.key")),
    ]));
    let out = mithridate(&[
        "provenance",
        "verify",
        arg(&p("nope.json")),
        "--pubkey",
        arg(&p("k.key.pub")),
    ]);
    assert_one_line_error(&out, 3, "no such file");
}
