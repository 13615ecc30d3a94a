//! The surrogate model some attacks optimise against: the attacker's own model, trained on
//! data like the victim's. Implemented for the engine's [`Classifier`]; tests use small
//! hand-made models whose gradients are known in closed form.

use crate::{AttackError, Result};
use mithridate_data::Dataset;
use mithridate_engine::Classifier;

/// What attacks need from a model: probabilities, input gradients, penultimate features.
pub trait Surrogate: Sync {
    /// Class probabilities, `n * num_classes` values row-major.
    fn predict_proba(&self, data: &Dataset) -> Result<Vec<f32>>;
    /// `d CE(f(x_i), labels_i) / d x_i` for every sample, `n * sample_len` values.
    fn loss_input_gradients(&self, data: &Dataset, labels: &[u32]) -> Result<Vec<f32>>;
    /// Penultimate-layer features `(n * dim values, dim)`.
    fn embeddings(&self, data: &Dataset) -> Result<(Vec<f32>, usize)>;
    /// `d/dx_i 0.5 * ||phi(x_i) - targets_i||^2` where `phi` is [`Surrogate::embeddings`] and
    /// `targets` holds `n * dim` values; `n * sample_len` values.
    fn embedding_input_gradients(&self, data: &Dataset, targets: &[f32]) -> Result<Vec<f32>>;
}

fn model_error(e: impl std::fmt::Display) -> AttackError {
    AttackError::Surrogate(e.to_string())
}

impl Surrogate for Classifier {
    fn predict_proba(&self, data: &Dataset) -> Result<Vec<f32>> {
        Classifier::predict_proba(self, data).map_err(model_error)
    }

    fn loss_input_gradients(&self, data: &Dataset, labels: &[u32]) -> Result<Vec<f32>> {
        Classifier::input_gradients(self, data, labels).map_err(model_error)
    }

    fn embeddings(&self, data: &Dataset) -> Result<(Vec<f32>, usize)> {
        Classifier::embeddings(self, data).map_err(model_error)
    }

    /// The engine exposes only cross-entropy input gradients, so the feature-space gradient is
    /// obtained exactly through a probe copy of the model whose last linear layer is replaced:
    /// with weights `W` zero except row 0 `= -eps * d` (`d = phi(x) - target`) and zero bias,
    /// the logits are `z = (-eps d.phi(x), 0, ..., 0)` and
    /// `d CE(z, 0) / d phi = W^T (softmax(z) - e_0) = eps (1 - p_0) d`, so
    /// `grad_x CE = eps (1 - p_0) J_phi(x)^T d` — the wanted gradient times a known scalar.
    /// `eps = 1 / (|d| (1 + |phi(x)|))` keeps `|z_0| < 1`, so `1 - p_0` stays well away from 0.
    /// One sample per probe call (each sample needs its own `W`).
    fn embedding_input_gradients(&self, data: &Dataset, targets: &[f32]) -> Result<Vec<f32>> {
        let (phi, dim) = Classifier::embeddings(self, data).map_err(model_error)?;
        if targets.len() != data.len() * dim {
            return Err(AttackError::Surrogate(format!(
                "{} feature targets for {} samples of {dim} features",
                targets.len(),
                data.len()
            )));
        }
        let k = self.num_classes();
        let shapes = self.parameter_shapes();
        let last_layer_ok = shapes.len() >= 2
            && shapes[shapes.len() - 2].1 == [k, dim]
            && shapes[shapes.len() - 1].1 == [k];
        if !last_layer_ok {
            return Err(AttackError::Surrogate(
                "the model's last layer is not a linear map from its embeddings to the classes"
                    .into(),
            ));
        }
        let mut flat = self.flat_parameters().map_err(model_error)?;
        let head = flat.len() - k * dim - k;
        let mut probe = self.try_clone().map_err(model_error)?;
        let per = data.modality().sample_len();
        let mut out = Vec::with_capacity(data.len() * per);
        for row in 0..data.len() {
            let h = &phi[row * dim..(row + 1) * dim];
            let d: Vec<f32> = h
                .iter()
                .zip(&targets[row * dim..(row + 1) * dim])
                .map(|(a, b)| a - b)
                .collect();
            let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            let (d_norm, h_norm) = (norm(&d), norm(h));
            if d_norm == 0.0 {
                out.extend(std::iter::repeat_n(0.0, per));
                continue;
            }
            let eps = 1.0 / (d_norm * (1.0 + h_norm));
            flat[head..].iter_mut().for_each(|w| *w = 0.0);
            for (w, &dj) in flat[head..head + dim].iter_mut().zip(&d) {
                *w = (-eps * f64::from(dj)) as f32;
            }
            probe.set_flat_parameters(&flat).map_err(model_error)?;
            let z0: f64 = flat[head..head + dim]
                .iter()
                .zip(h)
                .map(|(w, x)| f64::from(*w) * f64::from(*x))
                .sum();
            let p0 = z0.exp() / (z0.exp() + (k - 1) as f64);
            let grad = probe
                .input_gradients(&data.select(&[row])?, &[0])
                .map_err(model_error)?;
            let scale = 1.0 / (eps * (1.0 - p0));
            out.extend(grad.iter().map(|g| (f64::from(*g) * scale) as f32));
        }
        Ok(out)
    }
}
