//! Hand-computed cases, properties and error paths for every rule.

use mithridate_aggregate::anomaly;
use mithridate_aggregate::{
    AggregateError, Aggregation, Aggregator, Bulyan, CenteredClippingParams, CoordinateMedian,
    FedAvg, FlTrust, FlameParams, FoolsGoldHistory, FoolsGoldParams, GeometricMedianParams,
    KrumParams, Nnm, NormBoundParams, ParamGuard, PreAggregated, Round, RoundState, Rule,
    RuleConfig, TrimmedMean, Updates,
};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

fn run(rule: &dyn Aggregator, rows: &[f32], n: usize, d: usize) -> Aggregation {
    let u = Updates::new(rows, n, d).unwrap();
    rule.aggregate(&Round::new(u), &mut RoundState::default())
        .unwrap()
}

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn input_validation_names_the_problem() {
    assert_eq!(
        Updates::new(&[], 0, 3).unwrap_err(),
        AggregateError::NoClients
    );
    assert!(matches!(
        Updates::new(&[1.0; 5], 2, 3),
        Err(AggregateError::Shape { .. })
    ));
    let err = Updates::new(&[1.0, 2.0, 3.0, f32::INFINITY, 5.0, 6.0], 3, 2).unwrap_err();
    assert_eq!(
        err,
        AggregateError::NonFinite {
            row: 1,
            column: 1,
            value: f32::INFINITY
        }
    );
    assert!(err.to_string().contains("row 1"));
    let u = Updates::new(&[1.0; 6], 3, 2).unwrap();
    assert!(Round::new(u).with_weights(&[1.0, 2.0]).is_err());
    assert!(Round::new(u).with_weights(&[1.0, -2.0, 1.0]).is_err());
    assert!(Round::new(u).with_weights(&[0.0, 0.0, 0.0]).is_err());
    assert!(Round::new(u).with_root(&[1.0]).is_err());
    assert!(Round::new(u).with_client_ids(&[1, 1, 2]).is_err());
}

#[test]
fn byzantine_counts_beyond_tolerance_are_errors() {
    let rows = vec![0.5f32; 7 * 2];
    let u = Updates::new(&rows, 7, 2).unwrap();
    let round = Round::new(u);
    let mut state = RoundState::default();
    // n = 7: median/trimmed mean tolerate 3, Krum 2 (n >= 2f + 3), Bulyan 1 (n >= 4f + 3).
    let cases: Vec<(Box<dyn Aggregator>, usize)> = vec![
        (Box::new(CoordinateMedian::new(4)), 3),
        (Box::new(TrimmedMean::new(4)), 3),
        (Box::new(KrumParams::krum(3).check().unwrap()), 2),
        (Box::new(KrumParams::multi_krum(3).check().unwrap()), 2),
        (Box::new(Bulyan::new(2)), 1),
        (Box::new(GeometricMedianParams::new(4).check().unwrap()), 3),
        (Box::new(CenteredClippingParams::new(4).check().unwrap()), 3),
        (Box::new(NormBoundParams::new(4).check().unwrap()), 3),
        (Box::new(FlameParams::new(4).check().unwrap()), 3),
        (Box::new(FoolsGoldParams::new(7).check().unwrap()), 6),
        (
            Box::new(PreAggregated::new(
                vec![Box::new(Nnm::new(3))],
                Box::new(Bulyan::new(3)),
            )),
            1,
        ),
    ];
    for (rule, max) in cases {
        assert_eq!(rule.max_byzantine(7), max, "{}", rule.name());
        match rule.aggregate(&round, &mut state) {
            Err(AggregateError::TooManyByzantine { f, max: m, .. }) => {
                assert!(f > m, "{}", rule.name());
            }
            other => panic!("{}: expected TooManyByzantine, got {other:?}", rule.name()),
        }
    }
    assert!(RuleConfig::new(Rule::FedAvg, 1).build().is_err());
    assert!(KrumParams {
        byzantine: 0,
        select: Some(0)
    }
    .check()
    .is_err());
    // Within tolerance it runs.
    assert!(Bulyan::new(1).aggregate(&round, &mut state).is_ok());
}

