//! Input gradients of a [`Classifier`]: the training fast path where the network has one
//! (dense and image models), candle autodiff otherwise.

use candle_core::Var;
use mithridate_data::{Dataset, Features};

use super::{flatten, Classifier, INFERENCE_CHUNK};
use crate::error::BackendContext;
use crate::network::cross_entropy;
use crate::trainer::FastTrainer;
use crate::{EngineError, Result};

impl Classifier {
    /// Gradient of each sample's cross-entropy against `targets[i]` with respect to its own
    /// input features: `n * sample_len` values (dense modalities only; tokens are discrete).
    pub fn input_gradients(&self, data: &Dataset, targets: &[u32]) -> Result<Vec<f32>> {
        Ok(self.input_gradients_and_predictions(data, targets)?.0)
    }

    /// [`Classifier::input_gradients`] and [`Classifier::predict`] from one forward pass.
    ///
    /// ```
    /// use mithridate_data::{Dataset, Features, Modality};
    /// use mithridate_engine::{Architecture, Classifier};
    /// let modality = Modality::Image { channels: 1, height: 6, width: 6 };
    /// let data = Dataset::new(modality.clone(), Features::Dense(vec![0.5; 72]), vec![0, 1],
    ///     vec![0, 1], 2, vec![]).unwrap();
    /// let model = Classifier::new(Architecture::Cnn, &modality, 2, 0).unwrap();
    /// let (grads, predicted) = model.input_gradients_and_predictions(&data, &[1, 1]).unwrap();
    /// assert_eq!(grads.len(), 72);
    /// assert_eq!(predicted, model.predict(&data).unwrap());
    /// ```
    pub fn input_gradients_and_predictions(
        &self,
        data: &Dataset,
        targets: &[u32],
    ) -> Result<(Vec<f32>, Vec<u32>)> {
        self.check_compatible(data)?;
        if self.network.takes_tokens() {
            return Err(EngineError::invalid_input(
                "input gradients need dense features; text token ids are discrete",
            ));
        }
        self.check_targets(data, targets)?;
        let Features::Dense(x) = data.features() else {
            return Err(EngineError::invalid_input(
                "input gradients need dense features",
            ));
        };
        let chunk = INFERENCE_CHUNK.min(data.len()).max(1);
        let Some(mut fast) = FastTrainer::new(&self.network, chunk) else {
            let grads = self.input_gradients_by_autodiff(data, targets)?;
            return Ok((grads, self.predict(data)?));
        };
        let weights = self.weight_vectors()?;
        let per = fast.sample_len();
        let mut grads = vec![0.0f32; data.len() * per];
        let mut predicted = vec![0u32; data.len()];
        for start in (0..data.len()).step_by(chunk) {
            let end = (start + chunk).min(data.len());
            let rows: Vec<usize> = (start..end).collect();
            fast.input_gradients(
                &weights,
                (x, &rows, &targets[start..end]),
                &mut grads[start * per..end * per],
                &mut predicted[start..end],
            );
        }
        Ok((grads, predicted))
    }

    /// The reference path: candle autodiff of the network's forward.
    pub(crate) fn input_gradients_by_autodiff(
        &self,
        data: &Dataset,
        targets: &[u32],
    ) -> Result<Vec<f32>> {
        let params = self.tensors();
        let mut out = Vec::with_capacity(data.len() * self.modality.sample_len());
        for start in (0..data.len()).step_by(INFERENCE_CHUNK) {
            let end = (start + INFERENCE_CHUNK).min(data.len());
            let rows: Vec<usize> = (start..end).collect();
            let x = Var::from_tensor(&self.input(data, &rows)?).context("input gradients")?;
            let y = self.targets(&targets[start..end])?;
            // Summing (not averaging) keeps each sample's gradient unscaled.
            let grads = self
                .network
                .forward(&params, x.as_tensor())
                .and_then(|(_, logits)| cross_entropy(&logits, &y)?.sum_all()?.backward())
                .context("input gradients")?;
            match grads.get(&x) {
                Some(g) => out.extend(flatten(g)?),
                None => out.extend(std::iter::repeat_n(0.0, x.elem_count())),
            }
        }
        Ok(out)
    }
}
