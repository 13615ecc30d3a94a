//! ARFF, Weka's Attribute-Relation File Format: a header of `@relation`, `@attribute` and
//! `@data` lines, then one comma-separated row per sample.
//!
//! The reader only parses; typing, one-hot encoding, labels, ids and size limits are the
//! table layer's ([`crate::readers::table`]), so an ARFF file and a CSV file with the same
//! content become the same kind of [`Dataset`] and share one encoder. The difference is
//! that ARFF *declares* its types, so the header is turned into a recorded
//! [`TableEncoding`] instead of inferring one: `numeric`/`real`/`integer` attributes are
//! numeric features, nominal attributes `{a, b, 'c d'}` are one-hot encoded in their
//! *declared* order (categories absent from the rows keep their column, so two files with
//! the same header always get the same width), and the class attribute's declared values
//! are the class names, in order.
//!
//! Conventions and policy:
//! - The class is the **last attribute** unless `--label-column` names another; it must be
//!   nominal. An attribute named `id` (or `--id-column`) gives the sample ids, as for CSV.
//! - Keywords are case-insensitive; names and values may be quoted with `'` or `"` (with
//!   backslash escapes); lines whose first non-blank character is `%` are comments.
//! - A **missing value** `?` is refused with its line number: nothing is imputed silently
//!   (the table layer's rule). A quoted `'?'` is an ordinary value.
//! - Refused with a one-line error naming file and line: `string`, `date` and `relational`
//!   attributes, sparse rows (`{0 x, 3 y}`), instance weights, unknown nominal values,
//!   non-numbers in numeric attributes, unterminated quotes, a row with the wrong number
//!   of values, non-UTF-8 text.
//! - Memory is bounded as for CSV: the file is streamed twice (never held whole unless it
//!   was handed over as bytes), attributes and nominal values are checked against
//!   [`crate::readers::ReadLimits`] while the header is read, and the matrix is allocated
//!   once after `rows x width` was checked.
//!
//! [`parse`] is the bytes-level entry point for fuzz harnesses.

use crate::fsutil::io_err;
use crate::readers::table::{read_table, Cell, ColumnEncoding, RowSource, TableEncoding};
use crate::readers::{check_file_size, format_err, ReadLimits, ReadOptions};
use crate::{DataError, Dataset, Result};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// One declared attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub kind: AttributeKind,
}

/// The attribute types this reader accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeKind {
    /// `numeric`, `real` or `integer`.
    Numeric,
    /// `{v1, v2, ...}`, in declared order.
    Nominal(Vec<String>),
}

/// An ARFF header: the relation's name, its attributes, and the line `@data` is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub relation: String,
    pub attributes: Vec<Attribute>,
    pub data_line: u64,
}

/// Reads an ARFF file (see the module docs for conventions).
pub fn read(path: &Path, options: &ReadOptions) -> Result<(Dataset, TableEncoding)> {
    check_file_size(path, &options.limits)?;
    read_source(path, None, options)
}

/// Reads ARFF held in memory (`path` only names it in errors).
pub fn read_bytes(
    path: &Path,
    bytes: &[u8],
    options: &ReadOptions,
) -> Result<(Dataset, TableEncoding)> {
    if bytes.len() as u64 > options.limits.max_file_bytes {
        return Err(format_err(path, "input is over the file-size limit"));
    }
    read_source(path, Some(bytes), options)
}

/// Bytes-level entry point with default options, for fuzz harnesses: any input must give
/// `Ok` or a one-line `Err`, never a panic or an unbounded allocation.
pub fn parse(file_name: &str, bytes: &[u8]) -> Result<(Dataset, TableEncoding)> {
    read_bytes(Path::new(file_name), bytes, &ReadOptions::default())
}

