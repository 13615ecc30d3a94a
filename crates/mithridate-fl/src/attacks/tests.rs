//! Hand-computed cases of the update attacks.

use super::alie::Alie;
use super::gaussian::GaussianNoise;
use super::ipm::Ipm;
use super::min_max::{Deviation, MinMax, Objective};
use super::*;

fn view<'a>(own: &'a [f32], honest: &'a [Vec<f32>], n: usize, m: usize) -> AttackView<'a> {
    AttackView {
        own,
        honest,
        participants: n,
        malicious: m,
        seed: 1,
    }
}

/// Hand-made honest matrix: 4 updates in 3-D.
fn honest() -> Vec<Vec<f32>> {
    vec![
        vec![1.0, 0.0, 2.0],
        vec![3.0, 0.0, 2.0],
        vec![2.0, 1.0, 2.0],
        vec![2.0, -1.0, 2.0],
    ]
}

#[test]
fn alie_matches_hand_computed_mean_minus_z_std() {
    let h = honest();
    // mean (2, 0, 2); sample std (sqrt(2/3), sqrt(2/3), 0).
    let x = Alie { z: None }.craft(&view(&[0.0; 3], &h, 10, 2)).unwrap();
    // n = 10, m = 2: s = 6 - 2 = 4, p = 0.6, z = Φ⁻¹(0.6) = 0.253347.
    let z = 0.2533471031357997;
    let s = (2.0f64 / 3.0).sqrt();
    let expected = [2.0 - z * s, -z * s, 2.0];
    for (a, b) in x.iter().zip(expected) {
        assert!((*a as f64 - b).abs() < 1e-6, "{a} vs {b}");
    }
    assert!(Alie::z_max(10, 6).is_err());
}

#[test]
fn ipm_is_minus_epsilon_mean() {
    let x = Ipm { epsilon: 2.0 }
        .craft(&view(&[0.0; 3], &honest(), 5, 1))
        .unwrap();
    assert_eq!(x, vec![-4.0, 0.0, -4.0]);
    assert!(Ipm { epsilon: 1.0 }
        .craft(&view(&[0.0; 3], &[], 5, 1))
        .is_err());
}

fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum()
}

#[test]
fn min_max_stays_within_the_largest_benign_distance_and_is_tight() {
    let h = honest();
    let max_pair = (0..4)
        .flat_map(|i| (0..4).map(move |j| (i, j)))
        .map(|(i, j)| sq_dist(&h[i], &h[j]))
        .fold(0.0, f64::max);
    for deviation in [Deviation::Std, Deviation::Unit, Deviation::Sign] {
        let attack = MinMax {
            objective: Objective::MinMax,
            deviation,
        };
        let x = attack.craft(&view(&[0.0; 3], &h, 5, 1)).unwrap();
        let worst = h.iter().map(|hi| sq_dist(&x, hi)).fold(0.0, f64::max);
        assert!(
            worst <= max_pair + 1e-6,
            "{deviation:?}: {worst} > {max_pair}"
        );
        // Tight: the search pushes to the boundary (within the tolerance's effect).
        assert!(
            worst > 0.99 * max_pair,
            "{deviation:?}: {worst} << {max_pair}"
        );
    }
}

#[test]
fn min_sum_stays_within_the_largest_benign_sum() {
    let h = honest();
    let bound = (0..4)
        .map(|i| (0..4).map(|j| sq_dist(&h[i], &h[j])).sum::<f64>())
        .fold(0.0, f64::max);
    let attack = MinMax {
        objective: Objective::MinSum,
        deviation: Deviation::Std,
    };
    let x = attack.craft(&view(&[0.0; 3], &h, 5, 1)).unwrap();
    let sum: f64 = h.iter().map(|hi| sq_dist(&x, hi)).sum();
    assert!(
        sum <= bound + 1e-6 && sum > 0.99 * bound,
        "{sum} vs {bound}"
    );
}

#[test]
fn gamma_search_finds_the_threshold() {
    let g = MinMax::gamma_search(|g| g <= 3.7);
    assert!((g - 3.7).abs() < 1e-4 && g <= 3.7, "{g}");
    assert_eq!(MinMax::gamma_search(|_| false), 0.0);
}

#[test]
fn gaussian_is_seeded() {
    let a = GaussianNoise { std: 1.0 }
        .craft(&view(&[0.0; 8], &[], 5, 1))
        .unwrap();
    let b = GaussianNoise { std: 1.0 }
        .craft(&view(&[0.0; 8], &[], 5, 1))
        .unwrap();
    assert_eq!(a, b);
    assert!(a.iter().any(|x| *x != 0.0));
}

#[test]
fn bad_attack_parameters_are_errors() {
    for bad in [
        "sign-flip:0",
        "gaussian:nan",
        "label-flip:1.5",
        "min-max:nope",
        "none:3",
        "alie:-1",
    ] {
        let spec: AttackSpec = bad.parse().unwrap();
        assert!(spec.build().is_err(), "{bad}");
    }
}

#[test]
fn every_update_attack_builds_with_defaults_and_round_trips() {
    for entry in UPDATE_ATTACKS.entries() {
        let spec: AttackSpec = entry.name.parse().unwrap();
        assert_eq!(spec.to_string(), entry.name);
        let built = spec.build().unwrap();
        match built {
            None => assert_eq!(entry.name, "none"),
            Some(attack) => {
                assert_eq!(attack.name(), entry.name);
                assert_eq!(
                    attack.omniscient(),
                    entry.requires(mithridate_core::registry::Requirement::HonestUpdates),
                    "{}",
                    entry.name
                );
            }
        }
        assert!(!entry.summary.is_empty() && !entry.paper.is_empty());
    }
    let spec: AttackSpec = "IPM:0.5".parse().unwrap();
    assert_eq!(spec.to_string(), "ipm:0.5");
    assert!("nope:1".parse::<AttackSpec>().is_err());
}

#[test]
fn filing_matches_the_assessment_taxonomy() {
    let atlas = |name: &str| filing(name).unwrap().1.mitre_atlas;
    assert_eq!(filing("label-flip").unwrap().0, AttackFamily::Availability);
    assert_eq!(atlas("label-flip"), ["AML.T0020", "AML.T0031"]);
    assert_eq!(filing("badnets").unwrap().0, AttackFamily::Backdoor);
    assert_eq!(filing("badnets").unwrap().1.nist_ai_100_2, "2.3.3");
    for backdoor in ["model-replacement", "constrain-and-scale"] {
        assert_eq!(filing(backdoor).unwrap().0, AttackFamily::Backdoor);
        assert_eq!(atlas(backdoor), ["AML.T0018.000", "AML.T0043.004"]);
    }
    for other in [
        "none",
        "sign-flip",
        "gaussian",
        "alie",
        "ipm",
        "min-max",
        "min-sum",
    ] {
        let (family, taxonomy) = filing(other).unwrap();
        assert_eq!(family, AttackFamily::ModelPoisoning, "{other}");
        assert_eq!(taxonomy.mitre_atlas, ["AML.T0018.000"]);
        assert_eq!(taxonomy.owasp_ml, ["ML10"]);
        assert_eq!(taxonomy.owasp_llm, ["LLM04"]);
        assert_eq!(taxonomy.nist_ai_100_2, "2.3.4");
    }
}
