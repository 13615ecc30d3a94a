//! The primitives: X25519 key agreement (curve25519-dalek), a SHA-256 key derivation, the
//! ChaCha20 pseudorandom generator that expands a 32-byte seed into a mask, and the keystream
//! that hides the Shamir shares the server relays.

use curve25519_dalek::montgomery::MontgomeryPoint;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// An X25519 key pair (RFC 7748): a 32-byte secret scalar (clamped when used) and its public
/// Montgomery u-coordinate.
#[derive(Clone)]
pub struct KeyPair {
    pub secret: [u8; 32],
    pub public: [u8; 32],
}

impl KeyPair {
    /// A fresh key pair from `rng` (the simulation seeds it; a deployment uses the OS RNG).
    pub fn generate(rng: &mut ChaCha20Rng) -> KeyPair {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        KeyPair::from_secret(secret)
    }

    /// The pair of a known secret (a reconstructed one, to check it against its public key).
    pub fn from_secret(secret: [u8; 32]) -> KeyPair {
        KeyPair {
            secret,
            public: MontgomeryPoint::mul_base_clamped(secret).to_bytes(),
        }
    }
}

/// The shared 32-byte key of `mine` and `theirs`, for `purpose`: `SHA-256(domain, purpose,
/// X25519(mine, theirs), the two public keys in ascending order)` (hashing the raw
/// Diffie-Hellman output with both public keys, as libsodium's `crypto_kx` does). `None` if
/// the Diffie-Hellman output is zero (a low-order public key).
///
/// ```
/// use mithridate_secagg::crypto::{agree, KeyPair};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
/// let (a, b) = (KeyPair::generate(&mut rng), KeyPair::generate(&mut rng));
/// assert_eq!(agree(&a, &b.public, b"mask"), agree(&b, &a.public, b"mask"));
/// assert_ne!(agree(&a, &b.public, b"mask"), agree(&a, &b.public, b"share"));
/// ```
pub fn agree(mine: &KeyPair, theirs: &[u8; 32], purpose: &[u8]) -> Option<[u8; 32]> {
    let dh = MontgomeryPoint(*theirs).mul_clamped(mine.secret).to_bytes();
    if dh == [0u8; 32] {
        return None;
    }
    let (lo, hi) = if mine.public <= *theirs {
        (&mine.public, theirs)
    } else {
        (theirs, &mine.public)
    };
    let mut h = Sha256::new();
    h.update(b"mithridate-secagg-v1");
    h.update([purpose.len() as u8]);
    h.update(purpose);
    h.update(dh);
    h.update(lo);
    h.update(hi);
    Some(h.finalize().into())
}

/// `d` pseudorandom words from the ChaCha20 stream keyed by `seed` (Bernstein 2008; the PRG
/// of SecAgg's masks): uniform on `Z_{2^32}` for a uniform seed.
pub fn expand(seed: &[u8; 32], d: usize) -> Vec<u32> {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    (0..d).map(|_| rng.next_u32()).collect()
}

/// XORs `data` with the ChaCha20 keystream of `SHA-256(key, sender, recipient)` (encryption
/// and decryption are the same operation). Confidentiality only: a deployment needs an AEAD
/// so that an active server cannot alter shares unnoticed.
pub fn keystream_xor(key: &[u8; 32], sender: u32, recipient: u32, data: &mut [u8]) {
    let mut h = Sha256::new();
    h.update(key);
    h.update(sender.to_le_bytes());
    h.update(recipient.to_le_bytes());
    let mut rng = ChaCha20Rng::from_seed(h.finalize().into());
    let mut pad = vec![0u8; data.len()];
    rng.fill_bytes(&mut pad);
    for (b, p) in data.iter_mut().zip(pad) {
        *b ^= p;
    }
}
