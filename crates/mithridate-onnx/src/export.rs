//! ONNX export of Mithridate's own classifiers ([`mithridate_engine::Classifier`]), so a model
//! scanned or repaired here goes back to the user's ONNX runtime.
//!
//! The file is an ONNX `ModelProto` of IR version [`EXPORT_IR_VERSION`] (ONNX 1.13+) importing
//! the default-domain opset [`EXPORT_OPSET`], with one float input `input` and one float output
//! `logits` (`[batch, classes]`, the batch a symbolic `dim_param`). Parameters are initializers
//! (float32, little-endian `raw_data`). The graphs (`W` weights, `b` biases):
//!
//! - `logreg`, `mlp`: `[Flatten] -> Gemm(W1, b1, transB=1) [-> Relu -> Gemm ...]`; `Flatten`
//!   only for image data, whose input is `[batch, C, H, W]` (tabular: `[batch, F]`).
//! - `cnn`: `Conv(k x k, pads k/2) -> MaxPool(2, stride 2) -> Relu`, twice, then
//!   `Flatten -> Gemm -> Relu -> Gemm`, input `[batch, C, H, W]`.
//!
//! Everything is the engine's own forward pass, restated in standard operators:
//! - the engine's linear layers are PyTorch's `x W^T + b` with `(out, in)` weights: `Gemm` with
//!   `transB = 1` takes the weight as stored;
//! - its convolution kernels are stored in PyTorch's `(out, in, k, k)` layout and applied as a
//!   cross-correlation with zero padding `k / 2`, which is ONNX `Conv`'s definition;
//! - it pools 2x2 with stride 2 in floor mode (an odd last row or column is dropped), ONNX
//!   `MaxPool`'s default `ceil_mode = 0`, and applies ReLU after the pooling (max-pooling
//!   commutes with ReLU, so either order gives the same values);
//! - it convolves images in height-width-channel (HWC) rows, so `fc1` reads the pooled map in
//!   HWC order, while ONNX `Flatten` of an NCHW map is CHW order. Rather than a `Transpose`
//!   in the graph, the columns of `fc1`'s weight are permuted at export:
//!   `W'[o, c*h*w + y*w + x] = W[o, (y*w + x)*C + c]`, so the graph is what
//!   `torch.onnx.export` writes for the equivalent `nn.Sequential`.
//!
//! Inputs are the dataset's own `[0, 1]` values in its `C, H, W` order, so the file loads
//! with [`crate::InputOptions::default`] (no scaling, layout read from the input's shape).
//! The text model is refused: its input is token ids (`int64`), which neither
//! [`crate::OnnxClassifier`] nor the rest of Mithridate's ONNX path takes.
//!
//! The same model gives the same bytes (fields in a fixed order, no maps, no timestamps).
//!
//! ```
//! use mithridate_data::Modality;
//! use mithridate_engine::{Architecture, Classifier};
//! use mithridate_onnx::{export_classifier, InputOptions, OnnxClassifier};
//!
//! let modality = Modality::Tabular { features: 3 };
//! let model = Classifier::new(Architecture::Mlp, &modality, 4, 7)?;
//! let exported = export_classifier(&model)?;
//! assert_eq!(exported.input_shape_text(), "[batch, 3]");
//! let twin = OnnxClassifier::from_bytes(&exported.bytes, InputOptions::default())?;
//! assert_eq!(twin.opset(), 17);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use mithridate_data::Modality;
use mithridate_engine::{Architecture, Classifier};

use crate::error::{OnnxError, Result};
use crate::proto_write::{float_tensor, float_value_info, node, Attr, Dim, Msg};

/// ONNX IR version of exported files (IR 8: ONNX 1.10-1.13, read by every current runtime).
pub const EXPORT_IR_VERSION: i64 = 8;
/// Default-domain (`ai.onnx`) opset of exported files: inside [`crate::OPSETS`], and the
/// version whose `Conv`, `MaxPool`, `Gemm`, `Flatten` and `Relu` have the semantics above.
pub const EXPORT_OPSET: i64 = 17;
/// Name of the graph input (`[batch, ...]` float features).
pub const EXPORT_INPUT: &str = "input";
/// Name of the graph output (`[batch, classes]` logits).
pub const EXPORT_OUTPUT: &str = "logits";
/// Name of the penultimate activations (what [`Classifier::embeddings`] returns) in `mlp` and
/// `cnn` graphs, for [`crate::OnnxClassifier::layer_output`].
pub const EXPORT_HIDDEN: &str = "hidden";

/// An exported model: the file's bytes and what it takes and gives.
#[derive(Debug, Clone)]
pub struct OnnxExport {
    /// The `.onnx` file.
    pub bytes: Vec<u8>,
    /// Shape of the `input` tensor; the first dimension is the symbolic batch.
    pub input_shape: Vec<Dim>,
    /// Number of logits per sample.
    pub classes: usize,
    /// Operator of every node, in graph order.
    pub operators: Vec<&'static str>,
}

