//! Input gradients of a [`Classifier`]: the training fast path where the network has one
//! (dense and image models), candle autodiff otherwise.

use candle_core::Var;
use mithridate_data::{Dataset, Features};

use super::{flatten, Classifier, INFERENCE_CHUNK};
use crate::error::BackendContext;
use crate::network::cross_entropy;
use crate::trainer::{FastTrainer, Objective};
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
        self.check_gradient_query(data, targets)?;
        match self.fast_input_pass(data, targets, Objective::CrossEntropy(1.0))? {
            Some((grads, logits)) => Ok((grads, argmax_rows(&logits, self.num_classes))),
            None => {
                let grads = self.input_gradients_by_autodiff(data, targets)?;
                Ok((grads, self.predict(data)?))
            }
        }
    }

    /// Gradient of each sample's logit margin `z_c - max_{j != c} z_j` for class
    /// `classes[i]` with respect to its input, and the margins (`n * sample_len` and `n`
    /// values): what a search for inputs a class wins by far (MM-BD) ascends. Dense and image
    /// models (the engine's fast path); the text model's inputs are discrete.
    ///
    /// ```
    /// use mithridate_data::{Dataset, Features, Modality};
    /// use mithridate_engine::{Architecture, Classifier};
    /// let modality = Modality::Tabular { features: 3 };
    /// let data = Dataset::new(modality.clone(), Features::Dense(vec![0.1, 0.7, 0.3]), vec![0],
    ///     vec![0], 4, vec![]).unwrap();
    /// let model = Classifier::new(Architecture::LogReg, &modality, 4, 0).unwrap();
    /// let (grads, margins) = model.margin_gradients(&data, &[2]).unwrap();
    /// assert_eq!((grads.len(), margins.len()), (3, 1));
    /// ```
    pub fn margin_gradients(
        &self,
        data: &Dataset,
        classes: &[u32],
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        self.check_gradient_query(data, classes)?;
        if self.num_classes < 2 {
            return Err(EngineError::invalid_input(
                "a margin needs at least two classes",
            ));
        }
        let (grads, logits) = self
            .fast_input_pass(data, classes, Objective::Margin)?
            .ok_or_else(|| {
                EngineError::invalid_input("margin gradients need a dense or image model")
            })?;
        let k = self.num_classes;
        let margins = logits
            .chunks_exact(k)
            .zip(classes)
            .map(|(row, &c)| {
                let c = c as usize;
                let other = (0..k)
                    .filter(|&j| j != c)
                    .map(|j| row[j])
                    .fold(f32::NEG_INFINITY, f32::max);
                row[c] - other
            })
            .collect();
        Ok((grads, margins))
    }

    fn check_gradient_query(&self, data: &Dataset, targets: &[u32]) -> Result<()> {
        self.check_compatible(data)?;
        if self.network.takes_tokens() {
            return Err(EngineError::invalid_input(
                "input gradients need dense features; text token ids are discrete",
            ));
        }
        self.check_targets(data, targets)
    }

    /// Input gradients of `objective` and the logits through the fast path, chunk by chunk;
    /// `None` where the network has none (the text model).
    fn fast_input_pass(
        &self,
        data: &Dataset,
        targets: &[u32],
        objective: Objective,
    ) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
        let Features::Dense(x) = data.features() else {
            return Err(EngineError::invalid_input(
                "input gradients need dense features",
            ));
        };
        let chunk = INFERENCE_CHUNK.min(data.len()).max(1);
        let Some(mut fast) = FastTrainer::new(&self.network, chunk) else {
            return Ok(None);
        };
        let weights = self.weight_vectors()?;
        let (per, k) = (fast.sample_len(), self.num_classes);
        let mut grads = vec![0.0f32; data.len() * per];
        let mut logits = vec![0.0f32; data.len() * k];
        for start in (0..data.len()).step_by(chunk) {
            let end = (start + chunk).min(data.len());
            let rows: Vec<usize> = (start..end).collect();
            fast.input_gradients(
                &weights,
                (x, &rows, &targets[start..end]),
                objective,
                (
                    &mut grads[start * per..end * per],
                    &mut logits[start * k..end * k],
                ),
            );
        }
        Ok(Some((grads, logits)))
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

/// The arg-max of every row of `k` values (the first on ties).
pub(crate) fn argmax_rows(values: &[f32], k: usize) -> Vec<u32> {
    values
        .chunks_exact(k)
        .map(|row| {
            let mut best = 0;
            for (c, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = c;
                }
            }
            best as u32
        })
        .collect()
}
