//! Dense float `.npy` arrays (NumPy format versions 1.0 to 3.0): the one bulk reader and
//! writer of the workspace (e.g. `mithridate aggregate`'s client updates).
//!
//! Supported: dtypes `<f4` (float32) and `<f8` (float64), little-endian, C or Fortran order,
//! any number of dimensions. Reading parses the header, checks the shape, the dtype and the
//! byte count against the file's length *before* allocating, then reads the whole payload in
//! one `read` straight into the result (no element-wise parsing, no intermediate buffer).
//! A hostile or broken header (bad magic, absurd header length, unknown keys, overflowing
//! shape, a payload longer or shorter than the file) is a one-line [`DataError::Format`]
//! naming the file and the problem.
//!
//! [`read_any_header`] is the same parser for every dtype the `.npz` reader takes (floats,
//! integers of either byte order, fixed-width strings); it checks the payload against the
//! stream's length before anything is allocated, and [`read_values`] then reads numbers in
//! one `read_exact`.
//!
//! ```
//! use mithridate_data::npy;
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("u.npy");
//! npy::write_f32(&path, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
//! let back = npy::read_f32(&path)?;
//! assert_eq!((back.shape.as_slice(), back.data[5]), (&[2usize, 3][..], 6.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// The header's types, parser and writer, re-exported so their `npy::` paths stay as they were.
mod header;
pub use header::{
    header_bytes, read_any_header, read_header, AnyDtype, AnyHeader, Dtype, Element, Header,
};

use crate::fsutil::{io_err, write_atomic};
use crate::{DataError, Result};
use std::io::{Read, Write};
use std::path::Path;

/// An array in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub struct Array<T> {
    pub shape: Vec<usize>,
    pub data: Vec<T>,
}

fn format_err(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Opens `path` and reads its header (see [`read_header`]).
/// The open file and its length.
fn open(path: &Path) -> Result<(std::fs::File, u64)> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let file_len = file.metadata().map_err(io_err(path))?.len();
    Ok((file, file_len))
}

/// Reads the payload of `header` (the file positioned after it) as `T` in one read.
fn read_payload<T: bytemuck::Pod>(
    path: &Path,
    file: &mut impl Read,
    header: &Header,
) -> Result<Vec<T>> {
    debug_assert_eq!(std::mem::size_of::<T>(), header.dtype.item_bytes());
    read_values(file, header.len(), false)
        .map_err(|e| format_err(path, format!("truncated or unreadable data ({e})")))
}

/// Reads `count` items stored as `T` (little-endian, or big-endian when `big_endian`) with
/// one `read_exact` straight into the result, then converts them to native byte order.
/// Callers bound `count` first (see [`read_any_header`]): this allocates it.
pub fn read_values<T: bytemuck::Pod>(
    reader: &mut impl Read,
    count: usize,
    big_endian: bool,
) -> std::io::Result<Vec<T>> {
    // A zeroed allocation of this size comes straight from fresh pages (no memset), and the
    // one read fills it in place.
    let mut data = vec![T::zeroed(); count];
    reader.read_exact(bytemuck::cast_slice_mut(&mut data))?;
    swap_bytes_if(&mut data, big_endian != cfg!(target_endian = "big"));
    Ok(data)
}

/// Reverses the bytes of every item when `swap` (a no-op for one-byte items).
fn swap_bytes_if<T: bytemuck::Pod>(data: &mut [T], swap: bool) {
    let size = std::mem::size_of::<T>();
    if swap && size > 1 {
        for chunk in bytemuck::cast_slice_mut::<T, u8>(data).chunks_exact_mut(size) {
            chunk.reverse();
        }
    }
}

/// Native values to little-endian bytes, in place (a no-op on little-endian hosts).
fn to_le<T: bytemuck::Pod>(data: &mut [T]) {
    swap_bytes_if(data, cfg!(target_endian = "big"));
}

