//! Seeded randomness: one stream per attack run, and one per `(seed, sample id)` so that
//! per-sample choices (random trigger positions) are reproducible at test time.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// SplitMix64 finaliser (Steele et al. 2014): decorrelates nearby seeds and ids.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream for one purpose (`stream` names it, so e.g. the sample choice and the pattern
/// of one attack do not share draws).
pub(crate) fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(seed ^ mix(stream)))
}

/// The stream for sample `id` under `seed`.
pub(crate) fn per_sample(seed: u64, id: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(mix(seed) ^ id))
}

/// Stream names.
pub(crate) const SELECT: u64 = 1;
pub(crate) const PATTERN: u64 = 2;
pub(crate) const LABELS: u64 = 3;
