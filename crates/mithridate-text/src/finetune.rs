//! Fine-tuning MiniLM's last `K` transformer layers together with the head.
//!
//! Papers: the backdoor attacks measured here (Dai, Chen & Li 2019, AddSent; Qi et al. 2021,
//! syntactic / template triggers) fine-tune the whole BERT; fine-tuning only the top layers is
//! the partial fine-tuning of Howard & Ruder (2018, ULMFiT) and Lee et al. (2019, "What Would
//! Elsa Do? Freezing Layers During Transformer Fine-Tuning"). The optimiser follows BERT's
//! fine-tuning (Devlin et al. 2019) and Mosbach, Andriushchenko & Klakow (2021, "On the
//! Stability of Fine-tuning BERT"): bias-corrected AdamW, a learning rate warmed up linearly
//! over the first [`FineTuneConfig::warmup`] share of the steps and then decayed linearly to
//! 0, and the gradient's global L2 norm clipped at [`FineTuneConfig::clip`]. The head starts
//! fresh ([`HeadStart::Fresh`], as BERT's classifier) or from the head trained on the frozen
//! features ([`HeadStart::Probe`], LP-FT, Kumar et al. 2022, "Fine-Tuning can Distort
//! Pretrained Features").
//!
//! Why fresh by default: the probe head (an MLP trained 40 epochs) already fits the training
//! set, poisoned texts included (mean loss 5e-4 before the joint phase on SpamAssassin with 20
//! AddSent texts), so the layers get almost no gradient and learn nothing; a fresh head makes
//! the layers and the head fit the data together.
//!
//! Why 4 epochs by default (BERT suggests 2-4; Mosbach et al. advise training longer): with 2
//! layers on SpamAssassin's 4,837 texts the training loss was still 0.10-0.17 after a third
//! epoch and 0.05-0.08 after a fourth; the cost grows linearly with the epochs.
//!
//! The model is `p = softmax(head(std(pool(L_6 ... L_{7-K}(h_{6-K}(x))))))`: `h_{6-K}` the
//! frozen lower layers' token states (computed once per text and kept in memory, bounded by
//! [`FineTuneConfig::max_state_bytes`], checked before allocating), `L_i` the trainable
//! layers ([`mithridate_rag::encoder::TrainableLayers`]), `pool` the crate's mean + max
//! pooling, `std` the head's fixed standardisation (from the frozen training features), and
//! the head the crate's MLP ([`Head`]), fresh or the probe as above. Loss: mean cross-entropy
//! per mini-batch; AdamW (Loshchilov & Hutter 2019) with peak learning rate `lr` and
//! decoupled decay 0.01 for the layers, the head's `lr` and `weight_decay` for the head, both
//! scaled by the schedule `f(t) = (t + 1) / W` for `t < W`, else `(T - t) / (T - W)` (`T`
//! steps, `W = ceil(warmup T)`); each step's gradients are scaled by `min(1, clip / ||g||)`,
//! `||g||` over every trainable variable. Mini-batches are drawn from a seeded shuffle, then
//! sorted by length within windows of 8 batches so that each batch pads only to its longest
//! text.
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
    /// Where the head starts the joint phase.
    pub head_start: HeadStart,
    /// Share of the steps over which the learning rates warm up linearly, in [0, 1).
    pub warmup: f64,
    /// Largest global L2 norm of a step's gradient (0: no clipping).
    pub clip: f64,
}

impl Default for FineTuneConfig {
    fn default() -> Self {
        FineTuneConfig {
            layers: 0,
            epochs: 4,
            lr: 5e-5,
            max_state_bytes: 2 << 30,
            head_start: HeadStart::Fresh,
            warmup: 0.1,
            clip: 1.0,
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
        if !(0.0..1.0).contains(&self.warmup) {
            return Err(TextError::invalid(format!(
                "the fine-tuning warm-up share must be in [0, 1), got {}",
                self.warmup
            )));
        }
        if !(self.clip.is_finite() && self.clip >= 0.0) {
            return Err(TextError::invalid(format!(
                "the fine-tuning gradient clip must be finite and >= 0 (0: none), got {}",
                self.clip
            )));
        }
        Ok(())
    }
}

/// Where the head starts fine-tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeadStart {
    /// Fresh weights (the standardisation of the frozen features is kept), as BERT's
    /// fine-tuning starts its classifier.
    Fresh,
    /// The head trained on the frozen features (LP-FT, Kumar et al. 2022).
    Probe,
}

