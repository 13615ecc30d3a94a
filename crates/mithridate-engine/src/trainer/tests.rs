//! Tests of [`super`]: the fast path against candle autodiff and finite differences.
use candle_core::{Device, Tensor, Var};
use mithridate_data::Modality;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::classifier::gradients::argmax_rows;
use crate::network::cross_entropy;
use crate::Architecture;

/// A network with random weights (4x the initialisation's scale, so every layer's output
/// varies a lot), `batch` random inputs in [-1, 1] (no tied pooling maxima) and labels.
fn problem(
    arch: Architecture,
    modality: &Modality,
    batch: usize,
) -> (Network, Vec<Vec<f32>>, Vec<f32>, Vec<u32>) {
    let classes = 10;
    let network = Network::new(arch, modality, classes);
    let mut rng = ChaCha8Rng::seed_from_u64(batch as u64);
    let params = network
        .init(7)
        .into_iter()
        .map(|p| p.into_iter().map(|v| 4.0 * v).collect())
        .collect();
    let inputs = (0..batch * modality.sample_len())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let labels = (0..batch)
        .map(|_| rng.random_range(0..classes as u32))
        .collect();
    (network, params, inputs, labels)
}

/// Mean loss and per-tensor gradients from candle autodiff of the network's forward.
fn autodiff(
    network: &Network,
    params: &[Vec<f32>],
    inputs: &[f32],
    labels: &[u32],
) -> (f64, Vec<Vec<f32>>) {
    let dev = Device::Cpu;
    let vars: Vec<Var> = params
        .iter()
        .zip(network.specs())
        .map(|(v, s)| Var::from_slice(v, s.shape.as_slice(), &dev).unwrap())
        .collect();
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let x = Tensor::from_slice(inputs, (labels.len(), inputs.len() / labels.len()), &dev).unwrap();
    let y = Tensor::from_slice(labels, labels.len(), &dev).unwrap();
    let (_, logits) = network.forward(&tensors, &x).unwrap();
    let loss = cross_entropy(&logits, &y).unwrap().mean_all().unwrap();
    let grads = loss.backward().unwrap();
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let g = vars.iter().map(|v| flat(grads.get(v).unwrap())).collect();
    (f64::from(loss.to_scalar::<f32>().unwrap()), g)
}

fn fast(
    network: &Network,
    params: &[Vec<f32>],
    inputs: &[f32],
    labels: &[u32],
) -> (f64, Vec<Vec<f32>>) {
    let mut trainer = FastTrainer::new(network, labels.len()).expect("fast path");
    let rows: Vec<usize> = (0..labels.len()).collect();
    let loss = trainer.step(params, inputs, &rows, labels);
    (
        loss,
        (0..params.len())
            .map(|i| trainer.gradient(i).to_vec())
            .collect(),
    )
}

fn image(channels: usize, height: usize, width: usize) -> Modality {
    Modality::Image {
        channels,
        height,
        width,
    }
}

/// The architectures and input shapes the fast path is checked on, with batch sizes that
/// leave partial tasks: MNIST-sized, three- and two-channel odd sizes, dense models.
fn shapes() -> [(Architecture, Modality, usize); 5] {
    [
        (Architecture::Cnn, image(1, 28, 28), 37),
        (Architecture::Cnn, image(3, 7, 9), 20),
        (Architecture::Cnn, image(2, 4, 5), 3),
        (Architecture::Mlp, Modality::Tabular { features: 13 }, 70),
        (Architecture::LogReg, Modality::Tabular { features: 6 }, 5),
    ]
}

#[test]
fn gradients_equal_candle_autodiff() {
    for (arch, modality, batch) in shapes() {
        let (network, params, inputs, labels) = problem(arch, &modality, batch);
        let (want_loss, want) = autodiff(&network, &params, &inputs, &labels);
        let (got_loss, got) = fast(&network, &params, &inputs, &labels);
        assert!(
            (got_loss - want_loss).abs() < 1e-5 * want_loss.max(1.0),
            "{arch} loss {got_loss} vs {want_loss}"
        );
        for (t, (g, w)) in got.iter().zip(&want).enumerate() {
            // Relative to each tensor's largest gradient: sums of up to ~1,600 products per
            // image and 70 images, in a different order.
            let scale = w.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * scale,
                    "{arch} {modality:?} tensor {t}[{i}]: fast {a} vs autodiff {b} (scale {scale})"
                );
            }
        }
    }
}

