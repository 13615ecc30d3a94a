//! Greedy answers from Gemma-3-270M (Gemma Team 2025, "Gemma 3 Technical Report"; the
//! base, not instruction-tuned model, Q4_K_M quantised) with candle-transformers'
//! `quantized_gemma3`, tokenized by [`crate::tokenizer::SpmTokenizer`].
//!
//! Decoding: `<bos>` + prompt in one forward pass (prefill), then one token at a time with
//! the key-value cache, always the most probable token (`argmax` of the logits: no sampling,
//! so the same prompt gives the same answer), stopping at a token whose text holds a newline,
//! at a control token (`<eos>`, `<end_of_turn>`) or after `max_new_tokens`.
//!
//! Limitation (candle 0.11.1): during single-token decoding the sliding-window layers
//! (window 512) attend to the whole cache, so for prompts past 512 tokens the answer tokens
//! see slightly more than the trained model would; prefill masks the window correctly.

use crate::tokenizer::SpmTokenizer;
use crate::{AnswerError, Result};
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_gemma3::ModelWeights;
use std::path::Path;
use std::time::Instant;

/// One generated answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Generation {
    pub text: String,
    pub prompt_tokens: usize,
    pub new_tokens: usize,
    /// The prompt's forward pass alone.
    pub prefill_seconds: f64,
    pub seconds: f64,
}

/// The loaded model and its tokenizer.
pub struct Gemma {
    model: ModelWeights,
    tokenizer: SpmTokenizer,
    /// Per token id: decoding ends here (newline in its text, or a control token).
    stops: Vec<bool>,
    device: Device,
}

fn model_err(e: candle_core::Error) -> AnswerError {
    AnswerError::Model(e.to_string())
}

impl Gemma {
    /// Loads the GGUF at `path` on the CPU.
    pub fn load(path: &Path) -> Result<Gemma> {
        let mut file = std::fs::File::open(path).map_err(AnswerError::io(path))?;
        let meta = crate::gguf::read_metadata(
            &mut std::io::BufReader::new(&mut file),
            &path.display().to_string(),
        )?;
        let tokenizer = SpmTokenizer::from_gguf(&meta)?;
        let mut file = std::fs::File::open(path).map_err(AnswerError::io(path))?;
        let content = candle_core::quantized::gguf_file::Content::read(&mut file)
            .map_err(|e| AnswerError::format(path.display().to_string(), e.to_string()))?;
        let device = Device::Cpu;
        let model = ModelWeights::from_gguf(content, &mut file, &device).map_err(model_err)?;
        // Control and unused pieces decode to nothing.
        let stops = (0..tokenizer.vocab_size() as u32)
            .map(|id| {
                let text = tokenizer.decode(&[id]);
                text.is_empty() || text.contains('\n')
            })
            .collect();
        Ok(Gemma {
            model,
            tokenizer,
            stops,
            device,
        })
    }

    pub fn tokenizer(&self) -> &SpmTokenizer {
        &self.tokenizer
    }

    /// The greedy continuation of `prompt`, at most `max_new_tokens` tokens, up to the first
    /// newline (excluded).
    pub fn generate(&mut self, prompt: &str, max_new_tokens: usize) -> Result<Generation> {
        if max_new_tokens == 0 {
            return Err(AnswerError::invalid("max_new_tokens must be at least 1"));
        }
        let start = Instant::now();
        let mut ids: Vec<u32> = self.tokenizer.bos().into_iter().collect();
        ids.extend(self.tokenizer.encode(prompt));
        let prompt_tokens = ids.len();
        let mut out = Vec::new();
        let input = Tensor::new(ids.as_slice(), &self.device)
            .and_then(|t| t.unsqueeze(0))
            .map_err(model_err)?;
        // index_pos 0 also clears the previous prompt's cache.
        let mut logits = self.model.forward(&input, 0).map_err(model_err)?;
        let prefill_seconds = start.elapsed().as_secs_f64();
        for pos in prompt_tokens..prompt_tokens + max_new_tokens {
            let next = logits
                .squeeze(0)
                .and_then(|l| l.argmax(0))
                .and_then(|t| t.to_scalar::<u32>())
                .map_err(model_err)?;
            if self.stops.get(next as usize).copied().unwrap_or(true) {
                break;
            }
            out.push(next);
            let input = Tensor::new(&[next], &self.device)
                .and_then(|t| t.unsqueeze(0))
                .map_err(model_err)?;
            logits = self.model.forward(&input, pos).map_err(model_err)?;
        }
        Ok(Generation {
            text: self.tokenizer.decode(&out),
            prompt_tokens,
            new_tokens: out.len(),
            prefill_seconds,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}