fn read_source(
    path: &Path,
    bytes: Option<&[u8]>,
    options: &ReadOptions,
) -> Result<(Dataset, TableEncoding)> {
    let read = || {
        let header = read_header(path, &mut open(path, bytes)?, &options.limits)?;
        let mut with_encoding = options.clone();
        if with_encoding.encoding.is_none() {
            with_encoding.encoding = Some(declared_encoding(path, &header, options)?);
        }
        let mut source = ArffSource {
            path: path.to_path_buf(),
            bytes,
            names: header.attributes.iter().map(|a| a.name.clone()).collect(),
            data_line: header.data_line,
        };
        read_table(&mut source, &with_encoding)
    };
    read().map_err(one_line)
}

/// Quoted names and values may hold `\n` escapes, which error messages quote: escape line
/// breaks so every error stays one line.
fn one_line(e: DataError) -> DataError {
    match e {
        DataError::Format { path, message } if message.contains(['\n', '\r']) => {
            DataError::Format {
                path,
                message: message.replace('\n', "\\n").replace('\r', "\\r"),
            }
        }
        other => other,
    }
}

/// The encoding the header declares: class attribute (last, or `--label-column`), id
/// attribute (`--id-column`, or one named `id`), every other attribute a feature.
fn declared_encoding(path: &Path, header: &Header, options: &ReadOptions) -> Result<TableEncoding> {
    let attrs = &header.attributes;
    let find = |name: &str| attrs.iter().position(|a| a.name == name);
    let label = match &options.label_column {
        Some(name) => find(name)
            .ok_or_else(|| format_err(path, format!("no attribute '{name}' for --label-column")))?,
        None => attrs.len() - 1,
    };
    let AttributeKind::Nominal(classes) = &attrs[label].kind else {
        return Err(format_err(
            path,
            format!(
                "class attribute '{}' is numeric; classification needs a nominal class \
                 (choose another with --label-column)",
                attrs[label].name
            ),
        ));
    };
    let id =
        match &options.id_column {
            Some(name) => Some(find(name).ok_or_else(|| {
                format_err(path, format!("no attribute '{name}' for --id-column"))
            })?),
            None => find("id").filter(|&i| i != label),
        };
    let columns = attrs
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != label && Some(i) != id)
        .map(|(_, a)| match &a.kind {
            AttributeKind::Numeric => ColumnEncoding::Numeric {
                name: a.name.clone(),
            },
            AttributeKind::Nominal(values) => ColumnEncoding::OneHot {
                name: a.name.clone(),
                categories: values.clone(),
            },
        })
        .collect();
    Ok(TableEncoding {
        label_column: attrs[label].name.clone(),
        classes: classes.clone(),
        id_column: id.map(|i| attrs[i].name.clone()),
        columns,
    })
}

fn open<'a>(path: &Path, bytes: Option<&'a [u8]>) -> Result<Box<dyn BufRead + 'a>> {
    Ok(match bytes {
        Some(b) => Box::new(b),
        None => Box::new(BufReader::new(File::open(path).map_err(io_err(path))?)),
    })
}

fn line_err(path: &Path, line: u64, message: impl std::fmt::Display) -> DataError {
    format_err(path, format!("line {line}: {message}"))
}

/// Calls `visit(line number, line)` for every line without its end-of-line characters,
/// until `visit` returns `Ok(false)`.
fn for_each_line(
    path: &Path,
    input: &mut dyn BufRead,
    visit: &mut dyn FnMut(u64, &str) -> Result<bool>,
) -> Result<()> {
    let mut raw = Vec::new();
    let mut number = 0u64;
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw).map_err(io_err(path))? == 0 {
            return Ok(());
        }
        number += 1;
        let text = std::str::from_utf8(&raw).map_err(|_| line_err(path, number, "not UTF-8"))?;
        if !visit(number, text.trim_end_matches(['\n', '\r']))? {
            return Ok(());
        }
    }
}

/// Blank lines and `%` comments carry nothing.
fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('%')
}

