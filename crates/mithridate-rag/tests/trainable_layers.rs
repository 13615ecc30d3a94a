//! The encoder split for fine-tuning, against the real MiniLM: lower states + trainable top
//! layers at the pretrained weights reproduce the frozen encoder; the differentiable graph's
//! gradient with respect to a layer weight matches central finite differences; refusals.

use mithridate_rag::encoder::candle_core::{Tensor, Var};
use mithridate_rag::encoder::{Encoder, LowerStates, Pooling, TrainableLayers, LAYERS};

fn encoder() -> Encoder {
    Encoder::minilm(&mithridate_data::DataHome::from_env().unwrap()).unwrap()
}

const TEXTS: [&str; 3] = [
    "The economy added new jobs in every state.",
    "Free money!!! click here now to claim your prize",
    "ok",
];

#[test]
fn split_forward_at_initial_weights_is_the_frozen_encoder() {
    let enc = encoder();
    let ids: Vec<Vec<u32>> = TEXTS.iter().map(|t| enc.token_ids(t)).collect();
    let ids: Vec<&[u32]> = ids.iter().map(|v| &v[..]).collect();
    for pooling in [Pooling::Mean, Pooling::MeanMax] {
        let frozen = enc.embed_ids(&ids, pooling, &mut |_| {}).unwrap();
        for k in [1, 2, 6] {
            let lower = enc
                .lower_states(&ids, LAYERS - k, 1 << 30, &mut |_| {})
                .unwrap();
            assert_eq!(lower[2].tokens, ids[2].len());
            let top = enc.trainable_layers(LAYERS - k).unwrap();
            assert_eq!(top.vars().len(), 16 * k);
            let rows = top
                .embed(&lower.iter().collect::<Vec<_>>(), pooling)
                .unwrap();
            let worst = rows
                .iter()
                .zip(&frozen)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "k={k} {pooling:?}: {worst}");
            // The differentiable graph computes the same rows.
            let (h, mask) = TrainableLayers::batch(&lower.iter().collect::<Vec<_>>()).unwrap();
            let d = top.forward(&h, &mask, pooling, true).unwrap();
            let d = d.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let worst = d
                .iter()
                .zip(&frozen)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-4, "differentiable k={k}: {worst}");
        }
    }
}

/// `s = sum(pooled * r)` for a fixed `r`, as a function of one trainable weight tensor.
fn score(top: &TrainableLayers, h: &Tensor, mask: &Tensor, r: &Tensor) -> Tensor {
    top.forward(h, mask, Pooling::MeanMax, true)
        .unwrap()
        .mul(r)
        .unwrap()
        .sum_all()
        .unwrap()
}

#[test]
fn weight_gradient_matches_finite_differences() {
    let enc = encoder();
    let ids: Vec<Vec<u32>> = TEXTS[..2].iter().map(|t| enc.token_ids(t)).collect();
    let ids: Vec<&[u32]> = ids.iter().map(|v| &v[..]).collect();
    let lower = enc
        .lower_states(&ids, LAYERS - 1, 1 << 30, &mut |_| {})
        .unwrap();
    let rows: Vec<&LowerStates> = lower.iter().collect();
    let (h, mask) = TrainableLayers::batch(&rows).unwrap();
    let top = enc.trainable_layers(LAYERS - 1).unwrap();
    let width = Pooling::MeanMax.width();
    let r: Vec<f32> = (0..2 * width)
        .map(|i| ((i * 7919) % 13) as f32 / 13.0 - 0.5)
        .collect();
    let r = Tensor::from_vec(r, (2, width), h.device()).unwrap();
    let grads = score(&top, &h, &mask, &r).backward().unwrap();
    // Directional derivative along a fixed direction of the query weight (var 0) and of the
    // second feed-forward weight (var 10): analytic vs central difference.
    for which in [0usize, 10] {
        let var: &Var = &top.vars()[which];
        let g = grads
            .get(var.as_tensor())
            .expect("a gradient for the weight");
        let n = var.as_tensor().elem_count();
        let dir: Vec<f32> = (0..n)
            .map(|i| if i % 5 == 0 { 1.0 } else { -0.25 })
            .collect();
        let dir = Tensor::from_vec(dir, var.as_tensor().shape(), h.device()).unwrap();
        let analytic = g
            .mul(&dir)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let w0 = var.as_tensor().copy().unwrap();
        let eps = 1e-3;
        let at = |step: f64| {
            var.set(&(&w0 + (&dir * step).unwrap()).unwrap()).unwrap();
            score(&top, &h, &mask, &r).to_scalar::<f32>().unwrap() as f64
        };
        let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
        var.set(&w0).unwrap();
        let rel = (analytic as f64 - numeric).abs() / numeric.abs().max(1e-3);
        assert!(
            rel < 0.05 && analytic.abs() > 1e-4,
            "var {which}: analytic {analytic} numeric {numeric}"
        );
    }
}

#[test]
fn bad_requests_are_refused() {
    let enc = encoder();
    let ids = enc.token_ids("a short text");
    let err = enc.lower_states(&[&ids[..]], 7, 1 << 30, &mut |_| {});
    assert!(err.unwrap_err().to_string().contains("6 layers"));
    let err = enc.lower_states(&[&ids[..]], 5, 100, &mut |_| {});
    assert!(err.unwrap_err().to_string().contains("over the limit"));
    assert!(enc.trainable_layers(LAYERS).is_err());
    let top = enc.trainable_layers(5).unwrap();
    let bad = LowerStates {
        states: vec![0.0; 10],
        tokens: 1,
    };
    assert!(top.embed(&[&bad], Pooling::Mean).is_err());
}
