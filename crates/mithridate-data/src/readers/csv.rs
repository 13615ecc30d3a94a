//! CSV tables: a header line naming the columns, one sample per record (RFC 4180 quoting,
//! via the `csv` crate), streamed twice by [`super::table`]. Errors name the physical line.

use super::table::{read_table, Cell, RowSource, TableEncoding};
use super::{check_file_size, format_err, ReadOptions};
use crate::fsutil::io_err;
use crate::{Dataset, Result};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Reads a CSV file (see [`super::table`] for typing, encoding and ids).
pub fn read(path: &Path, options: &ReadOptions) -> Result<(Dataset, TableEncoding)> {
    check_file_size(path, &options.limits)?;
    let mut source = CsvSource::open(path, None, options.limits.max_columns)?;
    read_table(&mut source, options)
}

/// Reads CSV held in memory (`path` only names it in errors), e.g. for fuzzing.
pub fn read_bytes(
    path: &Path,
    bytes: &[u8],
    options: &ReadOptions,
) -> Result<(Dataset, TableEncoding)> {
    if bytes.len() as u64 > options.limits.max_file_bytes {
        return Err(format_err(path, "input is over the file-size limit"));
    }
    let mut source = CsvSource::open(path, Some(bytes), options.limits.max_columns)?;
    read_table(&mut source, options)
}

struct CsvSource<'a> {
    path: PathBuf,
    /// The CSV itself when held in memory; else it is streamed from `path`.
    bytes: Option<&'a [u8]>,
    header: Vec<String>,
}

fn reader<'a>(path: &Path, bytes: Option<&'a [u8]>) -> Result<csv::Reader<Box<dyn Read + 'a>>> {
    let input: Box<dyn Read + 'a> = match bytes {
        Some(b) => Box::new(b),
        None => Box::new(BufReader::new(File::open(path).map_err(io_err(path))?)),
    };
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        // Ragged rows are checked here, to word the error.
        .flexible(true)
        .from_reader(input))
}

fn csv_err(path: &Path, e: &csv::Error) -> crate::DataError {
    let line = e
        .position()
        .map_or(String::new(), |p| format!("line {}: ", p.line()));
    format_err(path, format!("{line}unreadable CSV ({})", e.kind_name()))
}

/// A short name for a csv error kind (their Display can span lines).
trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for csv::Error {
    fn kind_name(&self) -> String {
        match self.kind() {
            csv::ErrorKind::Io(e) => e.to_string().replace('\n', " "),
            csv::ErrorKind::Utf8 { .. } => "not UTF-8".into(),
            csv::ErrorKind::UnequalLengths { .. } => "ragged row".into(),
            _ => "malformed record".into(),
        }
    }
}

impl<'a> CsvSource<'a> {
    fn open(path: &Path, bytes: Option<&'a [u8]>, max_columns: usize) -> Result<CsvSource<'a>> {
        let mut r = reader(path, bytes)?;
        let header = r.byte_headers().map_err(|e| csv_err(path, &e))?;
        if header.len() > max_columns {
            return Err(format_err(
                path,
                format!(
                    "line 1: {} columns, over the {max_columns}-column limit",
                    header.len()
                ),
            ));
        }
        if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
            return Err(format_err(
                path,
                "line 1: empty header (a CSV needs column names)",
            ));
        }
        let mut names: Vec<String> = Vec::with_capacity(header.len());
        for (i, field) in header.iter().enumerate() {
            let name = std::str::from_utf8(field)
                .map_err(|_| {
                    format_err(path, format!("line 1: column {} name is not UTF-8", i + 1))
                })?
                .trim()
                .to_string();
            if name.is_empty() {
                return Err(format_err(
                    path,
                    format!("line 1: column {} has no name", i + 1),
                ));
            }
            if names.contains(&name) {
                return Err(format_err(
                    path,
                    format!("line 1: duplicate column name '{name}'"),
                ));
            }
            names.push(name);
        }
        Ok(CsvSource {
            path: path.to_path_buf(),
            bytes,
            header: names,
        })
    }
}

impl RowSource for CsvSource<'_> {
    fn path(&self) -> &Path {
        &self.path
    }

    fn header(&self) -> &[String] {
        &self.header
    }

    fn unit(&self) -> &'static str {
        "line"
    }

    fn for_each_row(&mut self, visit: &mut dyn FnMut(u64, &[Cell]) -> Result<()>) -> Result<()> {
        let mut r = reader(&self.path, self.bytes)?;
        let width = self.header.len();
        let mut record = csv::ByteRecord::new();
        loop {
            let more = r
                .read_byte_record(&mut record)
                .map_err(|e| csv_err(&self.path, &e))?;
            if !more {
                return Ok(());
            }
            let line = record.position().map_or(0, |p| p.line());
            // A blank line is no record; the csv crate already skips those.
            if record.len() != width {
                return Err(format_err(
                    &self.path,
                    format!("line {line}: {} fields, expected {width}", record.len()),
                ));
            }
            let mut cells: Vec<Cell> = Vec::with_capacity(width);
            for (i, field) in record.iter().enumerate() {
                let text = std::str::from_utf8(field).map_err(|_| {
                    format_err(
                        &self.path,
                        format!("line {line}: column '{}' is not UTF-8", self.header[i]),
                    )
                })?;
                cells.push(Cell::Text(text));
            }
            visit(line, &cells)?;
        }
    }
}