/// Reads the header up to and including `@data`.
pub fn read_header(path: &Path, input: &mut dyn BufRead, limits: &ReadLimits) -> Result<Header> {
    let mut relation: Option<String> = None;
    let mut attributes: Vec<Attribute> = Vec::new();
    let mut data_line = None;
    for_each_line(path, input, &mut |number, line| {
        if is_blank_or_comment(line) {
            return Ok(true);
        }
        let err = |m: String| line_err(path, number, m);
        let trimmed = line.trim();
        let (keyword, rest) = trimmed
            .split_once(|c: char| c.is_whitespace() || c == '{')
            .map_or((trimmed, ""), |(k, _)| (k, trimmed[k.len()..].trim_start()));
        match keyword.to_ascii_lowercase().as_str() {
            "@relation" if relation.is_none() && attributes.is_empty() => {
                let (name, after) = token(rest).map_err(err)?;
                if !after.trim().is_empty() {
                    return Err(line_err(path, number, "text after the relation name"));
                }
                relation = Some(name);
                Ok(true)
            }
            "@attribute" => {
                if relation.is_none() {
                    return Err(err("@attribute before @relation".into()));
                }
                if attributes.len() >= limits.max_columns {
                    return Err(err(format!(
                        "more than {} attributes, over the column limit",
                        limits.max_columns
                    )));
                }
                let attribute = parse_attribute(rest, limits).map_err(err)?;
                if attributes.iter().any(|a| a.name == attribute.name) {
                    return Err(err(format!("duplicate attribute '{}'", attribute.name)));
                }
                attributes.push(attribute);
                Ok(true)
            }
            "@data" if rest.is_empty() => {
                data_line = Some(number);
                Ok(false)
            }
            _ => Err(err(format!(
                "expected @relation, @attribute or @data, found '{}'",
                trimmed.chars().take(40).collect::<String>()
            ))),
        }
    })?;
    let data_line = data_line.ok_or_else(|| format_err(path, "no @data line"))?;
    if attributes.len() < 2 {
        return Err(line_err(
            path,
            data_line,
            "an ARFF table needs at least one feature and a class attribute",
        ));
    }
    Ok(Header {
        relation: relation.unwrap_or_default(),
        attributes,
        data_line,
    })
}

/// `name type` after `@attribute`.
fn parse_attribute(rest: &str, limits: &ReadLimits) -> std::result::Result<Attribute, String> {
    let (name, kind) = token(rest)?;
    let kind = kind.trim();
    if let Some(list) = kind.strip_prefix('{') {
        let list = list
            .strip_suffix('}')
            .ok_or_else(|| format!("nominal attribute '{name}' has no closing '}}'"))?;
        let values = split_values(list)?;
        if values.len() > limits.max_categories {
            return Err(format!(
                "attribute '{name}' has {} values, over the {}-category limit",
                values.len(),
                limits.max_categories
            ));
        }
        let mut names: Vec<String> = Vec::with_capacity(values.len());
        for (value, _) in values {
            if names.contains(&value) {
                return Err(format!("attribute '{name}' declares '{value}' twice"));
            }
            names.push(value);
        }
        if names.is_empty() {
            return Err(format!("nominal attribute '{name}' declares no values"));
        }
        return Ok(Attribute {
            name,
            kind: AttributeKind::Nominal(names),
        });
    }
    let word = kind.split_whitespace().next().unwrap_or("");
    match word.to_ascii_lowercase().as_str() {
        "numeric" | "real" | "integer" => Ok(Attribute {
            name,
            kind: AttributeKind::Numeric,
        }),
        "" => Err(format!("attribute '{name}' has no type")),
        other @ ("string" | "date" | "relational") => Err(format!(
            "attribute '{name}' is of type {other}, which is not supported (numeric and nominal only)"
        )),
        other => Err(format!(
            "attribute '{name}' has unknown type '{}'",
            other.chars().take(40).collect::<String>()
        )),
    }
}

