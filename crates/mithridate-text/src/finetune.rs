//! Fine-tuning MiniLM's last `K` transformer layers together with the head.
//!
//! Papers: the backdoor attacks measured here (Dai, Chen & Li 2019, AddSent; Qi et al. 2021,
//! syntactic / template triggers) fine-tune the whole BERT; fine-tuning only the top layers is
//! the partial fine-tuning of Howard & Ruder (2018, ULMFiT) and Lee et al. (2019, "What Would
//! Elsa Do? Freezing Layers During Transformer Fine-Tuning"), and starting the joint phase
//! from a head trained on the frozen features is LP-FT (Kumar et al. 2022, "Fine-Tuning can
//! Distort Pretrained Features").
//!
//! The model is `p = softmax(head(std(pool(L_6 ... L_{7-K}(h_{6-K}(x))))))`: `h_{6-K}` the
//! frozen lower layers' token states (computed once per text and kept in memory, bounded by
//! [`FineTuneConfig::max_state_bytes`], checked before allocating), `L_i` the trainable
//! layers ([`mithridate_rag::encoder::TrainableLayers`]), `pool` the crate's mean + max
//! pooling, `std` the head's fixed standardisation (from the frozen training features), and
//! the head the crate's MLP ([`Head`]), initialised from the head trained on the frozen
//! features. Loss: mean cross-entropy per mini-batch; AdamW (Loshchilov & Hutter 2019) with
//! learning rate `lr` and decoupled decay 0.01 for the layers, the head's `lr` and
//! `weight_decay` for the head. Mini-batches are drawn from a seeded shuffle, then sorted by
//! length within windows of 8 batches so that each batch pads only to its longest text.
//! Everything is seeded and runs on the CPU in a fixed order: same seed, same bytes.
//!
//! Assumes the trigger can be learned from token states the frozen lower layers already
//! produce (a fixed sentence or frame changes them; what the top layers learn is to attend to
//! it).

use crate::embed::{FEATURES, MAX_TOKENS, POOLING};
use crate::head::{Head, HeadConfig};
use crate::{Result, TextError};
use mithridate_rag::encoder::candle_core::{DType, Device, Tensor, Var, D};
use mithridate_rag::encoder::candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use mithridate_rag::encoder::{Encoder, LowerStates, TrainableLayers, LAYERS};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::sync::Arc;

/// Fine-tuning settings (`layers = 0`: the frozen encoder, nothing is fine-tuned).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FineTuneConfig {
    /// Trainable top layers, 0..=6.
    pub layers: usize,
    /// Passes over the training set, >= 1.
    pub epochs: usize,
    /// AdamW learning rate of the layers, finite and > 0 (the head uses its own `lr`).
    pub lr: f64,
    /// Bound on the cached token states, bytes.
    pub max_state_bytes: usize,
}

impl Default for FineTuneConfig {
    fn default() -> Self {
        FineTuneConfig {
            layers: 0,
            epochs: 4,
            lr: 1e-4,
            max_state_bytes: 2 << 30,
        }
    }
}

impl FineTuneConfig {
    /// Refuses impossible settings by name.
    pub fn check(&self) -> Result<()> {
        if self.layers > LAYERS {
            return Err(TextError::invalid(format!(
                "fine-tune layers must be 0..={LAYERS} (MiniLM has {LAYERS}), got {}",
                self.layers
            )));
        }
        if self.epochs == 0 {
            return Err(TextError::invalid("fine-tuning needs epochs >= 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(TextError::invalid(format!(
                "the fine-tuning learning rate must be finite and > 0, got {}",
                self.lr
            )));
        }
        Ok(())
    }
}

/// A fine-tuned classifier: the trained top layers and the jointly trained head.
pub struct TunedModel {
    top: TrainableLayers,
    pub head: Head,
    /// Mean training loss of each epoch.
    pub losses: Vec<f32>,
}

impl std::fmt::Debug for TunedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunedModel")
            .field("top", &self.top)
            .field("losses", &self.losses)
            .finish()
    }
}

/// The lower layers' token states of the texts in use (kept in memory, bounded) and the
/// fine-tuning settings.
pub struct Tuner {
    cfg: FineTuneConfig,
    states: HashMap<String, Arc<LowerStates>>,
    bytes: usize,
}

fn model_err(e: mithridate_rag::encoder::candle_core::Error) -> TextError {
    TextError::Rag(mithridate_rag::RagError::Model(e.to_string()))
}

