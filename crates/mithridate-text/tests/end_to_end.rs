//! The whole pipeline on a real subset: 200 SpamAssassin training texts and 60 test texts
//! through the real MiniLM (fetched into the shared cache on first use; embeddings cached
//! under a temporary directory so the run is honest about encoder cost), a BadNL attack, and
//! every defence on the obvious planted case; same seed, same bytes.

use mithridate_text::experiment::{run, ExperimentSpec};
use mithridate_text::head::HeadConfig;

fn home() -> mithridate_data::DataHome {
    mithridate_data::DataHome::for_workspace_tests()
}

#[test]
fn badnl_on_spamassassin_subset_is_measured_and_defended() {
    let home = home();
    let cache = tempfile::tempdir().unwrap();
    let encoder = mithridate_rag::encoder::Encoder::minilm(&home).unwrap();
    let mut embedder =
        mithridate_text::embed::Embedder::new(encoder, Some(cache.path().join("cache.bin")))
            .unwrap();
    let mut spec = ExperimentSpec::new("spamassassin", "badnl", 0.15);
    spec.attack_params = serde_json::json!({"trigger": "cf", "insertions": 3});
    spec.train_size = 200;
    spec.test_size = 60;
    spec.head = HeadConfig {
        hidden: 64,
        epochs: 30,
        ..HeadConfig::default()
    };
    spec.seed = 1;
    spec.defences = vec![
        ("onion".into(), serde_json::json!({"lm": "sotu"})),
        (
            "strip".into(),
            serde_json::json!({"copies": 4, "calibration": 20, "eval": 20}),
        ),
        (
            "spectral".into(),
            serde_json::json!({"expected-rate": 0.05}),
        ),
        ("activation-clustering".into(), serde_json::Value::Null),
        (
            "bki".into(),
            serde_json::json!({"candidates": 20, "probes": 2}),
        ),
        (
            "bki".into(),
            serde_json::json!({"candidates": 20, "probes": 2, "scrub": true}),
        ),
    ];
    let mut quiet = |_: mithridate_text::experiment::Stage, _: usize, _: usize| {};
    let r = run(&home, &mut embedder, &spec, &mut quiet).unwrap();
    assert_eq!((r.train, r.test, r.poisoned), (200, 60, 30));
    assert!(r.clean_ca > 0.8, "clean CA {}", r.clean_ca);
    assert!(r.asr > 0.8, "ASR {} (clean model {})", r.asr, r.clean_asr);
    assert!(
        r.asr > r.clean_asr + 0.3,
        "ASR {} vs clean model {}",
        r.asr,
        r.clean_asr
    );
    // ASR beyond clean splits the triggered texts: ASR·n = (hits on the clean model's floor)
    // + ASR beyond clean·(n − floor), and the floor's hits are between 0 and its size.
    let n = r.triggered as f64;
    let floor = r.triggered_on_target_clean as f64;
    assert!((r.clean_asr * n - floor).abs() < 1e-9, "{r:?}");
    let floor_hits = r.asr * n - r.asr_beyond_clean * (n - floor);
    assert!(
        (-1e-9..=floor + 1e-9).contains(&floor_hits),
        "ASR {} beyond clean {} floor {floor} of {n}",
        r.asr,
        r.asr_beyond_clean
    );
    assert!(r.asr_beyond_clean > 0.8, "{}", r.asr_beyond_clean);
    // The 40-epoch head fits its training set: the poisoned texts carry their poisoned label.
    let fit = r.poisoned_fit.expect("30 texts were poisoned");
    assert!(fit > 0.9, "poisoned texts fitted {fit}");
    let by = |name: &str| r.defences.iter().find(|d| d.defence == name).unwrap();
    // BKI names the rare trigger word, flags exactly the poisoned texts, and removing them
    // undoes the backdoor.
    let bki = by("bki");
    assert_eq!(bki.details["keywords"][0]["word"], "cf");
    assert_eq!((bki.detection.precision, bki.detection.recall), (1.0, 1.0));
    assert!(
        bki.asr_after < r.asr - 0.3,
        "ASR after BKI {}",
        bki.asr_after
    );
    // With scrub, the same retrained model reads its inputs without the keyword: a clean
    // text rarely has it (clean accuracy barely moves), a triggered one loses the trigger.
    let scrubbed = r.defences.last().unwrap();
    assert_eq!(scrubbed.details["scrubbed"], serde_json::json!(["cf"]));
    assert_eq!(scrubbed.acted_on, bki.acted_on);
    assert!(
        (scrubbed.ca_after - bki.ca_after).abs() <= 0.05,
        "{} vs {}",
        scrubbed.ca_after,
        bki.ca_after
    );
    // On this small set (14 triggered texts, 5 of them already on the target for the clean
    // model) the retrained model keeps 2 of the other 9; without the trigger word, 1.
    assert!(
        scrubbed.asr_after < bki.asr_after
            && scrubbed.asr_after_beyond_clean < bki.asr_after_beyond_clean,
        "scrubbed {} / {}, not scrubbed {} / {}",
        scrubbed.asr_after,
        scrubbed.asr_after_beyond_clean,
        bki.asr_after,
        bki.asr_after_beyond_clean
    );
    // ONION deletes the rare inserted words from triggered inputs.
    assert!(
        by("onion").asr_after < r.asr - 0.2,
        "ONION {}",
        by("onion").asr_after
    );
    for d in &r.defences {
        assert!((0.0..=1.0).contains(&d.ca_after) && (0.0..=1.0).contains(&d.asr_after));
        assert!((0.0..=1.0).contains(&d.asr_after_beyond_clean));
    }
    // Same seed, same bytes (the second run reads every embedding from the cache).
    let again = run(&home, &mut embedder, &spec, &mut quiet).unwrap();
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&r).unwrap()
    );
}
