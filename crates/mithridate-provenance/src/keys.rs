//! Ed25519 key files (Bernstein, Duif, Lange, Schwabe, Yang, 2012; RFC 8032).
//!
//! Formats are the standard PEM ones, so OpenSSL reads them (`openssl pkey -in KEY -pubout`):
//! - secret key: PKCS#8 `-----BEGIN PRIVATE KEY-----`, file mode 0600, created atomically
//!   and never overwritten unless asked;
//! - public key: SPKI `-----BEGIN PUBLIC KEY-----`, next to the secret key as `KEY.pub`.
//!
//! Secret keys are never printed, logged or put into error messages; a key is named by its
//! [`key_id`] (a fingerprint of the public key) instead. Reading a secret key whose file is
//! readable by group or others is refused, as OpenSSH does.

use crate::fsutil::{self, Existing};
use crate::{ProvenanceError, Result};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use mithridate_core::FileMode;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const KEY_ID_CONTEXT: &str = "mithridate-provenance 2026-11-25 key id v1";

/// A fresh signing key from the operating system's random source.
pub fn generate() -> Result<SigningKey> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| {
        ProvenanceError::invalid(format!("no OS randomness for key generation: {e}"))
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The public key file that goes with a secret key file: `KEY.pub`.
pub fn public_key_path(secret_path: &Path) -> PathBuf {
    let mut name = secret_path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Short fingerprint of a public key: the first 16 hex digits of a BLAKE3 key derivation
/// over its 32 bytes. Safe to print.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = blake3::derive_key(KEY_ID_CONTEXT, key.as_bytes());
    hex::encode(&digest[..8])
}

/// Writes `key` to `secret_path` (mode 0600) and its public key to `KEY.pub` (mode 0644),
/// each atomically. Refuses to replace existing files unless `overwrite`. Returns the
/// public key's path.
pub fn write_keypair(secret_path: &Path, key: &SigningKey, overwrite: bool) -> Result<PathBuf> {
    let existing = if overwrite {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    let pub_path = public_key_path(secret_path);
    if !overwrite {
        if let Some(existing) = [secret_path, &pub_path].into_iter().find(|p| p.exists()) {
            return Err(ProvenanceError::invalid(format!(
                "{} already exists (refusing to overwrite it; pass --force to replace)",
                existing.display()
            )));
        }
    }
    // PKCS#8 v1 (RFC 8410: secret only), the form OpenSSL 3 reads; v2 with the public key
    // embedded is refused by `openssl pkey`.
    let secret_only = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    let secret_pem = secret_only
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| ProvenanceError::invalid(format!("encoding the secret key failed: {e}")))?;
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| ProvenanceError::invalid(format!("encoding the public key failed: {e}")))?;
    fsutil::write_atomic(
        secret_path,
        secret_pem.as_bytes(),
        FileMode::Secret,
        existing,
    )?;
    fsutil::write_atomic(&pub_path, public_pem.as_bytes(), FileMode::Shared, existing)?;
    Ok(pub_path)
}

/// Reads a PKCS#8 PEM secret key. The file's contents never appear in errors.
pub fn read_signing_key(path: &Path) -> Result<SigningKey> {
    check_private_permissions(path)?;
    let bytes = Zeroizing::new(fsutil::read(path)?);
    signing_key_from_pem(&bytes, path)
}

/// Parses a PKCS#8 PEM secret key held in memory (the file checks of [`read_signing_key`]
/// are the caller's); `path` names it in errors, the bytes never appear there.
pub fn signing_key_from_pem(bytes: &[u8], path: &Path) -> Result<SigningKey> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ProvenanceError::malformed(path, "not a PEM key file (not UTF-8 text)"))?;
    if text.contains("BEGIN PUBLIC KEY") {
        return Err(ProvenanceError::malformed(
            path,
            "this is a public key; signing needs the secret key file (without .pub)",
        ));
    }
    SigningKey::from_pkcs8_pem(text.trim()).map_err(|e| {
        ProvenanceError::malformed(path, format!("not an Ed25519 PKCS#8 PEM secret key ({e})"))
    })
}

/// Reads an SPKI PEM public key.
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey> {
    verifying_key_from_pem(&fsutil::read(path)?, path)
}

/// Parses an SPKI PEM public key held in memory; `path` names it in errors.
pub fn verifying_key_from_pem(bytes: &[u8], path: &Path) -> Result<VerifyingKey> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ProvenanceError::malformed(path, "not a PEM key file (not UTF-8 text)"))?;
    if text.contains("PRIVATE KEY") {
        return Err(ProvenanceError::malformed(
            path,
            "this is a secret key; verification takes the public key file (KEY.pub)",
        ));
    }
    VerifyingKey::from_public_key_pem(text.trim()).map_err(|e| {
        ProvenanceError::malformed(path, format!("not an Ed25519 SPKI PEM public key ({e})"))
    })
}

