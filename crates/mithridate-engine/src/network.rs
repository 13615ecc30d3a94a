//! Layer geometry, parameter layout, seeded initialisation and the forward pass of each
//! architecture. Parameters live in the [`crate::Classifier`]; a [`Network`] only knows shapes.

use candle_core::{DType, Result, Tensor, D};
use mithridate_data::Modality;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::conv::ConvPool;
use crate::infer::Layers;
use crate::Architecture;

/// Smallest image side the CNN accepts: two 2x2 poolings must leave at least one pixel.
pub(crate) const CNN_MIN_SIDE: usize = 4;
/// MLP hidden layer widths.
const MLP_HIDDEN: [usize; 2] = [256, 128];
/// CNN: (output channels, kernel size) of the two convolutions, and the hidden FC width.
const CNN_CONVS: [(usize, usize); 2] = [(16, 5), (32, 5)];
const CNN_HIDDEN: usize = 128;
/// Text model: embedding width and hidden width of the MLP head.
const TEXT_EMBEDDING: usize = 64;
const TEXT_HIDDEN: usize = 64;

/// How a parameter tensor is initialised.
#[derive(Debug, Clone, Copy)]
enum Init {
    /// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`: PyTorch's default for linear and convolution layers
    /// (He et al., 2015, uniform variant with `a = sqrt(5)`).
    FanIn(usize),
    /// `U(-sqrt(3/d), sqrt(3/d))` per coordinate, so an embedding has expected squared norm 1;
    /// row 0 (padding) is zero.
    Embedding { dim: usize },
}

/// Name, shape and initialisation of one parameter tensor.
#[derive(Debug, Clone)]
pub(crate) struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    init: Init,
}

impl ParamSpec {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

fn linear_specs(prefix: &str, fan_in: usize, fan_out: usize) -> [ParamSpec; 2] {
    [
        ParamSpec {
            name: format!("{prefix}.weight"),
            shape: vec![fan_out, fan_in],
            init: Init::FanIn(fan_in),
        },
        ParamSpec {
            name: format!("{prefix}.bias"),
            shape: vec![fan_out],
            init: Init::FanIn(fan_in),
        },
    ]
}

/// `x W^T + b`, PyTorch's `nn.Linear` with a `(out, in)` weight.
fn linear(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    x.matmul(&weight.t()?)?.broadcast_add(bias)
}

/// The layers of one classifier.
#[derive(Debug)]
pub(crate) enum Network {
    /// Fully connected layers of widths `sizes` (input first, classes last), ReLU between.
    Dense { sizes: Vec<usize> },
    /// conv(5x5, pad 2) -> maxpool 2 -> ReLU, twice, then FC(128) -> ReLU -> FC(classes).
    Cnn {
        channels: usize,
        conv1: ConvPool,
        conv2: ConvPool,
        /// Side lengths after the second pooling.
        pooled: (usize, usize),
        classes: usize,
    },
    /// Mean of the embeddings of non-padding tokens -> FC -> ReLU -> FC(classes).
    Text {
        vocab: usize,
        max_len: usize,
        classes: usize,
    },
}

impl Network {
    /// The network for `arch` on `modality`; the caller has checked that they fit.
    pub fn new(arch: Architecture, modality: &Modality, classes: usize) -> Network {
        match (arch, modality) {
            (
                Architecture::Cnn,
                &Modality::Image {
                    channels,
                    height,
                    width,
                },
            ) => {
                let [(c1, k1), (c2, k2)] = CNN_CONVS;
                let conv1 = ConvPool::new(channels, c1, k1, height, width);
                let conv2 = ConvPool::new(c1, c2, k2, height / 2, width / 2);
                Network::Cnn {
                    channels,
                    pooled: (height / 4, width / 4),
                    conv1,
                    conv2,
                    classes,
                }
            }
            (
                Architecture::Text,
                &Modality::Text {
                    max_len,
                    vocab_size,
                },
            ) => Network::Text {
                vocab: vocab_size,
                max_len,
                classes,
            },
            (Architecture::Mlp, m) => Network::Dense {
                sizes: [m.sample_len()]
                    .into_iter()
                    .chain(MLP_HIDDEN)
                    .chain([classes])
                    .collect(),
            },
            (_, m) => Network::Dense {
                sizes: vec![m.sample_len(), classes],
            },
        }
    }

    /// Every parameter tensor, in the fixed order used by flat parameter vectors.
    pub fn specs(&self) -> Vec<ParamSpec> {
        match self {
            Network::Dense { sizes } => sizes
                .windows(2)
                .enumerate()
                .flat_map(|(i, w)| linear_specs(&format!("fc{}", i + 1), w[0], w[1]))
                .collect(),
            Network::Cnn {
                conv1,
                conv2,
                pooled,
                classes,
                ..
            } => {
                let mut specs = Vec::new();
                for (name, conv) in [("conv1", conv1), ("conv2", conv2)] {
                    specs.push(ParamSpec {
                        name: format!("{name}.weight"),
                        shape: conv.weight_shape(),
                        init: Init::FanIn(conv.fan_in()),
                    });
                    specs.push(ParamSpec {
                        name: format!("{name}.bias"),
                        shape: vec![conv.out_channels],
                        init: Init::FanIn(conv.fan_in()),
                    });
                }
                let flat = pooled.0 * pooled.1 * conv2.out_channels;
                specs.extend(linear_specs("fc1", flat, CNN_HIDDEN));
                specs.extend(linear_specs("fc2", CNN_HIDDEN, *classes));
                specs
            }
            Network::Text { vocab, classes, .. } => {
                let mut specs = vec![ParamSpec {
                    name: "embedding.weight".into(),
                    shape: vec![*vocab, TEXT_EMBEDDING],
                    init: Init::Embedding {
                        dim: TEXT_EMBEDDING,
                    },
                }];
                specs.extend(linear_specs("fc1", TEXT_EMBEDDING, TEXT_HIDDEN));
                specs.extend(linear_specs("fc2", TEXT_HIDDEN, *classes));
                specs
            }
        }
    }

