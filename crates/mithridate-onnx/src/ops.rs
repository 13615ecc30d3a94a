//! The ONNX operators a feed-forward image or tabular classifier exported from PyTorch uses,
//! evaluated on candle tensors (floats, differentiable) or plain integer vectors (shapes).
//!
//! Semantics follow the ONNX operator specification (<https://onnx.ai/onnx/operators/>) for
//! opsets 9-23; where an attribute became an input (`Slice` at 10, `Unsqueeze`/`Squeeze` at 13,
//! `Clip` at 11, `ReduceMean` at 18) both forms are read. Attribute values outside what is
//! implemented (1-D or 3-D convolution, non-square strides, max-pool indices output, dilated
//! pooling) are an `Unsupported` error naming the node, never a silent approximation.

use candle_core::{DType, Device, Tensor};

use crate::proto::{Attribute, Node};
use crate::value::{dtype, Value};

/// Operators (default domain) that [`eval`] implements.
pub const SUPPORTED: &[&str] = &[
    "Abs",
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Div",
    "Dropout",
    "Exp",
    "Flatten",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Identity",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "MatMul",
    "MaxPool",
    "Mod",
    "Mul",
    "Neg",
    "Reciprocal",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

/// Why an operator failed; the caller adds the node's name and type.
#[derive(Debug)]
pub struct OpError {
    pub unsupported: bool,
    pub message: String,
}

impl From<candle_core::Error> for OpError {
    fn from(e: candle_core::Error) -> Self {
        OpError {
            unsupported: false,
            message: e.to_string(),
        }
    }
}

pub(crate) fn bad(message: impl Into<String>) -> OpError {
    OpError {
        unsupported: false,
        message: message.into(),
    }
}

pub(crate) fn unsupported(message: impl Into<String>) -> OpError {
    OpError {
        unsupported: true,
        message: message.into(),
    }
}

pub(crate) type OpResult<T> = Result<T, OpError>;

pub(crate) fn attr<'a>(node: &'a Node, name: &str) -> Option<&'a Attribute> {
    node.attributes.iter().find(|a| a.name == name)
}

pub(crate) fn attr_i(node: &Node, name: &str, default: i64) -> i64 {
    attr(node, name).and_then(|a| a.i).unwrap_or(default)
}

pub(crate) fn attr_f(node: &Node, name: &str, default: f32) -> f32 {
    attr(node, name).and_then(|a| a.f).unwrap_or(default)
}

pub(crate) fn attr_ints(node: &Node, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|a| a.ints.clone())
}

fn attr_s(node: &Node, name: &str) -> String {
    attr(node, name)
        .and_then(|a| a.s.as_ref())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .unwrap_or_default()
}

/// Input `i`, which must be present.
pub(crate) fn input<'a>(inputs: &[Option<&'a Value>], i: usize) -> OpResult<&'a Value> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| bad(format!("input {i} is missing")))
}

pub(crate) fn float(inputs: &[Option<&Value>], i: usize) -> OpResult<Tensor> {
    Ok(input(inputs, i)?.to_float()?)
}

pub(crate) fn ints(inputs: &[Option<&Value>], i: usize) -> OpResult<Vec<i64>> {
    Ok(input(inputs, i)?.to_ints()?.0)
}

/// Resolves a possibly negative axis against `rank`.
pub(crate) fn axis(a: i64, rank: usize) -> OpResult<usize> {
    let r = rank as i64;
    let resolved = if a < 0 { a + r } else { a };
    if !(0..r.max(1)).contains(&resolved) {
        return Err(bad(format!("axis {a} is out of range for rank {rank}")));
    }
    Ok(resolved as usize)
}