#[test]
fn rules_refuse_inputs_they_would_ignore_or_lack() {
    let rows = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let u = Updates::new(&rows, 3, 2).unwrap();
    let w = [1.0, 1.0, 1.0];
    let weighted = Round::new(u).with_weights(&w).unwrap();
    let mut state = RoundState::default();
    assert!(matches!(
        CoordinateMedian::new(1).aggregate(&weighted, &mut state),
        Err(AggregateError::Unused { .. })
    ));
    assert!(matches!(
        FlTrust::new(0).aggregate(&Round::new(u), &mut state),
        Err(AggregateError::Missing { .. })
    ));
}

#[test]
fn hand_computed_fedavg_median_trimmed_mean() {
    // 4 clients, 2 coordinates.
    let rows = [1.0, 8.0, 2.0, 6.0, 3.0, 4.0, 10.0, 2.0];
    let w = [1.0, 1.0, 1.0, 5.0];
    let u = Updates::new(&rows, 4, 2).unwrap();
    let out = FedAvg::new()
        .aggregate(
            &Round::new(u).with_weights(&w).unwrap(),
            &mut RoundState::default(),
        )
        .unwrap();
    // (1+2+3+50)/8 = 7, (8+6+4+10)/8 = 3.5
    assert!(close(&out.aggregate, &[7.0, 3.5], 1e-6));
    // Median of {1,2,3,10} = 2.5, of {8,6,4,2} = 5.
    let out = run(&CoordinateMedian::new(1), &rows, 4, 2);
    assert_eq!(out.aggregate, vec![2.5, 5.0]);
    // Each coordinate's two middle values: client 0 is middle in coord 1 only (8? no: sorted
    // 2,4,6,8 -> middles 4,6 = clients 2,1); coordinate 0 middles 2,3 = clients 1,2.
    assert_eq!(out.weights, vec![0.0, 0.5, 0.5, 0.0]);
    // Trimmed mean f = 1: coordinate 0 keeps {2,3}, coordinate 1 keeps {4,6}.
    let out = run(&TrimmedMean::new(1), &rows, 4, 2);
    assert_eq!(out.aggregate, vec![2.5, 5.0]);
    // f = 0 is the plain mean.
    let out = run(&TrimmedMean::new(0), &rows, 4, 2);
    assert_eq!(out.aggregate, vec![4.0, 5.0]);
}

#[test]
fn median_shares_split_ties_equally() {
    // Coordinate values 1, 2, 2, 2, 9: median 2 held by three clients; each gets 1/3.
    let rows = [1.0, 2.0, 2.0, 2.0, 9.0];
    let out = run(&CoordinateMedian::new(2), &rows, 5, 1);
    assert_eq!(out.aggregate, vec![2.0]);
    let third = 1.0 / 3.0;
    for (got, want) in out.weights.iter().zip([0.0, third, third, third, 0.0]) {
        assert!((got - want).abs() < 1e-6);
    }
    assert!((out.weights.iter().sum::<f64>() - 1.0).abs() < 1e-6);
}

/// Honest values in [-1, 1] plus f arbitrary (huge, tiny, clustered) Byzantine values: the
/// median and trimmed mean stay inside the honest coordinate range whenever f < n/2.
#[test]
fn median_and_trimmed_mean_stay_inside_the_honest_range() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for trial in 0..200 {
        let n = rng.random_range(3..40);
        let f = rng.random_range(0..=(n - 1) / 2);
        let d = rng.random_range(1..40);
        let mut rows = vec![0.0f32; n * d];
        let byzantine: Vec<bool> = {
            let mut b = vec![false; n];
            for slot in b.iter_mut().take(f) {
                *slot = true;
            }
            for i in (1..n).rev() {
                b.swap(i, rng.random_range(0..=i));
            }
            b
        };
        for i in 0..n {
            for j in 0..d {
                rows[i * d + j] = if byzantine[i] {
                    match rng.random_range(0..3) {
                        0 => 1e30,
                        1 => -1e30,
                        _ => rng.random_range(-1e6..1e6),
                    }
                } else {
                    rng.random_range(-1.0..1.0)
                };
            }
        }
        for rule in [
            &CoordinateMedian::new(f) as &dyn Aggregator,
            &TrimmedMean::new(f),
        ] {
            let out = run(rule, &rows, n, d);
            for j in 0..d {
                let honest = (0..n).filter(|i| !byzantine[*i]).map(|i| rows[i * d + j]);
                let (lo, hi) = honest.fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), x| {
                    (a.min(x), b.max(x))
                });
                let g = out.aggregate[j];
                assert!(
                    g >= lo - 1e-6 && g <= hi + 1e-6,
                    "trial {trial} {} coord {j}: {g} not in [{lo}, {hi}]",
                    rule.name()
                );
            }
        }
    }
}

