//! Parquet tables (feature `parquet`): the Apache Arrow project's `parquet` crate, row API
//! only (no Arrow arrays; uncompressed and Snappy pages, what pandas/pyarrow write by
//! default), streamed twice by [`super::table`] like a CSV. Columns are the schema's
//! top-level fields; pandas' stored index (`__index_level_N__`) is skipped. Integers,
//! floats and booleans are numbers, strings (and UTF-8 byte arrays) are text, nulls are
//! missing values; dates, decimals and nested types are refused. Errors name the 1-based row.
//!
//! Sizes are checked before reading rows: the file size, the row count and every column
//! chunk's declared uncompressed size (a decompression bomb is refused up front).

use super::table::{read_table, Cell, RowSource, TableEncoding};
use super::{check_file_size, format_err, thrift_guard, ReadOptions};
use crate::{Dataset, Result};
use bytes::Bytes;
use parquet::file::reader::{ChunkReader, FileReader, Length, SerializedFileReader};
use parquet::record::Field;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The file's bytes as `parquet` reads them, except that a read at the end of the file is an
/// error instead of 0 bytes. `parquet` 60.1 skips unknown Thrift fields of a page header with
/// `io::copy` of a `take(n)`, which stops quietly at the end of its input, so a 759-byte page
/// header declaring a list of 2^31 doubles looped 2^31 times over an exhausted reader (~25 s
/// per file; found by cargo-fuzz, `fuzz/findings/`). The failing read ends that skip at
/// once; a valid file is never read past its end (page headers are read with `read_exact`,
/// page data through `get_bytes`).
struct StrictBytes(Bytes);

impl Length for StrictBytes {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
}

impl ChunkReader for StrictBytes {
    type T = StrictRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<StrictRead> {
        Ok(StrictRead(self.0.get_read(start)?))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.0.get_bytes(start, length)
    }
}

struct StrictRead(<Bytes as ChunkReader>::T);

impl Read for StrictRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 if !buf.is_empty() => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "read past the end of the Parquet file",
            )),
            n => Ok(n),
        }
    }
}

/// Reads a Parquet file (see [`super::table`] for typing, encoding and ids).
pub fn read(path: &Path, options: &ReadOptions) -> Result<(Dataset, TableEncoding)> {
    check_file_size(path, &options.limits)?;
    let bytes = std::fs::read(path).map_err(crate::fsutil::io_err(path))?;
    read_bytes(path, bytes, options)
}

/// Reads Parquet held in memory (`path` only names it in errors).
pub fn read_bytes(
    path: &Path,
    bytes: Vec<u8>,
    options: &ReadOptions,
) -> Result<(Dataset, TableEncoding)> {
    // The `parquet` crate can panic on corrupt pages (found by `examples/fuzz_readers.rs`,
    // e.g. "Decoder for dict should have been set", an out-of-range slice in bit_util): a
    // panic there is contained and reported as a corrupt file, never unwound to the caller.
    let bytes = Bytes::from(bytes);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut source = ParquetSource::open(path, bytes, options)?;
        read_table(&mut source, options)
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format_err(
            path,
            format!(
                "corrupt Parquet (the decoder failed: {})",
                what.replace('\n', " ")
            ),
        ))
    })
}

fn pq_err(path: &Path, e: parquet::errors::ParquetError) -> crate::DataError {
    format_err(
        path,
        format!("unreadable Parquet ({})", e.to_string().replace('\n', " ")),
    )
}

struct ParquetSource {
    path: PathBuf,
    reader: SerializedFileReader<StrictBytes>,
    header: Vec<String>,
    /// Which top-level fields are features/labels/ids (false: a pandas index).
    kept: Vec<bool>,
}

