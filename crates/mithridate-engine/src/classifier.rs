//! [`Classifier`]: construction, seeded training, inference and gradients (model files are
//! in [`crate::persist`]).

use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use mithridate_data::{Dataset, Features, Modality};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::BackendContext;
use crate::network::{cross_entropy, log_softmax, Network, ParamSpec};
use crate::optim::OptimizerState;
use crate::trainer::FastTrainer;
use crate::{Architecture, EngineError, Result, TrainConfig};

/// Samples per forward pass in inference and gradient queries (bounds peak memory).
pub const INFERENCE_CHUNK: usize = 1024;

/// Progress of [`Classifier::fit`], reported after every mini-batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainProgress {
    /// Current epoch, 1-based.
    pub epoch: usize,
    pub epochs: usize,
    /// Samples processed so far in this epoch.
    pub samples_done: usize,
    /// Samples per epoch.
    pub samples_total: usize,
    /// Mean training loss over this epoch's samples so far.
    pub running_loss: f64,
}

/// Mean training loss of one epoch.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    pub mean_loss: f64,
}

/// Summary of a [`Classifier::fit`] call.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainReport {
    pub epochs: Vec<EpochReport>,
    /// Wall-clock training time.
    pub seconds: f64,
    /// Training samples processed per second (all epochs).
    pub samples_per_sec: f64,
    /// What a DP-SGD fit spent (`None` for ordinary training).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<DpReport>,
}

/// A classifier of one [`Architecture`] for one data [`Modality`] and class count.
///
/// Layers (fixed by the architecture, the modality and `k` classes):
/// - `logreg`: `fc1: sample_len -> k` (softmax regression).
/// - `mlp`: `sample_len -> 256 -> 128 -> k`, ReLU.
/// - `cnn` (`C x H x W` images, `H, W >= 4`): `conv1: C -> 16, 5x5, pad 2` -> 2x2 max-pool ->
///   ReLU -> `conv2: 16 -> 32, 5x5, pad 2` -> max-pool -> ReLU -> `fc1: (H/4)(W/4)32 -> 128` ->
///   ReLU -> `fc2: 128 -> k` (LeCun et al., 1998, LeNet-5 with ReLU and max-pooling;
///   `fc1` reads the pooled map in height-width-channel order).
/// - `text` (token ids, 0 = padding): mean of the 64-d embeddings of the non-padding tokens
///   (fastText-style bag of embeddings, Joulin et al., 2017) -> `fc1: 64 -> 64` -> ReLU -> `fc2: 64 -> k`.
///
/// All families minimise the mean cross-entropy `-log softmax(f(x))[y]` over mini-batches.
/// Weights are initialised from a ChaCha8 stream of the construction seed and training
/// shuffles with a ChaCha8 stream of the training seed, so the same seeds give the same
/// model bytes on the same machine.
#[derive(Debug)]
pub struct Classifier {
    arch: Architecture,
    modality: Modality,
    num_classes: usize,
    network: Network,
    specs: Vec<ParamSpec>,
    params: Vec<Var>,
    device: Device,
}

impl Classifier {
    /// A freshly initialised classifier. Errors if `arch` cannot model `modality` (e.g. `cnn`
    /// on tabular data, a dense model on text) or `num_classes < 2`.
    pub fn new(
        arch: Architecture,
        modality: &Modality,
        num_classes: usize,
        seed: u64,
    ) -> Result<Self> {
        if let Some(reason) = arch.unsupported_reason(modality) {
            return Err(EngineError::Architecture(reason));
        }
        if num_classes < 2 {
            return Err(EngineError::Architecture(format!(
                "a classifier needs at least 2 classes, got {num_classes}"
            )));
        }
        let device = Device::Cpu;
        let network = Network::new(arch, modality, num_classes);
        let specs = network.specs();
        let params = network
            .init(seed)
            .into_iter()
            .zip(&specs)
            .map(|(values, spec)| Var::from_vec(values, spec.shape.as_slice(), &device))
            .collect::<candle_core::Result<Vec<_>>>()
            .context("allocating parameters")?;
        Ok(Classifier {
            arch,
            modality: modality.clone(),
            num_classes,
            network,
            specs,
            params,
            device,
        })
    }

