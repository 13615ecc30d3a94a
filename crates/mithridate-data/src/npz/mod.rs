//! The `.npz` interchange format: how users bring their own data and take ours out.
//!
//! A NumPy `.npz` archive (as written by `numpy.savez` or `numpy.savez_compressed`) holding:
//!
//! | array | dtype | shape | meaning |
//! |---|---|---|---|
//! | `x` | float32/float64 | `[N, C, H, W]`, `[N, H, W]` (one channel) | images, pixels in `[0, 1]` |
//! | `x` | float32/float64 | `[N, D]` | tabular rows |
//! | `x` | any integer | `[N, L]` | text: token ids, 0 = padding |
//! | `y` | any integer | `[N]` | labels `0..num_classes` |
//! | `ids` | any integer (uint64 written) | `[N]` | stable sample ids; absent => row index |
//! | `num_classes` | any integer | scalar | optional; default `max(y) + 1` |
//! | `class_names` | unicode/bytes strings | `[num_classes]` | optional |
//! | `vocab` | unicode/bytes strings | `[V]` | optional text vocabulary (token `i` = line `i`) |
//!
//! The integer dtype of `x` is what marks the text variant. A text vocabulary may also sit
//! in a sidecar `FILE.npz.vocab.txt` (one token per line, line `i` = id `i`); [`write`]
//! writes that sidecar for datasets that carry a vocabulary.
//!
//! [`read`] rejects with a one-line error naming the file and the problem: not a zip archive,
//! truncated or garbage arrays, missing `x`/`y`, wrong dtypes, shape mismatches, negative
//! labels, non-finite features, image pixels outside `[0, 1]`, duplicate ids, and `N = 0`.

mod write;
pub use write::{write, write_uncompressed};

use crate::fsutil::io_err;
use crate::npy::{self, fortran_to_c, Element};
use crate::readers::ReadLimits;
use crate::{DataError, Dataset, Features, Modality, Result};
use std::collections::HashMap;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

/// The sidecar path holding a text vocabulary for `path` (`FILE.npz.vocab.txt`).
pub fn vocab_sidecar_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".vocab.txt");
    PathBuf::from(name)
}

/// Values of one array as read, widened to a few storage types.
enum Values {
    Float(Vec<f64>),
    Float32(Vec<f32>),
    Int(Vec<i64>),
    /// `uint64` values, kept unsigned so ids above `i64::MAX` survive.
    UInt64(Vec<u64>),
    Strings(Vec<String>),
}

impl Values {
    fn kind(&self) -> &'static str {
        match self {
            Values::Float(_) | Values::Float32(_) => "float",
            Values::Int(_) | Values::UInt64(_) => "integer",
            Values::Strings(_) => "string",
        }
    }
}

struct Array {
    shape: Vec<usize>,
    values: Values,
    descr: String,
}

struct Reader<'p, R> {
    path: &'p Path,
    archive: zip::ZipArchive<R>,
    /// Array name -> index of its entry in the zip.
    entries: HashMap<String, usize>,
    /// Most bytes one array may decompress to ([`ReadLimits::max_file_bytes`]).
    max_bytes: u64,
}

/// Largest expansion DEFLATE can achieve (the format's limit is about 1032:1).
const MAX_DEFLATE_RATIO: u64 = 1032;

