//! The rule and pre-aggregator registries: every entry builds with its defaults, rejects
//! unknown keys, round-trips its name; chains give hand-computed results; the legacy `Rule`
//! and `RuleConfig` agree with `RuleSpec`.

use mithridate_aggregate::registry::{PRE_AGGREGATORS, RULES};
use mithridate_aggregate::{
    AggregateError, Round, RoundState, Rule, RuleConfig, RuleSpec, Updates,
};
use mithridate_core::registry::{Requirement, Role};
use serde_json::json;

/// Parameters an entry needs beyond its defaults.
fn required(name: &str) -> serde_json::Value {
    match name {
        "clipping" => json!({ "tau": 1.0 }),
        _ => json!({}),
    }
}

#[test]
fn every_rule_builds_with_defaults_and_rejects_unknown_keys() {
    assert_eq!(RULES.role(), Role::AggregationRule);
    for entry in RULES.entries() {
        let f = usize::from(entry.name != "fedavg");
        let rule = (entry.build)(f, &required(entry.name)).unwrap();
        assert_eq!(rule.name(), entry.name);
        assert_eq!(rule.byzantine(), f, "{}", entry.name);
        let null = (entry.build)(f, &serde_json::Value::Null);
        assert!(null.is_ok(), "{}: null means defaults", entry.name);
        let err = (entry.build)(f, &json!({ "no-such-key": 1 })).unwrap_err();
        assert!(
            matches!(&err, AggregateError::Params(m) if m.contains(entry.name)),
            "{}: {err}",
            entry.name
        );
        assert!(!entry.summary.is_empty() && !entry.paper.is_empty());
        let spec: RuleSpec = entry.name.parse().unwrap();
        assert_eq!(spec.to_string(), entry.name);
    }
}

#[test]
fn every_pre_aggregator_builds_and_rejects_unknown_keys() {
    assert_eq!(PRE_AGGREGATORS.role(), Role::PreAggregator);
    for entry in PRE_AGGREGATORS.entries() {
        let step = (entry.build)(1, &required(entry.name)).unwrap();
        assert_eq!(step.name(), entry.name);
        let mut bad = required(entry.name);
        bad["nope"] = json!(true);
        assert!((entry.build)(1, &bad).is_err(), "{}", entry.name);
        let chain = format!("{}+median", component_text(entry.name));
        let spec: RuleSpec = chain.parse().unwrap();
        assert_eq!(spec.to_string(), chain);
        assert_eq!(spec.pre()[0].name(), entry.name);
    }
    assert!(
        RuleSpec::new("tau", json!({})).is_err(),
        "pre-aggregators are not rules"
    );
}

/// `name` with its required parameters in text form.
fn component_text(name: &str) -> String {
    match name {
        "clipping" => "clipping:tau=1".into(),
        other => other.into(),
    }
}

#[test]
fn every_rule_parameter_is_reachable() {
    let cases = [
        ("trimmed-mean", json!({ "beta": 0.2 })),
        ("multi-krum", json!({ "m": 3 })),
        (
            "geomed",
            json!({ "max-iterations": 5, "tolerance": 0.0, "smoothing": 1e-3 }),
        ),
        ("centered-clipping", json!({ "tau": 0.5, "iterations": 1 })),
        ("norm-bound", json!({ "bound": 2.0, "noise-std": 0.1 })),
        ("flame", json!({ "noise-factor": 0.01 })),
        ("foolsgold", json!({ "confidence": 2.0 })),
        ("krum", json!({ "f": 2 })),
    ];
    for (name, params) in cases {
        let spec = RuleSpec::new(name, params.clone()).unwrap();
        let built = spec.build(1).unwrap();
        assert_eq!(built.name(), name);
        if name == "krum" {
            assert_eq!(built.byzantine(), 2, "f overrides the scenario's count");
        }
        let back: RuleSpec = spec.to_string().parse().unwrap();
        assert_eq!(back, spec, "{name}: {spec}");
    }
    // Out-of-range values are refused when the spec is made.
    for (name, params) in [
        ("trimmed-mean", json!({ "beta": 0.5 })),
        ("multi-krum", json!({ "m": 0 })),
        ("centered-clipping", json!({ "iterations": 0 })),
        ("flame", json!({ "noise-factor": -1.0 })),
        ("median", json!({ "beta": 0.1 })),
    ] {
        assert!(RuleSpec::new(name, params).is_err(), "{name}");
    }
    assert!("bucketing:s=0+median".parse::<RuleSpec>().is_err());
    assert!(
        "clipping+median".parse::<RuleSpec>().is_err(),
        "tau is required"
    );
    assert!("nnm+nnm+median".parse::<RuleSpec>().is_err());
}