impl OnnxExport {
    /// The input shape as text, e.g. `[batch, 1, 28, 28]`.
    pub fn input_shape_text(&self) -> String {
        let dims: Vec<String> = self
            .input_shape
            .iter()
            .map(|d| match d {
                Dim::Fixed(v) => v.to_string(),
                Dim::Symbolic(p) => (*p).to_string(),
            })
            .collect();
        format!("[{}]", dims.join(", "))
    }
}

/// The graph being built: nodes and initializers in insertion order.
struct Builder {
    nodes: Vec<Msg>,
    operators: Vec<&'static str>,
    initializers: Vec<Msg>,
}

impl Builder {
    fn node(&mut self, op: &'static str, inputs: &[&str], output: &str, attrs: &[(&str, Attr)]) {
        self.nodes.push(node(op, output, inputs, output, attrs));
        self.operators.push(op);
    }

    fn init(&mut self, name: &str, dims: &[usize], values: &[f32]) {
        self.initializers.push(float_tensor(name, dims, values));
    }

    /// `Gemm(x, name.weight, name.bias, transB = 1)` into `output`.
    fn linear(&mut self, params: &Params, name: &str, x: &str, output: &str) -> Result<()> {
        for part in ["weight", "bias"] {
            let key = format!("{name}.{part}");
            let (shape, values) = params.get(&key)?;
            self.init(&key, shape, values);
        }
        self.node(
            "Gemm",
            &[x, &format!("{name}.weight"), &format!("{name}.bias")],
            output,
            &[("transB", Attr::Int(1))],
        );
        Ok(())
    }
}

/// The model's parameter tensors by name, cut from its flat vector.
struct Params(Vec<(String, Vec<usize>, Vec<f32>)>);

impl Params {
    fn of(model: &Classifier) -> Result<Params> {
        let flat = model
            .flat_parameters()
            .map_err(|e| OnnxError::InvalidInput(format!("reading the model's parameters: {e}")))?;
        let mut offset = 0;
        let mut out = Vec::new();
        for (name, shape) in model.parameter_shapes() {
            let n: usize = shape.iter().product();
            let values = flat.get(offset..offset + n).ok_or_else(|| {
                OnnxError::InvalidInput(format!("the model has too few values for '{name}'"))
            })?;
            out.push((name, shape, values.to_vec()));
            offset += n;
        }
        Ok(Params(out))
    }

    fn get(&self, name: &str) -> Result<(&[usize], &[f32])> {
        self.0
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, s, v)| (s.as_slice(), v.as_slice()))
            .ok_or_else(|| {
                OnnxError::InvalidInput(format!("the model has no parameter tensor '{name}'"))
            })
    }

    /// Number of `fc<i>` layers.
    fn linear_layers(&self) -> usize {
        (1..)
            .take_while(|i| self.0.iter().any(|(n, _, _)| *n == format!("fc{i}.weight")))
            .count()
    }
}

/// Writes `model` as an ONNX classifier (see the module documentation for the graph).
/// Errors on the text model (token-id inputs) and on parameter tensors that do not have the
/// shapes of the model's architecture.
pub fn export_classifier(model: &Classifier) -> Result<OnnxExport> {
    let arch = model.architecture();
    let classes = model.num_classes();
    let input_shape: Vec<Dim> = match *model.modality() {
        Modality::Image {
            channels,
            height,
            width,
        } => vec![
            Dim::Symbolic("batch"),
            Dim::Fixed(channels),
            Dim::Fixed(height),
            Dim::Fixed(width),
        ],
        Modality::Tabular { features } => vec![Dim::Symbolic("batch"), Dim::Fixed(features)],
        Modality::Text { .. } => {
            return Err(OnnxError::Unsupported(format!(
                "cannot export the '{arch}' model: it takes token ids, and Mithridate's ONNX \
                 export covers float image and tabular inputs (logreg, mlp, cnn)"
            )))
        }
    };
    let params = Params::of(model)?;
    let mut b = Builder {
        nodes: Vec::new(),
        operators: Vec::new(),
        initializers: Vec::new(),
    };
    match arch {
        Architecture::LogReg | Architecture::Mlp => {
            let mut x = EXPORT_INPUT.to_string();
            if input_shape.len() > 2 {
                b.node("Flatten", &[&x], "flat", &[("axis", Attr::Int(1))]);
                x = "flat".into();
            }
            let layers = params.linear_layers();
            for l in 1..=layers {
                if l == layers {
                    b.linear(&params, &format!("fc{l}"), &x, EXPORT_OUTPUT)?;
                } else {
                    let pre = format!("fc{l}");
                    b.linear(&params, &pre, &x, &pre)?;
                    x = if l + 1 == layers {
                        EXPORT_HIDDEN.into()
                    } else {
                        format!("relu{l}")
                    };
                    b.node("Relu", &[&pre], &x, &[]);
                }
            }
        }
        Architecture::Cnn => cnn(&mut b, &params, model.modality())?,
        Architecture::Text => unreachable!("text models are refused above"),
    }
    let bytes = model_bytes(model, &b, &input_shape, classes);
    Ok(OnnxExport {
        bytes,
        input_shape,
        classes,
        operators: b.operators,
    })
}