fn format_err(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl<'p, R: Read + Seek> Reader<'p, R> {
    /// `path` names the archive in errors and locates the vocabulary sidecar.
    fn new(path: &'p Path, source: R, limits: &ReadLimits) -> Result<Self> {
        let archive = zip::ZipArchive::new(source).map_err(|e| {
            format_err(
                path,
                format!("not a valid .npz file (not a readable zip archive: {e})"),
            )
        })?;
        let mut entries = HashMap::new();
        for index in 0..archive.len() {
            let Some(Ok(name)) = archive.name_for_index(index) else {
                continue;
            };
            if let Some(array) = npyz::npz::array_name_from_file_name(&name) {
                entries.insert(array.to_string(), index);
            }
        }
        Ok(Reader {
            path,
            archive,
            entries,
            max_bytes: limits.max_file_bytes,
        })
    }

    fn err(&self, message: impl Into<String>) -> DataError {
        format_err(self.path, message)
    }

    /// Reads array `name`, or `None` when the archive has no such array.
    ///
    /// The `.npy` header is parsed by [`npy::read_any_header`], which checks the shape and
    /// dtype against the entry's uncompressed size before anything is allocated; numbers
    /// are then read with one `read_exact` into a buffer of the final size. Strings (small:
    /// class names, vocabularies) go through `npyz`.
    fn array(&mut self, name: &str) -> Result<Option<Array>> {
        let Some(&index) = self.entries.get(name) else {
            return Ok(None);
        };
        let path = self.path;
        let bad = |message: String| format_err(path, format!("array '{name}': {message}"));
        let read_err = |e: std::io::Error| bad(format!("truncated or corrupt data ({e})"));
        let mut entry = self
            .archive
            .by_index(index)
            .map_err(|e| bad(format!("unreadable zip entry ({e})")))?;
        let entry_size = entry.size();
        // The declared size bounds what is allocated below, so it must itself be plausible:
        // DEFLATE cannot expand data more than ~1032:1, and a stored entry holds exactly
        // its bytes. A directory that claims more is refused before any allocation.
        let ceiling = entry.compressed_size().saturating_mul(MAX_DEFLATE_RATIO);
        if entry_size > ceiling {
            return Err(bad(format!(
                "zip entry claims {entry_size} bytes from {} compressed bytes (more than DEFLATE can expand)",
                entry.compressed_size()
            )));
        }
        // A plausible size can still be too large to hold (a few MB of zeros deflate from
        // gigabytes): the configured limit refuses it before anything is decompressed.
        if entry_size > self.max_bytes {
            return Err(bad(format!(
                "decompresses to {entry_size} bytes, over the {}-byte input limit (--max-input-bytes)",
                self.max_bytes
            )));
        }
        let header = npy::read_any_header(&mut entry, entry_size).map_err(&bad)?;
        let (count, big) = (header.len(), header.dtype.big_endian);
        let e = &mut entry;
        let values = match header.dtype.element {
            Element::F4 => Values::Float32(bulk(e, count, big).map_err(read_err)?),
            Element::F8 => Values::Float(bulk(e, count, big).map_err(read_err)?),
            Element::I1 => Values::Int(widen(bulk::<i8>(e, count, big).map_err(read_err)?)),
            Element::I2 => Values::Int(widen(bulk::<i16>(e, count, big).map_err(read_err)?)),
            Element::I4 => Values::Int(widen(bulk::<i32>(e, count, big).map_err(read_err)?)),
            Element::I8 => Values::Int(bulk(e, count, big).map_err(read_err)?),
            Element::U1 => Values::Int(widen(bulk::<u8>(e, count, big).map_err(read_err)?)),
            Element::U2 => Values::Int(widen(bulk::<u16>(e, count, big).map_err(read_err)?)),
            Element::U4 => Values::Int(widen(bulk::<u32>(e, count, big).map_err(read_err)?)),
            Element::U8 => Values::UInt64(bulk(e, count, big).map_err(read_err)?),
            Element::Unicode(_) | Element::Bytes(_) => {
                drop(entry);
                // Reopened: npyz parses the header again (already checked above).
                let entry = self
                    .archive
                    .by_index(index)
                    .map_err(|e| bad(format!("unreadable zip entry ({e})")))?;
                let npy = npyz::NpyFile::new(entry)
                    .map_err(|e| bad(format!("not a valid .npy array ({e})")))?;
                Values::Strings(npy.into_vec::<String>().map_err(read_err)?)
            }
        };
        let (shape, descr, fortran) = (header.shape, header.descr, header.fortran_order);
        let values = if fortran && shape.len() > 1 {
            match values {
                Values::Float(v) => Values::Float(fortran_to_c(&v, &shape)),
                Values::Float32(v) => Values::Float32(fortran_to_c(&v, &shape)),
                Values::Int(v) => Values::Int(fortran_to_c(&v, &shape)),
                Values::UInt64(v) => Values::UInt64(fortran_to_c(&v, &shape)),
                Values::Strings(v) => Values::Strings(fortran_to_c(&v, &shape)),
            }
        } else {
            values
        };
        Ok(Some(Array {
            shape,
            values,
            descr,
        }))
    }
}

/// `count` numbers of the entry's payload in one read, then the rest of the entry drained
/// so the zip reader checks its CRC-32.
fn bulk<T: bytemuck::Pod>(
    entry: &mut impl Read,
    count: usize,
    big_endian: bool,
) -> std::io::Result<Vec<T>> {
    let values = npy::read_values(entry, count, big_endian)?;
    std::io::copy(entry, &mut std::io::sink())?;
    Ok(values)
}

fn widen<T: Into<i64>>(v: Vec<T>) -> Vec<i64> {
    v.into_iter().map(Into::into).collect()
}

/// Non-negative integers of `array` as `u64`, or an error naming the array and the row.
fn non_negative<R: Read + Seek>(r: &Reader<R>, name: &str, array: Array) -> Result<Vec<u64>> {
    match array.values {
        Values::Int(v) => {
            if let Some(row) = v.iter().position(|&x| x < 0) {
                return Err(r.err(format!(
                    "'{name}' has negative value {} at index {row}",
                    v[row]
                )));
            }
            Ok(v.into_iter().map(|x| x as u64).collect())
        }
        Values::UInt64(v) => Ok(v),
        other => Err(r.err(format!(
            "'{name}' must be an integer array, found {} dtype {}",
            other.kind(),
            array.descr
        ))),
    }
}

/// Reads a `.npz` file into a [`Dataset`] (see the module docs for the layout and checks),
/// under the default [`ReadLimits`].
pub fn read(path: &Path) -> Result<Dataset> {
    read_limited(path, &ReadLimits::default())
}

/// [`read`] under `limits`: the file and every array's decompressed size must fit
/// `limits.max_file_bytes`, checked before reading or allocating.
pub fn read_limited(path: &Path, limits: &ReadLimits) -> Result<Dataset> {
    crate::readers::check_file_size(path, limits)?;
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    read_from(path, BufReader::new(file), limits)
}

/// [`read`] on an archive held in memory (fuzzing, archives inside other containers); `path`
/// only names it in errors and locates a `FILE.npz.vocab.txt` sidecar.
pub fn read_bytes(path: &Path, bytes: &[u8]) -> Result<Dataset> {
    read_from(path, std::io::Cursor::new(bytes), &ReadLimits::default())
}

fn read_from<R: Read + Seek>(path: &Path, source: R, limits: &ReadLimits) -> Result<Dataset> {
    let mut r = Reader::new(path, source, limits)?;
    let x = r
        .array("x")?
        .ok_or_else(|| r.err("missing array 'x' (features)"))?;
    let y = r
        .array("y")?
        .ok_or_else(|| r.err("missing array 'y' (labels)"))?;
    let n = match x.shape.first() {
        Some(&n) => n,
        None => return Err(r.err("'x' is a scalar; expected [N, ...]")),
    };
    if n == 0 {
        return Err(r.err("empty dataset: 'x' has 0 samples"));
    }
    if y.shape.len() != 1 {
        return Err(r.err(format!("'y' must be 1-D [N], found shape {:?}", y.shape)));
    }
    if y.shape[0] != n {
        return Err(r.err(format!(
            "'x' has {n} samples but 'y' has {} labels",
            y.shape[0]
        )));
    }
    let y_descr = y.descr.clone();
    let labels_u64 = match y.values {
        Values::Int(_) | Values::UInt64(_) => non_negative(&r, "y", y)?,
        other => {
            return Err(r.err(format!(
                "'y' must hold integer labels, found {} dtype {y_descr}",
                other.kind()
            )))
        }
    };
    let labels: Vec<u32> = labels_u64
        .iter()
        .map(|&l| u32::try_from(l))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| r.err("'y' has a label too large for a class index"))?;
    let max_label = labels.iter().copied().max().unwrap_or(0) as usize;

    let ids = match r.array("ids")? {
        None => (0..n as u64).collect(),
        Some(ids) => {
            if ids.shape.len() != 1 || ids.shape[0] != n {
                return Err(r.err(format!(
                    "'ids' must have shape [{n}], found {:?}",
                    ids.shape
                )));
            }
            let ids = non_negative(&r, "ids", ids)?;
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                return Err(r.err(format!("duplicate sample id {} in 'ids'", w[0])));
            }
            ids
        }
    };

    let num_classes = match r.array("num_classes")? {
        None => max_label + 1,
        Some(a) => {
            if a.shape.iter().product::<usize>() != 1 {
                return Err(r.err("'num_classes' must be a single integer"));
            }
            let k = non_negative(&r, "num_classes", a)?[0] as usize;
            if k <= max_label {
                return Err(r.err(format!(
                    "'num_classes' is {k} but 'y' contains label {max_label}"
                )));
            }
            k
        }
    };

    let class_names = match r.array("class_names")? {
        None => Vec::new(),
        Some(a) => match a.values {
            Values::Strings(names) if names.len() == num_classes => names,
            Values::Strings(names) => {
                return Err(r.err(format!(
                    "'class_names' has {} names for {num_classes} classes",
                    names.len()
                )))
            }
            other => {
                return Err(r.err(format!(
                    "'class_names' must be strings, found {} dtype {}",
                    other.kind(),
                    a.descr
                )))
            }
        },
    };

    let per_sample = &x.shape[1..];
    let x_descr = x.descr.clone();
    let (modality, features, vocabulary) = match x.values {
        Values::Float(_) | Values::Float32(_) => {
            let values: Vec<f32> = match x.values {
                Values::Float32(v) => v,
                Values::Float(v) => v.into_iter().map(|v| v as f32).collect(),
                _ => unreachable!("matched float variants above"),
            };
            let per: usize = per_sample.iter().product();
            if let Some(pos) = values.iter().position(|v| !v.is_finite()) {
                return Err(r.err(format!(
                    "'x' has non-finite value {} in sample {}",
                    values[pos],
                    pos / per.max(1)
                )));
            }
            let modality = match *per_sample {
                [features] => Modality::Tabular { features },
                [height, width] => Modality::Image {
                    channels: 1,
                    height,
                    width,
                },
                [channels, height, width] => Modality::Image {
                    channels,
                    height,
                    width,
                },
                _ => {
                    return Err(r.err(format!(
                        "float 'x' must be [N, D], [N, H, W] or [N, C, H, W], found shape {:?}",
                        x.shape
                    )))
                }
            };
            if matches!(modality, Modality::Image { .. }) {
                if let Some(pos) = values.iter().position(|v| !(0.0..=1.0).contains(v)) {
                    return Err(r.err(format!(
                        "image 'x' has pixel value {} outside [0, 1] in sample {} \
                         (scale pixels to [0, 1], or reshape to [N, D] for tabular data)",
                        values[pos],
                        pos / per.max(1)
                    )));
                }
            }
            (modality, Features::Dense(values), None)
        }
        Values::Int(_) | Values::UInt64(_) => {
            let [max_len] = *per_sample else {
                return Err(r.err(format!(
                    "integer 'x' (text token ids) must be [N, L], found shape {:?}",
                    x.shape
                )));
            };
            let tokens: Vec<u32> = non_negative(&r, "x", x)?
                .into_iter()
                .map(u32::try_from)
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| r.err("'x' has a token id too large (above u32)"))?;
            let max_token = tokens.iter().copied().max().unwrap_or(0) as usize;
            let vocabulary = read_vocabulary(&mut r)?;
            let vocab_size = match &vocabulary {
                Some(v) if v.len() <= max_token => {
                    return Err(r.err(format!(
                        "vocabulary has {} tokens but 'x' uses token id {max_token}",
                        v.len()
                    )))
                }
                Some(v) => v.len(),
                None => max_token + 1,
            };
            (
                Modality::Text {
                    max_len,
                    vocab_size,
                },
                Features::Tokens(tokens),
                vocabulary,
            )
        }
        other => {
            return Err(r.err(format!(
                "'x' must be float (images/tabular) or integer (text), found {} dtype {x_descr}",
                other.kind()
            )))
        }
    };
    let dataset = Dataset::new(modality, features, labels, ids, num_classes, class_names)
        .map_err(|e| r.err(e.to_string()))?;
    match vocabulary {
        Some(v) => dataset.with_vocabulary(v).map_err(|e| r.err(e.to_string())),
        None => Ok(dataset),
    }
}

