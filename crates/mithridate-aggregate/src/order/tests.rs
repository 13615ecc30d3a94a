//! Tests of the sorting network and the coordinate-wise order statistics.

use super::*;
use rand::{Rng, SeedableRng};

#[test]
fn network_sorts_every_size_and_input() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for m in 1..=70 {
        let full = Network::sorting(m, 0..m);
        for _ in 0..20 {
            // Few distinct values to exercise ties.
            let v: Vec<f32> = (0..m).map(|_| rng.random_range(0..5) as f32).collect();
            let mut want = v.clone();
            want.sort_by(f32::total_cmp);
            assert_eq!(full.sort_one(&v), want, "m = {m}");
        }
    }
}

/// The portable, AVX2 and AVX-512 (grouped) paths give identical lines for every size,
/// lane by lane, whatever this CPU picks by default.
#[test]
fn every_instruction_set_path_sorts_the_same() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    for m in 1..=70 {
        let net = Network::sorting(m, 0..m);
        let mut input = padded_lines(m);
        for line in &mut input[..m] {
            *line = std::array::from_fn(|_| rng.random_range(0..7) as f32);
        }
        let mut want = input.clone();
        apply_portable(&net.pairs, &mut want);
        for l in 0..LANES {
            let mut column: Vec<f32> = input[..m].iter().map(|x| x[l]).collect();
            column.sort_by(f32::total_cmp);
            assert!(
                want[..m].iter().zip(&column).all(|(x, c)| x[l] == *c),
                "m = {m}"
            );
        }
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut got = input.clone();
                // SAFETY: AVX2 checked; indices < m <= got.len().
                unsafe { apply_avx2(&net.pairs, &mut got) };
                assert_eq!(got, want, "avx2, m = {m}");
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                let mut got = input.clone();
                // SAFETY: AVX-512F checked; `got` is a padded buffer for `net`.
                unsafe { net.apply_grouped_avx512(&mut got) };
                assert_eq!(got, want, "avx512, m = {m}");
            }
        }
    }
}

#[test]
fn pruned_network_is_smaller_and_still_correct_on_needed_lines() {
    let m = 100;
    let full = Network::sorting(m, 0..m);
    let median = Network::sorting(m, 49..51);
    assert!(median.len() < full.len());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for _ in 0..50 {
        let v: Vec<f32> = (0..m).map(|_| rng.random::<f32>()).collect();
        let mut want = v.clone();
        want.sort_by(f32::total_cmp);
        let got = median.sort_one(&v);
        assert_eq!(&got[49..51], &want[49..51]);
    }
}

#[test]
fn closest_to_median_breaks_ties_towards_smaller_values() {
    // median 2; 1 and 3 are equally close: the smaller (1) is taken first.
    assert_eq!(
        closest_to_median_window(&[0.0, 1.0, 2.0, 3.0, 9.0], 2),
        (1, 3)
    );
    // even length: median 2.5, both middles equally close -> left first.
    assert_eq!(closest_to_median_window(&[0.0, 2.0, 3.0, 4.0], 1), (1, 2));
    assert_eq!(closest_to_median_window(&[0.0, 2.0, 3.0, 4.0], 3), (1, 4));
    // everything.
    assert_eq!(closest_to_median_window(&[0.0, 2.0, 3.0], 3), (0, 3));
}