/// The CNN: two `Conv -> MaxPool -> Relu` blocks, `Flatten`, `fc1` (columns permuted from the
/// engine's HWC order to CHW), `Relu`, `fc2`.
fn cnn(b: &mut Builder, params: &Params, modality: &Modality) -> Result<()> {
    let &Modality::Image { height, width, .. } = modality else {
        return Err(OnnxError::InvalidInput(
            "a cnn model needs image data".into(),
        ));
    };
    let mut x = EXPORT_INPUT.to_string();
    let (mut h, mut w, mut channels) = (height, width, 0);
    for (i, name) in ["conv1", "conv2"].into_iter().enumerate() {
        let (shape, weight) = params.get(&format!("{name}.weight"))?;
        let (_, bias) = params.get(&format!("{name}.bias"))?;
        let &[out, _, k, k2] = shape else {
            return Err(OnnxError::InvalidInput(format!(
                "{name}.weight has shape {shape:?}, not (out, in, k, k)"
            )));
        };
        if k != k2 || k % 2 == 0 {
            return Err(OnnxError::InvalidInput(format!(
                "{name}.weight has a {k}x{k2} kernel; the engine's are square and odd"
            )));
        }
        b.init(&format!("{name}.weight"), shape, weight);
        b.init(&format!("{name}.bias"), &[bias.len()], bias);
        let pad = (k / 2) as i64;
        b.node(
            "Conv",
            &[&x, &format!("{name}.weight"), &format!("{name}.bias")],
            name,
            &[
                ("kernel_shape", Attr::Ints(vec![k as i64; 2])),
                ("pads", Attr::Ints(vec![pad; 4])),
                ("strides", Attr::Ints(vec![1, 1])),
            ],
        );
        let pool = format!("pool{}", i + 1);
        b.node(
            "MaxPool",
            &[name],
            &pool,
            &[
                ("kernel_shape", Attr::Ints(vec![2, 2])),
                ("strides", Attr::Ints(vec![2, 2])),
            ],
        );
        x = format!("relu{}", i + 1);
        b.node("Relu", &[&pool], &x, &[]);
        (h, w, channels) = (h / 2, w / 2, out);
    }
    b.node("Flatten", &[&x], "flat", &[("axis", Attr::Int(1))]);
    // fc1: the engine's columns are (y, x, c); Flatten of NCHW gives (c, y, x).
    let (shape, weight) = params.get("fc1.weight")?;
    let (_, bias) = params.get("fc1.bias")?;
    let (hidden, cols) = (shape[0], channels * h * w);
    if shape.len() != 2 || shape[1] != cols {
        return Err(OnnxError::InvalidInput(format!(
            "fc1.weight has shape {shape:?}, not ({hidden}, {cols}) for a {channels}x{h}x{w} map"
        )));
    }
    let mut permuted = vec![0f32; weight.len()];
    for o in 0..hidden {
        let (src, dst) = (
            &weight[o * cols..][..cols],
            &mut permuted[o * cols..][..cols],
        );
        for c in 0..channels {
            for p in 0..h * w {
                dst[c * h * w + p] = src[p * channels + c];
            }
        }
    }
    b.init("fc1.weight", shape, &permuted);
    b.init("fc1.bias", &[bias.len()], bias);
    b.node(
        "Gemm",
        &["flat", "fc1.weight", "fc1.bias"],
        "fc1",
        &[("transB", Attr::Int(1))],
    );
    b.node("Relu", &["fc1"], EXPORT_HIDDEN, &[]);
    b.linear(params, "fc2", EXPORT_HIDDEN, EXPORT_OUTPUT)
}

/// `ModelProto`: ir_version (1), producer_name (2), producer_version (3), doc_string (6),
/// graph (7), opset_import (8); `GraphProto`: node (1), name (2), initializer (5), input (11),
/// output (12).
fn model_bytes(model: &Classifier, b: &Builder, input: &[Dim], classes: usize) -> Vec<u8> {
    let mut graph = Msg::new();
    for n in &b.nodes {
        graph.msg(1, n);
    }
    graph.string(2, &format!("mithridate_{}", model.architecture()));
    for t in &b.initializers {
        graph.msg(5, t);
    }
    graph.msg(11, &float_value_info(EXPORT_INPUT, input));
    graph.msg(
        12,
        &float_value_info(
            EXPORT_OUTPUT,
            &[Dim::Symbolic("batch"), Dim::Fixed(classes)],
        ),
    );
    let mut opset = Msg::new();
    opset.string(1, "").int(2, EXPORT_OPSET);
    let mut m = Msg::new();
    m.int(1, EXPORT_IR_VERSION)
        .string(2, "mithridate")
        .string(3, env!("CARGO_PKG_VERSION"))
        .string(
            6,
            &format!(
                "Mithridate {} classifier, {} classes; input: the dataset's [0, 1] values",
                model.architecture(),
                classes
            ),
        )
        .msg(7, &graph)
        .msg(8, &opset);
    m.into_bytes()
}
