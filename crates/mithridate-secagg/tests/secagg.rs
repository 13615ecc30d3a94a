//! The protocol against what it cannot fool: the plain sum (exact in Z_2^32, and equal to the
//! plain FedAvg mean after dequantisation) with 0%, 10% and 30% dropouts on the complete and
//! the SecAgg+ graph; masked inputs indistinguishable from uniform bytes (chi-square); a clear
//! error naming the round when dropouts exceed the threshold; hand-computed Shamir cases.

use mithridate_secagg::field::{self, reconstruct, share, P};
use mithridate_secagg::quantize::{decode, encode, range};
use mithridate_secagg::{ParamGuard, SecAggError, SecAggParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_updates(n: usize, d: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..d).map(|_| rng.random_range(-0.5..0.5)).collect())
        .collect()
}

/// `round(rate n)` clients drop, chosen by a seeded shuffle.
fn dropouts(n: usize, rate: f64, seed: u64) -> Vec<bool> {
    use rand::seq::SliceRandom;
    let mut ids: Vec<usize> = (0..n).collect();
    ids.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let k = (rate * n as f64).round() as usize;
    let mut out = vec![false; n];
    for &i in &ids[..k] {
        out[i] = true;
    }
    out
}

#[test]
fn sum_equals_plain_fedavg_with_dropouts() {
    let (n, d, bits) = (30, 257, 16);
    let updates = random_updates(n, d, 1);
    let r = range(bits, n);
    let encoded: Vec<Vec<u32>> = updates.iter().map(|x| encode(x, bits, r)).collect();
    // SecAgg, and SecAgg+ with k = 20 (t = 11: 9 dropouts never leave fewer than 11 of a
    // client's neighbours) and k = 10 (t = 6: at most 4 dropouts are always tolerated).
    for (neighbours, rates) in [
        (None, &[0.0, 0.1, 0.3][..]),
        (Some(20), &[0.0, 0.1, 0.3][..]),
        (Some(10), &[0.0, 0.1][..]),
    ] {
        let secagg = SecAggParams {
            neighbours,
            ..SecAggParams::default()
        }
        .check()
        .unwrap();
        for &rate in rates {
            let dropped = dropouts(n, rate, 3);
            let out = secagg.aggregate(1, &encoded, &dropped, 11).unwrap();
            let survivors: Vec<usize> = (0..n).filter(|&u| !dropped[u]).collect();
            assert_eq!(out.survivors, survivors);
            // Exact in Z_2^32: the sum of the survivors' words.
            let words: Vec<u32> = (0..d)
                .map(|j| {
                    survivors
                        .iter()
                        .fold(0u32, |s, &u| s.wrapping_add(encoded[u][j]))
                })
                .collect();
            assert_eq!(out.sum, words, "graph {neighbours:?}, dropout {rate}");
            // Dequantised mean vs FedAvg (uniform weights) of the survivors: within half a
            // quantisation step per coordinate.
            let m = survivors.len() as f64;
            let mean: Vec<f64> = decode(&out.sum, bits).iter().map(|s| s / m).collect();
            for j in 0..d {
                let fedavg: f64 = survivors.iter().map(|&u| updates[u][j]).sum::<f64>() / m;
                assert!(
                    (mean[j] - fedavg).abs() <= 0.5 / f64::from(1u32 << bits) + 1e-12,
                    "coordinate {j}: {} vs {fedavg}",
                    mean[j]
                );
            }
            assert_eq!(out.cost.dropped, dropped.iter().filter(|x| **x).count());
        }
    }
}

