//! The prime field GF(p), p = 2^61 - 1 (a Mersenne prime), and Shamir's t-of-n secret
//! sharing over it.

use rand::Rng;

/// The modulus `p = 2^61 - 1`.
pub const P: u64 = (1 << 61) - 1;

/// `a + b mod p` for `a, b < p`.
pub fn add(a: u64, b: u64) -> u64 {
    let s = a + b;
    if s >= P {
        s - P
    } else {
        s
    }
}

/// `a - b mod p` for `a, b < p`.
pub fn sub(a: u64, b: u64) -> u64 {
    if a >= b {
        a - b
    } else {
        a + P - b
    }
}

/// `a b mod p` for `a, b < p` (the Mersenne reduction: `2^61 = 1 mod p`).
pub fn mul(a: u64, b: u64) -> u64 {
    let z = a as u128 * b as u128;
    let r = (z & P as u128) as u64 + (z >> 61) as u64;
    let r = (r & P) + (r >> 61);
    if r >= P {
        r - P
    } else {
        r
    }
}

/// `a^e mod p`.
pub fn pow(mut a: u64, mut e: u64) -> u64 {
    let mut r = 1;
    while e > 0 {
        if e & 1 == 1 {
            r = mul(r, a);
        }
        a = mul(a, a);
        e >>= 1;
    }
    r
}

/// `a^-1 mod p` (Fermat: `a^(p-2)`); `a` must be nonzero.
pub fn inv(a: u64) -> u64 {
    debug_assert_ne!(a % P, 0, "zero has no inverse");
    pow(a, P - 2)
}

/// Shamir (1979), "How to share a secret": the evaluations at `xs` (distinct, nonzero) of
/// `f(x) = secret + a_1 x + ... + a_{t-1} x^{t-1}` with uniform random `a_j`; any `t` of them
/// determine `secret = f(0)`, any `t - 1` are independent of it.
///
/// ```
/// use mithridate_secagg::field::{reconstruct, share};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
/// let shares = share(42, 3, &[1, 2, 3, 4, 5], &mut rng);
/// let some: Vec<(u64, u64)> = [(2, shares[1]), (4, shares[3]), (5, shares[4])].to_vec();
/// assert_eq!(reconstruct(&some), 42);
/// ```
pub fn share<R: Rng>(secret: u64, t: usize, xs: &[u64], rng: &mut R) -> Vec<u64> {
    let mut coefficients = vec![secret % P];
    coefficients.extend((1..t).map(|_| rng.random_range(0..P)));
    xs.iter().map(|&x| evaluate(&coefficients, x % P)).collect()
}

/// `sum_j c_j x^j` by Horner's rule.
pub fn evaluate(coefficients: &[u64], x: u64) -> u64 {
    coefficients
        .iter()
        .rev()
        .fold(0, |acc, &c| add(mul(acc, x), c))
}

/// Lagrange interpolation at 0 from `(x_i, f(x_i))` pairs with distinct nonzero `x_i`:
/// `f(0) = sum_i y_i prod_{j != i} x_j / (x_j - x_i)`.
pub fn reconstruct(points: &[(u64, u64)]) -> u64 {
    let mut secret = 0;
    for (i, &(xi, yi)) in points.iter().enumerate() {
        let (mut num, mut den) = (1, 1);
        for (j, &(xj, _)) in points.iter().enumerate() {
            if i != j {
                num = mul(num, xj);
                den = mul(den, sub(xj, xi));
            }
        }
        secret = add(secret, mul(yi, mul(num, inv(den))));
    }
    secret
}

/// Bytes per field element on the wire.
pub const ELEMENT_BYTES: usize = 8;
/// A 32-byte secret as field elements: 7-byte little-endian chunks (each `< 2^56 < p`).
pub const CHUNKS: usize = 5;

/// Splits a 32-byte secret into [`CHUNKS`] field elements.
pub fn to_elements(secret: &[u8; 32]) -> [u64; CHUNKS] {
    let mut out = [0u64; CHUNKS];
    for (k, chunk) in secret.chunks(7).enumerate() {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        out[k] = u64::from_le_bytes(b);
    }
    out
}

/// The inverse of [`to_elements`]; `None` if an element is out of its chunk's range (a
/// wrong reconstruction).
pub fn from_elements(elements: &[u64; CHUNKS]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    for (k, chunk) in out.chunks_mut(7).enumerate() {
        let bytes = elements[k].to_le_bytes();
        if bytes[chunk.len()..].iter().any(|b| *b != 0) {
            return None;
        }
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    Some(out)
}
