//! The encoder's similarity to a query as a differentiable function of its input word
//! vectors: what white-box token-substitution attacks need (HotFlip; Ebrahimi, Rao, Lowd &
//! Dou 2018, "HotFlip: White-Box Adversarial Examples for Text Classification").
//!
//! For a text `x` given by its word vectors `w_1..w_n` (rows of the word-embedding matrix
//! `E`), `s(w) = e(w) . q` with `e` the unit mean-pooled embedding and `q` a unit query
//! embedding. Replacing token `i` by vocabulary entry `v` changes `s` by about
//! `grad_{w_i} s . (E_v - w_i)` (first order), which ranks every substitution at position
//! `i` with one matrix-vector product instead of `|V|` forward passes.
//!
//! The backward pass runs through a forward graph built from elementary candle operations
//! (softmax and layer norm included), the same functions as the fused fast path; the two
//! agree to float rounding (tested).

use super::{mean_unit, model_err, Encoder, Graph, DIM, MAX_TOKENS};
use crate::{RagError, Result};
use candle_core::{Device, Tensor, Var};

impl Encoder {
    /// The word-embedding matrix `E`, row-major `[vocabulary, DIM]`.
    pub fn word_vectors(&self) -> Result<Vec<f32>> {
        self.words
            .embeddings()
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .map_err(model_err)
    }

    /// `s = e(words) . query` and `ds / d words` (row-major `[len, DIM]`), for one text given
    /// by its word vectors `words` (`[len, DIM]`, `[CLS]` ... `[SEP]` included, at most
    /// [`MAX_TOKENS`] rows); `query` is a unit embedding of [`DIM`] values.
    ///
    /// Errors: a length that is not a whole number of rows, too many rows, a query of the
    /// wrong width, non-finite values.
    pub fn similarity_gradient(&self, words: &[f32], query: &[f32]) -> Result<(f32, Vec<f32>)> {
        let len = words.len() / DIM;
        if words.is_empty() || !words.len().is_multiple_of(DIM) || len > MAX_TOKENS {
            return Err(RagError::invalid(format!(
                "word vectors must be 1..={MAX_TOKENS} rows of {DIM}, got {} values",
                words.len()
            )));
        }
        if query.len() != DIM {
            return Err(RagError::invalid(format!(
                "the query embedding has {} values, the encoder {DIM}",
                query.len()
            )));
        }
        if !words.iter().chain(query).all(|v| v.is_finite()) {
            return Err(RagError::invalid("word vectors and query must be finite"));
        }
        let run = || -> candle_core::Result<(f32, Vec<f32>)> {
            let input = Var::from_vec(words.to_vec(), (1, len, DIM), &Device::Cpu)?;
            let mask = Tensor::ones((1, len), candle_core::DType::F32, &Device::Cpu)?;
            let h = self.token_states(
                input.as_tensor(),
                &mask,
                super::LAYERS,
                Graph::Differentiable,
            )?;
            let e = mean_unit(&h, &mask.unsqueeze(2)?)?;
            let q = Tensor::from_slice(query, (1, DIM), &Device::Cpu)?;
            let s = e.mul(&q)?.sum_all()?;
            let grads = s.backward()?;
            let g = grads
                .get(input.as_tensor())
                .ok_or_else(|| candle_core::Error::Msg("no gradient for the input".into()))?;
            Ok((s.to_scalar::<f32>()?, g.flatten_all()?.to_vec1::<f32>()?))
        };
        run().map_err(model_err)
    }

    /// The word vectors of token ids (row-major `[ids.len(), DIM]`).
    pub fn words_of(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let vocab = self.tokenizer.vocab_size();
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(RagError::invalid(format!(
                "token id {bad} is outside the vocabulary of {vocab}"
            )));
        }
        let run = || -> candle_core::Result<Vec<f32>> {
            let ids = Tensor::from_slice(ids, ids.len(), &Device::Cpu)?;
            self.words
                .embeddings()
                .index_select(&ids, 0)?
                .flatten_all()?
                .to_vec1()
        };
        run().map_err(model_err)
    }
}