/// Reorders a column-major array of `shape` into row-major order.
pub(crate) fn fortran_to_c<T: Clone>(values: &[T], shape: &[usize]) -> Vec<T> {
    if let [rows, cols] = *shape {
        // The common case (a matrix) without per-element index arithmetic.
        return (0..rows)
            .flat_map(|i| (0..cols).map(move |j| values[j * rows + i].clone()))
            .collect();
    }
    // Column-major strides: the first axis varies fastest.
    let mut strides = vec![1usize; shape.len()];
    for axis in 1..shape.len() {
        strides[axis] = strides[axis - 1] * shape[axis - 1];
    }
    let mut out = Vec::with_capacity(values.len());
    let mut index = vec![0usize; shape.len()];
    for _ in 0..values.len() {
        let offset: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
        out.push(values[offset].clone());
        // Row-major increment: the last axis varies fastest.
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

/// Reads an array stored as `T`, in C order.
fn read_as<T: bytemuck::Pod>(
    path: &Path,
    file: &mut impl Read,
    header: Header,
) -> Result<Array<T>> {
    let mut data = read_payload::<T>(path, file, &header)?;
    if header.fortran_order && header.shape.len() > 1 {
        data = fortran_to_c(&data, &header.shape);
    }
    Ok(Array {
        shape: header.shape,
        data,
    })
}

/// Reads a float32 or float64 `.npy` as float32 (float64 values are rounded), in C order.
pub fn read_f32(path: &Path) -> Result<Array<f32>> {
    let (mut file, file_len) = open(path)?;
    read_f32_from(path, &mut file, file_len)
}

/// [`read_f32`] on a `.npy` held in memory; `path` only names it in errors.
pub fn read_f32_bytes(path: &Path, bytes: &[u8]) -> Result<Array<f32>> {
    read_f32_from(path, &mut &bytes[..], bytes.len() as u64)
}

fn read_f32_from(path: &Path, file: &mut impl Read, file_len: u64) -> Result<Array<f32>> {
    let header = read_header(file, file_len).map_err(|m| format_err(path, m))?;
    match header.dtype {
        Dtype::F32 => read_as::<f32>(path, file, header),
        Dtype::F64 => {
            let wide = read_as::<f64>(path, file, header)?;
            Ok(Array {
                shape: wide.shape,
                data: wide.data.iter().map(|&x| x as f32).collect(),
            })
        }
    }
}

/// Reads a float32 or float64 `.npy` as float64 (float32 values are widened exactly).
pub fn read_f64(path: &Path) -> Result<Array<f64>> {
    let (mut file, file_len) = open(path)?;
    let header = read_header(&mut file, file_len).map_err(|m| format_err(path, m))?;
    match header.dtype {
        Dtype::F64 => read_as::<f64>(path, &mut file, header),
        Dtype::F32 => {
            let narrow = read_as::<f32>(path, &mut file, header)?;
            Ok(Array {
                shape: narrow.shape,
                data: narrow.data.iter().map(|&x| f64::from(x)).collect(),
            })
        }
    }
}

fn write_as<T: bytemuck::Pod>(
    path: &Path,
    dtype: Dtype,
    shape: &[usize],
    data: &[T],
) -> Result<()> {
    if shape.iter().product::<usize>() != data.len() {
        return Err(DataError::invalid(format!(
            "{}: shape {shape:?} does not hold {} values",
            path.display(),
            data.len()
        )));
    }
    write_atomic(path, |w| {
        w.write_all(&header_bytes(dtype, shape))
            .map_err(io_err(path))?;
        if cfg!(target_endian = "little") {
            w.write_all(bytemuck::cast_slice(data))
                .map_err(io_err(path))
        } else {
            let mut le = data.to_vec();
            to_le(&mut le);
            w.write_all(bytemuck::cast_slice(&le)).map_err(io_err(path))
        }
    })
}

/// Writes a C-order float32 array atomically (0644).
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    write_as(path, Dtype::F32, shape, data)
}

/// Writes a C-order float64 array atomically (0644).
pub fn write_f64(path: &Path, shape: &[usize], data: &[f64]) -> Result<()> {
    write_as(path, Dtype::F64, shape, data)
}