/// Evaluates one node. `opset` is the model's default-domain opset version.
pub fn eval(node: &Node, opset: i64, inputs: &[Option<&Value>]) -> OpResult<Vec<Value>> {
    let f = |t: Tensor| Ok(vec![Value::Float(t)]);
    match node.op_type.as_str() {
        "Identity" | "Dropout" => Ok(vec![input(inputs, 0)?.clone()]),
        // x * [x > 0]: candle's relu backward passes the gradient at exactly 0 (`ge`), PyTorch's
        // does not; the mask is a constant, so the gradient is PyTorch's.
        "Relu" => {
            let x = float(inputs, 0)?;
            f((&x * x.gt(0.0)?.to_dtype(DType::F32)?)?)
        }
        "Sigmoid" => f((float(inputs, 0)?.neg()?.exp()? + 1.0)?.recip()?),
        "Tanh" => f(float(inputs, 0)?.tanh()?),
        "Exp" => f(float(inputs, 0)?.exp()?),
        "Log" => f(float(inputs, 0)?.log()?),
        "Sqrt" => f(float(inputs, 0)?.sqrt()?),
        "Neg" => f(float(inputs, 0)?.neg()?),
        "Abs" => f(float(inputs, 0)?.abs()?),
        "Reciprocal" => f(float(inputs, 0)?.recip()?),
        "LeakyRelu" => {
            let x = float(inputs, 0)?;
            let alpha = attr_f(node, "alpha", 0.01) as f64;
            f((x.relu()? - (x.neg()?.relu()? * alpha)?)?)
        }
        "Clip" => {
            let x = float(inputs, 0)?;
            let bound = |i: usize, name: &str, default: f32| -> OpResult<f32> {
                if opset >= 11 {
                    match inputs.get(i).copied().flatten() {
                        Some(v) => Ok(v.to_float()?.flatten_all()?.to_vec1::<f32>()?[0]),
                        None => Ok(default),
                    }
                } else {
                    Ok(attr_f(node, name, default))
                }
            };
            let (lo, hi) = (bound(1, "min", f32::MIN)?, bound(2, "max", f32::MAX)?);
            f(x.maximum(lo as f64)?.minimum(hi as f64)?)
        }
        "Softmax" | "LogSoftmax" => {
            let x = float(inputs, 0)?;
            let default = if opset >= 13 { -1 } else { 1 };
            let ax = axis(attr_i(node, "axis", default), x.rank())?;
            if opset < 13 && ax + 1 != x.rank() {
                return Err(unsupported("Softmax before opset 13 over a non-last axis"));
            }
            let shifted = x.broadcast_sub(&x.max_keepdim(ax)?)?;
            let log_sum = shifted.exp()?.sum_keepdim(ax)?.log()?;
            let log_p = shifted.broadcast_sub(&log_sum)?;
            f(if node.op_type == "Softmax" {
                log_p.exp()?
            } else {
                log_p
            })
        }
        "Add" | "Sub" | "Mul" | "Div" => binary(node, inputs),
        "Mod" => {
            let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
            let fmod = attr_i(node, "fmod", 0) == 1;
            int_broadcast(a, b, |x, y| {
                if y == 0 {
                    Err(bad("Mod by zero"))
                } else if fmod {
                    Ok(x % y)
                } else {
                    Ok(((x % y) + y) % y)
                }
            })
        }
        "MatMul" => {
            let (a, b) = (float(inputs, 0)?, float(inputs, 1)?);
            if a.rank() < 2 || b.rank() < 2 {
                return Err(unsupported("MatMul of a 1-D operand"));
            }
            f(a.broadcast_matmul(&b)?)
        }
        "Gemm" => {
            let (mut a, mut b) = (float(inputs, 0)?, float(inputs, 1)?);
            if attr_i(node, "transA", 0) == 1 {
                a = a.t()?;
            }
            if attr_i(node, "transB", 0) == 1 {
                b = b.t()?;
            }
            let mut y = (a.matmul(&b)? * attr_f(node, "alpha", 1.0) as f64)?;
            if inputs.get(2).copied().flatten().is_some() {
                let c = (float(inputs, 2)? * attr_f(node, "beta", 1.0) as f64)?;
                y = y.broadcast_add(&c)?;
            }
            f(y)
        }
        "Conv" => f(conv(node, inputs)?),
        "MaxPool" | "AveragePool" => f(pool(node, inputs)?),
        "GlobalAveragePool" | "GlobalMaxPool" => {
            let x = float(inputs, 0)?;
            let dims: Vec<usize> = (2..x.rank()).collect();
            f(if node.op_type == "GlobalAveragePool" {
                x.mean_keepdim(dims)?
            } else {
                let mut y = x;
                for d in dims {
                    y = y.max_keepdim(d)?;
                }
                y
            })
        }
        "ReduceMean" => {
            let x = float(inputs, 0)?;
            let axes = if opset >= 18 {
                inputs
                    .get(1)
                    .copied()
                    .flatten()
                    .map(|v| v.to_ints())
                    .transpose()?
                    .map(|(a, _)| a)
            } else {
                attr_ints(node, "axes")
            };
            let mut dims: Vec<usize> = match axes {
                Some(a) if !a.is_empty() => a
                    .iter()
                    .map(|&d| axis(d, x.rank()))
                    .collect::<OpResult<_>>()?,
                _ => (0..x.rank()).collect(),
            };
            dims.sort_unstable();
            f(if attr_i(node, "keepdims", 1) == 1 {
                x.mean_keepdim(dims)?
            } else {
                x.mean(dims)?
            })
        }
        "BatchNormalization" => {
            let x = float(inputs, 0)?;
            let mut shape = vec![1; x.rank()];
            shape[1] = x.dim(1)?;
            let p = |i| -> OpResult<Tensor> { Ok(float(inputs, i)?.reshape(shape.as_slice())?) };
            let eps = attr_f(node, "epsilon", 1e-5) as f64;
            let inv_std = (p(4)? + eps)?.sqrt()?.recip()?;
            let y = x.broadcast_sub(&p(3)?)?.broadcast_mul(&inv_std)?;
            f(y.broadcast_mul(&p(1)?)?.broadcast_add(&p(2)?)?)
        }
        _ => crate::shape_ops::eval(node, opset, inputs),
    }
}

