//! NumPy arrays in, checked once: dtype, rank, shape, C-contiguity and finiteness.
//!
//! Inputs are borrowed, never copied: a float32 C-contiguous array is read in place (the GIL
//! keeps it alive; numpy's borrow checker refuses a concurrent writer). Anything else raises
//! `ValueError` naming the argument and the problem, with the fix where there is one.

use crate::errors::invalid;
use numpy::{Element, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// A borrowed array with its shape checked.
pub struct Borrowed<'py, T: Element> {
    array: PyReadonlyArrayDyn<'py, T>,
}

impl<'py, T: Element> Borrowed<'py, T> {
    /// The elements, row-major.
    pub fn as_slice(&self) -> &[T] {
        self.array.as_slice().expect("checked contiguous")
    }

    pub fn shape(&self) -> &[usize] {
        self.array.shape()
    }
}

fn dtype_name(obj: &Bound<'_, PyAny>) -> String {
    obj.getattr("dtype")
        .and_then(|d| d.str())
        .map(|s| s.to_string())
        .unwrap_or_else(|_| {
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        })
}

/// Borrows `obj` as a C-contiguous array of `T` with rank `rank` (`None`: any) and no empty
/// axis. `what` names the argument, `dtype` the expected NumPy dtype (`"float32"`).
pub fn borrow<'py, T: Element>(
    obj: &Bound<'py, PyAny>,
    what: &str,
    dtype: &str,
    rank: Option<usize>,
) -> PyResult<Borrowed<'py, T>> {
    let Ok(array) = obj.cast::<PyArrayDyn<T>>() else {
        if obj.hasattr("dtype").unwrap_or(false) {
            return Err(invalid(format!(
                "{what}: dtype {}, expected {dtype} (convert with .astype(np.{dtype}))",
                dtype_name(obj)
            )));
        }
        return Err(invalid(format!(
            "{what}: expected a NumPy array of {dtype}, got {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        )));
    };
    let shape = array.shape().to_vec();
    if let Some(rank) = rank {
        if shape.len() != rank {
            return Err(invalid(format!(
                "{what}: expected a {rank}-D array, got shape {shape:?}"
            )));
        }
    }
    if shape.contains(&0) {
        return Err(invalid(format!("{what}: empty array (shape {shape:?})")));
    }
    if !array.is_c_contiguous() {
        return Err(invalid(format!(
            "{what}: not C-contiguous (a slice or transpose); pass np.ascontiguousarray({what})"
        )));
    }
    let array = array
        .try_readonly()
        .map_err(|e| invalid(format!("{what}: cannot borrow ({e})")))?;
    Ok(Borrowed { array })
}

/// A float32 array whose every value is finite; the error names the first bad row.
pub fn finite_f32<'py>(
    obj: &Bound<'py, PyAny>,
    what: &str,
    rank: Option<usize>,
) -> PyResult<Borrowed<'py, f32>> {
    let b = borrow::<f32>(obj, what, "float32", rank)?;
    check_finite(b.as_slice(), b.shape(), what)?;
    Ok(b)
}

/// A float64 vector whose every value is finite.
pub fn finite_f64<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Borrowed<'py, f64>> {
    let b = borrow::<f64>(obj, what, "float64", Some(1))?;
    check_finite(b.as_slice(), b.shape(), what)?;
    Ok(b)
}

fn check_finite<T: Copy + Into<f64>>(values: &[T], shape: &[usize], what: &str) -> PyResult<()> {
    if let Some(i) = values.iter().position(|v| !(*v).into().is_finite()) {
        let row_len: usize = shape.iter().skip(1).product::<usize>().max(1);
        let v: f64 = values[i].into();
        return Err(invalid(if shape.len() > 1 {
            format!("{what}: row {} has a non-finite value ({v})", i / row_len)
        } else {
            format!("{what}: element {i} is not finite ({v})")
        }));
    }
    Ok(())
}

/// Integer labels of any integer dtype as `u32` (labels are small: this is the one copy).
pub fn labels(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u32>> {
    integers(obj, what)?
        .into_iter()
        .map(|v| {
            u32::try_from(v)
                .map_err(|_| invalid(format!("{what}: label {v} is negative or too large")))
        })
        .collect()
}

/// Sample or client ids of any integer dtype as `u64`.
pub fn ids(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u64>> {
    integers(obj, what)?
        .into_iter()
        .map(|v| u64::try_from(v).map_err(|_| invalid(format!("{what}: id {v} is negative"))))
        .collect()
}

fn integers(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<i128>> {
    let kind: Option<String> = obj
        .getattr("dtype")
        .and_then(|d| d.getattr("kind"))
        .and_then(|k| k.extract())
        .ok();
    match kind.as_deref() {
        Some("i") | Some("u") => {}
        Some(_) => {
            return Err(invalid(format!(
                "{what}: dtype {}, expected an integer array",
                dtype_name(obj)
            )))
        }
        None => {
            return Err(invalid(format!(
                "{what}: expected a 1-D NumPy integer array, got {}",
                obj.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            )))
        }
    }
    let ndim: usize = obj.getattr("ndim")?.extract()?;
    if ndim != 1 {
        return Err(invalid(format!(
            "{what}: expected a 1-D array, got {ndim}-D"
        )));
    }
    // tolist() yields Python ints whatever the integer dtype (and copes with any strides).
    let values: Vec<i128> = obj.call_method0("tolist")?.extract()?;
    if values.is_empty() {
        return Err(invalid(format!("{what}: empty array")));
    }
    Ok(values)
}
