//! DP-FedAvg against hand-computed cases, the noise's measured spread, adaptive clipping's
//! fixed point, the privacy split of Andrew et al., bad parameters and the sum form.

use mithridate_aggregate::rules::sum_form::clipped_sum;
use mithridate_aggregate::{
    Aggregator, DpFedAvgParams, ParamGuard, Round, RoundState, RuleSpec, Updates,
};

fn run(
    rule: &dyn Aggregator,
    rows: &[f32],
    n: usize,
    seed: u64,
    state: &mut RoundState,
) -> Vec<f32> {
    let u = Updates::new(rows, n, rows.len() / n).unwrap();
    rule.aggregate(&Round::new(u).with_seed(seed), state)
        .unwrap()
        .aggregate
}

#[test]
fn clipping_without_noise_is_hand_computed() {
    // Norms 5, 1, 13: clip 2 -> (1.2, 1.6), (0, 1), (0.769.., 1.846..); mean / 3.
    let rows = [3.0, 4.0, 0.0, 1.0, 5.0, 12.0];
    let rule = DpFedAvgParams::new(2.0, 0.0).check().unwrap();
    let out = run(&rule, &rows, 3, 0, &mut RoundState::default());
    let expected = [
        (1.2 + 0.0 + 10.0 / 13.0) / 3.0,
        (1.6 + 1.0 + 24.0 / 13.0) / 3.0,
    ];
    for (a, e) in out.iter().zip(expected) {
        assert!((*a as f64 - e).abs() < 1e-6, "{a} vs {e}");
    }
}

#[test]
fn a_boosted_update_moves_the_aggregate_by_at_most_clip_over_n() {
    let n = 10;
    let d = 50;
    let mut rows = vec![0.01f32; n * d];
    for x in &mut rows[..d] {
        *x = 1000.0; // a model-replacement-sized update
    }
    let rule = DpFedAvgParams::new(0.5, 0.0).check().unwrap();
    let with = run(&rule, &rows, n, 0, &mut RoundState::default());
    let honest = {
        let mut r = rows.clone();
        r[..d].fill(0.01);
        run(&rule, &r, n, 0, &mut RoundState::default())
    };
    let shift: f64 = with
        .iter()
        .zip(&honest)
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    // The boosted row (norm 7071) arrives at norm 0.5 and displaces the honest one (norm
    // 0.0707): the shift is at most (0.5 + 0.0707) / n.
    assert!(shift <= (0.5 + 0.0708) / n as f64 + 1e-6, "shift {shift}");
}

#[test]
fn the_noise_has_std_z_clip_over_n() {
    let (n, d) = (8, 40_000);
    let rows = vec![0.0f32; n * d];
    let (z, clip) = (1.5, 0.8);
    let rule = DpFedAvgParams::new(clip, z).check().unwrap();
    let out = run(&rule, &rows, n, 42, &mut RoundState::default());
    let mean = out.iter().map(|x| *x as f64).sum::<f64>() / d as f64;
    let sd = (out.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / d as f64).sqrt();
    let expected = z * clip / n as f64;
    // The sample sd of 40,000 normals is within 2% (5 standard errors of 0.35%) of sigma.
    assert!((sd / expected - 1.0).abs() < 0.02, "sd {sd} vs {expected}");
    assert!(mean.abs() < 5.0 * expected / (d as f64).sqrt());
    // Same seed, same noise; another seed, other noise.
    assert_eq!(out, run(&rule, &rows, n, 42, &mut RoundState::default()));
    assert_ne!(out, run(&rule, &rows, n, 43, &mut RoundState::default()));
}