    /// Width of the penultimate layer returned by [`Network::forward`].
    pub fn embedding_dim(&self) -> usize {
        match self {
            Network::Dense { sizes } => sizes[sizes.len() - 2],
            Network::Cnn { .. } => CNN_HIDDEN,
            Network::Text { .. } => TEXT_HIDDEN,
        }
    }

    /// Whether inputs are token ids (`u32`) rather than dense `f32` features.
    pub fn takes_tokens(&self) -> bool {
        matches!(self, Network::Text { .. })
    }

    /// Initial parameter values drawn from a ChaCha8 stream seeded with `seed`, spec by spec
    /// in [`Network::specs`] order, so a seed fixes every weight bit for bit.
    pub fn init(&self, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        self.specs()
            .iter()
            .map(|spec| match spec.init {
                Init::FanIn(fan_in) => {
                    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
                    (0..spec.numel())
                        .map(|_| rng.random_range(-bound..bound))
                        .collect()
                }
                Init::Embedding { dim } => {
                    let bound = (3.0 / dim as f32).sqrt();
                    (0..spec.numel())
                        .map(|i| {
                            let v = rng.random_range(-bound..bound);
                            if i < dim {
                                0.0
                            } else {
                                v
                            }
                        })
                        .collect()
                }
            })
            .collect()
    }

    /// The layers as the gradient-free forward of [`crate::infer`] runs them, borrowing `params`
    /// (flat values in [`Network::specs`] order); `None` for the text model, whose inputs are
    /// token ids.
    pub fn inference_layers<'a>(&'a self, params: &'a [Vec<f32>]) -> Option<Layers<'a>> {
        let p = |i: usize| params[i].as_slice();
        match self {
            Network::Dense { sizes } => Some(Layers::Dense {
                linear: (0..sizes.len() - 1)
                    .map(|l| (p(2 * l), p(2 * l + 1)))
                    .collect(),
            }),
            Network::Cnn { conv1, conv2, .. } => Some(Layers::Cnn {
                convs: [(conv1, p(0), p(1)), (conv2, p(2), p(3))],
                fc1: (p(4), p(5)),
                fc2: (p(6), p(7)),
            }),
            Network::Text { .. } => None,
        }
    }

    /// Forward pass on a batch: `input` is `(batch, sample_len)` (f32 features or u32 tokens).
    /// Returns `(penultimate activations, logits)`.
    pub fn forward(&self, params: &[Tensor], input: &Tensor) -> Result<(Tensor, Tensor)> {
        let p = |i: usize| &params[i];
        match self {
            Network::Dense { sizes } => {
                let layers = sizes.len() - 1;
                let mut h = input.clone();
                for l in 0..layers - 1 {
                    h = linear(&h, p(2 * l), p(2 * l + 1))?.relu()?;
                }
                let logits = linear(&h, p(2 * layers - 2), p(2 * layers - 1))?;
                Ok((h, logits))
            }
            Network::Cnn {
                channels,
                conv1,
                conv2,
                pooled,
                ..
            } => {
                let batch = input.dim(0)?;
                let (h, w) = (conv1.in_h, conv1.in_w);
                // Samples are stored CHW; the convolutions work on HWC rows.
                let rows = input
                    .reshape((batch, *channels, h * w))?
                    .transpose(1, 2)?
                    .contiguous()?
                    .reshape((batch * h * w, *channels))?;
                // Max-pooling commutes with ReLU; pooling first applies ReLU to 4x fewer values.
                let x = conv1.forward(&rows, p(0), p(1))?.relu()?;
                let x = conv2.forward(&x, p(2), p(3))?.relu()?;
                let flat = x.reshape((batch, pooled.0 * pooled.1 * conv2.out_channels))?;
                let hidden = linear(&flat, p(4), p(5))?.relu()?;
                let logits = linear(&hidden, p(6), p(7))?;
                Ok((hidden, logits))
            }
            Network::Text { max_len, .. } => {
                let batch = input.dim(0)?;
                let embedded = p(0).index_select(&input.flatten_all()?, 0)?.reshape((
                    batch,
                    *max_len,
                    TEXT_EMBEDDING,
                ))?;
                let mask = input.ne(0u32)?.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
                let summed = embedded.broadcast_mul(&mask)?.sum(1)?;
                // An all-padding sample averages nothing: divide by 1, giving the zero vector.
                let counts = mask.sum(1)?.maximum(1f32)?;
                let mean = summed.broadcast_div(&counts)?;
                let hidden = linear(&mean, p(1), p(2))?.relu()?;
                let logits = linear(&hidden, p(3), p(4))?;
                Ok((hidden, logits))
            }
        }
    }
}

/// `log softmax(logits)` along the class axis; the row maximum is subtracted for stability
/// and detached (it cancels analytically, so it needs no gradient).
pub(crate) fn log_softmax(logits: &Tensor) -> Result<Tensor> {
    let shifted = logits.broadcast_sub(&logits.max_keepdim(D::Minus1)?.detach())?;
    let log_norm = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&log_norm)
}

/// Per-sample cross-entropy `-log softmax(logits)[target]`, shape `(batch,)`.
pub(crate) fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    log_softmax(logits)?
        .gather(&targets.unsqueeze(1)?, 1)?
        .squeeze(1)?
        .neg()
}
