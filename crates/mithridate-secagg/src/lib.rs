//! # mithridate-secagg
//!
//! Secure aggregation with dropouts: the server of a federated round learns the sum of the
//! clients' vectors and nothing else about any one of them, even when clients drop out
//! mid-round. Two variants of one protocol ([`SecAgg::aggregate`]):
//!
//! * **SecAgg** (Bonawitz, Ivanov, Kreuter, Marcedone, McMahan, Patel, Ramage, Segal, Seth
//!   2017, "Practical Secure Aggregation for Privacy-Preserving Machine Learning", CCS): every
//!   pair of clients agrees a mask seed; each client's secrets are Shamir-shared among all
//!   others. Client cost `O(n + d)` words, server `O(n^2 + n d)` work with dropouts.
//! * **SecAgg+** (Bell, Bonawitz, Gascón, Lepoint, Raykova 2020, "Secure Single-Server
//!   Aggregation with (Poly)Logarithmic Overhead", CCS): the same on a random `k`-regular graph
//!   ([`graph::neighbours`]), `k = O(log n)`: client cost `O(k + d)`, server `O(n k + n d)`.
//!
//! Primitives: X25519 key agreement (RFC 7748, curve25519-dalek), SHA-256 key derivation,
//! the ChaCha20 stream as PRG (rand_chacha), Shamir `t`-of-`k` sharing over GF(2^61 - 1)
//! ([`field`]). Inputs are fixed-point words in `Z_{2^32}` ([`quantize`]).
//!
//! Assumptions (as simulated): a semi-honest (honest-but-curious) server that relays every
//! message and reports dropouts truthfully; clients drop after sharing their secrets and
//! before sending their masked input (the case that needs recovery); shares are hidden from
//! the server by a keystream, not authenticated (an active server needs an AEAD and the
//! consistency round of Bonawitz et al., not built); keys come from seeded ChaCha20 so runs
//! are reproducible (a deployment draws them from the OS). The server can unmask only if, for
//! every client whose secret it needs, at least `t` of its neighbours survive; otherwise the
//! round fails with [`SecAggError::TooManyDropouts`] naming it.
//!
//! ```
//! use mithridate_secagg::{ParamGuard, SecAggParams};
//! let secagg = SecAggParams::default().check().unwrap(); // complete graph, t = floor(k/2) + 1
//! let inputs = vec![vec![1u32, 2], vec![10, 20], vec![100, 200], vec![1000, 2000]];
//! // Client 2 drops out after sharing its keys: the sum of the other three comes out.
//! let out = secagg.aggregate(1, &inputs, &[false, false, true, false], 7).unwrap();
//! assert_eq!(out.sum, vec![1011, 2022]);
//! assert_eq!(out.survivors, vec![0, 1, 3]);
//! // Three of four gone: client 0's seed needs 2 shares and 1 neighbour is left.
//! let err = secagg.aggregate(5, &inputs, &[false, true, true, true], 7).unwrap_err();
//! assert!(err.to_string().starts_with("secure aggregation round 5:"), "{err}");
//! ```

pub mod crypto;
pub mod field;
pub mod graph;
mod protocol;
pub mod quantize;

pub use mithridate_core::ParamGuard;
pub use protocol::{Cost, Outcome};

/// Why a round could not be aggregated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SecAggError {
    /// A protocol parameter outside its valid range.
    #[error("invalid parameter {name}: {reason}")]
    Param { name: &'static str, reason: String },
    /// Fewer than `t` surviving neighbours hold shares of a secret the server needs.
    #[error("secure aggregation round {round}: too many dropouts ({dropped} of {clients} clients): client {client}'s {secret} needs t = {threshold} shares from its {degree} neighbours, only {got} survived")]
    TooManyDropouts {
        round: usize,
        client: usize,
        secret: &'static str,
        got: usize,
        threshold: usize,
        degree: usize,
        dropped: usize,
        clients: usize,
    },
    /// Malformed inputs or a failed cryptographic check.
    #[error("secure aggregation round {round}: {reason}")]
    Protocol { round: usize, reason: String },
}

/// Unchecked protocol parameters; `.check()` validates them into [`SecAgg`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct SecAggParams {
    /// SecAgg+'s graph degree `k` (even, >= 2); `None`: the complete graph (SecAgg). A `k`
    /// of at least `n - 1` is the complete graph too.
    pub neighbours: Option<usize>,
    /// Shamir threshold as a fraction of a client's neighbours: `t = floor(threshold k) + 1`,
    /// in `[0.5, 1)` (at least a majority, so that the shares of `b_u` and of `s_u` cannot
    /// both be gathered from honest answers).
    pub threshold: f64,
    /// Fixed-point fraction bits `b` of the encoding, 1..=24 (resolution `2^-b`).
    pub fraction_bits: u32,
}

impl Default for SecAggParams {
    /// The complete graph, `t = floor(k / 2) + 1`, 16 fraction bits.
    fn default() -> Self {
        SecAggParams {
            neighbours: None,
            threshold: 0.5,
            fraction_bits: 16,
        }
    }
}

impl ParamGuard for SecAggParams {
    type Checked = SecAgg;
    type Error = SecAggError;
    fn check_ref(&self) -> Result<(), SecAggError> {
        let bad = |name, reason: String| Err(SecAggError::Param { name, reason });
        if let Some(k) = self.neighbours {
            if k < 2 || k % 2 == 1 {
                return bad("neighbours", format!("must be even and >= 2, got {k}"));
            }
        }
        if !(self.threshold >= 0.5 && self.threshold < 1.0) {
            return bad(
                "threshold",
                format!("must be in [0.5, 1), got {}", self.threshold),
            );
        }
        if !(1..=24).contains(&self.fraction_bits) {
            return bad(
                "fraction-bits",
                format!("must be in 1..=24, got {}", self.fraction_bits),
            );
        }
        Ok(())
    }
    fn build(self) -> SecAgg {
        SecAgg {
            neighbours: self.neighbours,
            threshold: self.threshold,
            fraction_bits: self.fraction_bits,
        }
    }
}

/// The checked protocol.
#[derive(Debug, Clone)]
pub struct SecAgg {
    neighbours: Option<usize>,
    threshold: f64,
    fraction_bits: u32,
}

impl SecAgg {
    /// `t = min(k, floor(threshold k) + 1)` for a client with `k` neighbours.
    pub fn threshold_for(&self, k: usize) -> usize {
        ((self.threshold * k as f64).floor() as usize + 1).min(k)
    }

    /// The fixed-point fraction bits.
    pub fn fraction_bits(&self) -> u32 {
        self.fraction_bits
    }

    /// The graph degree (`None`: complete).
    pub fn neighbours(&self) -> Option<usize> {
        self.neighbours
    }
}