#[test]
fn adaptive_clip_tracks_the_target_quantile() {
    // 20 clients with norms 1..=20; the median norm is 10.5, the 0.25 quantile ~5.5.
    let n = 20;
    let rows: Vec<f32> = (1..=n).flat_map(|k| [k as f32, 0.0]).collect();
    for (gamma, lo, hi) in [(0.5, 10.0, 11.0), (0.25, 5.0, 6.0)] {
        let spec: RuleSpec =
            format!("dp-fedavg:clip=1,noise-multiplier=0,adaptive=true,target-quantile={gamma}")
                .parse()
                .unwrap();
        let rule = spec.build(0).unwrap();
        let mut state = RoundState::default();
        for round in 0..300 {
            run(rule.as_ref(), &rows, n, round, &mut state);
        }
        let c = state.clip_norm.unwrap();
        assert!(c > lo - 0.6 && c < hi + 0.6, "gamma {gamma}: clip {c}");
    }
}

#[test]
fn adaptive_noise_split_and_count_noise() {
    // z = 1, sigma_b = 1: z_delta = (1 - 1/4)^-1/2 = 1.1547; the update noise is z_delta C / n.
    let (n, d) = (4, 40_000);
    let rows = vec![0.0f32; n * d];
    let spec: RuleSpec = "dp-fedavg:clip=1,noise-multiplier=1,adaptive=true,count-noise=1"
        .parse()
        .unwrap();
    let rule = spec.build(0).unwrap();
    let mut state = RoundState::default();
    let out = run(rule.as_ref(), &rows, n, 3, &mut state);
    let sd = (out.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / d as f64).sqrt();
    let expected = (1.0f64 - 0.25).powf(-0.5) / n as f64;
    assert!((sd / expected - 1.0).abs() < 0.02, "sd {sd} vs {expected}");
    // Every norm is 0 <= C: b = 4, b~ = (4 + noise) / 4, so C moves down by about e^-0.1.
    let c = state.clip_norm.unwrap();
    assert!(c < 1.0 && c > 0.5, "clip {c}");
}

#[test]
fn bad_parameters_are_errors() {
    for bad in [
        "dp-fedavg:clip=0",
        "dp-fedavg:clip=-1",
        "dp-fedavg:clip=1,noise-multiplier=-0.1",
        "dp-fedavg:clip=1,target-quantile=1",
        "dp-fedavg:clip=1,clip-lr=0",
        "dp-fedavg:clip=1,noise-multiplier=2,adaptive=true,count-noise=1",
        "dp-fedavg:clip=1,noise=1",
    ] {
        let built = bad.parse::<RuleSpec>().and_then(|s| s.build(0));
        assert!(built.is_err(), "{bad}");
    }
    assert!(DpFedAvgParams::new(f64::NAN, 1.0).check().is_err());
}

#[test]
fn the_sum_form_is_the_rule() {
    let rows = [3.0f32, 4.0, 0.0, 1.0, 5.0, 12.0, -1.0, 0.5];
    let u = Updates::new(&rows, 4, 2).unwrap();
    for text in [
        "dp-fedavg:clip=2,noise-multiplier=0.7",
        "dp-fedavg:clip=2,noise-multiplier=0.7,adaptive=true",
        "fedavg",
        "norm-bound:bound=2,noise-std=0.1",
    ] {
        let rule = text.parse::<RuleSpec>().unwrap().build(0).unwrap();
        let round = Round::new(u).with_seed(9);
        let (mut s1, mut s2) = (RoundState::default(), RoundState::default());
        let direct = rule.aggregate(&round, &mut s1).unwrap().aggregate;
        let form = rule.sum_form().expect(text);
        let (sum, within, _) = clipped_sum(&round, form.client_clip(&s2));
        let via_sum = form.finish(&sum, within, 4, 4, 9, &mut s2).unwrap();
        for (a, b) in direct.iter().zip(&via_sum) {
            assert!((a - b).abs() < 1e-6, "{text}: {direct:?} vs {via_sum:?}");
        }
        assert_eq!(s1.clip_norm, s2.clip_norm, "{text}");
    }
    // Rules that need individual updates have no sum form.
    for text in [
        "median",
        "krum",
        "norm-bound",
        "flame",
        "geomed",
        "nnm+fedavg",
    ] {
        let rule = text.parse::<RuleSpec>().unwrap().build(0).unwrap();
        assert!(rule.sum_form().is_none(), "{text}");
    }
}
