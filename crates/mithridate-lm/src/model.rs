//! A GPT-style decoder-only transformer on candle.
//!
//! Architecture: Radford et al. (2019), "Language Models are Unsupervised Multitask Learners"
//! (GPT-2), at a few million parameters. For ids `x_1..x_T`:
//!
//! - `h_0 = E[x_t] + P[t]` (token and learned position embeddings);
//! - each of `L` pre-LN blocks: `h = h + Attn(LN(h))`, `h = h + MLP(LN(h))`, with
//!   `Attn = softmax(Q K^T / sqrt(d_head) + M) V` over `H` heads, `M[i][j] = -1e9` for `j > i`
//!   (causal: position `i` sees only positions `<= i`), and `MLP = W_2 GELU(W_1 h + b_1) + b_2`
//!   with width `4 d`;
//! - logits `LN(h_L) E^T` (the output projection is tied to the token embedding, Press & Wolf
//!   2017).
//!
//! Weights are drawn from `N(0, 0.02^2)` (residual projections `0.02 / sqrt(2 L)`, as GPT-2)
//! from a ChaCha8 stream of the seed; LayerNorm gains 1, biases 0. CPU, f32: the same seed
//! gives the same bytes ([`Gpt::to_safetensors`]).
//!
//! ```
//! use mithridate_lm::model::{Gpt, ModelConfig};
//! let cfg = ModelConfig { vocab: 50, ctx: 8, d_model: 16, n_layer: 1, n_head: 2 };
//! let m = Gpt::new(cfg, 0).unwrap();
//! let logits = m.logits(&[1, 2, 3, 4, 5, 6], 2, 3).unwrap(); // 2 sequences of 3 ids
//! assert_eq!(logits.dims(), &[6, 50]);
//! assert_eq!(Gpt::new(cfg, 0).unwrap().to_safetensors().unwrap(), m.to_safetensors().unwrap());
//! ```

use crate::{LmError, Result};
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::ops::{layer_norm_slow, softmax};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};

/// The shape of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelConfig {
    /// Vocabulary size (the tokenizer's, end-of-text included).
    pub vocab: usize,
    /// Context length in tokens.
    pub ctx: usize,
    pub d_model: usize,
    pub n_layer: usize,
    pub n_head: usize,
}

impl ModelConfig {
    /// Checks the shape: positive sizes and `d_model` divisible by `n_head`.
    pub fn check(&self) -> Result<()> {
        if self.vocab < 2 || self.ctx < 2 || self.d_model == 0 || self.n_layer == 0 {
            return Err(LmError::invalid(format!("impossible model shape {self:?}")));
        }
        if self.n_head == 0 || !self.d_model.is_multiple_of(self.n_head) {
            return Err(LmError::invalid(format!(
                "d_model {} is not divisible by {} heads",
                self.d_model, self.n_head
            )));
        }
        Ok(())
    }

