//! The engine-backed surrogate's feature-space gradient (obtained through a probe copy of the
//! model's last layer) against central finite differences of the embeddings.

use mithridate_attack::Surrogate;
use mithridate_data::{Dataset, Features, Modality};
use mithridate_engine::{Architecture, Classifier};
use rand::{Rng, SeedableRng};

fn check(arch: Architecture, modality: Modality) {
    let per = modality.sample_len();
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let n = 3;
    let x: Vec<f32> = (0..n * per).map(|_| r.random::<f32>()).collect();
    let data = Dataset::new(
        modality.clone(),
        Features::Dense(x.clone()),
        vec![0, 1, 2],
        vec![0, 1, 2],
        3,
        vec![],
    )
    .unwrap();
    let model = Classifier::new(arch, &modality, 3, 4).unwrap();
    let (phi, dim) = Surrogate::embeddings(&model, &data).unwrap();
    let targets: Vec<f32> = phi.iter().map(|v| v + r.random::<f32>() - 0.5).collect();
    let grad = model.embedding_input_gradients(&data, &targets).unwrap();
    assert_eq!(grad.len(), n * per);

    let objective = |values: Vec<f32>, row: usize| -> f64 {
        let one = Dataset::new(
            modality.clone(),
            Features::Dense(values),
            vec![0],
            vec![0],
            3,
            vec![],
        )
        .unwrap();
        let (p, _) = Surrogate::embeddings(&model, &one).unwrap();
        p.iter()
            .zip(&targets[row * dim..(row + 1) * dim])
            .map(|(a, b)| 0.5 * f64::from(a - b).powi(2))
            .sum()
    };
    let h = 1e-2f32;
    let (mut dot, mut nn, mut nf) = (0f64, 0f64, 0f64);
    for row in 0..n {
        for j in (0..per).step_by((per / 12).max(1)) {
            let mut plus = x[row * per..(row + 1) * per].to_vec();
            let mut minus = plus.clone();
            plus[j] += h;
            minus[j] -= h;
            let fd = (objective(plus, row) - objective(minus, row)) / (2.0 * f64::from(h));
            let g = f64::from(grad[row * per + j]);
            dot += fd * g;
            nn += g * g;
            nf += fd * fd;
        }
    }
    let cosine = dot / (nn.sqrt() * nf.sqrt());
    let ratio = nn.sqrt() / nf.sqrt();
    assert!(cosine > 0.99, "{arch}: cosine {cosine}");
    assert!((ratio - 1.0).abs() < 0.05, "{arch}: norm ratio {ratio}");
}

#[test]
fn mlp_feature_gradient_matches_finite_differences() {
    check(Architecture::Mlp, Modality::Tabular { features: 7 });
}

#[test]
fn cnn_feature_gradient_matches_finite_differences() {
    check(
        Architecture::Cnn,
        Modality::Image {
            channels: 1,
            height: 8,
            width: 8,
        },
    );
}
