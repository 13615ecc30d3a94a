//! Files users share (manifests, audit logs and their head files, public keys) are 0644;
//! private keys are 0600 and are never overwritten without being asked to.

#![cfg(unix)]

use mithridate_data::{Dataset, Features, Modality};
use mithridate_provenance::{keys, AuditLog, Manifest, NotePayload};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn shared_outputs_are_0644_and_private_keys_0600() {
    let dir = tempfile::tempdir().unwrap();
    let data = Dataset::new(
        Modality::Tabular { features: 1 },
        Features::Dense(vec![0.5, 1.5]),
        vec![0, 1],
        vec![0, 1],
        2,
        vec![],
    )
    .unwrap();
    let manifest = dir.path().join("manifest.json");
    Manifest::build(&data, None, None).save(&manifest).unwrap();
    assert_eq!(mode(&manifest), 0o644);

    let secret = dir.path().join("signer.key");
    let key = keys::generate().unwrap();
    let public = keys::write_keypair(&secret, &key, false).unwrap();
    assert_eq!(mode(&secret), 0o600);
    assert_eq!(mode(&public), 0o644);
    let before = std::fs::read(&secret).unwrap();
    assert!(keys::write_keypair(&secret, &keys::generate().unwrap(), false).is_err());
    assert_eq!(std::fs::read(&secret).unwrap(), before);

    let log = AuditLog::open(dir.path().join("audit.jsonl")).unwrap();
    log.append_payload(
        &NotePayload {
            text: "hello".into(),
        },
        Some(&key),
    )
    .unwrap();
    assert_eq!(mode(log.path()), 0o644);
    assert_eq!(mode(&log.head_path()), 0o644);
}