impl std::fmt::Debug for Tuner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tuner")
            .field("cfg", &self.cfg)
            .field("texts", &self.states.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

/// Stream of the fine-tuning order (apart from the head's own draws).
const STREAM: u64 = 0x66_74;

impl Tuner {
    /// A tuner for `cfg` (checked; `layers` must be >= 1).
    pub fn new(cfg: FineTuneConfig) -> Result<Tuner> {
        cfg.check()?;
        if cfg.layers == 0 {
            return Err(TextError::invalid(
                "a tuner needs at least one trainable layer (0 is the frozen encoder)",
            ));
        }
        Ok(Tuner {
            cfg,
            states: HashMap::new(),
            bytes: 0,
        })
    }

    pub fn config(&self) -> &FineTuneConfig {
        &self.cfg
    }

    /// Lower states of `texts`; the ones not held yet are computed, and kept when `keep`.
    /// Errors when the held states plus the new ones would exceed the byte bound.
    fn states(
        &mut self,
        encoder: &Encoder,
        texts: &[&str],
        keep: bool,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<Arc<LowerStates>>> {
        let mut todo: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| !self.states.contains_key(*t))
            .collect();
        todo.sort_unstable();
        todo.dedup();
        let ids: Vec<Vec<u32>> = todo
            .iter()
            .map(|t| encoder.tokenizer().encode(t, MAX_TOKENS).ids)
            .collect();
        let refs: Vec<&[u32]> = ids.iter().map(|v| &v[..]).collect();
        let budget = self.cfg.max_state_bytes.saturating_sub(self.bytes);
        let from = LAYERS - self.cfg.layers;
        let fresh = encoder
            .lower_states(&refs, from, budget, progress)
            .map_err(TextError::Rag)?;
        let mut fresh_map: HashMap<&str, Arc<LowerStates>> = HashMap::new();
        for (t, s) in todo.iter().zip(fresh) {
            let s = Arc::new(s);
            if keep {
                self.bytes += LowerStates::bytes_for(s.tokens);
                self.states.insert((*t).to_string(), s.clone());
            }
            fresh_map.insert(t, s);
        }
        Ok(texts
            .iter()
            .map(|t| {
                self.states
                    .get(*t)
                    .or_else(|| fresh_map.get(t))
                    .expect("every text was computed")
                    .clone()
            })
            .collect())
    }

    /// Computes and keeps the lower states of `texts` (the training and test sets).
    pub fn hold<S: AsRef<str>>(
        &mut self,
        encoder: &Encoder,
        texts: &[S],
        progress: &mut dyn FnMut(usize),
    ) -> Result<()> {
        let t: Vec<&str> = texts.iter().map(|s| s.as_ref()).collect();
        self.states(encoder, &t, true, progress).map(|_| ())
    }

    /// Row-major `[texts.len(), FEATURES]` features of `texts` under `model`'s layers (texts
    /// not held are run through the lower layers and not kept).
    pub fn features<S: AsRef<str>>(
        &mut self,
        encoder: &Encoder,
        model: &TunedModel,
        texts: &[S],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<f32>> {
        let t: Vec<&str> = texts.iter().map(|s| s.as_ref()).collect();
        let states = self.states(encoder, &t, false, progress)?;
        let rows: Vec<&LowerStates> = states.iter().map(|s| s.as_ref()).collect();
        model.top.embed(&rows, POOLING).map_err(TextError::Rag)
    }

    /// Fine-tunes fresh copies of the top layers and `init` (a head trained on the frozen
    /// features) on `texts` with labels `y`; `progress(epoch)` after each epoch.
    // Each argument is a distinct input of the training (data, labels, start, settings, seed).
    #[allow(clippy::too_many_arguments)]
    pub fn train<S: AsRef<str>>(
        &mut self,
        encoder: &Encoder,
        texts: &[S],
        y: &[u32],
        init: &Head,
        head_cfg: &HeadConfig,
        seed: u64,
        progress: &mut dyn FnMut(usize),
    ) -> Result<TunedModel> {
        if texts.is_empty() || texts.len() != y.len() {
            return Err(TextError::invalid(format!(
                "fine-tuning needs one label per text and at least one text ({} texts, {} labels)",
                texts.len(),
                y.len()
            )));
        }
        if init.dim != FEATURES || y.iter().any(|&c| c as usize >= init.classes) {
            return Err(TextError::invalid(
                "the initial head does not fit the features or the labels",
            ));
        }
        if head_cfg.batch == 0 || !(head_cfg.lr.is_finite() && head_cfg.lr > 0.0) {
            return Err(TextError::invalid(
                "the head needs batch >= 1 and a finite learning rate > 0",
            ));
        }
        let t: Vec<&str> = texts.iter().map(|s| s.as_ref()).collect();
        let states = self.states(encoder, &t, true, &mut |_| {})?;
        let top = encoder
            .trainable_layers(LAYERS - self.cfg.layers)
            .map_err(TextError::Rag)?;
        let (head, losses) = self
            .optimise(&top, &states, y, init, head_cfg, seed, progress)
            .map_err(model_err)?;
        Ok(TunedModel { top, head, losses })
    }

    #[allow(clippy::too_many_arguments)]
    fn optimise(
        &self,
        top: &TrainableLayers,
        states: &[Arc<LowerStates>],
        y: &[u32],
        init: &Head,
        head_cfg: &HeadConfig,
        seed: u64,
        progress: &mut dyn FnMut(usize),
    ) -> mithridate_rag::encoder::candle_core::Result<(Head, Vec<f32>)> {
        let dev = Device::Cpu;
        let (dim, hidden, classes) = (init.dim, init.hidden, init.classes);
        let width = if hidden == 0 { dim } else { hidden };
        let mean = Tensor::from_slice(&init.mean, (1, dim), &dev)?;
        let scale = Tensor::from_slice(&init.scale, (1, dim), &dev)?;
        let w1 = Var::from_slice(&init.w1, (hidden, dim), &dev)?;
        let b1 = Var::from_slice(&init.b1, hidden, &dev)?;
        let w2 = Var::from_slice(&init.w2, (classes, width), &dev)?;
        let b2 = Var::from_slice(&init.b2, classes, &dev)?;
        let head_vars = if hidden == 0 {
            vec![w2.clone(), b2.clone()]
        } else {
            vec![w1.clone(), b1.clone(), w2.clone(), b2.clone()]
        };
        let mut layer_opt = AdamW::new(
            top.vars().to_vec(),
            ParamsAdamW {
                lr: self.cfg.lr,
                ..ParamsAdamW::default()
            },
        )?;
        let mut head_opt = AdamW::new(
            head_vars,
            ParamsAdamW {
                lr: head_cfg.lr as f64,
                weight_decay: head_cfg.weight_decay as f64,
                ..ParamsAdamW::default()
            },
        )?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ STREAM);
        let mut order: Vec<usize> = (0..states.len()).collect();
        let batch = head_cfg.batch;
        let mut losses = Vec::with_capacity(self.cfg.epochs);
        for epoch in 0..self.cfg.epochs {
            order.shuffle(&mut rng);
            let (mut total, mut seen) = (0f64, 0usize);
            for window in order.chunks(8 * batch) {
                let mut window = window.to_vec();
                window.sort_by_key(|&i| states[i].tokens);
                for b in window.chunks(batch) {
                    let rows: Vec<&LowerStates> = b.iter().map(|&i| states[i].as_ref()).collect();
                    let (h, mask) = TrainableLayers::batch(&rows)?;
                    let f = top.forward(&h, &mask, POOLING, true)?;
                    let x = f.broadcast_sub(&mean)?.broadcast_mul(&scale)?;
                    let a = if hidden == 0 {
                        x
                    } else {
                        x.matmul(&w1.as_tensor().t()?)?
                            .broadcast_add(b1.as_tensor())?
                            .relu()?
                    };
                    let logits = a
                        .matmul(&w2.as_tensor().t()?)?
                        .broadcast_add(b2.as_tensor())?;
                    let labels: Vec<u32> = b.iter().map(|&i| y[i]).collect();
                    let labels = Tensor::from_vec(labels, b.len(), &dev)?;
                    let loss = cross_entropy(&logits, &labels)?;
                    let grads = loss.backward()?;
                    layer_opt.step(&grads)?;
                    head_opt.step(&grads)?;
                    total += loss.to_scalar::<f32>()? as f64 * b.len() as f64;
                    seen += b.len();
                }
            }
            losses.push((total / seen as f64) as f32);
            progress(epoch + 1);
        }
        let flat = |v: &Var| v.as_tensor().flatten_all()?.to_vec1::<f32>();
        let mut head = init.clone();
        if hidden > 0 {
            head.w1 = flat(&w1)?;
            head.b1 = flat(&b1)?;
        }
        head.w2 = flat(&w2)?;
        head.b2 = flat(&b2)?;
        Ok((head, losses))
    }
}

/// Mean `-log softmax(logits)[label]` over the rows (log-sum-exp shifted by the row maximum).
fn cross_entropy(
    logits: &Tensor,
    labels: &Tensor,
) -> mithridate_rag::encoder::candle_core::Result<Tensor> {
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let picked = shifted.gather(&labels.unsqueeze(1)?, 1)?;
    (lse - picked)?.mean_all()?.to_dtype(DType::F32)
}