/// Elementwise `Add`/`Sub`/`Mul`/`Div` with numpy broadcasting; integer when both are.
fn binary(node: &Node, inputs: &[Option<&Value>]) -> OpResult<Vec<Value>> {
    let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
    let op = node.op_type.as_str();
    if let (Value::Int { .. }, Value::Int { .. }) = (a, b) {
        return int_broadcast(a, b, |x, y| match op {
            "Add" => Ok(x.wrapping_add(y)),
            "Sub" => Ok(x.wrapping_sub(y)),
            "Mul" => Ok(x.wrapping_mul(y)),
            _ if y == 0 => Err(bad("integer Div by zero")),
            _ => Ok(x / y),
        });
    }
    let (x, y) = (a.to_float()?, b.to_float()?);
    let out = match op {
        "Add" => x.broadcast_add(&y)?,
        "Sub" => x.broadcast_sub(&y)?,
        "Mul" => x.broadcast_mul(&y)?,
        _ => x.broadcast_div(&y)?,
    };
    Ok(vec![Value::Float(out)])
}

/// Numpy-broadcast elementwise operation on two integer values.
pub(crate) fn int_broadcast(
    a: &Value,
    b: &Value,
    op: impl Fn(i64, i64) -> OpResult<i64>,
) -> OpResult<Vec<Value>> {
    let ((xa, sa), (xb, sb)) = (a.to_ints()?, b.to_ints()?);
    let rank = sa.len().max(sb.len());
    let pad = |s: &[usize]| -> Vec<usize> {
        let mut p = vec![1; rank - s.len()];
        p.extend_from_slice(s);
        p
    };
    let (pa, pb) = (pad(&sa), pad(&sb));
    let mut shape = Vec::with_capacity(rank);
    for (&da, &db) in pa.iter().zip(&pb) {
        if da != db && da != 1 && db != 1 {
            return Err(bad(format!("cannot broadcast shapes {sa:?} and {sb:?}")));
        }
        shape.push(if da == 1 { db } else { da });
    }
    let total: usize = shape.iter().product();
    let mut data = Vec::with_capacity(total);
    for flat in 0..total {
        let (mut rem, mut ia, mut ib, mut stride_a, mut stride_b) = (flat, 0, 0, 1, 1);
        for d in (0..rank).rev() {
            let coord = rem % shape[d];
            rem /= shape[d];
            ia += if pa[d] == 1 { 0 } else { coord * stride_a };
            ib += if pb[d] == 1 { 0 } else { coord * stride_b };
            stride_a *= pa[d];
            stride_b *= pb[d];
        }
        data.push(op(xa[ia], xb[ib])?);
    }
    Ok(vec![Value::Int { data, shape }])
}

