//! Tamper detection on a 60,000-sample, 784-feature set (MNIST-sized, synthetic values):
//! every single change is found and named by id, unchanged data verifies clean, and
//! signatures bind the manifest to one key.

use mithridate_core::ParamGuard;
use mithridate_data::{Dataset, Features, Modality};
use mithridate_provenance::{
    keys, CheckedDiffParams, DiffParams, LabelChange, Manifest, ManifestDiff, SignatureFailure,
};
use std::sync::OnceLock;

const N: usize = 60_000;
const D: usize = 784;

/// Ids are a permutation of a shifted range, so an id is never a row position.
fn id_of(row: usize) -> u64 {
    10_000_000 + ((row as u64 * 7919) % N as u64)
}

fn base() -> &'static (Dataset, Manifest) {
    static BASE: OnceLock<(Dataset, Manifest)> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let values: Vec<f32> = (0..N * D)
            .map(|_| {
                // xorshift64: cheap deterministic pixels in [0, 1].
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 56) as f32 / 255.0
            })
            .collect();
        let labels = (0..N).map(|i| (i % 10) as u32).collect();
        let ids = (0..N).map(id_of).collect();
        let ds = Dataset::new(
            Modality::Image {
                channels: 1,
                height: 28,
                width: 28,
            },
            Features::Dense(values),
            labels,
            ids,
            10,
            vec![],
        )
        .unwrap();
        let manifest = Manifest::build(&ds, Some("synthetic".into()), Some("CC0".into()));
        (ds, manifest)
    })
}

fn parts() -> (Modality, Vec<f32>, Vec<u32>, Vec<u64>) {
    let (modality, features, labels, ids, _, _) = base().0.clone().into_parts();
    let Features::Dense(values) = features else {
        unreachable!("synthetic set is dense")
    };
    (modality, values, labels, ids)
}

fn rebuild(modality: Modality, values: Vec<f32>, labels: Vec<u32>, ids: Vec<u64>) -> Dataset {
    Dataset::new(modality, Features::Dense(values), labels, ids, 10, vec![]).unwrap()
}

fn verify(data: &Dataset) -> ManifestDiff {
    base().1.verify_data(data, &CheckedDiffParams::default())
}

/// Asserts the diff holds exactly the expected changes and nothing else.
fn assert_exactly(
    diff: &ManifestDiff,
    added: &[u64],
    removed: &[u64],
    features: &[u64],
    labels: &[LabelChange],
) {
    assert_eq!(diff.added, added, "added");
    assert_eq!(diff.removed, removed, "removed");
    assert_eq!(diff.changed_features, features, "changed features");
    assert_eq!(diff.changed_labels, labels, "changed labels");
    assert!(diff.metadata_changes.is_empty());
    assert_eq!(
        diff.is_clean(),
        added.is_empty() && removed.is_empty() && features.is_empty() && labels.is_empty()
    );
}

#[test]
fn unchanged_set_verifies_clean_even_shuffled() {
    let (ds, manifest) = base();
    assert_eq!(manifest.num_samples(), N);
    assert_exactly(&verify(ds), &[], &[], &[], &[]);
    // Reversed row order: the same samples, so the same root and a clean diff.
    let rows: Vec<usize> = (0..N).rev().collect();
    let reversed = ds.select(&rows).unwrap();
    assert_eq!(
        Manifest::build(&reversed, None, None).root(),
        manifest.root()
    );
    assert_exactly(&verify(&reversed), &[], &[], &[], &[]);
}

#[test]
fn one_flipped_label_is_named() {
    let (m, v, mut labels, ids) = parts();
    let row = 31_337;
    let old = labels[row];
    labels[row] = (old + 3) % 10;
    let diff = verify(&rebuild(m, v, labels, ids));
    let change = LabelChange {
        id: id_of(row),
        old,
        new: (old + 3) % 10,
    };
    assert_exactly(&diff, &[], &[], &[], &[change]);
    // One sample in 60,000 does not move a class share by a point.
    assert_eq!(diff.flagged_classes().count(), 0);
}

