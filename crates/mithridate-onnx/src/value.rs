//! Values flowing between nodes: float tensors on candle (so the input's gradient can be taken
//! through them) and small integer tensors in plain vectors (shape arithmetic: `Shape`,
//! `Gather`, `Concat`, `Reshape` targets; never differentiated).

use candle_core::{DType, Device, Tensor};

use crate::error::{OnnxError, Result};
use crate::proto::TensorData;

/// ONNX `TensorProto.DataType` codes this importer reads.
pub mod dtype {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT8: i32 = 3;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const BOOL: i32 = 9;
    pub const DOUBLE: i32 = 11;
}

#[derive(Clone, Debug)]
pub enum Value {
    Float(Tensor),
    Int { data: Vec<i64>, shape: Vec<usize> },
}

impl Value {
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Value::Float(t) => t.dims().to_vec(),
            Value::Int { shape, .. } => shape.clone(),
        }
    }

    /// The value as a float tensor (integers are converted, as ONNX `Cast` would).
    pub fn to_float(&self) -> candle_core::Result<Tensor> {
        match self {
            Value::Float(t) => Ok(t.clone()),
            Value::Int { data, shape } => {
                let v: Vec<f32> = data.iter().map(|&x| x as f32).collect();
                Tensor::from_vec(v, shape.as_slice(), &Device::Cpu)
            }
        }
    }

    /// The value as integers (floats are truncated toward zero, as ONNX `Cast` does).
    pub fn to_ints(&self) -> candle_core::Result<(Vec<i64>, Vec<usize>)> {
        match self {
            Value::Int { data, shape } => Ok((data.clone(), shape.clone())),
            Value::Float(t) => {
                let v = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
                Ok((v.iter().map(|&x| x as i64).collect(), t.dims().to_vec()))
            }
        }
    }

    pub fn scalar_int(v: i64) -> Value {
        Value::Int {
            data: vec![v],
            shape: vec![],
        }
    }

    /// Decodes a constant (initializer or `Constant` attribute).
    pub fn from_proto(t: &TensorData) -> Result<Value> {
        let unsupported =
            |what: &str| OnnxError::Unsupported(format!("tensor '{}' {what}", t.name));
        if t.external {
            return Err(unsupported(
                "keeps its data in an external file (re-export with external_data=False)",
            ));
        }
        let shape = t
            .dims
            .iter()
            .map(|&d| {
                usize::try_from(d).map_err(|_| {
                    OnnxError::Format(format!("tensor '{}' has dimension {d}", t.name))
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        // Checked: the dims come from the file, and their product can overflow (found by
        // fuzzing, target `onnx`).
        let count = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| {
                OnnxError::Format(format!(
                    "tensor '{}' has dimensions {:?}, whose product overflows",
                    t.name, t.dims
                ))
            })?;
        let raw = &t.raw;
        let from_raw = !raw.is_empty();
        let value = match t.data_type {
            dtype::FLOAT | dtype::DOUBLE => {
                let v: Vec<f32> = match (t.data_type, from_raw) {
                    (dtype::FLOAT, true) => raw
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().expect("4")))
                        .collect(),
                    (dtype::FLOAT, false) => t.floats.clone(),
                    (_, true) => raw
                        .chunks_exact(8)
                        .map(|c| f64::from_le_bytes(c.try_into().expect("8")) as f32)
                        .collect(),
                    (_, false) => t.doubles.iter().map(|&x| x as f32).collect(),
                };
                check_count(t, v.len(), count)?;
                Value::Float(
                    Tensor::from_vec(v, shape.as_slice(), &Device::Cpu)
                        .map_err(|e| OnnxError::Format(format!("tensor '{}': {e}", t.name)))?,
                )
            }
            dtype::INT64 | dtype::INT32 | dtype::INT8 | dtype::UINT8 | dtype::BOOL => {
                let data: Vec<i64> = if from_raw {
                    match t.data_type {
                        dtype::INT64 => raw
                            .chunks_exact(8)
                            .map(|c| i64::from_le_bytes(c.try_into().expect("8")))
                            .collect(),
                        dtype::INT32 => raw
                            .chunks_exact(4)
                            .map(|c| i32::from_le_bytes(c.try_into().expect("4")) as i64)
                            .collect(),
                        dtype::INT8 => raw.iter().map(|&b| b as i8 as i64).collect(),
                        _ => raw.iter().map(|&b| b as i64).collect(),
                    }
                } else {
                    t.ints.clone()
                };
                check_count(t, data.len(), count)?;
                Value::Int { data, shape }
            }
            other => return Err(unsupported(&format!("has data type {other} (float16, bfloat16, strings... are not supported; export in float32)"))),
        };
        Ok(value)
    }
}

fn check_count(t: &TensorData, found: usize, expected: usize) -> Result<()> {
    if found != expected {
        return Err(OnnxError::Format(format!(
            "tensor '{}' has {found} values for shape {:?}",
            t.name, t.dims
        )));
    }
    Ok(())
}
