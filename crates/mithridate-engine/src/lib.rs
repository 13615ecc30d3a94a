//! # mithridate-engine
//!
//! The training stage of Mithridate's data flow (dataset -> attack -> *train* -> detect/defend ->
//! evaluate -> report): four classifier families behind one [`Classifier`] type, seeded and
//! bit-for-bit reproducible training, safetensors I/O with a JSON model card, and the internals
//! attacks and detectors need (penultimate-layer embeddings, per-sample losses, input and parameter
//! gradients, flat parameter vectors).
//!
//! The engine runs on [candle](https://github.com/huggingface/candle) (CPU), but no candle type
//! appears in the public API: data go in as [`mithridate_data::Dataset`] and come out as `Vec<f32>` /
//! `Vec<u32>`, so the backend can change without touching callers.
//!
//! ## Inference speed
//!
//! Inference ([`Classifier::predict`], [`Classifier::predict_proba`],
//! [`Classifier::embeddings`], [`Classifier::per_sample_loss`]) of the dense and image models
//! skips candle: a gradient-free forward in plain Rust (per-image im2col into reused buffers,
//! faer matrix products, pooling + bias + ReLU in one pass, rayon over fixed-size sample
//! groups, so results do not depend on the thread count) that agrees with the autodiff forward
//! to float rounding (tested: ~1e-6 of each layer's scale, identical predictions on real digits).
//! Gradient queries ([`Classifier::input_gradients`], [`Classifier::parameter_gradients`]) and
//! the text model keep candle autodiff.
//!
//! ## Training speed
//!
//! [`Classifier::fit`] of the dense and image models skips candle too: a hand-written
//! backpropagation (forward keeping argmax masks and activations, im2col + faer GEMMs, a
//! sparse backward of the pooled convolution, fused bias + ReLU, fixed-size sample tasks on
//! rayon whose gradient buffers are summed in task order, every buffer allocated once per fit)
//! whose gradients equal candle autodiff to ~1e-4 of each tensor's scale and finite
//! differences (tested), and whose results do not depend on the thread count. `bench/engine.sh`
//! compares it with PyTorch; the crate README has the numbers.
//!
//! `cargo bench -p mithridate-engine --bench inference` (untrained models, 10,000 MNIST test
//! images, 2 threads, median of 3; 2026-11-25 on the shared 2-core machine at load average
//! ~1.5, before and after in the same session):
//!
//! | model | predict before | predict after | embeddings before | embeddings after |
//! |---|---|---|---|---|
//! | cnn | 2,685/s | **15,597/s** | 2,927/s | **14,528/s** |
//! | mlp | 137,295/s | **194,024/s** | 144,532/s | **250,550/s** |
//!
//! A full embedding scan of the 60,000 MNIST training images with the CNN
//! (`MITHRIDATE_BENCH_SPLIT=train MITHRIDATE_BENCH_SAMPLES=60000`) runs at ~14,800 samples/s
//! (~4 s; 7,900/s, ~7.6 s, on one thread), against ~730/s (81.7 s) measured before under load.
//!
//! ```
//! use mithridate_data::{Dataset, Features, Modality};
//! use mithridate_engine::{Architecture, Classifier, Optimizer, TrainParams};
//!
//! // Two separable 2-D blobs.
//! let xs: Vec<f32> = (0..40).flat_map(|i| {
//!     let s = if i % 2 == 0 { 1.0 } else { -1.0 };
//!     [s + 0.01 * i as f32, s]
//! }).collect();
//! let labels: Vec<u32> = (0..40).map(|i| (i % 2) as u32).collect();
//! let modality = Modality::Tabular { features: 2 };
//! let data = Dataset::new(modality.clone(), Features::Dense(xs), labels, (0..40).collect(), 2, vec![])?;
//!
//! let mut model = Classifier::new(Architecture::LogReg, &modality, 2, 7)?;
//! let mut params = TrainParams::default_for(Architecture::LogReg);
//! params.epochs = 20;
//! params.optimizer = Optimizer::Adam { lr: 0.1 };
//! let report = model.fit(&data, &params.check()?, 7, &mut |_| {})?;
//! assert_eq!(report.epochs.len(), 20);
//! assert_eq!(model.predict(&data)?, data.labels());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod arch;
mod backprop;
pub mod base_features;
mod card;
mod classifier;
mod conv;
pub mod dp_sgd;
mod error;
mod infer;
pub mod metrics;
mod network;
mod optim;
mod params;
pub mod partition_aggregation;
mod persist;
mod simd;
mod sparse_conv;
mod trainer;

pub use arch::Architecture;
pub use card::{ModelCard, ENGINE_VERSION};
pub use classifier::{
    Classifier, DpReport, EpochReport, TrainProgress, TrainReport, INFERENCE_CHUNK,
};
pub use error::EngineError;
pub use params::{DpSgd, Optimizer, TrainConfig, TrainParams, MIN_DEFAULT_STEPS};

/// Result type of every fallible engine call.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
