//! The IDX format of (Fashion-)MNIST (LeCun et al., 1998): a big-endian header
//! `0x00 0x00 <dtype> <ndim>`, then `ndim` big-endian `u32` dimensions, then the data.
//! Only unsigned bytes (`dtype 0x08`) occur in these datasets and are supported.

use crate::{DataError, Result};

/// A parsed IDX array of unsigned bytes: its dimensions and its `product(dims)` values.
#[derive(Debug, PartialEq, Eq)]
pub struct IdxArray<'a> {
    pub dims: Vec<usize>,
    pub data: &'a [u8],
}

fn err(file: &str, message: impl Into<String>) -> DataError {
    DataError::Format {
        path: file.into(),
        message: message.into(),
    }
}

/// Parses an IDX file of unsigned bytes with `expected_ndim` dimensions. `file` names the
/// file in errors. Rejects a wrong magic, dtype or rank, and truncated or over-long data.
pub fn parse<'a>(file: &str, bytes: &'a [u8], expected_ndim: usize) -> Result<IdxArray<'a>> {
    if bytes.len() < 4 {
        return Err(err(file, "truncated IDX header"));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(err(file, "not an IDX file (bad magic)"));
    }
    if bytes[2] != 0x08 {
        return Err(err(
            file,
            format!(
                "unsupported IDX dtype 0x{:02x} (expected unsigned bytes 0x08)",
                bytes[2]
            ),
        ));
    }
    let ndim = bytes[3] as usize;
    if ndim != expected_ndim {
        return Err(err(
            file,
            format!("IDX file has {ndim} dimensions, expected {expected_ndim}"),
        ));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(err(file, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| err(file, "IDX dimensions overflow"))?;
    let data = &bytes[header..];
    if data.len() != count {
        return Err(err(
            file,
            format!(
                "IDX data has {} bytes but dimensions {dims:?} need {count} ({})",
                data.len(),
                if data.len() < count {
                    "truncated"
                } else {
                    "trailing bytes"
                }
            ),
        ));
    }
    Ok(IdxArray { dims, data })
}

/// Images with their labels, as read from an IDX pair.
#[derive(Debug, PartialEq)]
pub struct LabelledImages {
    pub n: usize,
    pub rows: usize,
    pub cols: usize,
    /// `n * rows * cols` pixels scaled to `[0, 1]`.
    pub pixels: Vec<f32>,
    pub labels: Vec<u32>,
}

/// Parses an images file (`[n, rows, cols]`) and its labels file (`[n]`) into pixels scaled
/// to `[0, 1]` and labels, checking the counts agree and labels are `< num_classes`.
pub fn images_and_labels(
    images_file: &str,
    images: &[u8],
    labels_file: &str,
    labels: &[u8],
    num_classes: usize,
) -> Result<LabelledImages> {
    let images = parse(images_file, images, 3)?;
    let labels = parse(labels_file, labels, 1)?;
    let (n, rows, cols) = (images.dims[0], images.dims[1], images.dims[2]);
    if labels.dims[0] != n {
        return Err(err(
            labels_file,
            format!("{} labels for {n} images in {images_file}", labels.dims[0]),
        ));
    }
    if let Some(pos) = labels.data.iter().position(|&l| l as usize >= num_classes) {
        return Err(err(
            labels_file,
            format!(
                "label {} at row {pos} is not below {num_classes}",
                labels.data[pos]
            ),
        ));
    }
    let pixels = images.data.iter().map(|&p| p as f32 / 255.0).collect();
    let labels = labels.data.iter().map(|&l| l as u32).collect();
    Ok(LabelledImages {
        n,
        rows,
        cols,
        pixels,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn parses_a_hand_made_image_file() {
        let bytes = idx(&[2, 1, 2], &[0, 255, 51, 102]);
        let a = parse("img", &bytes, 3).unwrap();
        assert_eq!(a.dims, vec![2, 1, 2]);
        assert_eq!(a.data, &[0, 255, 51, 102]);
        let labels = idx(&[2], &[3, 7]);
        let got = images_and_labels("img", &bytes, "lab", &labels, 10).unwrap();
        assert_eq!((got.n, got.rows, got.cols), (2, 1, 2));
        assert_eq!(got.pixels, vec![0.0, 1.0, 0.2, 0.4]);
        assert_eq!(got.labels, vec![3, 7]);
    }

    #[test]
    fn rejects_bad_headers_and_sizes() {
        let msg = |r: Result<IdxArray>| r.unwrap_err().to_string();
        assert!(msg(parse("f", &[0, 0], 1)).contains("truncated IDX header"));
        assert!(msg(parse("f", &[1, 0, 8, 1, 0, 0, 0, 0], 1)).contains("bad magic"));
        assert!(msg(parse("f", &[0, 0, 0x0d, 1, 0, 0, 0, 0], 1)).contains("dtype 0x0d"));
        assert!(msg(parse("f", &idx(&[1, 1], &[0]), 1)).contains("2 dimensions, expected 1"));
        assert!(msg(parse("f", &[0, 0, 8, 3, 0, 0, 0, 1], 3)).contains("truncated IDX header"));
        assert!(msg(parse("f", &idx(&[3], &[1, 2]), 1)).contains("truncated"));
        assert!(msg(parse("f", &idx(&[1], &[1, 2]), 1)).contains("trailing bytes"));
        let err = msg(parse("f", &idx(&[u32::MAX, u32::MAX, u32::MAX], &[]), 3));
        assert!(
            err.contains("overflow") || err.contains("truncated"),
            "{err}"
        );
    }

    #[test]
    fn rejects_mismatched_labels() {
        let images = idx(&[2, 1, 1], &[0, 1]);
        let e = images_and_labels("i", &images, "l", &idx(&[3], &[0, 1, 2]), 10).unwrap_err();
        assert!(e.to_string().contains("3 labels for 2 images"));
        let e = images_and_labels("i", &images, "l", &idx(&[2], &[0, 10]), 10).unwrap_err();
        assert!(e.to_string().contains("label 10 at row 1"));
    }
}
