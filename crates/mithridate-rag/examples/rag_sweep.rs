//! The measurements of the crate README: one corpus and retriever, every (attack, defence)
//! pair of the command line, over poisons per target; one Markdown row per run.
//!
//! ```sh
//! cargo run -p mithridate-rag --example rag_sweep -- \
//!     --corpus sotu --retriever minilm --targets 50 --poisons 1,3,5,10 \
//!     --attacks poisoned-rag --defences none,query-echo,perplexity,two-means,manifest [--seed 0]
//! ```
//! An attack may take parameters the same way (`hotflip:start=random;iterations=20`).
//! `--targets` is a number of known-item targets or a `.jsonl` file; a defence list entry may
//! chain defences with `+` (`query-echo+two-means`) and give parameters after `:`, separated
//! by `;` (`two-means:threshold=0.7;window=20`).

use mithridate_rag::experiment::{run, RagSpec, Retriever, TargetSource};
use std::collections::HashMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut flags: HashMap<String, String> = HashMap::new();
    for pair in args.chunks(2) {
        let key = pair[0].trim_start_matches("--").to_string();
        flags.insert(key, pair.get(1).cloned().ok_or("every flag takes a value")?);
    }
    let get = |k: &str, d: &str| flags.get(k).cloned().unwrap_or_else(|| d.to_string());
    let targets = get("targets", "50");
    let targets = match targets.parse::<usize>() {
        Ok(n) => TargetSource::KnownItems(n),
        Err(_) => TargetSource::File(targets.into()),
    };
    let retriever: Retriever = get("retriever", "minilm").parse()?;
    let home = mithridate_data::DataHome::from_env()?;
    println!("| attack | P | defences | asr@1 | asr@5 | asr@20 | clean recall@5 | clean recall@20 | recall under attack@5 | poison precision@5 | poison recall@5 | refused at index (poisons) | seconds |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    // `NAME` or `NAME:KEY=VALUE;KEY=VALUE`.
    let named = |d: &str| match d.split_once(':') {
        None => Ok((d.to_string(), serde_json::Value::Null)),
        Some((name, pairs)) => {
            let pairs: Vec<&str> = pairs.split(';').collect();
            mithridate_core::registry::params_from_pairs(&pairs).map(|p| (name.to_string(), p))
        }
    };
    for attack in get("attacks", "poisoned-rag").split(',') {
        let (attack_name, attack_params) = named(attack)?;
        for p in get("poisons", "5").split(',') {
            for defence in get("defences", "none").split(',') {
                let defences = if defence == "none" {
                    Vec::new()
                } else {
                    defence
                        .split('+')
                        .map(named)
                        .collect::<Result<Vec<_>, String>>()?
                };
                let spec = RagSpec {
                    corpus: get("corpus", "sotu"),
                    retriever,
                    attack: attack_name.clone(),
                    attack_params: attack_params.clone(),
                    targets: targets.clone(),
                    poisons_per_target: p.parse()?,
                    defences,
                    seed: get("seed", "0").parse()?,
                    cutoffs: vec![1, 5, 20],
                };
                let r = run(&home, &spec, &mut |_, _, _| {})?;
                let m = &r.metrics;
                let recall = |k: &str| {
                    m.clean_recall_at_k
                        .as_ref()
                        .map(|c| format!("{:.2}", c[k]))
                        .unwrap_or_else(|| "-".into())
                };
                println!(
                    "| {attack} | {p} | {defence} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {:.2} | {:.2} | {} ({}) | {:.0} |",
                    m.asr_at_k["1"],
                    m.asr_at_k["5"],
                    m.asr_at_k["20"],
                    recall("5"),
                    recall("20"),
                    r.recall_under_attack_at_k
                        .as_ref()
                        .map(|c| format!("{:.2}", c["5"]))
                        .unwrap_or_else(|| "-".into()),
                    m.poison_precision_at_k["5"],
                    m.poison_recall_at_k["5"],
                    r.refused_at_index,
                    r.refused_poisons,
                    r.seconds
                );
            }
        }
    }
    Ok(())
}