impl std::str::FromStr for HeadStart {
    type Err = TextError;
    fn from_str(s: &str) -> Result<HeadStart> {
        match s {
            "fresh" => Ok(HeadStart::Fresh),
            "probe" => Ok(HeadStart::Probe),
            _ => Err(TextError::invalid(format!(
                "the fine-tuning head starts `fresh` or from the `probe`, got `{s}`"
            ))),
        }
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
/// Stream of a fresh head's weights.
const HEAD_STREAM: u64 = 0x6864;

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
        let fresh;
        let init = match self.cfg.head_start {
            HeadStart::Probe => init,
            HeadStart::Fresh => {
                fresh = init.reinitialised(seed ^ HEAD_STREAM);
                &fresh
            }
        };
        let w1 = Var::from_slice(&init.w1, (hidden, dim), &dev)?;
        let b1 = Var::from_slice(&init.b1, hidden, &dev)?;
        let w2 = Var::from_slice(&init.w2, (classes, width), &dev)?;
        let b2 = Var::from_slice(&init.b2, classes, &dev)?;
        let head_vars = head_vars(&w1, &b1, &w2, &b2, hidden);
        let all_vars: Vec<Var> = top.vars().iter().chain(&head_vars).cloned().collect();
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
        let head_lr = head_cfg.lr as f64;
        let schedule = Schedule::new(
            self.cfg.epochs * states.len().div_ceil(batch),
            self.cfg.warmup,
        );
        let mut step = 0usize;
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
                    let mut grads = loss.backward()?;
                    clip_gradients(&mut grads, &all_vars, self.cfg.clip)?;
                    let f = schedule.factor(step);
                    step += 1;
                    layer_opt.set_learning_rate(self.cfg.lr * f);
                    head_opt.set_learning_rate(head_lr * f);
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

/// The head's trainable variables (`W1`, `b1` only with a hidden layer).
fn head_vars(w1: &Var, b1: &Var, w2: &Var, b2: &Var, hidden: usize) -> Vec<Var> {
    if hidden == 0 {
        vec![w2.clone(), b2.clone()]
    } else {
        vec![w1.clone(), b1.clone(), w2.clone(), b2.clone()]
    }
}

/// Linear warm-up over the first `warmup` share of the steps, then linear decay to zero
/// (the schedule of BERT's fine-tuning, Devlin et al. 2019).
struct Schedule {
    total: usize,
    warm: usize,
}

impl Schedule {
    fn new(total: usize, warmup: f64) -> Schedule {
        let warm = ((total as f64 * warmup).ceil() as usize).min(total);
        Schedule { total, warm }
    }

    /// The learning-rate factor of step `t` (0-based), in (0, 1].
    fn factor(&self, t: usize) -> f64 {
        if t < self.warm {
            (t + 1) as f64 / self.warm as f64
        } else {
            ((self.total - t) as f64 / (self.total - self.warm).max(1) as f64).max(0.0)
        }
    }
}

/// Scales every gradient of `vars` by `max_norm / ||g||` when the global L2 norm exceeds
/// `max_norm` (> 0; 0 leaves them as they are).
fn clip_gradients(
    grads: &mut mithridate_rag::encoder::candle_core::backprop::GradStore,
    vars: &[Var],
    max_norm: f64,
) -> mithridate_rag::encoder::candle_core::Result<()> {
    if max_norm <= 0.0 {
        return Ok(());
    }
    let mut sum = 0f64;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            sum += g
                .sqr()?
                .sum_all()?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?;
        }
    }
    let norm = sum.sqrt();
    if norm.is_finite() && norm > max_norm {
        let k = max_norm / norm;
        for v in vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                let scaled = (g * k)?;
                grads.insert(v.as_tensor(), scaled);
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_warms_up_then_decays_to_zero() {
        // 20 steps, 10% warm-up: W = 2 -> 0.5, 1, then 18/18 .. 1/18.
        let s = Schedule::new(20, 0.1);
        let f: Vec<f64> = (0..20).map(|t| s.factor(t)).collect();
        assert_eq!(&f[..3], &[0.5, 1.0, 1.0]);
        assert!((f[3] - 17.0 / 18.0).abs() < 1e-12);
        assert!((f[19] - 1.0 / 18.0).abs() < 1e-12);
        assert!(f.windows(2).skip(2).all(|w| w[1] < w[0]));
        // No warm-up: linear decay from the first step.
        let s = Schedule::new(4, 0.0);
        let f: Vec<f64> = (0..4).map(|t| s.factor(t)).collect();
        assert_eq!(f, vec![1.0, 0.75, 0.5, 0.25]);
        // One step: the full rate.
        assert_eq!(Schedule::new(1, 0.1).factor(0), 1.0);
    }

    #[test]
    fn clipping_scales_the_global_norm_and_keeps_small_gradients() {
        let dev = Device::Cpu;
        let a = Var::from_slice(&[1f32, 2.0], 2, &dev).unwrap();
        let b = Var::from_slice(&[0.5f32], 1, &dev).unwrap();
        // loss = 3 a0 + 4 b0: gradients (3, 0) and (4), global norm 5.
        let loss = |a: &Var, b: &Var| {
            let l = (a.as_tensor().get(0).unwrap() * 3.0).unwrap();
            (l + (b.as_tensor().get(0).unwrap() * 4.0).unwrap()).unwrap()
        };
        let vars = [a.clone(), b.clone()];
        let grad = |g: &mithridate_rag::encoder::candle_core::backprop::GradStore, v: &Var| {
            g.get(v.as_tensor()).unwrap().to_vec1::<f32>().unwrap()
        };
        let mut g = loss(&a, &b).backward().unwrap();
        clip_gradients(&mut g, &vars, 1.0).unwrap();
        let close = |x: Vec<f32>, y: &[f32]| x.iter().zip(y).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(grad(&g, &a), &[0.6, 0.0]));
        assert!(close(grad(&g, &b), &[0.8]));
        let mut g = loss(&a, &b).backward().unwrap();
        clip_gradients(&mut g, &vars, 10.0).unwrap();
        assert_eq!(grad(&g, &a), vec![3.0, 0.0]);
        let mut g = loss(&a, &b).backward().unwrap();
        clip_gradients(&mut g, &vars, 0.0).unwrap();
        assert_eq!(grad(&g, &b), vec![4.0]);
    }

    #[test]
    fn impossible_schedules_and_head_starts_are_refused_by_name() {
        let ok = FineTuneConfig {
            layers: 1,
            ..FineTuneConfig::default()
        };
        assert!(ok.check().is_ok());
        for (bad, word) in [
            (FineTuneConfig { warmup: 1.0, ..ok }, "warm-up"),
            (FineTuneConfig { warmup: -0.1, ..ok }, "warm-up"),
            (
                FineTuneConfig {
                    clip: f64::NAN,
                    ..ok
                },
                "clip",
            ),
            (FineTuneConfig { clip: -1.0, ..ok }, "clip"),
        ] {
            assert!(bad.check().unwrap_err().to_string().contains(word));
        }
        assert_eq!("probe".parse::<HeadStart>().unwrap(), HeadStart::Probe);
        assert_eq!("fresh".parse::<HeadStart>().unwrap(), HeadStart::Fresh);
        assert!("lp-ft"
            .parse::<HeadStart>()
            .unwrap_err()
            .to_string()
            .contains("lp-ft"));
    }
}