impl ParquetSource {
    fn open(path: &Path, bytes: Bytes, options: &ReadOptions) -> Result<ParquetSource> {
        let limits = &options.limits;
        let file_len = bytes.len() as i64;
        check_footer(&bytes).map_err(|e| format_err(path, format!("unreadable Parquet ({e})")))?;
        let reader =
            SerializedFileReader::new(StrictBytes(bytes.clone())).map_err(|e| pq_err(path, e))?;
        let meta = reader.metadata();
        let rows = meta.file_metadata().num_rows();
        if rows < 0 || rows as u64 > limits.max_samples as u64 {
            return Err(format_err(
                path,
                format!("declares {rows} rows, outside 0..={}", limits.max_samples),
            ));
        }
        let mut declared: u64 = 0;
        for group in meta.row_groups() {
            for chunk in group.columns() {
                let size = chunk.uncompressed_size();
                let start = chunk
                    .dictionary_page_offset()
                    .unwrap_or(chunk.data_page_offset());
                let stored = chunk.compressed_size();
                // `byte_range()` asserts these; check them here so a lie is an error.
                if size < 0 || start < 0 || stored < 0 || start.saturating_add(stored) > file_len {
                    return Err(format_err(
                        path,
                        "a column chunk declares a negative size or lies outside the file",
                    ));
                }
                declared = declared.saturating_add(size as u64);
                let chunk_bytes = &bytes[start as usize..(start + stored) as usize];
                thrift_guard::check_page_headers(chunk_bytes).map_err(|e| {
                    format_err(
                        path,
                        format!("unreadable Parquet (column chunk at byte {start}: {e})"),
                    )
                })?;
            }
        }
        if declared > limits.max_file_bytes {
            return Err(format_err(
                path,
                format!(
                    "declares {declared} uncompressed bytes, over the {}-byte limit",
                    limits.max_file_bytes
                ),
            ));
        }
        let fields = meta
            .file_metadata()
            .schema_descr()
            .root_schema()
            .get_fields();
        if fields.len() > limits.max_columns {
            return Err(format_err(
                path,
                format!(
                    "{} columns, over the {}-column limit",
                    fields.len(),
                    limits.max_columns
                ),
            ));
        }
        let kept: Vec<bool> = fields
            .iter()
            .map(|f| !f.name().starts_with("__index_level_"))
            .collect();
        let header: Vec<String> = fields
            .iter()
            .zip(&kept)
            .filter(|(_, k)| **k)
            .map(|(f, _)| f.name().to_string())
            .collect();
        if let Some((i, name)) = header
            .iter()
            .enumerate()
            .find(|(i, n)| header[..*i].contains(n))
        {
            return Err(format_err(
                path,
                format!("column {} repeats the name '{name}'", i + 1),
            ));
        }
        check_dictionaries(path, &reader)?;
        Ok(ParquetSource {
            path: path.to_path_buf(),
            reader,
            header,
            kept,
        })
    }
}

/// Walks the footer's Thrift metadata with [`thrift_guard`] before `parquet` does. A file
/// too short for a footer, or without the `PAR1` magic, is left to `parquet`'s own
/// (immediate) error.
fn check_footer(bytes: &[u8]) -> std::result::Result<(), String> {
    let n = bytes.len();
    if n < 12 || &bytes[n - 4..] != b"PAR1" {
        return Ok(());
    }
    let meta_len = u32::from_le_bytes([bytes[n - 8], bytes[n - 7], bytes[n - 6], bytes[n - 5]]);
    let Some(start) = (n - 8).checked_sub(meta_len as usize) else {
        return Ok(());
    };
    thrift_guard::check_struct(&bytes[start..n - 8])
        .map(drop)
        .map_err(|e| format!("footer metadata: {e}"))
}