#[test]
fn trimmed_mean_beta_trims_floor_beta_n_per_side() {
    // n = 5, beta = 0.2: k = 1 per side -> mean(2, 3, 4) = 3, whatever f.
    let u = Updates::new(&[1.0, 2.0, 3.0, 4.0, 1000.0], 5, 1).unwrap();
    let rule = RuleSpec::new("trimmed-mean", json!({ "beta": 0.2 }))
        .unwrap()
        .build(0)
        .unwrap();
    let out = rule
        .aggregate(&Round::new(u), &mut RoundState::default())
        .unwrap();
    assert_eq!(out.aggregate, vec![3.0]);
}

#[test]
fn bucketing_then_median_is_the_median_of_bucket_means() {
    // n = 4, s = 2: two buckets; clients 0-2 honest at 1, 2, 3, client 3 at 100.
    let rows = [1.0f32, 2.0, 3.0, 100.0];
    let u = Updates::new(&rows, 4, 1).unwrap();
    let spec: RuleSpec = "bucketing:s=2+median".parse().unwrap();
    let rule = spec.build(0).unwrap();
    let buckets = mithridate_aggregate::BucketingParams { s: 2 };
    let buckets = mithridate_core::ParamGuard::check(buckets)
        .unwrap()
        .buckets(4, 9);
    let means: Vec<f64> = buckets
        .iter()
        .map(|b| b.iter().map(|&i| rows[i] as f64).sum::<f64>() / 2.0)
        .collect();
    let out = rule
        .aggregate(&Round::new(u).with_seed(9), &mut RoundState::default())
        .unwrap();
    // The median of two bucket means is their mean: (1 + 2 + 3 + 100) / 4.
    assert_eq!(out.aggregate, vec![((means[0] + means[1]) / 2.0) as f32]);
    assert_eq!(out.aggregate, vec![26.5]);
    // Each client's effective weight: 1/2 (its bucket's share) x 1/2 (its share of the bucket).
    assert_eq!(out.weights, vec![0.25; 4]);
    assert_eq!(rule.max_byzantine(4), 0, "f < 2 buckets / 2");
}

#[test]
fn clipping_then_nnm_then_mean_by_hand() {
    // tau = 2: rows 1, 2, -10 clip to 1, 2, -2; NNM with f = 1 mixes over the 2 nearest
    // (self included): 1 -> (1 + 2) / 2, 2 -> (2 + 1) / 2, -2 -> (-2 + 1) / 2;
    // trimmed mean with f = 1 of (1.5, 1.5, -0.5) keeps the middle value 1.5.
    let u = Updates::new(&[1.0, 2.0, -10.0], 3, 1).unwrap();
    let rule = "clipping:tau=2+nnm+trimmed-mean"
        .parse::<RuleSpec>()
        .unwrap()
        .build(1)
        .unwrap();
    assert_eq!(rule.name(), "clipping");
    let out = rule
        .aggregate(&Round::new(u), &mut RoundState::default())
        .unwrap();
    assert_eq!(out.aggregate, vec![1.5]);
    // aggregate = sum_i w_i x_i with the clipped client's weight scaled by 2/10.
    let reconstructed = out.weights[0] * 1.0 + out.weights[1] * 2.0 - out.weights[2] * 10.0;
    assert!((reconstructed - 1.5).abs() < 1e-9, "{:?}", out.weights);
}