/// Pearson's chi-square statistic of byte frequencies against uniform (255 degrees of
/// freedom: mean 255, sd ~22.6; the 0.999 quantile is ~330).
fn byte_chi_square(words: &[u32]) -> f64 {
    let mut counts = [0u64; 256];
    for w in words {
        for b in w.to_le_bytes() {
            counts[b as usize] += 1;
        }
    }
    let expected = (words.len() * 4) as f64 / 256.0;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

#[test]
fn masked_inputs_look_uniform_to_the_server() {
    let (n, d, bits) = (12, 4096, 16);
    // Highly structured inputs: small values, mostly zero bytes.
    let updates = random_updates(n, d, 5);
    let encoded: Vec<Vec<u32>> = updates
        .iter()
        .map(|x| encode(x, bits, range(bits, n)))
        .collect();
    let secagg = SecAggParams {
        neighbours: Some(6),
        ..SecAggParams::default()
    }
    .check()
    .unwrap();
    // k = 6, t = 4: two dropouts always leave 4 of a client's neighbours.
    let out = secagg
        .aggregate(1, &encoded, &dropouts(n, 0.17, 2), 9)
        .unwrap();
    assert_eq!(out.survivors.len(), 10);
    for (u, y) in out.survivors.iter().zip(&out.masked) {
        let chi = byte_chi_square(y);
        assert!(chi < 340.0, "client {u}'s masked input: chi-square {chi}");
        // The plain encoding is nowhere near uniform (the negative control).
        assert!(byte_chi_square(&encoded[*u]) > 10_000.0);
    }
    // All masked inputs together, and the bits of each word position, are uniform too.
    let all: Vec<u32> = out.masked.concat();
    assert!(byte_chi_square(&all) < 340.0);
    for bit in 0..32 {
        let ones = all.iter().filter(|w| (*w >> bit) & 1 == 1).count() as f64;
        let z = (ones - all.len() as f64 / 2.0) / (all.len() as f64 / 4.0).sqrt();
        assert!(z.abs() < 4.5, "bit {bit}: z = {z}");
    }
}

#[test]
fn too_many_dropouts_is_an_error_naming_the_round() {
    let n = 10;
    let inputs = vec![vec![1u32; 8]; n];
    let secagg = SecAggParams::default().check().unwrap();
    // Complete graph: k = 9, t = 5; 5 dropouts leave 4 answers for every secret.
    let dropped = dropouts(n, 0.5, 1);
    let err = secagg.aggregate(17, &inputs, &dropped, 0).unwrap_err();
    match &err {
        SecAggError::TooManyDropouts {
            round,
            got,
            threshold,
            ..
        } => {
            assert_eq!((*round, *got, *threshold), (17, 4, 5));
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    assert!(text.starts_with("secure aggregation round 17: too many dropouts (5 of 10 clients)"));
    // 4 dropouts leave 5 = t: fine.
    let dropped = dropouts(n, 0.4, 1);
    let out = secagg.aggregate(17, &inputs, &dropped, 0).unwrap();
    assert_eq!(out.sum, vec![6; 8]);
}

#[test]
fn bad_parameters_are_errors() {
    let bad = [
        SecAggParams {
            neighbours: Some(3),
            ..SecAggParams::default()
        },
        SecAggParams {
            threshold: 0.3,
            ..SecAggParams::default()
        },
        SecAggParams {
            threshold: f64::NAN,
            ..SecAggParams::default()
        },
        SecAggParams {
            fraction_bits: 0,
            ..SecAggParams::default()
        },
    ];
    for p in bad {
        assert!(p.check().is_err(), "{p:?}");
    }
    let secagg = SecAggParams::default().check().unwrap();
    assert!(secagg.aggregate(0, &[vec![1]], &[false], 0).is_err());
    assert!(secagg
        .aggregate(0, &[vec![1], vec![1, 2]], &[false, false], 0)
        .is_err());
}

#[test]
fn shamir_hand_computed() {
    // f(x) = 5 + 3x + 2x^2: f(1) = 10, f(2) = 19, f(3) = 32, f(4) = 49.
    assert_eq!(field::evaluate(&[5, 3, 2], 1), 10);
    assert_eq!(field::evaluate(&[5, 3, 2], 4), 49);
    assert_eq!(reconstruct(&[(1, 10), (2, 19), (3, 32)]), 5);
    assert_eq!(reconstruct(&[(4, 49), (2, 19), (3, 32)]), 5);
    // Two points of a degree-2 polynomial give the line through them instead: 19 - 13 = ... the
    // line through (1, 10), (2, 19) is 1 + 9x, so f(0) reads 1, not 5.
    assert_eq!(reconstruct(&[(1, 10), (2, 19)]), 1);
    // Arithmetic wraps mod p = 2^61 - 1: f(x) = (p - 1) + x has f(0) = p - 1.
    assert_eq!(reconstruct(&[(1, 0), (2, 1)]), P - 1);
    assert_eq!(field::mul(P - 1, P - 1), 1);
    assert_eq!(field::mul(field::inv(12345), 12345), 1);
}

#[test]
fn shamir_any_t_of_n_reconstruct_and_bytes_roundtrip() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for trial in 0..50 {
        let secret: u64 = rng.random_range(0..P);
        let t = rng.random_range(1..8);
        let n = t + rng.random_range(0..5);
        let xs: Vec<u64> = (1..=n as u64).collect();
        let shares = share(secret, t, &xs, &mut rng);
        // A random subset of t shares.
        let mut idx: Vec<usize> = (0..n).collect();
        rand::seq::SliceRandom::shuffle(&mut idx[..], &mut rng);
        let points: Vec<(u64, u64)> = idx[..t].iter().map(|&i| (xs[i], shares[i])).collect();
        assert_eq!(reconstruct(&points), secret, "trial {trial}");
    }
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes);
    let elements = field::to_elements(&bytes);
    assert_eq!(field::from_elements(&elements), Some(bytes));
    let mut wrong = elements;
    wrong[0] |= 1 << 60;
    assert_eq!(field::from_elements(&wrong), None);
}