/// The vocabulary from a `vocab` array or, failing that, the `FILE.npz.vocab.txt` sidecar.
fn read_vocabulary<R: Read + Seek>(r: &mut Reader<R>) -> Result<Option<Vec<String>>> {
    if let Some(a) = r.array("vocab")? {
        return match a.values {
            Values::Strings(v) => Ok(Some(v)),
            other => Err(r.err(format!("'vocab' must be strings, found {}", other.kind()))),
        };
    }
    let sidecar = vocab_sidecar_path(r.path);
    if !sidecar.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&sidecar).map_err(io_err(&sidecar))?;
    Ok(Some(parse_vocabulary(&text)))
}

/// One token per line, line `i` = id `i` (a trailing newline ends the last line).
pub(crate) fn parse_vocabulary(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::write::write_with;
    use super::*;

    fn image_dataset() -> Dataset {
        Dataset::new(
            Modality::Image {
                channels: 1,
                height: 2,
                width: 2,
            },
            Features::Dense(vec![0.0, 0.25, 0.5, 1.0, 1.0, 0.5, 0.25, 0.0]),
            vec![2, 0],
            vec![10, u64::MAX],
            3,
            vec!["a".into(), "bé".into(), "c".into()],
        )
        .unwrap()
    }

    fn text_dataset() -> Dataset {
        Dataset::new(
            Modality::Text {
                max_len: 3,
                vocab_size: 4,
            },
            Features::Tokens(vec![2, 3, 0, 1, 0, 0]),
            vec![1, 0],
            vec![0, 1],
            2,
            vec!["ham".into(), "spam".into()],
        )
        .unwrap()
        .with_vocabulary(vec![
            "<pad>".into(),
            "<unk>".into(),
            "free".into(),
            "win".into(),
        ])
        .unwrap()
    }

    #[test]
    fn round_trips_compressed_and_uncompressed() {
        let dir = tempfile::tempdir().unwrap();
        for data in [image_dataset(), text_dataset()] {
            for compressed in [true, false] {
                let path = dir.path().join(format!("d{compressed}.npz"));
                write_with(&path, &data, compressed).unwrap();
                let back = read(&path).unwrap();
                assert_eq!(back, data);
                assert_eq!(back.vocabulary(), data.vocabulary());
            }
        }
        assert!(vocab_sidecar_path(&dir.path().join("dtrue.npz")).is_file());
    }
}