/// Refuses a dictionary page that declares more values than its bytes can hold. `parquet`
/// 60.1 reserves room for the declared count before decoding (`DictDecoder::set_dict`), so
/// an 824-byte file declaring ~400 million values asked for 13 GB (found by cargo-fuzz).
/// Each value takes at least its physical type's width in a PLAIN dictionary (1 bit for
/// booleans, 4 bytes for a byte array's length prefix), so a valid count is at most
/// `8 x bytes / width` and what `parquet` then allocates is a small multiple of the page.
/// Costs one extra decompression of every page.
fn check_dictionaries(path: &Path, reader: &SerializedFileReader<StrictBytes>) -> Result<()> {
    use parquet::basic::Type as Physical;
    use parquet::column::page::Page;
    let schema = reader.metadata().file_metadata().schema_descr();
    for g in 0..reader.num_row_groups() {
        let group = reader.get_row_group(g).map_err(|e| pq_err(path, e))?;
        for c in 0..group.num_columns() {
            let column = schema.column(c);
            let bits_per_value: u64 = match column.physical_type() {
                Physical::BOOLEAN => 1,
                Physical::INT32 | Physical::FLOAT | Physical::BYTE_ARRAY => 32,
                Physical::INT64 | Physical::DOUBLE => 64,
                Physical::INT96 => 96,
                Physical::FIXED_LEN_BYTE_ARRAY => 8 * column.type_length().max(1) as u64,
            };
            let pages = group
                .get_column_page_reader(c)
                .map_err(|e| pq_err(path, e))?;
            for page in pages {
                if let Page::DictionaryPage {
                    buf, num_values, ..
                } = page.map_err(|e| pq_err(path, e))?
                {
                    let room = 8 * buf.len() as u64 / bits_per_value;
                    if u64::from(num_values) > room {
                        return Err(format_err(
                            path,
                            format!(
                                "column '{}': a dictionary page declares {num_values} values in {} bytes",
                                column.name(),
                                buf.len()
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

impl RowSource for ParquetSource {
    fn path(&self) -> &Path {
        &self.path
    }

    fn header(&self) -> &[String] {
        &self.header
    }

    fn unit(&self) -> &'static str {
        "row"
    }

    fn for_each_row(&mut self, visit: &mut dyn FnMut(u64, &[Cell]) -> Result<()>) -> Result<()> {
        let rows = self
            .reader
            .get_row_iter(None)
            .map_err(|e| pq_err(&self.path, e))?;
        for (i, row) in rows.enumerate() {
            let number = i as u64 + 1;
            let row = row.map_err(|e| {
                format_err(
                    &self.path,
                    format!(
                        "row {number}: unreadable ({})",
                        e.to_string().replace('\n', " ")
                    ),
                )
            })?;
            let mut cells: Vec<Cell> = Vec::with_capacity(self.header.len());
            let mut width = 0;
            for (k, (name, field)) in row.get_column_iter().enumerate() {
                width += 1;
                if !self.kept.get(k).copied().unwrap_or(true) {
                    continue;
                }
                let cell = match field {
                    Field::Null => Cell::Missing,
                    Field::Bool(b) => Cell::Num(f64::from(u8::from(*b))),
                    Field::Byte(x) => Cell::Num(f64::from(*x)),
                    Field::Short(x) => Cell::Num(f64::from(*x)),
                    Field::Int(x) => Cell::Num(f64::from(*x)),
                    Field::Long(x) => Cell::Num(*x as f64),
                    Field::UByte(x) => Cell::Num(f64::from(*x)),
                    Field::UShort(x) => Cell::Num(f64::from(*x)),
                    Field::UInt(x) => Cell::Num(f64::from(*x)),
                    Field::ULong(x) => Cell::Num(*x as f64),
                    Field::Float16(x) => Cell::Num(f64::from(*x)),
                    Field::Float(x) => Cell::Num(f64::from(*x)),
                    Field::Double(x) => Cell::Num(*x),
                    Field::Str(s) => Cell::Text(s),
                    Field::Bytes(b) => match std::str::from_utf8(b.data()) {
                        Ok(s) => Cell::Text(s),
                        Err(_) => {
                            return Err(format_err(&self.path, format!("row {number}: column '{name}' holds non-UTF-8 bytes")))
                        }
                    },
                    _ => {
                        return Err(format_err(
                            &self.path,
                            format!("row {number}: column '{name}' has an unsupported type (dates, decimals, nested values)"),
                        ))
                    }
                };
                cells.push(cell);
            }
            if width != self.kept.len() || cells.len() != self.header.len() {
                return Err(format_err(
                    &self.path,
                    format!("row {number}: {width} fields, expected {}", self.kept.len()),
                ));
            }
            visit(number, &cells)?;
        }
        Ok(())
    }
}

/// A small valid Snappy-compressed Parquet table (`id` int64, `a` double, `b` UTF-8,
/// `label` int32; 3 rows), written with the `parquet` crate's own writer: the fuzzer's
/// seed and the tests' fixture.
pub fn example_file() -> Vec<u8> {
    use parquet::basic::Compression;
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;
    let schema = "message t { required int64 id; required double a; required binary b (UTF8); required int32 label; }";
    let write = || -> parquet::errors::Result<Vec<u8>> {
        let schema = Arc::new(parse_message_type(schema)?);
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .build(),
        );
        let mut out = Vec::new();
        let mut writer = SerializedFileWriter::new(&mut out, schema, props)?;
        let mut group = writer.next_row_group()?;
        let mut index = 0;
        while let Some(mut column) = group.next_column()? {
            match index {
                0 => column
                    .typed::<Int64Type>()
                    .write_batch(&[7, 8, 9], None, None)?,
                1 => column
                    .typed::<DoubleType>()
                    .write_batch(&[0.5, -2.0, 4.0], None, None)?,
                2 => column.typed::<ByteArrayType>().write_batch(
                    &[
                        ByteArray::from("x"),
                        ByteArray::from("y"),
                        ByteArray::from("x"),
                    ],
                    None,
                    None,
                )?,
                _ => column
                    .typed::<Int32Type>()
                    .write_batch(&[1, 0, 1], None, None)?,
            };
            column.close()?;
            index += 1;
        }
        group.close()?;
        writer.close()?;
        Ok(out)
    };
    write().expect("writing a fixed valid table cannot fail")
}
