//! Operators that move, select or build values without arithmetic: constants, casts, shapes,
//! reshapes, transposes, gathers, slices and concatenation. PyTorch's TorchScript exporter
//! emits chains of these for `view`, `flatten` and `unflatten` (e.g. `Shape -> Slice -> Concat
//! -> Reshape`), so their integer forms must be exact.

use candle_core::{Device, Tensor};

use crate::ops::{
    attr, attr_i, attr_ints, axis, bad, float, input, ints, is_int_type, unsupported, OpResult,
};
use crate::proto::Node;
use crate::value::Value;

pub fn eval(node: &Node, opset: i64, inputs: &[Option<&Value>]) -> OpResult<Vec<Value>> {
    let one = |v: Value| Ok(vec![v]);
    match node.op_type.as_str() {
        "Constant" => one(constant(node)?),
        "ConstantOfShape" => {
            let shape = to_usizes(&ints(inputs, 0)?)?;
            let fill = match attr(node, "value").and_then(|a| a.t.as_ref()) {
                Some(t) => Value::from_proto(t).map_err(|e| bad(e.to_string()))?,
                None => Value::Float(Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu)?),
            };
            one(match fill {
                Value::Int { data, .. } => Value::Int {
                    data: vec![data[0]; shape.iter().product()],
                    shape,
                },
                Value::Float(t) => {
                    let v = t.flatten_all()?.to_vec1::<f32>()?[0];
                    Value::Float(Tensor::full(v, shape.as_slice(), &Device::Cpu)?)
                }
            })
        }
        "Cast" => {
            let x = input(inputs, 0)?;
            let to = attr_i(node, "to", 1);
            one(match to {
                1 | 11 => Value::Float(x.to_float()?),
                9 => {
                    let (d, shape) = x.to_ints()?;
                    Value::Int {
                        data: d.iter().map(|&v| (v != 0) as i64).collect(),
                        shape,
                    }
                }
                t if is_int_type(t) => {
                    let (data, shape) = x.to_ints()?;
                    Value::Int { data, shape }
                }
                t => return Err(unsupported(format!("Cast to data type {t}"))),
            })
        }
        "Shape" => {
            let dims: Vec<i64> = input(inputs, 0)?
                .shape()
                .iter()
                .map(|&d| d as i64)
                .collect();
            let r = dims.len() as i64;
            let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
            let start = clampi(attr_i(node, "start", 0));
            let end = clampi(attr_i(node, "end", r)).max(start);
            let data = dims[start..end].to_vec();
            one(Value::Int {
                shape: vec![data.len()],
                data,
            })
        }
        "Reshape" => {
            let x = input(inputs, 0)?;
            let target = ints(inputs, 1)?;
            let allow_zero = attr_i(node, "allowzero", 0) == 1;
            one(reshape(
                x,
                &resolve_shape(&x.shape(), &target, allow_zero)?,
            )?)
        }
        "Flatten" => {
            let x = input(inputs, 0)?;
            let dims = x.shape();
            let a = attr_i(node, "axis", 1);
            let a = if a < 0 { a + dims.len() as i64 } else { a };
            if !(0..=dims.len() as i64).contains(&a) {
                return Err(bad(format!(
                    "Flatten axis {a} out of range for rank {}",
                    dims.len()
                )));
            }
            let a = a as usize;
            one(reshape(
                x,
                &[dims[..a].iter().product(), dims[a..].iter().product()],
            )?)
        }
        "Transpose" => {
            let x = float(inputs, 0)?;
            let perm = match attr_ints(node, "perm") {
                Some(p) => p
                    .iter()
                    .map(|&d| axis(d, x.rank()))
                    .collect::<OpResult<Vec<_>>>()?,
                None => (0..x.rank()).rev().collect(),
            };
            one(Value::Float(x.permute(perm)?.contiguous()?))
        }
        "Unsqueeze" | "Squeeze" => {
            let x = input(inputs, 0)?;
            let axes = if opset >= 13 {
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
            let mut shape = x.shape();
            if node.op_type == "Unsqueeze" {
                let axes = axes.ok_or_else(|| bad("Unsqueeze without axes"))?;
                let rank = shape.len() + axes.len();
                let mut resolved: Vec<usize> = axes
                    .iter()
                    .map(|&a| axis(a, rank))
                    .collect::<OpResult<_>>()?;
                resolved.sort_unstable();
                for a in resolved {
                    shape.insert(a, 1);
                }
            } else {
                match axes {
                    Some(a) if !a.is_empty() => {
                        let mut resolved: Vec<usize> = a
                            .iter()
                            .map(|&d| axis(d, shape.len()))
                            .collect::<OpResult<_>>()?;
                        resolved.sort_unstable();
                        for d in resolved.into_iter().rev() {
                            if shape[d] != 1 {
                                return Err(bad(format!(
                                    "Squeeze of axis {d} of size {}",
                                    shape[d]
                                )));
                            }
                            shape.remove(d);
                        }
                    }
                    _ => shape.retain(|&d| d != 1),
                }
            }
            one(reshape(x, &shape)?)
        }
        "Gather" => {
            let data = input(inputs, 0)?;
            let (idx, idx_shape) = input(inputs, 1)?.to_ints()?;
            let dims = data.shape();
            let ax = axis(attr_i(node, "axis", 0), dims.len())?;
            let n = dims[ax] as i64;
            let idx: Vec<usize> = idx
                .iter()
                .map(|&i| {
                    let j = if i < 0 { i + n } else { i };
                    usize::try_from(j)
                        .ok()
                        .filter(|&j| j < dims[ax])
                        .ok_or_else(|| bad(format!("Gather index {i} out of range {n}")))
                })
                .collect::<OpResult<_>>()?;
            let mut out_shape = dims[..ax].to_vec();
            out_shape.extend_from_slice(&idx_shape);
            out_shape.extend_from_slice(&dims[ax + 1..]);
            one(match data {
                Value::Int { data, .. } => {
                    let (outer, inner): (usize, usize) =
                        (dims[..ax].iter().product(), dims[ax + 1..].iter().product());
                    let mut out = Vec::with_capacity(outer * idx.len() * inner);
                    for o in 0..outer {
                        for &i in &idx {
                            let base = (o * dims[ax] + i) * inner;
                            out.extend_from_slice(&data[base..base + inner]);
                        }
                    }
                    Value::Int {
                        data: out,
                        shape: out_shape,
                    }
                }
                Value::Float(t) => {
                    let ids = Tensor::from_vec(
                        idx.iter().map(|&i| i as u32).collect::<Vec<_>>(),
                        idx.len(),
                        &Device::Cpu,
                    )?;
                    Value::Float(t.index_select(&ids, ax)?.reshape(out_shape.as_slice())?)
                }
            })
        }
        "Slice" => slice(node, opset, inputs),
        "Concat" => {
            let values: Vec<&Value> = inputs.iter().flatten().copied().collect();
            if values.is_empty() {
                return Err(bad("Concat of nothing"));
            }
            let rank = values[0].shape().len();
            let ax = axis(attr_i(node, "axis", 0), rank)?;
            if values.iter().all(|v| matches!(v, Value::Int { .. })) && rank == 1 {
                let mut data = Vec::new();
                for v in &values {
                    data.extend(v.to_ints()?.0);
                }
                return one(Value::Int {
                    shape: vec![data.len()],
                    data,
                });
            }
            let tensors = values
                .iter()
                .map(|v| v.to_float())
                .collect::<candle_core::Result<Vec<_>>>()?;
            one(Value::Float(Tensor::cat(&tensors, ax)?))
        }
        other => Err(unsupported(format!("operator '{other}'"))),
    }
}