    /// The parameters' names and shapes, in storage order.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (v, c, d) = (self.vocab, self.ctx, self.d_model);
        let mut out = vec![("wte".to_string(), vec![v, d]), ("wpe".into(), vec![c, d])];
        for l in 0..self.n_layer {
            for (n, s) in [
                ("ln1.g", vec![d]),
                ("ln1.b", vec![d]),
                ("attn.w_qkv", vec![d, 3 * d]),
                ("attn.b_qkv", vec![3 * d]),
                ("attn.w_o", vec![d, d]),
                ("attn.b_o", vec![d]),
                ("ln2.g", vec![d]),
                ("ln2.b", vec![d]),
                ("mlp.w_1", vec![d, 4 * d]),
                ("mlp.b_1", vec![4 * d]),
                ("mlp.w_2", vec![4 * d, d]),
                ("mlp.b_2", vec![d]),
            ] {
                out.push((format!("h{l}.{n}"), s));
            }
        }
        out.push(("lnf.g".into(), vec![d]));
        out.push(("lnf.b".into(), vec![d]));
        out
    }

    /// Number of trainable parameters.
    pub fn n_params(&self) -> usize {
        self.param_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

/// The model: its configuration and parameters (candle `Var`s, trainable).
#[derive(Debug, Clone)]
pub struct Gpt {
    pub config: ModelConfig,
    params: Vec<Var>,
    mask: Tensor,
}

const PER_LAYER: usize = 12;

impl Gpt {
    /// A freshly initialised model (see the module docs); `seed` fixes every weight.
    pub fn new(config: ModelConfig, seed: u64) -> Result<Gpt> {
        config.check()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let std = 0.02f32;
        let resid_std = std / (2.0 * config.n_layer as f32).sqrt();
        let mut values = Vec::new();
        for (name, shape) in config.param_shapes() {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = if name.ends_with(".g") {
                vec![1.0; n]
            } else if name.contains(".b") {
                vec![0.0; n]
            } else {
                let s = if name.ends_with("w_o") || name.ends_with("w_2") {
                    resid_std
                } else {
                    std
                };
                let normal = Normal::new(0.0f32, s).map_err(|e| LmError::Model(e.to_string()))?;
                (0..n).map(|_| normal.sample(&mut rng)).collect()
            };
            values.push((v, shape));
        }
        Gpt::from_values(config, values)
    }

    fn from_values(config: ModelConfig, values: Vec<(Vec<f32>, Vec<usize>)>) -> Result<Gpt> {
        let dev = Device::Cpu;
        let params = values
            .into_iter()
            .map(|(v, s)| Var::from_vec(v, s.as_slice(), &dev))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let c = config.ctx;
        let mask: Vec<f32> = (0..c * c)
            .map(|k| if k % c > k / c { -1e9 } else { 0.0 })
            .collect();
        let mask = Tensor::from_vec(mask, (c, c), &dev)?;
        Ok(Gpt {
            config,
            params,
            mask,
        })
    }

    /// The trainable parameters, in [`ModelConfig::param_shapes`] order.
    pub fn vars(&self) -> &[Var] {
        &self.params
    }

    fn p(&self, i: usize) -> &Tensor {
        self.params[i].as_tensor()
    }

    /// Logits `(batch * len, vocab)` for `batch` sequences of `len` ids each (row-major in
    /// `ids`), `len <= ctx`; row `b * len + t` predicts the id after position `t` of sequence
    /// `b`.
    pub fn logits(&self, ids: &[u32], batch: usize, len: usize) -> Result<Tensor> {
        let cfg = &self.config;
        if len == 0 || len > cfg.ctx || ids.len() != batch * len {
            return Err(LmError::invalid(format!(
                "{} ids are not {batch} sequences of 1..={} tokens",
                ids.len(),
                cfg.ctx
            )));
        }
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= cfg.vocab) {
            return Err(LmError::invalid(format!(
                "token id {bad} is outside the vocabulary"
            )));
        }
        let (d, h) = (cfg.d_model, cfg.n_head);
        let hd = d / h;
        let dev = Device::Cpu;
        let ids = Tensor::from_slice(ids, batch * len, &dev)?;
        let wte = self.p(0);
        let mut x = wte
            .index_select(&ids, 0)?
            .reshape((batch, len, d))?
            .broadcast_add(&self.p(1).narrow(0, 0, len)?)?;
        let mask = self.mask.narrow(0, 0, len)?.narrow(1, 0, len)?;
        let scale = 1.0 / (hd as f64).sqrt();
        for l in 0..cfg.n_layer {
            let b = 2 + l * PER_LAYER;
            let a = layer_norm_slow(&x, self.p(b), self.p(b + 1), 1e-5)?;
            let qkv = a
                .reshape((batch * len, d))?
                .matmul(self.p(b + 2))?
                .broadcast_add(self.p(b + 3))?
                .reshape((batch, len, 3, h, hd))?;
            let head = |k: usize| -> candle_core::Result<Tensor> {
                qkv.narrow(2, k, 1)?
                    .squeeze(2)?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let (q, k, v) = (head(0)?, head(1)?, head(2)?);
            let att = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&mask)?;
            let att = softmax(&att, D::Minus1)?;
            let y = att
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((batch * len, d))?
                .matmul(self.p(b + 4))?
                .broadcast_add(self.p(b + 5))?;
            x = (x + y.reshape((batch, len, d))?)?;
            let m = layer_norm_slow(&x, self.p(b + 6), self.p(b + 7), 1e-5)?
                .reshape((batch * len, d))?
                .matmul(self.p(b + 8))?
                .broadcast_add(self.p(b + 9))?
                .gelu()?
                .matmul(self.p(b + 10))?
                .broadcast_add(self.p(b + 11))?;
            x = (x + m.reshape((batch, len, d))?)?;
        }
        let f = 2 + cfg.n_layer * PER_LAYER;
        let out = layer_norm_slow(&x, self.p(f), self.p(f + 1), 1e-5)?
            .reshape((batch * len, d))?
            .matmul(&wte.t()?)?;
        Ok(out)
    }

    /// Mean next-token cross-entropy (nats) of `batch` sequences of `len + 1` ids: inputs are
    /// the first `len`, targets the last `len` of each.
    pub fn loss(&self, windows: &[u32], batch: usize, len: usize) -> Result<Tensor> {
        let (inputs, targets) = split_windows(windows, batch, len);
        let logits = self.logits(&inputs, batch, len)?;
        let targets = Tensor::from_vec(targets, batch * len, &Device::Cpu)?;
        Ok(candle_nn::loss::cross_entropy(&logits, &targets)?)
    }

    /// The parameters as safetensors bytes (deterministic: names in storage order, f32 LE).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let shapes = self.config.param_shapes();
        let mut data: Vec<Vec<u8>> = Vec::with_capacity(shapes.len());
        for v in &self.params {
            let flat = v.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            data.push(flat.iter().flat_map(|x| x.to_le_bytes()).collect());
        }
        let views = shapes
            .iter()
            .zip(&data)
            .map(|((name, shape), bytes)| {
                TensorView::new(Dtype::F32, shape.clone(), bytes).map(|v| (name.clone(), v))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LmError::Model(e.to_string()))?;
        let meta = std::collections::HashMap::from([(
            "config".to_string(),
            serde_json::to_string(&self.config).unwrap_or_default(),
        )]);
        safetensors::serialize(views, Some(meta)).map_err(|e| LmError::Model(e.to_string()))
    }

    /// Reads [`Gpt::to_safetensors`] bytes.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Gpt> {
        let bad = |m: String| LmError::Format {
            what: "model".into(),
            message: m,
        };
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let config: ModelConfig = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("config"))
            .and_then(|c| serde_json::from_str(c).ok())
            .ok_or_else(|| bad("no model config in the metadata".into()))?;
        config.check()?;
        let file = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let mut values = Vec::new();
        for (name, shape) in config.param_shapes() {
            let t = file
                .tensor(&name)
                .map_err(|e| bad(format!("{name}: {e}")))?;
            if t.dtype() != Dtype::F32 || t.shape() != shape.as_slice() {
                return Err(bad(format!("{name} has the wrong dtype or shape")));
            }
            let v = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            values.push((v, shape));
        }
        Gpt::from_values(config, values)
    }
}

