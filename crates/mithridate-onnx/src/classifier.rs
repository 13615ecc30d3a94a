//! [`OnnxClassifier`]: a user's ONNX classifier applied to Mithridate datasets.
//!
//! Mithridate images are `channels x height x width` values in `[0, 1]`. A PyTorch model may
//! want another layout (NHWC, or flat vectors), another value range (0-255) or normalised
//! inputs (`(x - mean) / std`, usually done outside the graph by a transform). The layout is read
//! from the graph input's shape and checked against the data; the value mapping cannot be read
//! from a graph and is given by [`InputOptions`] (flags on the CLI). Every mapping is done in
//! candle ops on a differentiable copy of the input, so [`OnnxClassifier::input_gradients`]
//! returns gradients with respect to the dataset's own `[0, 1]` values.

use std::path::Path;
use std::str::FromStr;

use candle_core::{DType, Device, Tensor, Var};
use mithridate_data::{Dataset, Features, Modality};

use crate::error::{OnnxError, Result};
use crate::graph::OnnxGraph;

/// How many samples go through the graph at once.
const CHUNK: usize = 256;

/// Memory order of an image in the model's input tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputLayout {
    /// `(N, C, H, W)` (PyTorch's convention); `(N, H, W)` for one-channel images.
    Nchw,
    /// `(N, H, W, C)` (TensorFlow's convention).
    Nhwc,
    /// `(N, C*H*W)` flat vectors in the dataset's `C, H, W` order (also tabular rows).
    Flat,
}

impl FromStr for InputLayout {
    type Err = OnnxError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "nchw" => Ok(InputLayout::Nchw),
            "nhwc" => Ok(InputLayout::Nhwc),
            "flat" => Ok(InputLayout::Flat),
            _ => Err(OnnxError::InvalidInput(format!(
                "unknown input layout '{s}' (nchw, nhwc or flat)"
            ))),
        }
    }
}

/// What cannot be read from the graph: how dataset values map to model inputs.
#[derive(Clone, Debug)]
pub struct InputOptions {
    /// Forced layout; `None` reads it from the graph input's shape.
    pub layout: Option<InputLayout>,
    /// Dataset values are multiplied by this first (255 for models trained on raw bytes).
    pub scale: f32,
    /// Per-channel (or one) mean subtracted after scaling; empty for none.
    pub mean: Vec<f32>,
    /// Per-channel (or one) standard deviation divided by after the mean; empty for none.
    pub std: Vec<f32>,
    /// Number of classes, when the graph output's last dimension is symbolic.
    pub num_classes: Option<usize>,
}

impl Default for InputOptions {
    fn default() -> Self {
        InputOptions {
            layout: None,
            scale: 1.0,
            mean: Vec::new(),
            std: Vec::new(),
            num_classes: None,
        }
    }
}

/// How one dataset's samples become model inputs.
struct Plan {
    layout: InputLayout,
    channels: usize,
    /// Per-sample shape of the model input (without the batch dimension).
    sample_shape: Vec<usize>,
}

/// A loaded ONNX classifier (logits output), evaluated on candle's CPU backend.
#[derive(Debug)]
pub struct OnnxClassifier {
    graph: OnnxGraph,
    options: InputOptions,
}