fn to_usizes(v: &[i64]) -> OpResult<Vec<usize>> {
    v.iter()
        .map(|&d| usize::try_from(d).map_err(|_| bad(format!("negative dimension {d}"))))
        .collect()
}

fn constant(node: &Node) -> OpResult<Value> {
    let a = node
        .attributes
        .first()
        .ok_or_else(|| bad("Constant without a value"))?;
    let float_vec = |v: Vec<f32>, shape: Vec<usize>| -> OpResult<Value> {
        Ok(Value::Float(Tensor::from_vec(
            v,
            shape.as_slice(),
            &Device::Cpu,
        )?))
    };
    match a.name.as_str() {
        "value" => Value::from_proto(
            a.t.as_ref()
                .ok_or_else(|| bad("Constant value is not a tensor"))?,
        )
        .map_err(|e| bad(e.to_string())),
        "value_float" => float_vec(vec![a.f.unwrap_or(0.0)], vec![]),
        "value_floats" => float_vec(a.floats.clone(), vec![a.floats.len()]),
        "value_int" => Ok(Value::scalar_int(a.i.unwrap_or(0))),
        "value_ints" => Ok(Value::Int {
            data: a.ints.clone(),
            shape: vec![a.ints.len()],
        }),
        other => Err(unsupported(format!("Constant attribute '{other}'"))),
    }
}