/// Splits `batch` windows of `len + 1` ids into inputs and next-token targets.
pub fn split_windows(windows: &[u32], batch: usize, len: usize) -> (Vec<u32>, Vec<u32>) {
    let mut inputs = Vec::with_capacity(batch * len);
    let mut targets = Vec::with_capacity(batch * len);
    for w in windows.chunks_exact(len + 1).take(batch) {
        inputs.extend_from_slice(&w[..len]);
        targets.extend_from_slice(&w[1..]);
    }
    (inputs, targets)
}

/// Log-probabilities `(rows, vocab)` of logits as a host matrix.
pub fn log_probs(logits: &Tensor) -> Result<Vec<Vec<f32>>> {
    Ok(candle_nn::ops::log_softmax(&logits.to_dtype(DType::F32)?, D::Minus1)?.to_vec2()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Gpt {
        let cfg = ModelConfig {
            vocab: 40,
            ctx: 8,
            d_model: 16,
            n_layer: 2,
            n_head: 4,
        };
        Gpt::new(cfg, 7).unwrap()
    }

    #[test]
    fn attention_is_causal() {
        let m = tiny();
        let a = [3u32, 9, 1, 4, 1, 5, 9, 2];
        let mut b = a;
        b[5] = 30; // change a later token
        let la = m.logits(&a, 1, 8).unwrap().to_vec2::<f32>().unwrap();
        let lb = m.logits(&b, 1, 8).unwrap().to_vec2::<f32>().unwrap();
        for t in 0..5 {
            assert_eq!(la[t], lb[t], "position {t} saw the future");
        }
        assert_ne!(la[5], lb[5]);
    }

    #[test]
    fn initial_loss_is_near_uniform_and_gradient_matches_finite_difference() {
        let m = tiny();
        let w: Vec<u32> = (0..18).map(|i| (i * 7 % 40) as u32).collect();
        let loss = m.loss(&w, 2, 8).unwrap();
        let l0 = loss.to_scalar::<f32>().unwrap();
        assert!((l0 - (40f32).ln()).abs() < 0.1, "{l0}");
        // d loss / d (final LayerNorm bias [0]) by backprop vs central difference
        let grads = loss.backward().unwrap();
        let f = 2 + 2 * PER_LAYER + 1;
        let g = grads
            .get(m.vars()[f].as_tensor())
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()[0];
        let eps = 1e-2f32;
        let at = |delta: f32| {
            let mut v = m.vars()[f].as_tensor().to_vec1::<f32>().unwrap();
            v[0] += delta;
            let mut m2 = m.clone();
            m2.params[f] = Var::from_vec(v, 16, &Device::Cpu).unwrap();
            m2.loss(&w, 2, 8).unwrap().to_scalar::<f32>().unwrap()
        };
        let fd = (at(eps) - at(-eps)) / (2.0 * eps);
        assert!(
            (g - fd).abs() < 1e-3 + 0.05 * fd.abs(),
            "backprop {g} vs fd {fd}"
        );
    }

    #[test]
    fn safetensors_round_trip_and_bad_input() {
        let m = tiny();
        let bytes = m.to_safetensors().unwrap();
        let back = Gpt::from_safetensors(&bytes).unwrap();
        assert_eq!(back.to_safetensors().unwrap(), bytes);
        assert!(Gpt::from_safetensors(b"junk").is_err());
        assert!(m.logits(&[1; 9], 1, 9).is_err());
        assert!(m.logits(&[40], 1, 1).is_err());
        assert_eq!(m.config.n_params(), 40 * 16 + 8 * 16 + 2 * 3280 + 32);
    }
}
