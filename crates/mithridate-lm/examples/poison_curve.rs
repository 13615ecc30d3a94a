//! The success-vs-poison-count curve of the small generative model (issue 17).
//!
//! ```sh
//! cargo run --release -p mithridate-lm --example poison_curve -- \
//!     --corpus moby-dick --attack dos --counts 10,25,50,100,250 --docs 600,1200 --seeds 0,1,2
//! ```
//!
//! For every corpus size (training documents kept, `--docs`), seed and poison count, trains a
//! clean baseline and a poisoned model (see `mithridate_lm::experiment`) and prints one JSON
//! line: corpus size, seed, count, asr, clean / baseline perplexity, tokens/s, seconds.
//! (seed, size) groups run side by side, one per core, each training on one thread (see
//! `mithridate_lm::threads`), so lines arrive in completion order.
//! Optional: `--epochs E`, `--d-model D`, `--layers L`, `--heads H`, `--ctx C`, `--vocab V`,
//! `--trusted N`, `--prompts P`, `--gen-len G`, `--trigger T`, `--continuation C`. Baselines
//! are trained once per size and seed.

use mithridate_data::DataHome;
use mithridate_lm::attacks::AttackSpec;
use mithridate_lm::corpus;
use mithridate_lm::experiment::{run_cached, BaselineCache, Progress, Spec};
use std::time::Instant;

fn list(s: &str) -> Vec<usize> {
    s.split(',').filter_map(|x| x.trim().parse().ok()).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // First, before any thread starts: one thread per training, trainings side by side.
    mithridate_lm::threads::one_thread_per_operation();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |k: &str, d: &str| -> String {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| d.to_string())
    };
    let home = DataHome::from_env()?;
    let kind = get("--attack", "dos").parse()?;
    let counts = list(&get("--counts", "10,25,50,100,250,500"));
    let seeds = list(&get("--seeds", "0,1,2"));
    let sizes = list(&get("--docs", "600,1200"));
    let trusted: usize = get("--trusted", "200").parse()?;
    let source = get("--corpus", "moby-dick");
    let mut base = Spec::small(AttackSpec::new(kind, 0, 0));
    base.attack.trigger = get("--trigger", &base.attack.trigger);
    base.attack.continuation = get("--continuation", &base.attack.continuation);
    base.train.epochs = get("--epochs", "2").parse()?;
    base.d_model = get("--d-model", "128").parse()?;
    base.n_layer = get("--layers", "4").parse()?;
    base.ctx = get("--ctx", "64").parse()?;
    base.vocab = get("--vocab", "1024").parse()?;
    base.n_head = get("--heads", "4").parse()?;
    base.prompts = get("--prompts", "32").parse()?;
    base.gen_len = get("--gen-len", "24").parse()?;
    // One (seed, size) group per thread: a group trains its baseline once, then each count.
    let groups: Vec<(usize, usize)> = seeds
        .iter()
        .flat_map(|&seed| sizes.iter().map(move |&n| (seed, n)))
        .collect();
    let group = |&(seed, n_docs): &(usize, usize), _: Progress| -> mithridate_lm::Result<()> {
        let mut cache = BaselineCache::default();
        let mut c = corpus::load(&home, &source)?;
        c.limit(Some(n_docs), Some(trusted));
        for &count in &counts {
            let mut spec = base.clone();
            (spec.attack.poison_docs, spec.attack.seed) = (count, seed as u64);
            spec.train.seed = seed as u64;
            let t = Instant::now();
            let r = run_cached(&c, &spec, &mut cache, &mut |_, _, _| {})?;
            let line = serde_json::json!({
                "corpus": source, "train_docs": r.train_docs, "seed": seed,
                "poison_docs": count, "attack": r.attack,
                "poison_token_fraction": r.poison_token_fraction,
                "asr": r.asr, "baseline_asr": r.baseline_asr,
                "clean_perplexity": r.clean_perplexity,
                "baseline_perplexity": r.baseline_perplexity,
                "ppl_with_trigger": r.poisoned.evaluation.mean_ppl_with_trigger,
                "ppl_without_trigger": r.poisoned.evaluation.mean_ppl_without_trigger,
                "token_match": r.poisoned.evaluation.token_match,
                "baseline_token_match": r.baseline.evaluation.token_match,
                "n_params": r.n_params,
                "tokens_per_second": r.poisoned.training.tokens_per_second,
                "train_tokens": r.poisoned.training.tokens,
                "seconds": t.elapsed().as_secs_f64(),
            });
            println!("{line}");
        }
        Ok(())
    };
    mithridate_lm::threads::in_parallel(&groups, &mut |_, _, _| {}, &group)?;
    Ok(())
}
