//! The encoder split in two for fine-tuning its last layers: the frozen lower layers run
//! once per text ([`Encoder::lower_states`]), the top `LAYERS - from` layers become
//! trainable candle [`Var`]s ([`TrainableLayers`]) that run forward (fused, or differentiable
//! for training) on those cached token states and pool them like [`Encoder::embed_ids`].
//!
//! With `h_N` the token states after the first `N` layers (`N = 0`: the normalised input
//! embeddings), the top layers compute `h_6 = L_6(...L_{N+1}(h_N))` with the same layer
//! function as the frozen encoder, so at the initial weights the pooled rows equal the frozen
//! encoder's to float rounding (tested). Fine-tuning only the top layers is the "partial
//! fine-tuning" of Howard & Ruder (2018, "Universal Language Model Fine-tuning", ULMFiT) and
//! Lee et al. (2019, "What Would Elsa Do? Freezing Layers During Transformer Fine-Tuning"):
//! the lower layers' outputs do not change, so they are computed once, not once per epoch.
//!
//! ```no_run
//! use mithridate_rag::encoder::{Encoder, Pooling};
//! let home = mithridate_data::DataHome::from_env()?;
//! let encoder = Encoder::minilm(&home)?;
//! let ids = encoder.token_ids("The economy grew.");
//! let lower = encoder.lower_states(&[&ids[..]], 5, 1 << 30, &mut |_| {})?;
//! let top = encoder.trainable_layers(5)?;
//! let rows = top.embed(&lower.iter().collect::<Vec<_>>(), Pooling::Mean)?;
//! let frozen = encoder.embed_ids(&[&ids[..]], Pooling::Mean, &mut |_| {})?;
//! assert!(rows.iter().zip(&frozen).all(|(a, b)| (a - b).abs() < 1e-5));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{
    attention_bias, model_err, pool, Encoder, Graph, Layer, Pooling, BATCH, DIM, LAYERS, MAX_TOKENS,
};
use crate::{RagError, Result};
use candle_core::{Device, Tensor, Var};
use candle_nn::{LayerNorm, Linear};

/// One text's token states after the frozen lower layers: row-major `[tokens, DIM]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LowerStates {
    pub states: Vec<f32>,
    pub tokens: usize,
}

impl LowerStates {
    /// Bytes held by `tokens` token states.
    pub fn bytes_for(tokens: usize) -> usize {
        tokens * DIM * std::mem::size_of::<f32>()
    }
}

/// Trainable copies of layers `from..LAYERS` of an [`Encoder`].
pub struct TrainableLayers {
    layers: Vec<Layer>,
    vars: Vec<Var>,
    from: usize,
}

impl std::fmt::Debug for TrainableLayers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainableLayers")
            .field("from", &self.from)
            .field("vars", &self.vars.len())
            .finish()
    }
}

