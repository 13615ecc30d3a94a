//! Tests of [`super`] that need its private helpers (the autodiff forward of a model).
use std::path::PathBuf;

use mithridate_data::{load, DataHome, Split};

use super::*;
use crate::TrainParams;

/// `(embeddings, logits)` of every sample from the autodiff forward, in one batch.
fn autodiff_outputs(model: &Classifier, data: &Dataset) -> (Vec<f32>, Vec<f32>) {
    let rows: Vec<usize> = (0..data.len()).collect();
    let x = model.input(data, &rows).expect("input");
    let (hidden, logits) = model
        .network
        .forward(&model.tensors(), &x)
        .expect("autodiff forward");
    (
        flatten(&hidden).expect("hidden"),
        flatten(&logits).expect("logits"),
    )
}

/// Every inference entry point (fast forward, chunked) against the autodiff forward on real
/// 8x8 digits (pooling floors nothing at 8 -> 4 -> 2, but the chunking leaves a remainder).
#[test]
fn inference_matches_autodiff_forward_on_real_digits() {
    let home = match std::env::var_os("MITHRIDATE_HOME") {
        Some(h) if !h.is_empty() => DataHome::new(PathBuf::from(h)),
        _ => DataHome::new(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/mithridate-home"),
        ),
    };
    let data = load(&home, "digits", Split::Train).expect("digits");
    assert!(data.len() > INFERENCE_CHUNK && !data.len().is_multiple_of(INFERENCE_CHUNK));
    for arch in [Architecture::Cnn, Architecture::Mlp] {
        let mut model = Classifier::new(arch, data.modality(), data.num_classes(), 5).unwrap();
        let mut p = TrainParams::default_for(arch);
        p.epochs = 1;
        model
            .fit(&data, &p.check().unwrap(), 5, &mut |_| {})
            .unwrap();
        let (hidden, logits) = autodiff_outputs(&model, &data);
        let k = data.num_classes();
        let argmax = |row: &[f32]| {
            (0..k).fold(0, |best, c| if row[c] > row[best] { c } else { best }) as u32
        };
        let want_pred: Vec<u32> = logits.chunks_exact(k).map(argmax).collect();
        assert_eq!(
            model.predict(&data).unwrap(),
            want_pred,
            "{arch} predictions"
        );

        let want_loss: Vec<f32> = logits
            .chunks_exact(k)
            .zip(data.labels())
            .map(|(row, &y)| {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let log_norm = row.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
                log_norm - (row[y as usize] - max)
            })
            .collect();
        let want_proba: Vec<f32> = logits
            .chunks_exact(k)
            .flat_map(|row| {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
                let s: f32 = e.iter().sum();
                e.into_iter().map(move |v| v / s)
            })
            .collect();
        for (what, got, want) in [
            ("embeddings", model.embeddings(&data).unwrap().0, hidden),
            (
                "probabilities",
                model.predict_proba(&data).unwrap(),
                want_proba,
            ),
            ("losses", model.per_sample_loss(&data).unwrap(), want_loss),
        ] {
            crate::infer::tests::assert_close(&got, &want, &format!("{arch} {what}"));
        }
    }
}