/// Blanchard et al.'s point: a rule choosing the update closest to the mean (or the mean
/// itself) is hijacked by one far attacker plus a decoy near the shifted mean; Krum, scoring
/// each update by its n - f - 2 nearest neighbours, picks an honest one.
#[test]
fn krum_picks_an_honest_update_in_the_textbook_counter_example() {
    let (n, f, d) = (9, 2, 2);
    let mut rows = Vec::new();
    let honest = [
        [0.0, 0.0],
        [0.1, 0.0],
        [0.0, 0.1],
        [-0.1, 0.0],
        [0.0, -0.1],
        [0.05, 0.05],
        [-0.05, -0.05],
    ];
    for h in honest {
        rows.extend_from_slice(&h);
    }
    // The far attacker drags the mean to (100/9, 100/9) ~ (11.1, 11.1); the decoy sits there.
    rows.extend_from_slice(&[100.0, 100.0]);
    rows.extend_from_slice(&[11.1, 11.1]);
    let mean: Vec<f32> = (0..d)
        .map(|j| (0..n).map(|i| rows[i * d + j]).sum::<f32>() / n as f32)
        .collect();
    let closest_to_mean = (0..n)
        .min_by(|a, b| {
            let da: f32 = (0..d).map(|j| (rows[a * d + j] - mean[j]).powi(2)).sum();
            let db: f32 = (0..d).map(|j| (rows[b * d + j] - mean[j]).powi(2)).sum();
            da.total_cmp(&db)
        })
        .unwrap();
    assert_eq!(
        closest_to_mean, 8,
        "the counter-example fools closest-to-mean"
    );
    let out = run(&KrumParams::krum(f).check().unwrap(), &rows, n, d);
    let chosen = out.selected.iter().position(|s| *s).unwrap();
    assert!(chosen < 7, "Krum chose Byzantine update {chosen}");
    assert_eq!(out.selected.iter().filter(|s| **s).count(), 1);
    // Multi-Krum keeps n - f = 7: exactly the honest ones.
    let out = run(&KrumParams::multi_krum(f).check().unwrap(), &rows, n, d);
    assert_eq!(
        out.selected,
        vec![true, true, true, true, true, true, true, false, false]
    );
}