#[test]
fn cnn_gradients_match_finite_differences() {
    let (network, params, inputs, labels) = problem(Architecture::Cnn, &image(2, 8, 6), 5);
    let (_, grad) = fast(&network, &params, &inputs, &labels);
    let loss_at = |t: usize, i: usize, delta: f32| {
        let mut p = params.clone();
        p[t][i] += delta;
        fast(&network, &p, &inputs, &labels).0
    };
    let eps = 1e-3f32;
    let mut checked = 0;
    for (t, g) in grad.iter().enumerate() {
        // The three largest-magnitude entries of every tensor and its first one.
        let mut order: Vec<usize> = (0..g.len()).collect();
        order.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
        for &i in order.iter().take(3).chain([&0]) {
            let want = (loss_at(t, i, eps) - loss_at(t, i, -eps)) / (2.0 * f64::from(eps));
            let got = f64::from(g[i]);
            assert!(
                (got - want).abs() < 2e-3 + 0.02 * want.abs(),
                "tensor {t}[{i}]: {got} vs finite difference {want}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 32);
}

#[test]
fn gradients_do_not_depend_on_the_thread_count() {
    let (network, params, inputs, labels) = problem(Architecture::Cnn, &image(1, 12, 12), 64);
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| fast(&network, &params, &inputs, &labels))
    };
    let one = on(1);
    assert!(one.1.iter().flatten().any(|g| *g != 0.0));
    for threads in [2, 3] {
        let other = on(threads);
        assert_eq!(
            one.0.to_bits(),
            other.0.to_bits(),
            "loss on {threads} threads"
        );
        assert_eq!(one.1, other.1, "gradients on {threads} threads");
    }
}

#[test]
fn text_model_has_no_fast_path() {
    let text = Modality::Text {
        max_len: 4,
        vocab_size: 10,
    };
    let network = Network::new(Architecture::Text, &text, 2);
    assert!(FastTrainer::new(&network, 8).is_none());
}

/// Per-sample input gradients (summed loss) and predictions by candle autodiff.
fn autodiff_input(
    network: &Network,
    params: &[Vec<f32>],
    inputs: &[f32],
    targets: &[u32],
) -> (Vec<f32>, Vec<u32>) {
    let dev = Device::Cpu;
    let tensors: Vec<Tensor> = params
        .iter()
        .zip(network.specs())
        .map(|(v, s)| Tensor::from_slice(v, s.shape.as_slice(), &dev).unwrap())
        .collect();
    let n = targets.len();
    let x = Var::from_slice(inputs, (n, inputs.len() / n), &dev).unwrap();
    let y = Tensor::from_slice(targets, n, &dev).unwrap();
    let (_, logits) = network.forward(&tensors, x.as_tensor()).unwrap();
    let predicted = logits.argmax(1).unwrap().to_vec1::<u32>().unwrap();
    let grads = cross_entropy(&logits, &y)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g = grads.get(&x).unwrap().flatten_all().unwrap();
    (g.to_vec1::<f32>().unwrap(), predicted)
}

fn fast_input(
    network: &Network,
    params: &[Vec<f32>],
    inputs: &[f32],
    targets: &[u32],
) -> (Vec<f32>, Vec<u32>) {
    let mut trainer = FastTrainer::new(network, targets.len()).expect("fast path");
    let rows: Vec<usize> = (0..targets.len()).collect();
    let mut grads = vec![0.0; inputs.len()];
    let classes = network.specs().last().unwrap().numel();
    let mut logits = vec![0.0; targets.len() * classes];
    let objective = Objective::CrossEntropy(1.0);
    let batch = (inputs, &rows[..], targets);
    trainer.input_gradients(params, batch, objective, (&mut grads, &mut logits));
    (grads, argmax_rows(&logits, classes))
}

#[test]
fn input_gradients_equal_candle_autodiff() {
    for (arch, modality, batch) in shapes() {
        let (network, params, inputs, targets) = problem(arch, &modality, batch);
        let (want, want_pred) = autodiff_input(&network, &params, &inputs, &targets);
        let (got, got_pred) = fast_input(&network, &params, &inputs, &targets);
        assert_eq!(got_pred, want_pred, "{arch} {modality:?} predictions");
        let scale = want.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        assert!(got.iter().any(|g| *g != 0.0));
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * scale,
                "{arch} {modality:?} input {i}: fast {a} vs autodiff {b} (scale {scale})"
            );
        }
    }
}

#[test]
fn cnn_input_gradients_match_finite_differences() {
    let (network, params, inputs, targets) = problem(Architecture::Cnn, &image(2, 8, 6), 3);
    let (grads, _) = fast_input(&network, &params, &inputs, &targets);
    let rows: Vec<usize> = (0..targets.len()).collect();
    // The summed loss: `step` averages, so scale back by the batch size.
    let loss_at = |i: usize, delta: f32| {
        let mut x = inputs.clone();
        x[i] += delta;
        let mut trainer = FastTrainer::new(&network, targets.len()).unwrap();
        trainer.step(&params, &x, &rows, &targets) * targets.len() as f64
    };
    let mut order: Vec<usize> = (0..grads.len()).collect();
    order.sort_by(|&a, &b| grads[b].abs().total_cmp(&grads[a].abs()));
    let eps = 1e-3f32;
    for &i in order.iter().take(8) {
        let want = (loss_at(i, eps) - loss_at(i, -eps)) / (2.0 * f64::from(eps));
        let got = f64::from(grads[i]);
        assert!(
            (got - want).abs() < 2e-3 + 0.02 * want.abs(),
            "input {i}: {got} vs finite difference {want}"
        );
    }
}