/// An Ed25519 signature as files embed it: signer's key id, public key and value, in hex.
pub(crate) struct EmbeddedSignature {
    pub key_id: String,
    pub public_key: String,
    pub value: String,
}

impl EmbeddedSignature {
    /// Signs `message` with `key`.
    pub(crate) fn sign(key: &SigningKey, message: &[u8]) -> EmbeddedSignature {
        use ed25519_dalek::Signer;
        let public = key.verifying_key();
        EmbeddedSignature {
            key_id: key_id(&public),
            public_key: hex::encode(public.as_bytes()),
            value: hex::encode(key.sign(message).to_bytes()),
        }
    }
}

/// Parses an embedded signature's fields: lower-case hex only (one spelling per value),
/// a valid public key point, and a key id that belongs to that key.
pub(crate) fn parse_embedded(
    key_id_hex: &str,
    public_key_hex: &str,
    value_hex: &str,
) -> Result<(VerifyingKey, ed25519_dalek::Signature), String> {
    let mut public = [0u8; 32];
    if public_key_hex.len() != 64 || !crate::merkle::is_lower_hex(public_key_hex) {
        return Err("public_key is not 64 lower-case hex digits".into());
    }
    hex::decode_to_slice(public_key_hex, &mut public)
        .map_err(|e| format!("public_key is not hex ({e})"))?;
    let public = VerifyingKey::from_bytes(&public)
        .map_err(|_| "public_key is not a valid Ed25519 point".to_string())?;
    if key_id(&public) != key_id_hex {
        return Err(format!(
            "key_id '{}' does not belong to public_key (whose id is {})",
            key_id_hex.escape_debug(),
            key_id(&public)
        ));
    }
    let mut value = [0u8; 64];
    if value_hex.len() != 128 || !crate::merkle::is_lower_hex(value_hex) {
        return Err("signature value is not 128 lower-case hex digits".into());
    }
    hex::decode_to_slice(value_hex, &mut value)
        .map_err(|e| format!("signature value is not hex ({e})"))?;
    Ok((public, ed25519_dalek::Signature::from_bytes(&value)))
}

#[cfg(unix)]
fn check_private_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(crate::io_err(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ProvenanceError::malformed(
            path,
            format!("secret key permissions {mode:04o} are too open; run `chmod 600` on it"),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_permissions(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, Verifier};

    #[test]
    fn keypair_round_trip_mode_and_no_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("signer.key");
        let key = generate().unwrap();
        let pub_path = write_keypair(&secret, &key, false).unwrap();
        assert_eq!(pub_path, dir.path().join("signer.key.pub"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let back = read_signing_key(&secret).unwrap();
        let public = read_verifying_key(&pub_path).unwrap();
        assert_eq!(back.verifying_key(), key.verifying_key());
        assert_eq!(public, key.verifying_key());
        let sig = back.sign(b"msg");
        assert!(public.verify(b"msg", &sig).is_ok());
        // Second keygen to the same path refuses and leaves the key intact.
        let other = generate().unwrap();
        let err = write_keypair(&secret, &other, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(
            read_signing_key(&secret).unwrap().verifying_key(),
            key.verifying_key()
        );
    }

    #[test]
    fn malformed_and_swapped_key_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("k");
        let key = generate().unwrap();
        let pub_path = write_keypair(&secret, &key, false).unwrap();
        let err = read_signing_key(&pub_path);
        // The .pub file has mode 0644, which the permission check reports first on Unix.
        assert!(err.is_err());
        let err = read_verifying_key(&secret).unwrap_err().to_string();
        assert!(err.contains("secret key"), "{err}");

        let junk = dir.path().join("junk");
        fsutil::write_atomic(
            &junk,
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            FileMode::Secret,
            Existing::Replace,
        )
        .unwrap();
        let err = read_signing_key(&junk).unwrap_err().to_string();
        assert!(err.contains("not an Ed25519 PKCS#8"), "{err}");
        fsutil::write_atomic(
            &junk,
            &[0xff, 0xfe, 0x00],
            FileMode::Secret,
            Existing::Replace,
        )
        .unwrap();
        assert!(read_signing_key(&junk)
            .unwrap_err()
            .to_string()
            .contains("not UTF-8"));
        assert!(read_verifying_key(&junk).is_err());
        assert!(read_verifying_key(&dir.path().join("missing")).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_secret_key_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("k");
        write_keypair(&secret, &generate().unwrap(), false).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_signing_key(&secret).unwrap_err().to_string();
        assert!(err.contains("too open"), "{err}");
        assert!(!err.contains("PRIVATE"));
    }

    #[test]
    fn key_id_is_stable_and_distinct() {
        let a = SigningKey::from_bytes(&[1; 32]).verifying_key();
        let b = SigningKey::from_bytes(&[2; 32]).verifying_key();
        assert_eq!(key_id(&a), key_id(&a));
        assert_eq!(key_id(&a).len(), 16);
        assert_ne!(key_id(&a), key_id(&b));
    }
}