/// One name or value at the start of `text`, quoted (`'...'`, `"..."`, backslash escapes)
/// or up to whitespace, `{` or `,`; returns it unquoted and the rest of `text`.
fn token(text: &str) -> std::result::Result<(String, &str), String> {
    let text = text.trim_start();
    let mut chars = text.char_indices();
    match chars.next() {
        None => Err("missing name".into()),
        Some((_, q @ ('\'' | '"'))) => {
            let mut out = String::new();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, 'n')) => out.push('\n'),
                        Some((_, 't')) => out.push('\t'),
                        Some((_, 'r')) => out.push('\r'),
                        Some((_, e)) => out.push(e),
                        None => break,
                    },
                    c if c == q => return Ok((out, &text[i + c.len_utf8()..])),
                    c => out.push(c),
                }
            }
            Err(format!("unterminated {q}-quoted text"))
        }
        Some(_) => {
            let end = text
                .find(|c: char| c.is_whitespace() || c == '{' || c == ',')
                .unwrap_or(text.len());
            Ok((text[..end].to_string(), &text[end..]))
        }
    }
}

/// Splits comma-separated values (a data row or a nominal list); each value comes with
/// whether it was quoted, so that a bare `?` can be told from the value `'?'`.
fn split_values(text: &str) -> std::result::Result<Vec<(String, bool)>, String> {
    let mut values = Vec::new();
    let mut rest = text;
    loop {
        let start = rest.trim_start();
        let quoted = start.starts_with(['\'', '"']);
        let (value, after) = if quoted {
            token(start)?
        } else {
            let end = start.find(',').unwrap_or(start.len());
            (start[..end].trim_end().to_string(), &start[end..])
        };
        if value.is_empty() && !quoted {
            return Err(format!("empty value at position {}", values.len() + 1));
        }
        values.push((value, quoted));
        let after = after.trim_start();
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None if after.is_empty() => return Ok(values),
            None => {
                return Err(format!(
                    "unexpected '{}' after value {}",
                    after.chars().take(20).collect::<String>(),
                    values.len()
                ))
            }
        }
    }
}

/// The `@data` section as a [`RowSource`]: re-read from the start on every pass.
struct ArffSource<'a> {
    path: PathBuf,
    bytes: Option<&'a [u8]>,
    names: Vec<String>,
    data_line: u64,
}

impl RowSource for ArffSource<'_> {
    fn path(&self) -> &Path {
        &self.path
    }

    fn header(&self) -> &[String] {
        &self.names
    }

    fn unit(&self) -> &'static str {
        "line"
    }

    fn for_each_row(&mut self, visit: &mut dyn FnMut(u64, &[Cell]) -> Result<()>) -> Result<()> {
        let path = &self.path;
        let width = self.names.len();
        let mut input = open(path, self.bytes)?;
        for_each_line(path, &mut input, &mut |number, line| {
            if number <= self.data_line || is_blank_or_comment(line) {
                return Ok(true);
            }
            if line.trim_start().starts_with('{') {
                return Err(line_err(path, number, "sparse ARFF rows are not supported"));
            }
            let values = split_values(line).map_err(|m| line_err(path, number, m))?;
            if values.len() != width {
                return Err(line_err(
                    path,
                    number,
                    format!("{} values, expected {width}", values.len()),
                ));
            }
            if let Some(i) = values.iter().position(|(v, quoted)| v == "?" && !quoted) {
                return Err(line_err(
                    path,
                    number,
                    format!(
                        "missing value '?' for attribute '{}' (missing values are not \
                         imputed: fill or drop the row)",
                        self.names[i]
                    ),
                ));
            }
            let cells: Vec<Cell> = values.iter().map(|(v, _)| Cell::Text(v)).collect();
            visit(number, &cells)?;
            Ok(true)
        })
    }
}

#[cfg(test)]
#[path = "arff_tests.rs"]
mod tests;