/// Per spatial dimension: `(pad_begin, pad_end)` from `pads` or `auto_pad`.
fn spatial_pads(
    node: &Node,
    input: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
) -> OpResult<[(usize, usize); 2]> {
    let auto = attr_s(node, "auto_pad");
    let mut out = [(0, 0); 2];
    match auto.as_str() {
        "" | "NOTSET" => {
            let pads = attr_ints(node, "pads").unwrap_or_else(|| vec![0; 4]);
            if pads.len() != 4 || pads.iter().any(|&p| p < 0) {
                return Err(unsupported(format!(
                    "pads {pads:?} (2-D, non-negative only)"
                )));
            }
            for d in 0..2 {
                out[d] = (pads[d] as usize, pads[d + 2] as usize);
            }
        }
        "VALID" => {}
        "SAME_UPPER" | "SAME_LOWER" => {
            for d in 0..2 {
                let out_len = input[d].div_ceil(stride[d]);
                let needed = ((out_len - 1) * stride[d] + (kernel[d] - 1) * dilation[d] + 1)
                    .saturating_sub(input[d]);
                let small = needed / 2;
                out[d] = if auto == "SAME_UPPER" {
                    (small, needed - small)
                } else {
                    (needed - small, small)
                };
            }
        }
        other => return Err(unsupported(format!("auto_pad '{other}'"))),
    }
    Ok(out)
}

/// A 2-D attribute pair (`strides`, `dilations`, `kernel_shape`) with a default.
fn pair(node: &Node, name: &str, default: usize) -> OpResult<[usize; 2]> {
    match attr_ints(node, name) {
        None => Ok([default; 2]),
        Some(v) if v.len() == 2 && v.iter().all(|&x| x > 0) => Ok([v[0] as usize, v[1] as usize]),
        Some(v) => Err(unsupported(format!("{name} {v:?} (2-D, positive only)"))),
    }
}

/// Pads dimension `dim` of `x` with `value` (`left` before, `right` after).
fn pad_const(x: &Tensor, dim: usize, left: usize, right: usize, value: f32) -> OpResult<Tensor> {
    if left == 0 && right == 0 {
        return Ok(x.clone());
    }
    if value == 0.0 {
        return Ok(x.pad_with_zeros(dim, left, right)?);
    }
    let mut parts = Vec::new();
    let block = |n: usize| -> OpResult<Tensor> {
        let mut shape = x.dims().to_vec();
        shape[dim] = n;
        Ok(Tensor::full(value, shape.as_slice(), &Device::Cpu)?)
    };
    if left > 0 {
        parts.push(block(left)?);
    }
    parts.push(x.clone());
    if right > 0 {
        parts.push(block(right)?);
    }
    Ok(Tensor::cat(&parts, dim)?)
}

fn conv(node: &Node, inputs: &[Option<&Value>]) -> OpResult<Tensor> {
    let (x, w) = (float(inputs, 0)?, float(inputs, 1)?);
    if x.rank() != 4 || w.rank() != 4 {
        return Err(unsupported(format!(
            "Conv of rank {} (2-D images only)",
            x.rank()
        )));
    }
    let (stride, dilation) = (pair(node, "strides", 1)?, pair(node, "dilations", 1)?);
    if stride[0] != stride[1] || dilation[0] != dilation[1] {
        return Err(unsupported(format!(
            "Conv with unequal strides {stride:?} or dilations {dilation:?}"
        )));
    }
    let kernel = [w.dim(2)?, w.dim(3)?];
    let pads = spatial_pads(node, [x.dim(2)?, x.dim(3)?], kernel, stride, dilation)?;
    let x = pad_const(&x, 2, pads[0].0, pads[0].1, 0.0)?;
    let x = pad_const(&x, 3, pads[1].0, pads[1].1, 0.0)?;
    let group = attr_i(node, "group", 1).max(1) as usize;
    let mut y = x
        .contiguous()?
        .conv2d(&w.contiguous()?, 0, stride[0], dilation[0], group)?;
    if inputs.get(2).copied().flatten().is_some() {
        let b = float(inputs, 2)?;
        y = y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?)?;
    }
    Ok(y)
}