#[test]
fn krum_scores_are_hand_computed_and_exact_for_near_duplicates() {
    // 1-D points 0, 1, 3, 7, 20; n = 5, f = 1 -> 2 nearest.
    let rows = [0.0, 1.0, 3.0, 7.0, 20.0];
    let out = run(&KrumParams::krum(1).check().unwrap(), &rows, 5, 1);
    assert_eq!(
        out.scores.unwrap(),
        vec![1.0 + 9.0, 1.0 + 4.0, 4.0 + 9.0, 16.0 + 36.0, 169.0 + 289.0]
    );
    assert_eq!(out.aggregate, vec![1.0]);
    // Near-duplicates far from the origin: true squared distance 2 * (d * 1e-3^2) must survive
    // the Gram-matrix route (f32 Gram gives 0 or garbage here).
    let d = 4096;
    let mut rows = vec![100.0f32; 5 * d];
    for j in 0..d {
        rows[d + j] = 100.001; // client 1 differs by 1e-3 in every coordinate
        rows[2 * d + j] = if j % 2 == 0 { 100.0 } else { 100.001 };
        rows[3 * d + j] = 300.0;
        rows[4 * d + j] = -300.0;
    }
    let out = run(&KrumParams::krum(1).check().unwrap(), &rows, 5, d);
    let scores = out.scores.unwrap();
    let diff = (100.001f32 - 100.0f32) as f64; // exact f32 difference
    let d01 = d as f64 * diff * diff;
    let d02 = (d / 2) as f64 * diff * diff;
    let d12 = (d / 2) as f64 * diff * diff;
    let want0 = d01 + d02;
    let want2 = d02 + d12;
    // f64 Gram error is ~sqrt(d) * 1e-16 * ||x||^2 = 3e-7 absolute here: 1e-4 relative.
    assert!(
        (scores[0] - want0).abs() <= 1e-4 * want0,
        "{} vs {want0}",
        scores[0]
    );
    assert!(
        (scores[2] - want2).abs() <= 1e-4 * want2,
        "{} vs {want2}",
        scores[2]
    );
    // The same distance from an f32 Gram matrix is garbage (the pitfall this guards against).
    let (r0, r1) = (&rows[..d], &rows[d..2 * d]);
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let f32_d01 = (dot(r0, r0) + dot(r1, r1) - 2.0 * dot(r0, r1)) as f64;
    assert!(
        (f32_d01 - d01).abs() > 0.5 * d01,
        "f32 route unexpectedly accurate: {f32_d01} vs {d01}"
    );
}

#[test]
fn bulyan_hand_case_and_deterministic_ties() {
    // n = 7, f = 1: theta = 5, beta = 3. Hand-traced in the rule's doctest: selects 0..=4.
    let rows = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 100.0];
    let out = run(&Bulyan::new(1), &rows, 7, 1);
    assert_eq!(
        out.selected,
        vec![true, true, true, true, true, false, false]
    );
    assert_eq!(out.aggregate, vec![2.0]);
    // ALIE-style identical Byzantine rows: repeated runs agree bit for bit.
    let (n, d, f) = (23, 64, 5);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    let mut rows: Vec<f32> = (0..(n - f) * d).map(|_| normal.sample(&mut rng)).collect();
    let byz: Vec<f32> = (0..d).map(|_| -0.5).collect();
    for _ in 0..f {
        rows.extend_from_slice(&byz);
    }
    let first = run(&Bulyan::new(f), &rows, n, d);
    let second = run(&Bulyan::new(f), &rows, n, d);
    assert_eq!(first, second);
    // The Byzantine rows tie in Krum score and in value; the coordinate step's tie-break is
    // value-based, so reordering the clients changes nothing, bit for bit.
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        perm.swap(i, rng.random_range(0..=i));
    }
    let permuted: Vec<f32> = perm
        .iter()
        .flat_map(|&i| rows[i * d..(i + 1) * d].to_vec())
        .collect();
    let third = run(&Bulyan::new(f), &permuted, n, d);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&first.aggregate), bits(&third.aggregate));
}

/// Brute force: minimise sum_i ||v - x_i|| on a grid refined around the best point.
fn brute_force_geomed(points: &[[f64; 2]]) -> [f64; 2] {
    let cost = |v: [f64; 2]| -> f64 {
        points
            .iter()
            .map(|p| ((v[0] - p[0]).powi(2) + (v[1] - p[1]).powi(2)).sqrt())
            .sum()
    };
    let (mut best, mut step) = ([0.0, 0.0], 4.0);
    for _ in 0..40 {
        let mut candidate = best;
        for dx in -20..=20 {
            for dy in -20..=20 {
                let v = [
                    best[0] + dx as f64 * step / 20.0,
                    best[1] + dy as f64 * step / 20.0,
                ];
                if cost(v) < cost(candidate) {
                    candidate = v;
                }
            }
        }
        best = candidate;
        step /= 2.0;
    }
    best
}