impl OnnxClassifier {
    /// Reads and validates an ONNX file (see [`OnnxGraph::parse`] for what is checked).
    pub fn load(path: &Path, options: InputOptions) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, options)
    }

    pub fn from_bytes(bytes: &[u8], options: InputOptions) -> Result<Self> {
        if !(options.scale.is_finite() && options.scale > 0.0) {
            return Err(OnnxError::InvalidInput(format!(
                "input scale {} must be positive",
                options.scale
            )));
        }
        if options.std.iter().any(|&s| !(s.is_finite() && s > 0.0))
            || options.mean.iter().any(|m| !m.is_finite())
        {
            return Err(OnnxError::InvalidInput(
                "input std must be positive and mean finite".into(),
            ));
        }
        let graph = OnnxGraph::parse(bytes)?;
        if !matches!(graph.input.elem_type, 0 | 1) {
            return Err(OnnxError::Unsupported(format!(
                "input '{}' has element type {} (only float32 inputs: images or tabular features)",
                graph.input.name, graph.input.elem_type
            )));
        }
        Ok(OnnxClassifier { graph, options })
    }

    /// Whether the graph uses the operator `op` (e.g. `"Conv"`).
    pub fn uses_operator(&self, op: &str) -> bool {
        self.graph.uses_operator(op)
    }

    /// The model's default-domain opset version.
    pub fn opset(&self) -> i64 {
        self.graph.opset
    }

    /// Names of the intermediate values, for [`OnnxClassifier::layer_output`].
    pub fn value_names(&self) -> Vec<String> {
        self.graph.value_names().map(str::to_owned).collect()
    }

    /// The last `n` value names in graph order (the ones nearest the output, where embedding
    /// layers are), for error messages that suggest a `--layer`.
    pub fn last_value_names(&self, n: usize) -> Vec<String> {
        let names = self.value_names();
        names[names.len().saturating_sub(n)..].to_vec()
    }

    /// The default embedding layer: the input of the graph's last `Gemm`/`MatMul` computed
    /// from the graph input, i.e. the penultimate activations the final linear layer reads,
    /// what a Mithridate model's embeddings are. An error naming the graph's last values
    /// (so the user can pass one) when there is none or it is the graph input itself.
    pub fn penultimate_value(&self) -> Result<String> {
        let why = match self.graph.last_linear_input() {
            Ok(name) => return Ok(name.to_string()),
            Err(true) => "its last Gemm/MatMul reads the graph input (no hidden layer)",
            Err(false) => "it has no Gemm/MatMul computed from the input",
        };
        Err(OnnxError::InvalidInput(format!(
            "cannot choose the model's embedding layer: {why}; name one, e.g. one of its last values: {}",
            self.last_value_names(8).join(", ")
        )))
    }

    /// The graph input's shape as written in the file, `?` for symbolic dimensions.
    pub fn describe_input(&self) -> String {
        match &self.graph.input.dims {
            None => format!("'{}' (shape not given)", self.graph.input.name),
            Some(d) => {
                let dims: Vec<String> = d
                    .iter()
                    .map(|x| x.map_or("?".into(), |v| v.to_string()))
                    .collect();
                format!("'{}' [{}]", self.graph.input.name, dims.join(", "))
            }
        }
    }

    fn plan(&self, modality: &Modality) -> Result<Plan> {
        let (c, h, w) = match *modality {
            Modality::Image {
                channels,
                height,
                width,
            } => (channels, height, width),
            Modality::Tabular { features } => (1, 1, features),
            Modality::Text { .. } => {
                return Err(OnnxError::Incompatible(
                    "ONNX models take image or tabular data, not text tokens".into(),
                ))
            }
        };
        let is_image = matches!(modality, Modality::Image { .. });
        let fits = |want: &[usize], have: &[Option<usize>]| {
            want.len() == have.len()
                && want
                    .iter()
                    .zip(have)
                    .all(|(w, h)| h.is_none_or(|h| h == *w))
        };
        let flat = vec![c * h * w];
        let candidates: Vec<(InputLayout, Vec<usize>)> = if is_image {
            let mut v = vec![
                (InputLayout::Nchw, vec![c, h, w]),
                (InputLayout::Nhwc, vec![h, w, c]),
            ];
            if c == 1 {
                v.push((InputLayout::Nchw, vec![h, w]));
            }
            v.push((InputLayout::Flat, flat));
            v
        } else {
            vec![(InputLayout::Flat, flat)]
        };
        let chosen = match &self.graph.input.dims {
            // No shape in the file: the flag, else PyTorch's convention.
            None => candidates
                .into_iter()
                .find(|(l, _)| Some(*l) == self.options.layout || self.options.layout.is_none()),
            Some(dims) => candidates.into_iter().find(|(l, shape)| {
                self.options.layout.is_none_or(|f| f == *l)
                    && dims.len() == shape.len() + 1
                    && fits(shape, &dims[1..])
            }),
        };
        let (layout, sample_shape) = chosen.ok_or_else(|| {
            let data = match modality {
                Modality::Image { .. } => format!("{c}x{h}x{w} images"),
                _ => format!("rows of {w} features"),
            };
            let forced = self
                .options
                .layout
                .map(|l| format!(" in layout {l:?}"))
                .unwrap_or_default();
            OnnxError::Incompatible(format!(
                "the model's input {} does not take {data}{forced}",
                self.describe_input()
            ))
        })?;
        for (what, v) in [("mean", &self.options.mean), ("std", &self.options.std)] {
            if !(v.is_empty() || v.len() == 1 || v.len() == c) {
                return Err(OnnxError::InvalidInput(format!(
                    "{} {what} values for {c} channels",
                    v.len()
                )));
            }
        }
        Ok(Plan {
            layout,
            channels: c,
            sample_shape,
        })
    }

    /// Checks that `data` fits the model's input and that it has as many classes as the model
    /// outputs (read from the graph, [`InputOptions::num_classes`], or one probe sample).
    pub fn check_compatible(&self, data: &Dataset) -> Result<()> {
        let classes = self.output_classes(data)?;
        if classes != data.num_classes() {
            return Err(OnnxError::Incompatible(format!(
                "the model outputs {classes} classes, the dataset has {}",
                data.num_classes()
            )));
        }
        Ok(())
    }

    /// The number of classes the model outputs: from the graph's output shape, else
    /// [`InputOptions::num_classes`], else by running one sample of `data` (which must fit
    /// the model's input).
    pub fn output_classes(&self, data: &Dataset) -> Result<usize> {
        self.plan(data.modality())?;
        if data.is_empty() {
            return Err(OnnxError::InvalidInput("the dataset has no samples".into()));
        }
        let from_graph = self
            .graph
            .output
            .dims
            .as_ref()
            .and_then(|d| d.last().copied().flatten());
        let classes = match (from_graph, self.options.num_classes) {
            (Some(g), Some(f)) if g != f => {
                return Err(OnnxError::Incompatible(format!(
                    "the graph outputs {g} classes, but the given class count (--classes, or onnx_input classes in Python) is {f}"
                )))
            }
            (Some(k), _) | (None, Some(k)) => k,
            (None, None) => self.logits_of_rows(data, 0..1)?.1,
        };
        Ok(classes)
    }

    /// The model input for `x` (`(rows, sample_len)` dataset values), built by differentiable
    /// ops (scale, per-channel normalisation, NHWC permutation, reshape to the graph's shape).
    fn model_input(&self, plan: &Plan, x: &Tensor) -> Result<Tensor> {
        let n = x.dim(0).map_err(backend)?;
        let c = plan.channels;
        let per_channel = |v: &[f32]| -> Result<Tensor> {
            let full: Vec<f32> = if v.len() == 1 {
                vec![v[0]; c]
            } else {
                v.to_vec()
            };
            Tensor::from_vec(full, (1, c, 1), &Device::Cpu).map_err(backend)
        };
        let mut y = (x.reshape((n, c, ())).map_err(backend)? * self.options.scale as f64)
            .map_err(backend)?;
        if !self.options.mean.is_empty() {
            y = y
                .broadcast_sub(&per_channel(&self.options.mean)?)
                .map_err(backend)?;
        }
        if !self.options.std.is_empty() {
            y = y
                .broadcast_div(&per_channel(&self.options.std)?)
                .map_err(backend)?;
        }
        if plan.layout == InputLayout::Nhwc {
            let (h, w) = (plan.sample_shape[0], plan.sample_shape[1]);
            y = y
                .reshape((n, c, h, w))
                .and_then(|t| t.permute((0, 2, 3, 1)))
                .and_then(|t| t.contiguous())
                .map_err(backend)?;
        }
        let mut shape = vec![n];
        shape.extend_from_slice(&plan.sample_shape);
        y.reshape(shape).map_err(backend)
    }

    fn rows(data: &Dataset, range: std::ops::Range<usize>) -> Result<Tensor> {
        let per = data.modality().sample_len();
        match data.features() {
            Features::Dense(v) => Tensor::from_slice(
                &v[range.start * per..range.end * per],
                (range.len(), per),
                &Device::Cpu,
            )
            .map_err(backend),
            Features::Tokens(_) => Err(OnnxError::Incompatible(
                "ONNX models take dense features, not tokens".into(),
            )),
        }
    }

    /// Logits of rows `range`: `(values, classes)`.
    fn logits_of_rows(
        &self,
        data: &Dataset,
        range: std::ops::Range<usize>,
    ) -> Result<(Vec<f32>, usize)> {
        let plan = self.plan(data.modality())?;
        let x = self.model_input(&plan, &Self::rows(data, range)?)?;
        let out = &self.graph.run(&x, &[self.graph.output.name.as_str()])?[0];
        flatten_rows(out)
    }

    /// Logits of every sample, `n * classes` values row-major, and `classes`.
    pub fn logits(&self, data: &Dataset) -> Result<(Vec<f32>, usize)> {
        self.layer_output(data, &self.graph.output.name.clone())
    }

    /// Softmax class probabilities, `n * classes` values row-major (computed in f64 from the
    /// max-shifted logits, so large logits do not overflow).
    pub fn predict_proba(&self, data: &Dataset) -> Result<Vec<f32>> {
        let (logits, k) = self.logits(data)?;
        let mut out = Vec::with_capacity(logits.len());
        for row in logits.chunks_exact(k) {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let exp: Vec<f64> = row.iter().map(|&v| f64::from(v - max).exp()).collect();
            let total: f64 = exp.iter().sum();
            out.extend(exp.iter().map(|e| (e / total) as f32));
        }
        Ok(out)
    }

    /// Arg-max class of every sample.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<u32>> {
        let (logits, k) = self.logits(data)?;
        Ok(logits
            .chunks_exact(k)
            .map(|row| {
                // First maximum, as PyTorch's and candle's argmax.
                let mut best = 0;
                for (i, &v) in row.iter().enumerate() {
                    if v > row[best] {
                        best = i;
                    }
                }
                best as u32
            })
            .collect())
    }

    /// The value named `name` (a node output, e.g. the penultimate layer for embeddings) for
    /// every sample, flattened per sample: `(values, per-sample length)`.
    pub fn layer_output(&self, data: &Dataset, name: &str) -> Result<(Vec<f32>, usize)> {
        self.check_compatible(data)?;
        let plan = self.plan(data.modality())?;
        let mut out = Vec::new();
        let mut width = 0;
        for start in (0..data.len()).step_by(CHUNK) {
            let end = (start + CHUNK).min(data.len());
            let x = self.model_input(&plan, &Self::rows(data, start..end)?)?;
            let (values, w) = flatten_rows(&self.graph.run(&x, &[name])?[0])?;
            out.extend(values);
            width = w;
        }
        Ok((out, width))
    }

    /// Gradient of each sample's cross-entropy against `targets[i]` with respect to its own
    /// dataset values (before scaling/normalisation): `n * sample_len` values. Computed by
    /// candle's reverse-mode autodiff through the graph (one backward pass per chunk).
    pub fn input_gradients(&self, data: &Dataset, targets: &[u32]) -> Result<Vec<f32>> {
        let k = data.num_classes();
        let (grads, _) = self.gradients_of(data, targets, &|logits, targets| {
            let onehot: Vec<f32> = targets
                .iter()
                .flat_map(|&t| (0..k).map(move |j| if j == t as usize { 1.0 } else { 0.0 }))
                .collect();
            let onehot = Tensor::from_vec(onehot, (targets.len(), k), &Device::Cpu)?;
            Ok((summed_cross_entropy(logits, &onehot)?, vec![]))
        })?;
        Ok(grads)
    }

    /// Gradient of each sample's logit margin `z_c - max_{j != c} z_j` for `classes[i]`
    /// with respect to its dataset values, and the margins (for MM-BD).
    pub fn margin_gradients(
        &self,
        data: &Dataset,
        classes: &[u32],
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let k = data.num_classes();
        self.gradients_of(data, classes, &|logits, classes| {
            let logits = logits.reshape((classes.len(), ()))?;
            let values = logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;
            // +1 at the class, -1 at the runner-up (the first on ties).
            let mut margins = Vec::with_capacity(classes.len());
            let mut weights = vec![0f32; classes.len() * k];
            for (r, (row, &c)) in values.iter().zip(classes).enumerate() {
                let c = c as usize;
                let other = (0..k)
                    .filter(|&j| j != c)
                    .fold(None, |best: Option<usize>, j| match best {
                        Some(b) if row[b] >= row[j] => Some(b),
                        _ => Some(j),
                    })
                    .unwrap_or(c);
                margins.push(row[c] - row[other]);
                weights[r * k + c] = 1.0;
                weights[r * k + other] = -1.0;
            }
            let weights = Tensor::from_vec(weights, (classes.len(), k), &Device::Cpu)?;
            Ok(((logits * weights)?.sum_all()?, margins))
        })
    }

    /// The input gradient of `objective(logits, targets)` (a scalar, and one value per row
    /// that is returned alongside), part by part on every core ([`crate::row_parts`]),
    /// checking the data and targets first.
    fn gradients_of(
        &self,
        data: &Dataset,
        targets: &[u32],
        objective: &Objective<'_>,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        self.check_compatible(data)?;
        if targets.len() != data.len() {
            return Err(OnnxError::InvalidInput(format!(
                "{} targets for {} samples",
                targets.len(),
                data.len()
            )));
        }
        let k = data.num_classes();
        if let Some((row, t)) = targets.iter().enumerate().find(|(_, &t)| t as usize >= k) {
            return Err(OnnxError::InvalidInput(format!(
                "target {t} at row {row} is out of range for {k} classes"
            )));
        }
        let plan = self.plan(data.modality())?;
        let parts = crate::row_parts::on_parts(data.len(), &|range| {
            let x = Var::from_tensor(&Self::rows(data, range.clone())?).map_err(backend)?;
            let input = self.model_input(&plan, x.as_tensor())?;
            let logits = self
                .graph
                .run(&input, &[self.graph.output.name.as_str()])?
                .remove(0);
            let (scalar, side) = objective(&logits, &targets[range]).map_err(backend)?;
            let grads = scalar.backward().map_err(backend)?;
            let grad = match grads.get(&x) {
                Some(g) => g
                    .flatten_all()
                    .and_then(|g| g.to_vec1::<f32>())
                    .map_err(backend)?,
                None => vec![0.0; x.elem_count()],
            };
            Ok((grad, side))
        })?;
        let (grads, side): (Vec<Vec<f32>>, Vec<Vec<f32>>) = parts.into_iter().unzip();
        Ok((grads.concat(), side.concat()))
    }
}