fn pool(node: &Node, inputs: &[Option<&Value>]) -> OpResult<Tensor> {
    let x = float(inputs, 0)?;
    if x.rank() != 4 {
        return Err(unsupported(format!(
            "{} of rank {} (2-D images only)",
            node.op_type,
            x.rank()
        )));
    }
    if node.outputs.len() > 1 && !node.outputs[1].is_empty() {
        return Err(unsupported("MaxPool's indices output"));
    }
    let (kernel, stride) = (pair(node, "kernel_shape", 1)?, pair(node, "strides", 1)?);
    if pair(node, "dilations", 1)? != [1, 1] {
        return Err(unsupported("dilated pooling"));
    }
    let size = [x.dim(2)?, x.dim(3)?];
    let mut pads = spatial_pads(node, size, kernel, stride, [1, 1])?;
    if attr_i(node, "ceil_mode", 0) == 1 {
        // Extra end padding so that the last, partial window exists (output = ceil(...) + 1).
        for d in 0..2 {
            let span = size[d] + pads[d].0 + pads[d].1;
            if span >= kernel[d] {
                let extra = (stride[d] - (span - kernel[d]) % stride[d]) % stride[d];
                pads[d].1 += extra;
            }
        }
    }
    let is_max = node.op_type == "MaxPool";
    let fill = if is_max { f32::MIN } else { 0.0 };
    let pad = |t: &Tensor| -> OpResult<Tensor> {
        let t = pad_const(t, 2, pads[0].0, pads[0].1, fill)?;
        pad_const(&t, 3, pads[1].0, pads[1].1, fill)
    };
    let x = pad(&x)?;
    let windows = window_slices(&x, kernel, stride)?;
    let mut acc = windows[0].clone();
    for w in &windows[1..] {
        acc = if is_max {
            first_max(&acc, w)?
        } else {
            (acc + w)?
        };
    }
    if is_max {
        return Ok(acc);
    }
    let mean = (acc / (kernel[0] * kernel[1]) as f64)?;
    let padded = pads.iter().any(|&(a, b)| a + b > 0);
    if !padded || attr_i(node, "count_include_pad", 0) == 1 {
        return Ok(mean);
    }
    // Average over the real (unpadded) cells only: divide by the share of real cells per window.
    let ones = pad(&Tensor::ones(
        (1, 1, size[0], size[1]),
        DType::F32,
        &Device::Cpu,
    )?)?;
    let cover = window_slices(&ones, kernel, stride)?;
    let mut count = cover[0].clone();
    for c in &cover[1..] {
        count = (count + c)?;
    }
    Ok(mean.broadcast_div(&(count / (kernel[0] * kernel[1]) as f64)?)?)
}

/// `max(acc, next)` whose gradient goes to `acc` on ties: folded over a window in row-major
/// order, the first maximum receives the whole gradient, as in PyTorch (candle's `maximum`
/// splits it between tied members, which differs on saturated image regions).
fn first_max(acc: &Tensor, next: &Tensor) -> OpResult<Tensor> {
    let take = next.gt(acc)?.to_dtype(DType::F32)?;
    let keep = (1.0 - &take)?;
    Ok(((acc * keep)? + (next * take)?)?)
}

/// The `kh * kw` strided views of a pooling window grid: view `(i, j)` holds, for every output
/// cell `(a, b)`, the input at `(i + a * sh, j + b * sw)`. Pooling folds them with `maximum`
/// or `+`. Why not candle's `max_pool2d`: its backward (0.11.1) multiplies the gradient by the
/// share of maxima in the window instead of dividing by the tie count (gradients came out 1/4
/// of PyTorch's per 2x2 pool, measured on the fixtures) and refuses kernel != stride;
/// `index_select` and `maximum` have exact backward passes.
fn window_slices(x: &Tensor, kernel: [usize; 2], stride: [usize; 2]) -> OpResult<Vec<Tensor>> {
    let (h, w) = (x.dim(2)?, x.dim(3)?);
    if h < kernel[0] || w < kernel[1] {
        return Err(bad(format!(
            "pooling kernel {kernel:?} is larger than the input {h}x{w}"
        )));
    }
    let out = [
        (h - kernel[0]) / stride[0] + 1,
        (w - kernel[1]) / stride[1] + 1,
    ];
    let index = |offset: usize, d: usize| -> OpResult<Tensor> {
        let ids: Vec<u32> = (0..out[d])
            .map(|a| (offset + a * stride[d]) as u32)
            .collect();
        Ok(Tensor::from_vec(ids, out[d], &Device::Cpu)?)
    };
    let mut views = Vec::with_capacity(kernel[0] * kernel[1]);
    for i in 0..kernel[0] {
        let rows = x.index_select(&index(i, 0)?, 2)?;
        for j in 0..kernel[1] {
            views.push(rows.index_select(&index(j, 1)?, 3)?);
        }
    }
    Ok(views)
}

/// ONNX type codes `Cast` maps to integer values.
pub(crate) fn is_int_type(code: i64) -> bool {
    matches!(
        code as i32,
        dtype::INT64 | dtype::INT32 | dtype::INT8 | dtype::UINT8 | dtype::BOOL
    ) || matches!(code, 4 | 5 | 12 | 13) // uint16, int16, uint32, uint64
}

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;