#[test]
fn geometric_median_matches_brute_force() {
    let points = [
        [0.0, 0.0],
        [1.0, 0.2],
        [0.3, 1.1],
        [2.0, 2.0],
        [-1.0, 0.5],
        [8.0, -6.0],
    ];
    let rows: Vec<f32> = points
        .iter()
        .flat_map(|p| [p[0] as f32, p[1] as f32])
        .collect();
    let mut params = GeometricMedianParams::new(2);
    params.tolerance = 1e-12;
    let out = run(&params.check().unwrap(), &rows, 6, 2);
    let want = brute_force_geomed(&points);
    assert!(
        (out.aggregate[0] as f64 - want[0]).abs() < 1e-3
            && (out.aggregate[1] as f64 - want[1]).abs() < 1e-3,
        "{:?} vs {want:?}",
        out.aggregate
    );
    assert!((out.weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    // The far point barely counts.
    assert!(out.weights[5] < 0.1);
}

#[test]
fn centered_clipping_state_is_explicit_and_pure() {
    let rows = [1.0f32, 1.0, 1.2, 0.8, 0.9, 1.1, 50.0, -50.0];
    let u = Updates::new(&rows, 4, 2).unwrap();
    let cc = CenteredClippingParams::new(1).check().unwrap();
    let a = cc
        .aggregate_from(&Round::new(u), Some(&[1.0, 1.0]))
        .unwrap();
    let b = cc
        .aggregate_from(&Round::new(u), Some(&[1.0, 1.0]))
        .unwrap();
    assert_eq!(a, b);
    // The attacker's pull is bounded: with tau = median distance, at most tau/n per step.
    assert!(close(&a.aggregate, &[1.0, 1.0], 0.5), "{:?}", a.aggregate);
    // Through the trait the centre is read from and written to the state.
    let mut state = RoundState {
        centre: Some(vec![1.0, 1.0]),
        ..Default::default()
    };
    let c = cc.aggregate(&Round::new(u), &mut state).unwrap();
    assert_eq!(c, a);
    assert_eq!(state.centre.as_deref(), Some(&c.aggregate[..]));
    // Effective weights reproduce the aggregate: a * centre + sum_i w_i x_i.
    let a_centre = 1.0 - c.weights.iter().sum::<f64>();
    for j in 0..2 {
        let v: f64 = a_centre * 1.0
            + (0..4)
                .map(|i| c.weights[i] * rows[i * 2 + j] as f64)
                .sum::<f64>();
        assert!((v - c.aggregate[j] as f64).abs() < 1e-5);
    }
    assert!(cc.aggregate_from(&Round::new(u), Some(&[1.0])).is_err());
}

#[test]
fn fltrust_and_norm_bound_hand_cases() {
    let rows = [3.0f32, 4.0, -1.0, 0.0, 0.0, 2.0];
    let u = Updates::new(&rows, 3, 2).unwrap();
    let root = [0.0f32, 1.0];
    let out = FlTrust::new(1)
        .aggregate(
            &Round::new(u).with_root(&root).unwrap(),
            &mut RoundState::default(),
        )
        .unwrap();
    // Trust: cos = 0.8, 0, 1 -> each rescaled to norm 1: (0.6, 0.8) and (0, 1); weighted 0.8 : 1.
    let want = [(0.8 * 0.6) / 1.8, (0.8 * 0.8 + 1.0) / 1.8];
    assert!(close(
        &out.aggregate,
        &[want[0] as f32, want[1] as f32],
        1e-6
    ));
    assert_eq!(out.selected, vec![true, false, true]);

    let mut p = NormBoundParams::new(1);
    p.bound = Some(2.0);
    let out = run(&p.check().unwrap(), &rows, 3, 2);
    // clipped: (1.2, 1.6), (-1, 0), (0, 2) -> mean
    assert!(close(&out.aggregate, &[0.2 / 3.0, 3.6 / 3.0], 1e-6));
    // Noise: same seed same output, different seed different output.
    let mut p = NormBoundParams::new(1);
    p.noise_std = 0.1;
    let rule = p.check().unwrap();
    let go = |seed| {
        rule.aggregate(&Round::new(u).with_seed(seed), &mut RoundState::default())
            .unwrap()
            .aggregate
    };
    assert_eq!(go(1), go(1));
    assert_ne!(go(1), go(2));
}

/// FLAME against a model-replacement-like round: 12 honest updates around a common direction,
/// 5 colluding boosted updates (x20) pointing elsewhere. The boosted ones are outside the
/// core, every admitted update is clipped to the median norm, and the aggregate stays within
/// the honest updates' norm; with noise, same seed same output.
#[test]
fn flame_excludes_boosted_colluders_and_bounds_the_step() {
    let (honest, byz, d) = (12, 5, 64);
    let n = honest + byz;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    let direction: Vec<f32> = (0..d).map(|_| normal.sample(&mut rng)).collect();
    let backdoor: Vec<f32> = (0..d).map(|_| normal.sample(&mut rng)).collect();
    let mut rows = Vec::with_capacity(n * d);
    for _ in 0..honest {
        rows.extend(direction.iter().map(|x| x + 0.3 * normal.sample(&mut rng)));
    }
    for _ in 0..byz {
        rows.extend(
            direction
                .iter()
                .zip(&backdoor)
                .map(|(x, b)| 20.0 * (0.3 * x + b) + 0.01 * normal.sample(&mut rng)),
        );
    }
    let mut p = FlameParams::new(byz);
    p.noise_factor = 0.0;
    let out = run(&p.check().unwrap(), &rows, n, d);
    let admitted: Vec<usize> = (0..n).filter(|i| out.selected[*i]).collect();
    assert!(admitted.iter().all(|i| *i < honest), "{admitted:?}");
    assert!(admitted.len() > n / 2);
    let scores = out.scores.unwrap();
    assert!((honest..n).all(|i| scores[i] > 0.0));
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let max_honest = (0..honest)
        .map(|i| norm(&rows[i * d..(i + 1) * d]))
        .fold(0.0, f64::max);
    assert!(norm(&out.aggregate) <= max_honest);
    // Honest updates above the median norm are clipped too: the weights sum to just below 1.
    let weight_sum: f64 = out.weights.iter().sum();
    assert!(weight_sum <= 1.0 && weight_sum > 0.9, "{weight_sum}");

    let rule = FlameParams::new(byz).check().unwrap();
    let u = Updates::new(&rows, n, d).unwrap();
    let go = |seed| {
        rule.aggregate(&Round::new(u).with_seed(seed), &mut RoundState::default())
            .unwrap()
            .aggregate
    };
    assert_eq!(go(3), go(3));
    assert_ne!(go(3), go(4));
    let mut bad = FlameParams::new(1);
    bad.noise_factor = -1.0;
    assert!(bad.check().is_err());
}

#[test]
fn foolsgold_down_weights_sybils_over_rounds() {
    let (n, d) = (6, 16);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    let ids = [10u64, 11, 12, 13, 20, 21];
    let rule = FoolsGoldParams::new(2).check().unwrap();
    let mut history = FoolsGoldHistory::new();
    let mut last = None;
    for _round in 0..3 {
        let mut rows: Vec<f32> = (0..4 * d).map(|_| normal.sample(&mut rng)).collect();
        let sybil: Vec<f32> = (0..d).map(|j| if j < 4 { 1.0 } else { 0.0 }).collect();
        for _ in 0..2 {
            rows.extend(sybil.iter().map(|x| x + 0.01 * normal.sample(&mut rng)));
        }
        let u = Updates::new(&rows, n, d).unwrap();
        let round = Round::new(u).with_client_ids(&ids).unwrap();
        last = Some(rule.aggregate_with_history(&round, &mut history).unwrap());
    }
    let out = last.unwrap();
    assert_eq!(history.len(), 6);
    assert_eq!(out.weights[4], 0.0);
    assert_eq!(out.weights[5], 0.0);
    assert!(out.weights[..4].iter().all(|w| *w > 0.0));
}

#[test]
fn nnm_composes_and_reports_effective_weights() {
    let rows = [0.0f32, 1.0, 2.0, 100.0];
    let rule = RuleConfig::new("nnm+krum".parse().unwrap(), 1);
    let agg = rule.build().unwrap();
    let out = agg.aggregate(
        &Round::new(Updates::new(&rows, 4, 1).unwrap()),
        &mut RoundState::default(),
    );
    // n = 4, f = 1: Krum needs n >= 5.
    assert!(matches!(out, Err(AggregateError::TooManyByzantine { .. })));
    let out = run(
        &PreAggregated::new(vec![Box::new(Nnm::new(1))], Box::new(TrimmedMean::new(1))),
        &rows,
        4,
        1,
    );
    // mixed = 1, 1, 1, 103/3; trimmed f = 1 -> mean of the middle two = 1.
    assert!(close(&out.aggregate, &[1.0], 1e-6));
    let reconstructed: f64 = (0..4).map(|i| out.weights[i] * rows[i] as f64).sum();
    assert!((reconstructed - 1.0).abs() < 1e-6);
    assert_eq!(out.weights[3], 0.0);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (n, d) = (13, 70_000);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let rows: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let rules = [
        "median",
        "trimmed-mean",
        "krum",
        "multi-krum",
        "bulyan",
        "geomed",
        "centered-clipping",
        "nnm+median",
    ];
    for name in rules {
        let agg = RuleConfig::new(name.parse().unwrap(), 2).build().unwrap();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let three = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let a = one.install(|| run(agg.as_ref(), &rows, n, d));
        let b = three.install(|| run(agg.as_ref(), &rows, n, d));
        assert_eq!(a, b, "{name}");
    }
}

/// Synthetic rounds: honest Gaussian updates around a common mean vs generated sign-flip,
/// scaled and ALIE-like attackers; the combined suspicion ranks attackers first and
/// reputations accumulate over rounds.
#[test]
fn anomaly_scores_find_generated_attackers() {
    let (n, d, f) = (30, 200, 6);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2024);
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    let mean: Vec<f32> = (0..d).map(|_| 0.5 * normal.sample(&mut rng)).collect();
    let attackers: Vec<u64> = (0..f as u64).map(|k| 3 + 4 * k).collect();
    for attack in ["sign-flip", "scaled", "alie"] {
        let mut reputation = anomaly::Reputation::new(0.5).unwrap();
        for _round in 0..4 {
            let honest: Vec<Vec<f32>> = (0..n)
                .map(|_| {
                    mean.iter()
                        .map(|m| m + 0.5 * normal.sample(&mut rng))
                        .collect()
                })
                .collect();
            let honest_mean: Vec<f32> = (0..d)
                .map(|j| honest.iter().map(|h| h[j]).sum::<f32>() / n as f32)
                .collect();
            let honest_std: Vec<f32> = (0..d)
                .map(|j| {
                    (honest
                        .iter()
                        .map(|h| (h[j] - honest_mean[j]).powi(2))
                        .sum::<f32>()
                        / n as f32)
                        .sqrt()
                })
                .collect();
            let mut rows = Vec::with_capacity(n * d);
            for (i, h) in honest.iter().enumerate() {
                if attackers.contains(&(i as u64)) {
                    match attack {
                        "sign-flip" => rows.extend(h.iter().map(|x| -x)),
                        "scaled" => rows.extend(h.iter().map(|x| 10.0 * x)),
                        _ => rows.extend(
                            honest_mean
                                .iter()
                                .zip(&honest_std)
                                .map(|(m, s)| m - 1.0 * s),
                        ),
                    }
                } else {
                    rows.extend_from_slice(h);
                }
            }
            let u = Updates::new(&rows, n, d).unwrap();
            let scores = anomaly::score_round(&u, f);
            let ids: Vec<u64> = (0..n as u64).collect();
            let suspicion: Vec<f64> = scores.iter().map(|s| s.suspicion).collect();
            reputation.update(&ids, &suspicion).unwrap();
        }
        let flagged = reputation.flagged(anomaly::DEFAULT_THRESHOLD);
        let det = anomaly::detection(&flagged, &attackers);
        assert_eq!(det.recall, Some(1.0), "{attack}: flagged {flagged:?}");
        assert!(
            det.precision.unwrap() >= 0.85,
            "{attack}: flagged {flagged:?}"
        );
    }
}
