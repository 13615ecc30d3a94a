//! Answer-level RAG poisoning benchmark: Gemma-3-270M answers each target question over the
//! top-k passages of three retrievals (clean corpus; attacked, undefended; attacked,
//! defended) and the share of answers containing the target answer (and the correct answer,
//! when known) is reported per condition.
//!
//! ```sh
//! MITHRIDATE_HOME=... cargo run --release -p mithridate-rag-answer --features gemma \
//!     --example answer_bench -- --corpus sotu --targets 50 --attack poisoned-rag \
//!     --poisons-per-target 5 --defence query-echo --seed 0 --out answers.jsonl
//! ```
//!
//! Flags: `--corpus` (sotu), `--retriever` (minilm|bm25), `--targets N` or `--targets-file
//! F.jsonl`, `--attack` (poisoned-rag), `--attack-params JSON`, `--poisons-per-target` (5),
//! `--defence NAME` (repeatable; `--defence-params JSON` applies to the last one), `--k` (5),
//! `--max-new-tokens` (24), `--max-passage-words` (100), `--limit N` (answer only the first N
//! targets), `--seed` (0), `--out FILE` (JSON lines: one per answer, then one summary per
//! condition). Exit code 2 for bad input, 3 for package, disk or model failures.

use mithridate_rag::experiment::{RagSpec, Retriever, TargetSource};
use mithridate_rag_answer::generator::Gemma;
use mithridate_rag_answer::prompt::{contains_answer, Prompt};
use mithridate_rag_answer::retrieval::retrieve_all;
use mithridate_rag_answer::{AnswerError, Result};
use std::io::Write;
use std::time::Instant;

struct Args {
    spec: RagSpec,
    max_new_tokens: usize,
    max_passage_words: usize,
    limit: Option<usize>,
    out: Option<std::path::PathBuf>,
}

fn parse() -> Result<Args> {
    let mut spec = RagSpec {
        corpus: "sotu".into(),
        retriever: Retriever::Minilm,
        attack: "poisoned-rag".into(),
        attack_params: serde_json::Value::Null,
        targets: TargetSource::KnownItems(50),
        poisons_per_target: 5,
        defences: Vec::new(),
        seed: 0,
        cutoffs: vec![5],
    };
    let (mut max_new_tokens, mut max_passage_words, mut limit, mut out) = (24, 100, None, None);
    let mut it = std::env::args().skip(1);
    let number = |flag: &str, v: String| -> Result<usize> {
        v.parse()
            .map_err(|_| AnswerError::invalid(format!("{flag} takes a whole number, got '{v}'")))
    };
    let json = |flag: &str, v: String| -> Result<serde_json::Value> {
        serde_json::from_str(&v)
            .map_err(|e| AnswerError::invalid(format!("{flag} takes JSON: {e}")))
    };
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| AnswerError::invalid(format!("{flag} needs a value")))?;
        match flag.as_str() {
            "--corpus" => spec.corpus = value,
            "--retriever" => spec.retriever = value.parse()?,
            "--targets" => spec.targets = TargetSource::KnownItems(number(&flag, value)?),
            "--targets-file" => spec.targets = TargetSource::File(value.into()),
            "--attack" => spec.attack = value,
            "--attack-params" => spec.attack_params = json(&flag, value)?,
            "--poisons-per-target" => spec.poisons_per_target = number(&flag, value)?,
            "--defence" => spec.defences.push((value, serde_json::Value::Null)),
            "--defence-params" => match spec.defences.last_mut() {
                Some(d) => d.1 = json(&flag, value)?,
                None => return Err(AnswerError::invalid("--defence-params follows a --defence")),
            },
            "--k" => spec.cutoffs = vec![number(&flag, value)?],
            "--seed" => spec.seed = number(&flag, value)? as u64,
            "--max-new-tokens" => max_new_tokens = number(&flag, value)?,
            "--max-passage-words" => max_passage_words = number(&flag, value)?,
            "--limit" => limit = Some(number(&flag, value)?),
            "--out" => out = Some(value.into()),
            other => return Err(AnswerError::invalid(format!("unknown flag '{other}'"))),
        }
    }
    if max_new_tokens == 0 || max_passage_words == 0 || spec.cutoffs == [0] {
        return Err(AnswerError::invalid(
            "--k, --max-new-tokens and --max-passage-words must be at least 1",
        ));
    }
    if !(1..=1000).contains(&spec.poisons_per_target) {
        return Err(AnswerError::invalid(
            "--poisons-per-target must lie in 1..=1000",
        ));
    }
    Ok(Args {
        spec,
        max_new_tokens,
        max_passage_words,
        limit,
        out,
    })
}

#[derive(Default)]
struct Tally {
    n: usize,
    target: usize,
    correct: usize,
    with_correct: usize,
    poisons: usize,
    seconds: f64,
}

fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let home = mithridate_data::DataHome::from_env().map_err(AnswerError::Data)?;
    let retrieved = retrieve_all(&home, &args.spec)?;
    let retrieval_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "retrieval: {} targets in {retrieval_seconds:.1} s",
        retrieved.targets.len()
    );
    let path = mithridate_rag_answer::assets::gemma_gguf(&home)?;
    let load = Instant::now();
    let mut gemma = Gemma::load(&path)?;
    let load_seconds = load.elapsed().as_secs_f64();
    eprintln!("model: loaded in {load_seconds:.1} s");
    let mut out = match &args.out {
        Some(p) => Some(std::fs::File::create(p).map_err(|e| AnswerError::Io {
            path: p.display().to_string(),
            message: e.to_string(),
        })?),
        None => None,
    };
    let mut write = |line: serde_json::Value| -> Result<()> {
        if let Some(f) = out.as_mut() {
            writeln!(f, "{line}")
                .and_then(|_| f.flush())
                .map_err(|e| AnswerError::invalid(format!("--out: {e}")))?;
        }
        Ok(())
    };
    let conditions = ["clean", "attacked", "defended"];
    let mut tallies: Vec<Tally> = conditions.iter().map(|_| Tally::default()).collect();
    let n = args
        .limit
        .unwrap_or(usize::MAX)
        .min(retrieved.targets.len());
    for t in 0..n {
        let target = &retrieved.targets[t];
        for (c, condition) in conditions.iter().enumerate() {
            let hits = match c {
                0 => &retrieved.clean[t],
                1 => &retrieved.attacked[t],
                _ => &retrieved.defended[t],
            };
            let texts: Vec<&str> = hits.iter().map(|p| p.text.as_str()).collect();
            let prompt = Prompt::new(target, &texts, args.max_passage_words);
            let g = gemma.generate(&prompt.text, args.max_new_tokens)?;
            let has_target = contains_answer(&g.text, &target.target_answer);
            let has_correct = target
                .correct_answer
                .as_deref()
                .map(|c| contains_answer(&g.text, c));
            let poisons = hits
                .iter()
                .filter(|p| retrieved.injected[t].contains(&p.id))
                .count();
            let tally = &mut tallies[c];
            tally.n += 1;
            tally.target += usize::from(has_target);
            tally.with_correct += usize::from(has_correct.is_some());
            tally.correct += usize::from(has_correct == Some(true));
            tally.poisons += poisons;
            tally.seconds += g.seconds;
            eprintln!(
                "[{}/{n}] {condition:<8} {:>3} tok {:>5.1} s (prefill {:.1} s) target={has_target} poisons={poisons} answer={:?}",
                t + 1,
                g.prompt_tokens,
                g.seconds,
                g.prefill_seconds,
                g.text
            );
            write(serde_json::json!({
                "condition": condition,
                "target": t,
                "question": prompt.question,
                "target_answer": target.target_answer,
                "correct_answer": target.correct_answer,
                "retrieved": hits.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
                "poisons_retrieved": poisons,
                "answer": g.text,
                "contains_target": has_target,
                "contains_correct": has_correct,
                "prompt_tokens": g.prompt_tokens,
                "new_tokens": g.new_tokens,
                "prefill_seconds": g.prefill_seconds,
                "seconds": g.seconds,
            }))?;
        }
    }
    let share = |a: usize, b: usize| {
        if b == 0 {
            None
        } else {
            Some(a as f64 / b as f64)
        }
    };
    println!(
        "{} targets, attack {} x {} per target, defences {:?}, k {}, seed {}; model load {load_seconds:.1} s, retrieval {retrieval_seconds:.1} s",
        n,
        args.spec.attack,
        args.spec.poisons_per_target,
        args.spec.defences.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(),
        args.spec.cutoffs[0],
        args.spec.seed
    );
    println!("condition  target-answer  correct-answer  poisons/top-k  seconds");
    for (condition, t) in conditions.iter().zip(&tallies) {
        let target_share = share(t.target, t.n);
        let correct_share = share(t.correct, t.with_correct);
        let fmt = |s: Option<f64>| s.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
        println!(
            "{condition:<10} {:>13}  {:>14}  {:>13.2}  {:>7.1}",
            fmt(target_share),
            fmt(correct_share),
            t.poisons as f64 / t.n.max(1) as f64,
            t.seconds
        );
        write(serde_json::json!({
            "summary": condition,
            "answers": t.n,
            "target_answer_share": target_share,
            "correct_answer_share": correct_share,
            "mean_poisons_in_top_k": t.poisons as f64 / t.n.max(1) as f64,
            "generation_seconds": t.seconds,
            "corpus": args.spec.corpus,
            "retriever": args.spec.retriever,
            "attack": args.spec.attack,
            "poisons_per_target": args.spec.poisons_per_target,
            "defences": args.spec.defences.iter().map(|d| serde_json::json!({"name": d.0, "parameters": d.1})).collect::<Vec<_>>(),
            "k": args.spec.cutoffs[0],
            "seed": args.spec.seed,
            "max_new_tokens": args.max_new_tokens,
            "max_passage_words": args.max_passage_words,
            "total_seconds": started.elapsed().as_secs_f64(),
        }))?;
    }
    Ok(())
}

fn main() {
    if let Err(e) = parse().and_then(run) {
        eprintln!("error: {e}");
        let environment = matches!(
            e,
            AnswerError::Io { .. } | AnswerError::Model(_) | AnswerError::Data(_)
        ) || matches!(&e, AnswerError::Rag(r) if r.is_environment());
        std::process::exit(if environment { 3 } else { 2 });
    }
}
