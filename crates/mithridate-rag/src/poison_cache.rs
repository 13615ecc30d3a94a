//! Passages crafted by white-box attacks, cached under the data home.
//!
//! A HotFlip poisoning of 50 passages costs minutes of encoder passes, and a sweep or an
//! assessment runs the same attack once undefended and once per defence setting. The crafted
//! passages depend only on the corpus, the targets, the attack and its parameters, the number
//! per target, the seed and the encoder, so they are stored as JSON under
//! `<home>/rag-cache/poisoning-<key>.json` with `key` = BLAKE3 of all of these. A file whose
//! stored key or contents do not match (corrupted, truncated, another version) is crafted again
//! and overwritten, with the reason returned; writes are atomic.

use crate::attacks::{AttackInput, Poisoning, RetrievalAttack};
use crate::{RagError, Result};
use std::path::PathBuf;

/// Bumped whenever an attack's output for the same inputs changes.
const FORMAT: &str = "mithridate-rag poisoning v1";

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    key: String,
    poisoning: Poisoning,
}

/// The cache key of `attack` on `input` under the encoder `encoder_id`.
pub fn key(attack: &dyn RetrievalAttack, input: &AttackInput, encoder_id: &str) -> String {
    let mut h = blake3::Hasher::new();
    let targets = serde_json::to_string(input.targets).unwrap_or_default();
    for part in [
        FORMAT,
        &input.corpus.content_hash(),
        encoder_id,
        attack.name(),
        &attack.parameters().to_string(),
        &targets,
        &input.per_target.to_string(),
        &input.seed.to_string(),
    ] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().to_hex()[..32].to_string()
}

pub fn path(home: &mithridate_data::DataHome, key: &str) -> PathBuf {
    home.root()
        .join("rag-cache")
        .join(format!("poisoning-{key}.json"))
}

/// `attack`'s poisoning of `input`, read from the cache when a valid entry exists, else
/// crafted and stored. Returns it with `Some(reason)` when an unusable entry was replaced.
pub fn poison_cached(
    home: &mithridate_data::DataHome,
    attack: &dyn RetrievalAttack,
    input: &AttackInput,
    encoder_id: &str,
) -> Result<(Poisoning, Option<String>)> {
    let key = key(attack, input, encoder_id);
    let file = path(home, &key);
    let replaced = match std::fs::read(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(format!("unreadable: {e}")),
        Ok(bytes) => match serde_json::from_slice::<Stored>(&bytes) {
            Ok(stored) if stored.key == key && consistent(&stored.poisoning, input) => {
                return Ok((stored.poisoning, None));
            }
            Ok(_) => Some("its key or shape does not match".to_string()),
            Err(e) => Some(format!("not a poisoning record ({e})")),
        },
    };
    let poisoning = attack.poison(input)?;
    let bytes = serde_json::to_vec(&Stored {
        key,
        poisoning: poisoning.clone(),
    })
    .map_err(|e| RagError::invalid(format!("cannot serialise the poisoning: {e}")))?;
    let dir = mithridate_core::fsutil::parent_dir(&file);
    std::fs::create_dir_all(&dir).map_err(RagError::io(&dir))?;
    mithridate_core::write_atomic(&file, &bytes, mithridate_core::FileMode::Shared)
        .map_err(RagError::io(&file))?;
    Ok((poisoning, replaced))
}

/// One list of ids per target, each id among the passages added or replaced.
fn consistent(p: &Poisoning, input: &AttackInput) -> bool {
    let ids: std::collections::HashSet<&str> = p
        .added
        .iter()
        .chain(&p.replaced)
        .map(|x| x.id.as_str())
        .collect();
    p.injected.len() == input.targets.len()
        && p.injected
            .iter()
            .flatten()
            .all(|id| ids.contains(id.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{Corpus, Passage};
    use crate::targets::Target;

    #[test]
    fn crafted_once_then_read_and_rebuilt_when_corrupted() {
        let dir = tempfile::tempdir().unwrap();
        let home = mithridate_data::DataHome::new(dir.path().to_path_buf());
        let corpus = Corpus::new(
            "c",
            vec![Passage {
                id: "a".into(),
                text: "Taxes fell by four percent.".into(),
            }],
        )
        .unwrap();
        let targets = [Target {
            question: "By how much did taxes fall?".into(),
            target_answer: "nine percent".into(),
            correct_answer: None,
            passage_id: None,
        }];
        let attack =
            crate::registry::build_attack("poisoned-rag", &serde_json::Value::Null).unwrap();
        let input = AttackInput {
            corpus: &corpus,
            targets: &targets,
            per_target: 3,
            seed: 1,
            encoder: None,
        };
        let (first, why) = poison_cached(&home, attack.as_ref(), &input, "enc").unwrap();
        assert_eq!((first.clone(), why), (attack.poison(&input).unwrap(), None));
        let file = path(&home, &key(attack.as_ref(), &input, "enc"));
        assert!(file.exists());
        // Read back, not crafted: an edited entry with the right key is what comes back.
        let mut stored: Stored = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        stored.poisoning.added[0].text = "from the cache".into();
        std::fs::write(&file, serde_json::to_vec(&stored).unwrap()).unwrap();
        let (read, why) = poison_cached(&home, attack.as_ref(), &input, "enc").unwrap();
        assert_eq!((read.added[0].text.as_str(), why), ("from the cache", None));
        // A truncated file is crafted again, with the reason.
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
        let (again, why) = poison_cached(&home, attack.as_ref(), &input, "enc").unwrap();
        assert_eq!(again, first);
        assert!(why.unwrap().contains("not a poisoning record"));
        // Anything it depends on changes the key.
        let other = AttackInput { seed: 2, ..input };
        assert_ne!(
            key(attack.as_ref(), &other, "enc"),
            key(attack.as_ref(), &input, "enc")
        );
        assert_ne!(
            key(attack.as_ref(), &input, "enc2"),
            key(attack.as_ref(), &input, "enc")
        );
    }
}