/// ONNX `Reshape` target: `0` copies the input's dimension (unless `allowzero`), one `-1` is
/// inferred from the element count.
fn resolve_shape(input: &[usize], target: &[i64], allow_zero: bool) -> OpResult<Vec<usize>> {
    let total: usize = input.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allow_zero => out.push(
                *input
                    .get(i)
                    .ok_or_else(|| bad(format!("Reshape copies missing dimension {i}")))?,
            ),
            d if d >= 0 => out.push(d as usize),
            _ => return Err(bad(format!("Reshape target {target:?}"))),
        }
    }
    if let Some(i) = infer {
        let known: usize = out.iter().product();
        if known == 0 || !total.is_multiple_of(known) {
            return Err(bad(format!("cannot reshape {input:?} to {target:?}")));
        }
        out[i] = total / known;
    }
    if out.iter().product::<usize>() != total {
        return Err(bad(format!("cannot reshape {input:?} to {target:?}")));
    }
    Ok(out)
}

fn reshape(x: &Value, shape: &[usize]) -> OpResult<Value> {
    Ok(match x {
        Value::Int { data, .. } => {
            if data.len() != shape.iter().product::<usize>() {
                return Err(bad(format!(
                    "cannot reshape {} values to {shape:?}",
                    data.len()
                )));
            }
            Value::Int {
                data: data.clone(),
                shape: shape.to_vec(),
            }
        }
        Value::Float(t) => Value::Float(t.reshape(shape)?),
    })
}

fn slice(node: &Node, opset: i64, inputs: &[Option<&Value>]) -> OpResult<Vec<Value>> {
    let x = input(inputs, 0)?;
    let dims = x.shape();
    let optional = |i: usize| -> OpResult<Option<Vec<i64>>> {
        Ok(inputs
            .get(i)
            .copied()
            .flatten()
            .map(|v| v.to_ints())
            .transpose()?
            .map(|(d, _)| d))
    };
    let (starts, ends, axes, steps) = if opset >= 10 {
        (
            ints(inputs, 1)?,
            ints(inputs, 2)?,
            optional(3)?,
            optional(4)?,
        )
    } else {
        let need = |n: &str| attr_ints(node, n).ok_or_else(|| bad(format!("Slice without {n}")));
        (
            need("starts")?,
            need("ends")?,
            attr_ints(node, "axes"),
            None,
        )
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(bad("Slice starts/ends/axes/steps differ in length"));
    }
    let mut ranges: Vec<(usize, usize)> = dims.iter().map(|&d| (0, d)).collect();
    for i in 0..starts.len() {
        if steps[i] != 1 {
            return Err(unsupported(format!("Slice with step {}", steps[i])));
        }
        let a = axis(axes[i], dims.len())?;
        let n = dims[a] as i64;
        let clampi = |v: i64| (if v < 0 { v + n } else { v }).clamp(0, n) as usize;
        let (s, e) = (clampi(starts[i]), clampi(ends[i]));
        ranges[a] = (s, e.max(s));
    }
    Ok(vec![match x {
        Value::Float(t) => {
            let mut y = t.clone();
            for (d, &(s, e)) in ranges.iter().enumerate() {
                y = y.narrow(d, s, e - s)?;
            }
            Value::Float(y)
        }
        Value::Int { data, shape } => {
            if shape.len() > 1 {
                return Err(unsupported("Slice of a multi-dimensional integer tensor"));
            }
            let (s, e) = ranges.first().copied().unwrap_or((0, data.len()));
            Value::Int {
                data: data.get(s..e).unwrap_or_default().to_vec(),
                shape: vec![e - s],
            }
        }
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_targets_follow_the_onnx_rules() {
        assert_eq!(
            resolve_shape(&[4, 784], &[0, 1, 28, 28], false).unwrap(),
            vec![4, 1, 28, 28]
        );
        assert_eq!(
            resolve_shape(&[4, 16, 7, 7], &[4, -1], true).unwrap(),
            vec![4, 784]
        );
        assert!(resolve_shape(&[4, 10], &[3, -1], false).is_err());
        assert!(resolve_shape(&[4, 10], &[-1, -1], false).is_err());
    }
}