#[test]
fn one_changed_pixel_is_named() {
    let (m, mut v, labels, ids) = parts();
    let row = 4_242;
    // The smallest possible change: one ulp of one pixel.
    let pixel = &mut v[row * D + 400];
    *pixel = f32::from_bits(pixel.to_bits() + 1);
    let diff = verify(&rebuild(m, v, labels, ids));
    assert_exactly(&diff, &[], &[], &[id_of(row)], &[]);
}

#[test]
fn one_added_sample_is_named() {
    let (m, mut v, mut labels, mut ids) = parts();
    // A copy of an existing sample under a fresh id: same content, still an addition.
    let copy: Vec<f32> = v[7 * D..8 * D].to_vec();
    v.extend_from_slice(&copy);
    labels.push(labels[7]);
    ids.push(99);
    let diff = verify(&rebuild(m, v, labels, ids));
    assert_exactly(&diff, &[99], &[], &[], &[]);
}

#[test]
fn one_removed_sample_is_named() {
    let (ds, _) = base();
    let rows: Vec<usize> = (0..N).filter(|&r| r != 59_999).collect();
    let diff = verify(&ds.select(&rows).unwrap());
    assert_exactly(&diff, &[], &[id_of(59_999)], &[], &[]);
}

#[test]
fn targeted_label_flips_trip_the_class_share_alarm() {
    let (m, v, mut labels, ids) = parts();
    // Flip 1,000 samples of class 3 to class 7: each class's share moves 1.67 points.
    let flipped: Vec<usize> = (0..N).filter(|&r| labels[r] == 3).take(1000).collect();
    for &r in &flipped {
        labels[r] = 7;
    }
    let poisoned = Manifest::build(&rebuild(m, v, labels, ids), None, None);
    let diff = ManifestDiff::between(&base().1, &poisoned, &CheckedDiffParams::default());
    let mut expected: Vec<u64> = flipped.iter().map(|&r| id_of(r)).collect();
    expected.sort_unstable();
    let got: Vec<u64> = diff.changed_labels.iter().map(|c| c.id).collect();
    assert_eq!(got, expected);
    assert!(diff.changed_labels.iter().all(|c| c.old == 3 && c.new == 7));
    let flagged: Vec<usize> = diff.flagged_classes().map(|c| c.class).collect();
    assert_eq!(flagged, vec![3, 7]);
    // A 2-point threshold does not flag a 1.67-point move.
    let loose = DiffParams {
        share_threshold: 0.02,
    }
    .check()
    .unwrap();
    let diff = ManifestDiff::between(&base().1, &poisoned, &loose);
    assert_eq!(diff.flagged_classes().count(), 0);
}

#[test]
fn signature_binds_manifest_to_key_and_content() {
    let (ds, manifest) = base();
    let key = keys::generate().unwrap();
    let other = keys::generate().unwrap();
    let mut signed = manifest.clone();
    assert_eq!(
        signed.verify_signature(&key.verifying_key()),
        Err(SignatureFailure::Unsigned)
    );
    signed.sign(&key);
    assert_eq!(signed.verify_signature(&key.verifying_key()), Ok(()));
    assert!(matches!(
        signed.verify_signature(&other.verifying_key()),
        Err(SignatureFailure::WrongKey { .. })
    ));

    // Through a file: save, load, still verifies.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.manifest.json");
    signed.save(&path).unwrap();
    let loaded = Manifest::load(&path).unwrap();
    assert_eq!(loaded, signed);
    assert_eq!(loaded.verify_signature(&key.verifying_key()), Ok(()));

    // An attacker rebuilds the manifest from poisoned data and keeps the old signature.
    let (m, v, mut labels, ids) = parts();
    labels[0] = (labels[0] + 1) % 10;
    let forged_body = Manifest::build(
        &rebuild(m, v, labels, ids),
        manifest.source().map(String::from),
        None,
    );
    let mut text: serde_json::Value = serde_json::from_slice(&forged_body.to_json()).unwrap();
    text["signature"] = serde_json::to_value(signed.signature().unwrap()).unwrap();
    let forged = Manifest::from_slice(&serde_json::to_vec(&text).unwrap(), &path).unwrap();
    assert!(matches!(
        forged.verify_signature(&key.verifying_key()),
        Err(SignatureFailure::Invalid { .. })
    ));
    assert_exactly(
        &loaded.verify_data(ds, &CheckedDiffParams::default()),
        &[],
        &[],
        &[],
        &[],
    );
}