#[test]
fn rule_specs_parse_from_toml_tables_and_strings() {
    #[derive(Debug, serde::Deserialize)]
    struct Config {
        rules: Vec<RuleSpec>,
    }
    let config: Config = toml::from_str(
        r#"rules = [
            "nnm+krum",
            { rule = "trimmed-mean", params = { beta = 0.2 }, pre = [{ name = "nnm" }] },
            { rule = "median", pre = [{ name = "bucketing", params = { s = 3 } }] },
        ]"#,
    )
    .unwrap();
    let texts: Vec<String> = config.rules.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        [
            "nnm+krum",
            "nnm+trimmed-mean:beta=0.2",
            "bucketing:s=3+median"
        ]
    );
    let bad: Result<Config, _> =
        toml::from_str(r#"rules = [{ rule = "median", params = { beta = 0.2 } }]"#);
    assert!(bad.unwrap_err().to_string().contains("median"));
    assert_eq!(
        serde_json::to_string(&config.rules[1]).unwrap(),
        "\"nnm+trimmed-mean:beta=0.2\""
    );
}

#[test]
fn legacy_rule_and_config_agree_with_specs() {
    let names: Vec<&str> = RULES.names();
    assert_eq!(Rule::names(), names);
    for name in &names {
        for text in [name.to_string(), format!("nnm+{name}")] {
            let rule: Rule = text.parse().unwrap();
            assert_eq!(rule.to_string(), text);
            assert_eq!(RuleSpec::from(&rule).to_string(), text);
            assert_eq!(text.parse::<RuleSpec>().unwrap(), RuleSpec::from(rule));
        }
    }
    let mut config = RuleConfig::new(Rule::Nnm(Box::new(Rule::CenteredClipping)), 1);
    config.radius = Some(0.5);
    config.iterations = Some(2);
    assert_eq!(
        config.spec().unwrap().to_string(),
        "nnm+centered-clipping:iterations=2,tau=0.5"
    );
    config.noise_factor = Some(0.1);
    assert!(
        config.spec().is_err(),
        "centered clipping has no noise factor"
    );
    assert!(RuleConfig::new(Rule::FedAvg, 1).build().is_err());
}

#[test]
fn fltrust_requires_a_root_set() {
    assert!(RULES.get("fltrust").unwrap().requires(Requirement::RootSet));
    let spec: RuleSpec = "nnm+fltrust".parse().unwrap();
    assert!(spec.requires(Requirement::RootSet));
    assert!(!"nnm+krum"
        .parse::<RuleSpec>()
        .unwrap()
        .requires(Requirement::RootSet));
    assert!(RULES.markdown_table().contains("| `fltrust` |"));
}

/// `uses_weights` says exactly which rules accept client weights: the others refuse them.
#[test]
fn uses_weights_matches_what_each_rule_accepts() {
    use mithridate_aggregate::{AggregateError, Round, RoundState, Updates};
    let (n, d) = (12, 4);
    let rows: Vec<f32> = (0..n * d).map(|i| ((i * 37 % 11) as f32) * 0.1).collect();
    let weights = vec![1.0; n];
    let root = vec![0.1f32; d];
    for entry in mithridate_aggregate::RULES.entries() {
        let params = serde_json::json!({});
        let rule = (entry.build)(1, &params)
            .or_else(|_| (entry.build)(0, &params))
            .unwrap();
        let round = Round::new(Updates::new(&rows, n, d).unwrap())
            .with_weights(&weights)
            .unwrap()
            .with_root(&root)
            .unwrap();
        let out = rule.aggregate(&round, &mut RoundState::default());
        let refused = matches!(
            out,
            Err(AggregateError::Unused {
                what: "client weights",
                ..
            })
        );
        assert_eq!(rule.uses_weights(), !refused, "{}: {out:?}", entry.name);
    }
}