    /// Name and shape of every parameter tensor, in storage order.
    pub(crate) fn param_specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// A deep copy (parameters are copied, not shared).
    pub fn try_clone(&self) -> Result<Self> {
        let mut copy = Classifier::new(self.arch, &self.modality, self.num_classes, 0)?;
        copy.set_flat_parameters(&self.flat_parameters()?)?;
        Ok(copy)
    }

    pub fn architecture(&self) -> Architecture {
        self.arch
    }

    pub fn modality(&self) -> &Modality {
        &self.modality
    }

    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Total number of scalar parameters.
    pub fn num_parameters(&self) -> usize {
        self.specs.iter().map(ParamSpec::numel).sum()
    }

    /// `(name, shape)` of every parameter tensor, in flat-vector order.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.specs
            .iter()
            .map(|s| (s.name.clone(), s.shape.clone()))
            .collect()
    }

    /// Width of the vectors [`Classifier::embeddings`] returns.
    pub fn embedding_dim(&self) -> usize {
        match self.arch {
            // Softmax regression has no hidden layer: its "penultimate layer" is the input.
            Architecture::LogReg => self.modality.sample_len(),
            _ => self.network.embedding_dim(),
        }
    }

    /// Checks that `data` has this model's modality and class count.
    pub fn check_compatible(&self, data: &Dataset) -> Result<()> {
        if data.modality() != &self.modality || data.num_classes() != self.num_classes {
            return Err(EngineError::incompatible(format!(
                "the {} model expects {} with {} classes, the dataset has {} with {} classes",
                self.arch,
                describe(&self.modality),
                self.num_classes,
                describe(data.modality()),
                data.num_classes()
            )));
        }
        Ok(())
    }

    fn check_nonempty(&self, data: &Dataset) -> Result<()> {
        self.check_compatible(data)?;
        if data.is_empty() {
            return Err(EngineError::invalid_input("the dataset has no samples"));
        }
        Ok(())
    }

    fn tensors(&self) -> Vec<Tensor> {
        self.params.iter().map(|v| v.as_tensor().clone()).collect()
    }

    /// The inputs of `rows` as a `(rows, sample_len)` tensor.
    fn input(&self, data: &Dataset, rows: &[usize]) -> Result<Tensor> {
        let per = self.modality.sample_len();
        let shape = (rows.len(), per);
        let t = match data.features() {
            Features::Dense(v) => {
                let mut buf = Vec::with_capacity(rows.len() * per);
                for &r in rows {
                    buf.extend_from_slice(&v[r * per..(r + 1) * per]);
                }
                Tensor::from_vec(buf, shape, &self.device)
            }
            Features::Tokens(v) => {
                let mut buf = Vec::with_capacity(rows.len() * per);
                for &r in rows {
                    buf.extend_from_slice(&v[r * per..(r + 1) * per]);
                }
                Tensor::from_vec(buf, shape, &self.device)
            }
        };
        t.context("building an input batch")
    }

    fn targets(&self, labels: &[u32]) -> Result<Tensor> {
        Tensor::from_slice(labels, labels.len(), &self.device).context("building a label batch")
    }

    /// Runs `f(rows, penultimate, logits)` on consecutive chunks of at most [`INFERENCE_CHUNK`] rows.
    fn for_each_chunk(
        &self,
        data: &Dataset,
        mut f: impl FnMut(std::ops::Range<usize>, Tensor, Tensor) -> Result<()>,
    ) -> Result<()> {
        self.check_compatible(data)?;
        let n = data.len();
        // Dense inputs take the gradient-free forward (several times faster on the CNN); token
        // inputs (the text model) go through the autodiff forward.
        let flat_params = self
            .params
            .iter()
            .map(|v| flatten(v.as_tensor()))
            .collect::<Result<Vec<_>>>()?;
        if let (Some(layers), Features::Dense(values)) =
            (self.network.inference_layers(&flat_params), data.features())
        {
            let per = self.modality.sample_len();
            let (hidden_dim, classes) = (self.embedding_dim(), self.num_classes);
            for start in (0..n).step_by(INFERENCE_CHUNK) {
                let range = start..(start + INFERENCE_CHUNK).min(n);
                let out = layers.forward(&values[range.start * per..range.end * per]);
                let hidden = Tensor::from_vec(out.hidden, (range.len(), hidden_dim), &self.device)
                    .context("forward pass")?;
                let logits = Tensor::from_vec(out.logits, (range.len(), classes), &self.device)
                    .context("forward pass")?;
                f(range, hidden, logits)?;
            }
            return Ok(());
        }
        let params = self.tensors();
        for start in (0..n).step_by(INFERENCE_CHUNK) {
            let range = start..(start + INFERENCE_CHUNK).min(n);
            let rows: Vec<usize> = range.clone().collect();
            let x = self.input(data, &rows)?;
            let (hidden, logits) = self.network.forward(&params, &x).context("forward pass")?;
            f(range, hidden, logits)?;
        }
        Ok(())
    }

    /// Trains on `data` for `cfg.epochs()` epochs of shuffled mini-batches, calling `progress`
    /// after each batch. `seed` drives the shuffling (initialisation was fixed by
    /// [`Classifier::new`]'s seed). Continues from the current weights with a fresh optimizer.
    ///
    /// Errors: empty dataset, modality or class-count mismatch, or a non-finite loss
    /// (divergence: lower the learning rate).
    pub fn fit(
        &mut self,
        data: &Dataset,
        cfg: &TrainConfig,
        seed: u64,
        progress: &mut dyn FnMut(TrainProgress),
    ) -> Result<TrainReport> {
        self.check_nonempty(data)?;
        if let Some(dp) = cfg.dp() {
            return self.fit_dp(data, cfg, dp, seed, progress);
        }
        let n = data.len();
        let mut optimizer = self.optimizer_state(cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..n).collect();
        let mut epochs = Vec::with_capacity(cfg.epochs());
        // Dense and image models train through the hand-written backward of `crate::trainer`
        // on flat weights, stored back into the tensors at the end (or, on divergence, the last
        // finite ones); the text model through candle autodiff.
        let mut fast = match data.features() {
            Features::Dense(values) => FastTrainer::new(&self.network, cfg.batch_size())
                .map(|t| Ok::<_, EngineError>((t, values.as_slice(), self.weight_vectors()?)))
                .transpose()?,
            Features::Tokens(_) => None,
        };
        let start = Instant::now();
        for epoch in 1..=cfg.epochs() {
            order.shuffle(&mut rng);
            let mut loss_sum = 0.0f64;
            let mut done = 0usize;
            for rows in order.chunks(cfg.batch_size()) {
                let labels: Vec<u32> = rows.iter().map(|&r| data.labels()[r]).collect();
                let loss = match &mut fast {
                    Some((trainer, inputs, weights)) => {
                        trainer.optimizer_step(weights, &mut optimizer, (inputs, rows, &labels))
                    }
                    None => self.train_step(data, rows, &labels, &mut optimizer)?,
                };
                if !loss.is_finite() {
                    if let Some((_, _, weights)) = &fast {
                        self.store_weights(weights)?;
                    }
                    return Err(diverged(epoch));
                }
                loss_sum += loss * rows.len() as f64;
                done += rows.len();
                progress(TrainProgress {
                    epoch,
                    epochs: cfg.epochs(),
                    samples_done: done,
                    samples_total: n,
                    running_loss: loss_sum / done as f64,
                });
            }
            epochs.push(EpochReport {
                epoch,
                mean_loss: loss_sum / n as f64,
            });
        }
        if let Some((_, _, weights)) = &fast {
            self.store_weights(weights)?;
        }
        let seconds = start.elapsed().as_secs_f64();
        Ok(TrainReport {
            epochs,
            seconds,
            samples_per_sec: (n * cfg.epochs()) as f64 / seconds.max(1e-9),
            dp: None,
        })
    }

    /// A fresh optimizer for this model's parameters.
    fn optimizer_state(&self, cfg: &TrainConfig) -> OptimizerState {
        let sizes: Vec<usize> = self.specs.iter().map(ParamSpec::numel).collect();
        OptimizerState::new(cfg.optimizer(), cfg.weight_decay(), &sizes)
    }

    /// Every parameter tensor as a flat vector.
    fn weight_vectors(&self) -> Result<Vec<Vec<f32>>> {
        self.params.iter().map(|v| flatten(v.as_tensor())).collect()
    }

    /// Replaces every parameter tensor from flat vectors in storage order.
    fn store_weights(&self, weights: &[Vec<f32>]) -> Result<()> {
        for ((var, spec), w) in self.params.iter().zip(&self.specs).zip(weights) {
            let t = Tensor::from_slice(w, spec.shape.as_slice(), &self.device)
                .context("updating parameters")?;
            var.set(&t).context("updating parameters")?;
        }
        Ok(())
    }

    /// One optimizer step on the mean loss of `rows`; returns that loss, or NaN (leaving the
    /// weights unchanged) when the loss or the updated weights are not finite.
    fn train_step(
        &self,
        data: &Dataset,
        rows: &[usize],
        labels: &[u32],
        optimizer: &mut OptimizerState,
    ) -> Result<f64> {
        let x = self.input(data, rows)?;
        let y = self.targets(labels)?;
        let (_, logits) = self
            .network
            .forward(&self.tensors(), &x)
            .context("forward pass")?;
        let loss = cross_entropy(&logits, &y)
            .and_then(|l| l.mean_all())
            .context("loss")?;
        let value = loss
            .to_scalar::<f32>()
            .map(f64::from)
            .context("reading the loss")?;
        if !value.is_finite() {
            // Leave the weights as they were; the caller reports the divergence.
            return Ok(value);
        }
        let grads = loss.backward().context("backward pass")?;
        optimizer.begin_step();
        let mut updated = Vec::with_capacity(self.params.len());
        for (i, (var, spec)) in self.params.iter().zip(&self.specs).enumerate() {
            let mut weights = flatten(var.as_tensor())?;
            let grad = match grads.get(var) {
                Some(g) => flatten(g)?,
                None => vec![0.0; spec.numel()],
            };
            optimizer.update(i, &mut weights, &grad);
            if weights.iter().any(|w| !w.is_finite()) {
                return Ok(f64::NAN);
            }
            updated.push(weights);
        }
        for ((var, spec), weights) in self.params.iter().zip(&self.specs).zip(updated) {
            let t = Tensor::from_vec(weights, spec.shape.as_slice(), &self.device)
                .context("updating parameters")?;
            var.set(&t).context("updating parameters")?;
        }
        Ok(value)
    }

    /// Predicted class (arg-max of the logits) of every sample.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(data.len());
        self.for_each_chunk(data, |_, _, logits| {
            out.extend(
                logits
                    .argmax(1)
                    .and_then(|a| a.to_vec1::<u32>())
                    .context("arg-max")?,
            );
            Ok(())
        })?;
        Ok(out)
    }

    /// Softmax class probabilities, `n * num_classes` values, row-major.
    pub fn predict_proba(&self, data: &Dataset) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(data.len() * self.num_classes);
        self.for_each_chunk(data, |_, _, logits| {
            let probs = log_softmax(&logits)
                .and_then(|l| l.exp())
                .context("softmax")?;
            out.extend(flatten(&probs)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Penultimate-layer activations (the input of the last linear layer; the input itself
    /// for `logreg`): `(n * dim values, dim)`.
    pub fn embeddings(&self, data: &Dataset) -> Result<(Vec<f32>, usize)> {
        let dim = self.embedding_dim();
        let mut out = Vec::with_capacity(data.len() * dim);
        if self.arch == Architecture::LogReg {
            if let Features::Dense(v) = data.features() {
                self.check_compatible(data)?;
                return Ok((v.clone(), dim));
            }
        }
        self.for_each_chunk(data, |_, hidden, _| {
            out.extend(flatten(&hidden)?);
            Ok(())
        })?;
        Ok((out, dim))
    }

    /// Cross-entropy of every sample against its label.
    pub fn per_sample_loss(&self, data: &Dataset) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(data.len());
        self.for_each_chunk(data, |range, _, logits| {
            let y = self.targets(&data.labels()[range])?;
            let loss = cross_entropy(&logits, &y).context("loss")?;
            out.extend(flatten(&loss)?);
            Ok(())
        })?;
        Ok(out)
    }

    fn check_targets(&self, data: &Dataset, targets: &[u32]) -> Result<()> {
        if targets.len() != data.len() {
            return Err(EngineError::invalid_input(format!(
                "{} targets for {} samples",
                targets.len(),
                data.len()
            )));
        }
        if let Some((row, t)) = targets
            .iter()
            .enumerate()
            .find(|(_, &t)| t as usize >= self.num_classes)
        {
            return Err(EngineError::invalid_input(format!(
                "target {t} at row {row} is out of range for {} classes",
                self.num_classes
            )));
        }
        Ok(())
    }

    /// Gradient of the mean cross-entropy over `data` with respect to every parameter, flattened
    /// in [`Classifier::flat_parameters`] order.
    pub fn parameter_gradients(&self, data: &Dataset) -> Result<Vec<f32>> {
        self.check_nonempty(data)?;
        let params = self.tensors();
        let mut acc = vec![0f64; self.num_parameters()];
        for start in (0..data.len()).step_by(INFERENCE_CHUNK) {
            let end = (start + INFERENCE_CHUNK).min(data.len());
            let rows: Vec<usize> = (start..end).collect();
            let x = self.input(data, &rows)?;
            let y = self.targets(&data.labels()[start..end])?;
            let grads = self
                .network
                .forward(&params, &x)
                .and_then(|(_, logits)| cross_entropy(&logits, &y)?.sum_all()?.backward())
                .context("parameter gradients")?;
            let mut offset = 0;
            for (var, spec) in self.params.iter().zip(&self.specs) {
                if let Some(g) = grads.get(var) {
                    for (a, v) in acc[offset..offset + spec.numel()]
                        .iter_mut()
                        .zip(flatten(g)?)
                    {
                        *a += f64::from(v);
                    }
                }
                offset += spec.numel();
            }
        }
        let n = data.len() as f64;
        Ok(acc.into_iter().map(|a| (a / n) as f32).collect())
    }

    /// All parameters as one vector, tensor by tensor in [`Classifier::parameter_shapes`] order,
    /// each row-major.
    pub fn flat_parameters(&self) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(self.num_parameters());
        for var in &self.params {
            out.extend(flatten(var.as_tensor())?);
        }
        Ok(out)
    }

    /// Replaces all parameters from a vector laid out as [`Classifier::flat_parameters`].
    /// Errors on a length mismatch or a non-finite value (leaving the model unchanged).
    pub fn set_flat_parameters(&mut self, values: &[f32]) -> Result<()> {
        if values.len() != self.num_parameters() {
            return Err(EngineError::invalid_input(format!(
                "{} parameter values for a {} model with {} parameters",
                values.len(),
                self.arch,
                self.num_parameters()
            )));
        }
        if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
            return Err(EngineError::invalid_input(format!(
                "non-finite parameter value {} at index {pos}",
                values[pos]
            )));
        }
        let mut offset = 0;
        for (var, spec) in self.params.iter().zip(&self.specs) {
            let chunk = &values[offset..offset + spec.numel()];
            let t = Tensor::from_slice(chunk, spec.shape.as_slice(), &self.device)
                .context("setting parameters")?;
            var.set(&t).context("setting parameters")?;
            offset += spec.numel();
        }
        Ok(())
    }
}

fn flatten(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()
        .and_then(|f| f.to_vec1::<f32>())
        .context("reading a tensor")
}

/// A modality in words, e.g. `image 1x28x28`.
pub(crate) fn describe(m: &Modality) -> String {
    match *m {
        Modality::Image {
            channels,
            height,
            width,
        } => format!("image {channels}x{height}x{width} data"),
        Modality::Tabular { features } => format!("tabular data with {features} features"),
        Modality::Text {
            max_len,
            vocab_size,
        } => format!("text data (length {max_len}, vocabulary {vocab_size})"),
    }
}

/// The error of a fit whose loss or weights stopped being finite in `epoch`.
fn diverged(epoch: usize) -> EngineError {
    EngineError::invalid_input(format!(
        "training diverged in epoch {epoch} (non-finite loss or weights); lower the learning rate"
    ))
}

mod dp_fit;
pub(crate) mod gradients;
pub use dp_fit::DpReport;
#[cfg(test)]
mod tests;
