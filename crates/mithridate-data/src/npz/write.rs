//! Writing the `.npz` interchange format (see the [parent module](super) for its arrays):
//! `x`, `y`, `ids`, `num_classes` and, when they are not the defaults, `class_names`, as
//! NumPy reads them without pickle; written atomically, with the vocabulary sidecar for text.

use super::{format_err, vocab_sidecar_path};
use crate::fsutil::write_atomic;
use crate::{DataError, Dataset, Features, Result};
use npyz::{DType, WriterBuilder};
use std::io::Write;
use std::path::Path;

/// Writes `data` as a compressed `.npz` (like `numpy.savez_compressed`), atomically;
/// text datasets with a vocabulary also get the `FILE.npz.vocab.txt` sidecar.
pub fn write(path: &Path, data: &Dataset) -> Result<()> {
    write_with(path, data, true)
}

/// Writes `data` as an uncompressed `.npz` (like `numpy.savez`), atomically.
pub fn write_uncompressed(path: &Path, data: &Dataset) -> Result<()> {
    write_with(path, data, false)
}

pub(super) fn write_with(path: &Path, data: &Dataset, compressed: bool) -> Result<()> {
    if data.is_empty() {
        return Err(DataError::invalid(format!(
            "refusing to write an empty dataset to {}",
            path.display()
        )));
    }
    let zip_err = |e: zip::result::ZipError| format_err(path, format!("writing zip failed: {e}"));
    let npy_err = |e: std::io::Error| format_err(path, format!("writing array failed: {e}"));
    write_atomic(path, |file| {
        let mut zip = zip::ZipWriter::new(file);
        let method = if compressed {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let n = data.len() as u64;
        let mut shape = vec![n];
        shape.extend(data.modality().sample_shape().iter().map(|&d| d as u64));
        let options = |bytes: u64| {
            zip::write::SimpleFileOptions::default()
                .compression_method(method)
                .large_file(bytes >= u32::MAX as u64)
        };
        match data.features() {
            Features::Dense(v) => {
                zip.start_file("x.npy", options(v.len() as u64 * 4))
                    .map_err(zip_err)?;
                write_npy::<f32, _>(&mut zip, &shape, v.iter().copied()).map_err(npy_err)?;
            }
            Features::Tokens(v) => {
                zip.start_file("x.npy", options(v.len() as u64 * 8))
                    .map_err(zip_err)?;
                write_npy::<i64, _>(&mut zip, &shape, v.iter().map(|&t| t as i64))
                    .map_err(npy_err)?;
            }
        }
        zip.start_file("y.npy", options(n * 8)).map_err(zip_err)?;
        write_npy::<i64, _>(&mut zip, &[n], data.labels().iter().map(|&l| l as i64))
            .map_err(npy_err)?;
        zip.start_file("ids.npy", options(n * 8)).map_err(zip_err)?;
        write_npy::<u64, _>(&mut zip, &[n], data.ids().iter().copied()).map_err(npy_err)?;
        zip.start_file("num_classes.npy", options(8))
            .map_err(zip_err)?;
        write_npy::<i64, _>(&mut zip, &[], std::iter::once(data.num_classes() as i64))
            .map_err(npy_err)?;
        // Default names ("0", "1", ...) are implied; only real names are stored.
        let names = data.class_names();
        let default_names = names.iter().enumerate().all(|(i, n)| *n == i.to_string());
        if !default_names {
            zip.start_file("class_names.npy", options(0))
                .map_err(zip_err)?;
            write_strings(&mut zip, &names).map_err(npy_err)?;
        }
        zip.finish().map_err(zip_err)?;
        Ok(())
    })?;
    let sidecar = vocab_sidecar_path(path);
    if let Some(vocab) = data.vocabulary() {
        let mut text = String::new();
        for token in vocab {
            text.push_str(token);
            text.push('\n');
        }
        crate::fsutil::write_bytes_atomic(&sidecar, text.as_bytes())?;
    }
    Ok(())
}

fn write_npy<T, W>(w: &mut W, shape: &[u64], values: impl Iterator<Item = T>) -> std::io::Result<()>
where
    T: npyz::AutoSerialize,
    W: Write,
{
    let mut writer = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(shape)
        .writer(w)
        .begin_nd()?;
    writer.extend(values)?;
    writer.finish()
}

/// Writes strings as a NumPy unicode (`<U`) array, which `numpy.load` reads without pickle.
fn write_strings<W: Write>(w: &mut W, strings: &[String]) -> std::io::Result<()> {
    let width = strings
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(1)
        .max(1);
    let dtype = DType::Plain(
        format!("<U{width}")
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{e}")))?,
    );
    let mut writer = npyz::WriteOptions::<str>::new()
        .dtype(dtype)
        .shape(&[strings.len() as u64])
        .writer(w)
        .begin_nd()?;
    for s in strings {
        writer.push(s.as_str())?;
    }
    writer.finish()
}