#[test]
fn margin_gradients_equal_candle_autodiff() {
    for (arch, modality, batch) in [
        (Architecture::Cnn, image(1, 12, 12), 9),
        (Architecture::Mlp, Modality::Tabular { features: 7 }, 11),
    ] {
        let (network, params, inputs, classes) = problem(arch, &modality, batch);
        let k = network.specs().last().unwrap().numel();
        let mut trainer = FastTrainer::new(&network, batch).unwrap();
        let rows: Vec<usize> = (0..batch).collect();
        let (mut got, mut logits) = (vec![0.0; inputs.len()], vec![0.0; batch * k]);
        let batch_in = (&inputs[..], &rows[..], &classes[..]);
        trainer.input_gradients(
            &params,
            batch_in,
            Objective::Margin,
            (&mut got, &mut logits),
        );
        // Autodiff of sum_rows (logits . w_row), w = +1 at the class, -1 at the runner-up.
        let dev = Device::Cpu;
        let mut w = vec![0.0f32; batch * k];
        for (r, row) in logits.chunks_exact(k).enumerate() {
            let c = classes[r] as usize;
            let other = (0..k)
                .filter(|&j| j != c)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                .unwrap();
            w[r * k + c] = 1.0;
            w[r * k + other] = -1.0;
        }
        let tensors: Vec<Tensor> = params
            .iter()
            .zip(network.specs())
            .map(|(v, s)| Tensor::from_slice(v, s.shape.as_slice(), &dev).unwrap())
            .collect();
        let x = Var::from_slice(&inputs, (batch, inputs.len() / batch), &dev).unwrap();
        let (_, z) = network.forward(&tensors, x.as_tensor()).unwrap();
        let w = Tensor::from_slice(&w, (batch, k), &dev).unwrap();
        let grads = (z * w).unwrap().sum_all().unwrap().backward().unwrap();
        let want = grads
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let scale = want.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * scale,
                "{arch} input {i}: {a} vs {b}"
            );
        }
    }
}

/// DP-SGD's batched clipping (two backward passes over the lot) against clipping each
/// sample's own gradient, computed from a batch of that one sample: the CNN (two tasks of
/// images, and a tiny image), the MLP (three tasks) and logistic regression.
#[test]
fn batched_clipping_equals_clipping_each_sample_alone() {
    let cases = [
        (Architecture::Cnn, image(3, 7, 9), 20),
        (Architecture::Cnn, image(2, 4, 5), 5),
        (Architecture::Mlp, Modality::Tabular { features: 13 }, 70),
        (Architecture::LogReg, Modality::Tabular { features: 6 }, 5),
    ];
    for (arch, modality, n) in cases {
        let (network, params, inputs, labels) = problem(arch, &modality, n);
        let len = modality.sample_len();
        let alone: Vec<(Vec<Vec<f32>>, f32)> = (0..n)
            .map(|i| {
                let one = &inputs[i * len..(i + 1) * len];
                let (_, g) = fast(&network, &params, one, &labels[i..i + 1]);
                let sq: f64 = g.iter().flatten().map(|&v| f64::from(v).powi(2)).sum();
                (g, sq.sqrt() as f32)
            })
            .collect();
        // A clip norm between the smallest and largest, so both cases occur.
        let mut sorted: Vec<f32> = alone.iter().map(|(_, norm)| *norm).collect();
        sorted.sort_by(f32::total_cmp);
        let clip = sorted[n / 2];
        assert!(sorted[0] < clip && clip < sorted[n - 1], "{arch}");

        let mut trainer = FastTrainer::new(&network, n).expect("fast path");
        let rows: Vec<usize> = (0..n).collect();
        let report = trainer.clipped_gradient_sum(&params, (&inputs, &rows, &labels), clip);
        let norms: Vec<f32> = trainer.tasks.iter().flat_map(|t| t.norms.clone()).collect();
        for (i, (_, norm)) in alone.iter().enumerate() {
            let got = norms[i];
            assert!(
                (got - norm).abs() <= 1e-4 * norm,
                "{arch} sample {i}: {got} vs {norm}"
            );
        }
        let over = sorted.iter().filter(|&&v| v > clip).count();
        assert_eq!(report.clipped, over, "{arch}");
        for t in 0..params.len() {
            let want: Vec<f32> = (0..params[t].len())
                .map(|k| {
                    alone
                        .iter()
                        .map(|(g, norm)| g[t][k] * (clip / norm).min(1.0))
                        .sum()
                })
                .collect();
            let scale = want.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
            for (k, (a, b)) in trainer.gradient(t).iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * scale,
                    "{arch} tensor {t}[{k}]: batched {a} vs alone {b} (scale {scale})"
                );
            }
        }
    }
}
