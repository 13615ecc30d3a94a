//! The white-box pieces against the real encoder: the similarity gradient against finite
//! differences and the fused forward pass, and HotFlip passages that get closer to their
//! question, publish as the tokens they optimised, and repeat under the same seed.

use mithridate_rag::attacks::AttackInput;
use mithridate_rag::corpus::{Corpus, Passage};
use mithridate_rag::encoder::{Encoder, DIM};
use mithridate_rag::registry::build_attack;
use mithridate_rag::targets::Target;

fn encoder() -> Encoder {
    Encoder::minilm(&mithridate_data::DataHome::from_env().unwrap()).unwrap()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn gradient_matches_finite_differences_and_the_fused_pass() {
    let enc = encoder();
    let query = enc
        .encode(&["How many jobs were created last year?"])
        .unwrap();
    let text = "The economy added new jobs in every state.";
    let ids = enc.token_ids(text);
    let words = enc.words_of(&ids).unwrap();
    let (s, grad) = enc.similarity_gradient(&words, &query.vectors).unwrap();
    // The differentiable graph computes what the fused encoder computes.
    let fused = enc.encode(&[text]).unwrap();
    assert!(
        (s - dot(&fused.vectors, &query.vectors)).abs() < 1e-4,
        "{s}"
    );
    // Central differences along the gradient and along a fixed direction of token 3.
    let norm = dot(&grad, &grad).sqrt();
    assert!(norm > 0.0);
    let mut fixed = vec![0f32; words.len()];
    for (i, v) in fixed[3 * DIM..4 * DIM].iter_mut().enumerate() {
        *v = if i % 3 == 0 { 1.0 } else { -0.5 };
    }
    for direction in [grad.iter().map(|g| g / norm).collect::<Vec<_>>(), fixed] {
        let h = 1e-2f32;
        let at = |sign: f32| {
            let moved: Vec<f32> = words
                .iter()
                .zip(&direction)
                .map(|(w, d)| w + sign * h * d)
                .collect();
            enc.similarity_gradient(&moved, &query.vectors).unwrap().0
        };
        let numeric = (at(1.0) - at(-1.0)) / (2.0 * h);
        let analytic = dot(&grad, &direction);
        assert!(
            (numeric - analytic).abs() <= 2e-2 * analytic.abs().max(0.05),
            "numeric {numeric} vs analytic {analytic}"
        );
    }
    assert!(enc
        .similarity_gradient(&words[..10], &query.vectors)
        .is_err());
    assert!(enc
        .similarity_gradient(&words, &query.vectors[..5])
        .is_err());
    let mut bad = words.clone();
    bad[0] = f32::NAN;
    assert!(enc.similarity_gradient(&bad, &query.vectors).is_err());
}

#[test]
fn hotflip_passages_move_towards_their_question() {
    let enc = encoder();
    let corpus = Corpus::new(
        "c",
        vec![Passage {
            id: "a".into(),
            text: "text".into(),
        }],
    )
    .unwrap();
    let targets = [
        Target {
            question: "Which agency did the president propose to abolish?".into(),
            target_answer: "the Postal Service".into(),
            correct_answer: None,
            passage_id: None,
        },
        Target {
            question: "How many new teachers will be hired?".into(),
            target_answer: "ninety".into(),
            correct_answer: None,
            passage_id: None,
        },
    ];
    let run = |params: serde_json::Value| {
        build_attack("hotflip", &params)
            .unwrap()
            .poison(&AttackInput {
                corpus: &corpus,
                targets: &targets,
                per_target: 1,
                seed: 7,
                encoder: Some(&enc),
            })
            .unwrap()
    };
    let sim = |out: &mithridate_rag::attacks::Poisoning| -> Vec<f32> {
        let texts: Vec<&str> = out.added.iter().map(|p| p.text.as_str()).collect();
        let p = enc.encode(&texts).unwrap().vectors;
        let q: Vec<&str> = targets.iter().map(|t| t.question.as_str()).collect();
        let q = enc.encode(&q).unwrap().vectors;
        (0..targets.len())
            .map(|t| dot(&p[t * DIM..(t + 1) * DIM], &q[t * DIM..(t + 1) * DIM]))
            .collect()
    };
    let random = |iterations: usize| serde_json::json!({ "start": "random", "iterations": iterations, "candidates": 6 });
    let (before, after) = (run(random(0)), run(random(8)));
    assert_eq!(after, run(random(8)), "same seed, same passages");
    for (t, (b, a)) in sim(&before).into_iter().zip(sim(&after)).enumerate() {
        assert!(a > b + 0.05, "target {t}: similarity {b} -> {a}");
    }
    for (p, target) in after.added.iter().zip(&targets) {
        // The statement (template 0 around the false answer) is untouched and the optimised
        // words publish as themselves.
        let statement = format!(
            "In fact, the record is clear: The answer to this is {}.",
            target.target_answer
        );
        let s = p.text.strip_suffix(&statement).unwrap().trim_end();
        let ids = enc.token_ids(s);
        assert_eq!(enc.tokenizer().decode(&ids), s);
        assert!(ids[1..ids.len() - 1]
            .iter()
            .all(|&id| enc.tokenizer().whole_words().contains(&id)));
    }
    // Starting from the question is already close; the search never makes it worse.
    let q0 = sim(&run(serde_json::json!({ "iterations": 0 })));
    let q8 = sim(&run(
        serde_json::json!({ "iterations": 4, "candidates": 4 }),
    ));
    assert!(q0.iter().zip(&q8).all(|(a, b)| b >= a), "{q0:?} -> {q8:?}");
    // Without the encoder the white-box attack refuses to run.
    let err = build_attack("hotflip", &serde_json::Value::Null)
        .unwrap()
        .poison(&AttackInput {
            corpus: &corpus,
            targets: &targets,
            per_target: 1,
            seed: 0,
            encoder: None,
        })
        .unwrap_err();
    assert!(err.to_string().contains("white-box"), "{err}");
    assert!(build_attack("hotflip", &serde_json::json!({ "candidates": 0 })).is_err());
}