impl Encoder {
    /// Token states of each id row (`[CLS] ... [SEP]`, at most [`MAX_TOKENS`]) after the first
    /// `layers` layers (0..=[`LAYERS`]), batched by length like [`Encoder::embed_ids`];
    /// `progress(done)` after each batch.
    ///
    /// Errors: `layers > LAYERS`, a row too long, or more than `max_bytes` of states (checked
    /// from the token counts before anything is computed or allocated).
    pub fn lower_states(
        &self,
        ids: &[&[u32]],
        layers: usize,
        max_bytes: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<LowerStates>> {
        if layers > LAYERS {
            return Err(RagError::invalid(format!(
                "the encoder has {LAYERS} layers, asked for the states after {layers}"
            )));
        }
        if let Some(long) = ids.iter().position(|t| t.len() > MAX_TOKENS) {
            return Err(RagError::invalid(format!(
                "token sequence {long} is longer than the encoder's {MAX_TOKENS} tokens"
            )));
        }
        let bytes: usize = ids.iter().map(|t| LowerStates::bytes_for(t.len())).sum();
        if bytes > max_bytes {
            return Err(RagError::invalid(format!(
                "the token states of {} texts need {} MiB, over the limit of {} MiB",
                ids.len(),
                bytes >> 20,
                max_bytes >> 20
            )));
        }
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| (ids[i].len(), i));
        let mut out: Vec<Option<LowerStates>> = vec![None; ids.len()];
        let mut done = 0;
        for batch in order.chunks(BATCH) {
            let run = || -> candle_core::Result<Vec<LowerStates>> {
                let n = batch.len();
                let len = batch.iter().map(|&i| ids[i].len()).max().unwrap_or(0);
                let mut flat = vec![0u32; n * len];
                let mut mask = vec![0f32; n * len];
                for (b, &i) in batch.iter().enumerate() {
                    flat[b * len..b * len + ids[i].len()].copy_from_slice(ids[i]);
                    mask[b * len..b * len + ids[i].len()].fill(1.0);
                }
                let flat = Tensor::from_vec(flat, (n, len), &Device::Cpu)?;
                let mask = Tensor::from_vec(mask, (n, len), &Device::Cpu)?;
                let words = candle_core::Module::forward(&self.words, &flat)?;
                let h = self.token_states(&words, &mask, layers, Graph::Fused)?;
                let h = h.flatten_all()?.to_vec1::<f32>()?;
                Ok(batch
                    .iter()
                    .enumerate()
                    .map(|(b, &i)| {
                        let t = ids[i].len();
                        LowerStates {
                            states: h[b * len * DIM..(b * len + t) * DIM].to_vec(),
                            tokens: t,
                        }
                    })
                    .collect())
            };
            for (s, &i) in run().map_err(model_err)?.into_iter().zip(batch) {
                out[i] = Some(s);
            }
            done += batch.len();
            progress(done);
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Trainable copies (fresh [`Var`]s holding the pretrained weights) of layers
    /// `from..LAYERS`; `from` in `0..LAYERS`. The encoder itself is not changed by training.
    pub fn trainable_layers(&self, from: usize) -> Result<TrainableLayers> {
        if from >= LAYERS {
            return Err(RagError::invalid(format!(
                "trainable layers start at 0..{LAYERS}, got {from}"
            )));
        }
        let mut vars = Vec::new();
        let mut var = |t: &Tensor| -> candle_core::Result<Tensor> {
            let v = Var::from_tensor(t)?;
            let t = v.as_tensor().clone();
            vars.push(v);
            Ok(t)
        };
        let mut copy = || -> candle_core::Result<Vec<Layer>> {
            let mut layers = Vec::with_capacity(LAYERS - from);
            for l in &self.layers[from..] {
                let mut linear = |x: &Linear| -> candle_core::Result<Linear> {
                    let b = x.bias().map(&mut var).transpose()?;
                    Ok(Linear::new(var(x.weight())?, b))
                };
                let (query, key, value) = (linear(&l.query)?, linear(&l.key)?, linear(&l.value)?);
                let attention_out = linear(&l.attention_out)?;
                let (intermediate, output) = (linear(&l.intermediate)?, linear(&l.output)?);
                let mut norm = |x: &LayerNorm| -> candle_core::Result<LayerNorm> {
                    let b = x.bias().ok_or_else(|| {
                        candle_core::Error::Msg("a layer norm without bias".into())
                    })?;
                    Ok(LayerNorm::new(var(x.weight())?, var(b)?, x.eps()))
                };
                layers.push(Layer {
                    query,
                    key,
                    value,
                    attention_out,
                    attention_norm: norm(&l.attention_norm)?,
                    intermediate,
                    output,
                    output_norm: norm(&l.output_norm)?,
                });
            }
            Ok(layers)
        };
        let layers = copy().map_err(model_err)?;
        Ok(TrainableLayers { layers, vars, from })
    }
}

impl TrainableLayers {
    /// The trainable parameters (weights and biases of every linear map and layer norm).
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// The first trainable layer's index (the lower states must come from this many layers).
    pub fn from(&self) -> usize {
        self.from
    }

    /// A padded batch of lower states: `([n, len, DIM] states, [n, len] mask)`, `len` the
    /// longest row of the batch (sort rows by length to keep padding short).
    pub fn batch(rows: &[&LowerStates]) -> candle_core::Result<(Tensor, Tensor)> {
        let n = rows.len();
        let len = rows.iter().map(|r| r.tokens).max().unwrap_or(0);
        let mut h = vec![0f32; n * len * DIM];
        let mut mask = vec![0f32; n * len];
        for (b, r) in rows.iter().enumerate() {
            h[b * len * DIM..(b * len + r.tokens) * DIM].copy_from_slice(&r.states);
            mask[b * len..b * len + r.tokens].fill(1.0);
        }
        Ok((
            Tensor::from_vec(h, (n, len, DIM), &Device::Cpu)?,
            Tensor::from_vec(mask, (n, len), &Device::Cpu)?,
        ))
    }

    /// Pooled rows `[n, pooling.width()]` of a batch from [`TrainableLayers::batch`];
    /// `differentiable`: built from elementary operations so that `backward` reaches
    /// [`vars`](TrainableLayers::vars) (false: candle's fused softmax and layer norm).
    pub fn forward(
        &self,
        h: &Tensor,
        mask: &Tensor,
        pooling: Pooling,
        differentiable: bool,
    ) -> candle_core::Result<Tensor> {
        let graph = if differentiable {
            Graph::Differentiable
        } else {
            Graph::Fused
        };
        let bias = attention_bias(mask)?;
        let mut h = h.clone();
        for layer in &self.layers {
            h = layer.forward(&h, &bias, graph)?;
        }
        pool(&h, mask, pooling)
    }

    /// Pooled rows (row-major `[rows.len(), pooling.width()]`) at the current weights, batched
    /// by length; a row does not depend on its batch.
    pub fn embed(&self, rows: &[&LowerStates], pooling: Pooling) -> Result<Vec<f32>> {
        if let Some(bad) = rows
            .iter()
            .position(|r| r.tokens == 0 || r.states.len() != r.tokens * DIM)
        {
            return Err(RagError::invalid(format!(
                "lower states {bad} are not 1 or more rows of {DIM}"
            )));
        }
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| (rows[i].tokens, i));
        let width = pooling.width();
        let mut out = vec![0f32; rows.len() * width];
        for batch in order.chunks(BATCH) {
            let run = || -> candle_core::Result<Vec<f32>> {
                let b: Vec<&LowerStates> = batch.iter().map(|&i| rows[i]).collect();
                let (h, mask) = TrainableLayers::batch(&b)?;
                self.forward(&h, &mask, pooling, false)?
                    .flatten_all()?
                    .to_vec1::<f32>()
            };
            let v = run().map_err(model_err)?;
            for (r, &i) in batch.iter().enumerate() {
                out[i * width..(i + 1) * width].copy_from_slice(&v[r * width..(r + 1) * width]);
            }
        }
        Ok(out)
    }
}