/// A scalar objective of a part's logits and targets, with one value per row returned
/// alongside (the margins of MM-BD); shared by the threads of [`crate::row_parts`].
type Objective<'a> = dyn Fn(&Tensor, &[u32]) -> candle_core::Result<(Tensor, Vec<f32>)> + Sync + 'a;

/// `sum_i -log softmax(logits_i)[target_i]`, summed (not averaged) so each sample's input
/// gradient is its own loss's gradient.
fn summed_cross_entropy(logits: &Tensor, onehot: &Tensor) -> candle_core::Result<Tensor> {
    let logits = logits.reshape((onehot.dim(0)?, ()))?;
    let max = logits.max_keepdim(1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let log_z = shifted.exp()?.sum_keepdim(1)?.log()?;
    let log_p = shifted.broadcast_sub(&log_z)?;
    (log_p * onehot)?.sum_all()?.neg()
}

fn flatten_rows(t: &Tensor) -> Result<(Vec<f32>, usize)> {
    let n = t.dim(0).map_err(backend)?;
    let width = t.elem_count().checked_div(n).unwrap_or(0);
    let v = t
        .to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(backend)?;
    Ok((v, width))
}

fn backend(e: candle_core::Error) -> OnnxError {
    OnnxError::Eval {
        node: "(input)".into(),
        op: "preprocessing".into(),
        message: e.to_string(),
    }
}
