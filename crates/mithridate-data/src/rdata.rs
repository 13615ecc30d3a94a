//! A small, defensive reader for the subset of R's serialization format (R Internals,
//! "Serialization Formats"; `src/main/serialize.c`) needed to read a data frame from an
//! `.rda` file written by `save()`: XDR (big-endian binary) format version 2 or 3, optionally
//! gzip- or bzip2-compressed, holding a pairlist of named objects.
//!
//! Supported: `NULL`, symbols and references to them, pairlists (for attributes and the
//! top-level object list), `CHARSXP`/`STRSXP` strings (including `NA`), logical, integer and
//! double vectors, generic vectors (`VECSXP`, i.e. lists and data frames), attributes.
//! Everything else (environments, closures, bytecode, ALTREP, ASCII or native formats) is
//! rejected with an error naming the file and the unsupported type; lengths are checked
//! against the remaining input before anything is allocated, and nesting is bounded.

use crate::{DataError, Result};
use std::io::Read;

/// A one-line format error for `file`.
pub fn format_err(file: &str, message: impl Into<String>) -> DataError {
    DataError::Format {
        path: file.into(),
        message: message.into(),
    }
}

/// An R value with its attributes (name -> value, in file order).
#[derive(Debug, Clone, PartialEq)]
pub struct RValue {
    pub data: RData,
    pub attributes: Vec<(String, RValue)>,
}

impl RValue {
    pub fn attribute(&self, name: &str) -> Option<&RValue> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The strings of a character vector attribute such as `names`, `class` or `levels`.
    fn string_attribute(&self, name: &str) -> Option<&[Option<String>]> {
        match &self.attribute(name)?.data {
            RData::Strings(s) => Some(s),
            _ => None,
        }
    }
}

/// The payload of an R value (the subset this reader supports).
#[derive(Debug, Clone, PartialEq)]
pub enum RData {
    Null,
    Symbol(String),
    /// `None` is `NA_character_`.
    Strings(Vec<Option<String>>),
    /// `NA` is `i32::MIN`, as in R.
    Logical(Vec<i32>),
    /// `NA` is `i32::MIN`, as in R.
    Integer(Vec<i32>),
    Real(Vec<f64>),
    List(Vec<RValue>),
    /// A pairlist: `(tag, value)` cells.
    PairList(Vec<(Option<String>, RValue)>),
}

impl RData {
    fn type_name(&self) -> &'static str {
        match self {
            RData::Null => "NULL",
            RData::Symbol(_) => "symbol",
            RData::Strings(_) => "character",
            RData::Logical(_) => "logical",
            RData::Integer(_) => "integer",
            RData::Real(_) => "double",
            RData::List(_) => "list",
            RData::PairList(_) => "pairlist",
        }
    }
}

// SEXP type codes and special markers from serialize.c.
const NILSXP: u8 = 0;
const SYMSXP: u8 = 1;
const LISTSXP: u8 = 2;
const CHARSXP: u8 = 9;
const LGLSXP: u8 = 10;
const INTSXP: u8 = 13;
const REALSXP: u8 = 14;
const STRSXP: u8 = 16;
const VECSXP: u8 = 19;
const REFSXP: u8 = 255;
const NILVALUE_SXP: u8 = 254;

const HAS_ATTR_BIT: u32 = 1 << 9;
const HAS_TAG_BIT: u32 = 1 << 10;
/// Deeper nesting than any data frame needs; bounds recursion on hostile input.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    file: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Symbols seen so far; `REFSXP` refers to them by 1-based index.
    refs: Vec<String>,
}

impl<'a> Parser<'a> {
    fn err(&self, message: impl std::fmt::Display) -> DataError {
        format_err(self.file, format!("R data at byte {}: {message}", self.pos))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.err("truncated"))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn int(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// A vector length (`-1` introduces a 64-bit long length), checked against the bytes
    /// left so a corrupt length cannot trigger a huge allocation.
    fn length(&mut self, item_bytes: usize) -> Result<usize> {
        let len = self.int()?;
        let len = if len == -1 {
            let hi = self.int()? as u32 as u64;
            let lo = self.int()? as u32 as u64;
            (hi << 32) | lo
        } else if len < 0 {
            return Err(self.err(format!("negative length {len}")));
        } else {
            len as u64
        };
        let len = usize::try_from(len).map_err(|_| self.err("length overflows"))?;
        if len.saturating_mul(item_bytes.max(1)) > self.remaining() {
            return Err(self.err(format!(
                "truncated: length {len} exceeds the remaining data"
            )));
        }
        Ok(len)
    }

    fn item(&mut self, depth: usize) -> Result<RValue> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let flags = self.int()? as u32;
        let kind = (flags & 0xff) as u8;
        let has_attr = flags & HAS_ATTR_BIT != 0;
        let plain = |data| RValue {
            data,
            attributes: Vec::new(),
        };
        match kind {
            NILVALUE_SXP | NILSXP => Ok(plain(RData::Null)),
            REFSXP => {
                let index = match flags >> 8 {
                    0 => self.int()? as u32,
                    i => i,
                } as usize;
                let name = index
                    .checked_sub(1)
                    .and_then(|i| self.refs.get(i))
                    .cloned()
                    .ok_or_else(|| self.err(format!("reference {index} to an unknown object")))?;
                Ok(plain(RData::Symbol(name)))
            }
            SYMSXP => {
                let name = match self.item(depth + 1)?.data {
                    RData::Strings(mut s) if s.len() == 1 => s.pop().flatten().unwrap_or_default(),
                    other => return Err(self.err(format!("symbol name is {}", other.type_name()))),
                };
                self.refs.push(name.clone());
                Ok(plain(RData::Symbol(name)))
            }
            LISTSXP => self.pairlist(flags, depth),
            CHARSXP => {
                let len = self.int()?;
                if len == -1 {
                    return Ok(plain(RData::Strings(vec![None])));
                }
                let len = usize::try_from(len).map_err(|_| self.err("negative string length"))?;
                let raw = self.take(len)?;
                // Latin-1 and unknown encodings: keep what is valid, replace the rest.
                let text = String::from_utf8_lossy(raw).into_owned();
                Ok(plain(RData::Strings(vec![Some(text)])))
            }
            LGLSXP | INTSXP => {
                let len = self.length(4)?;
                let mut values = Vec::with_capacity(len);
                for _ in 0..len {
                    values.push(self.int()?);
                }
                let data = if kind == LGLSXP {
                    RData::Logical(values)
                } else {
                    RData::Integer(values)
                };
                self.with_attributes(data, has_attr, depth)
            }
            REALSXP => {
                let len = self.length(8)?;
                let raw = self.take(len * 8)?;
                let values = raw
                    .chunks_exact(8)
                    .map(|b| f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                    .collect();
                self.with_attributes(RData::Real(values), has_attr, depth)
            }
            STRSXP => {
                let len = self.length(8)?;
                let mut values = Vec::with_capacity(len);
                for _ in 0..len {
                    match self.item(depth + 1)?.data {
                        RData::Strings(mut s) if s.len() == 1 => values.push(s.pop().flatten()),
                        other => {
                            return Err(self
                                .err(format!("character vector element is {}", other.type_name())))
                        }
                    }
                }
                self.with_attributes(RData::Strings(values), has_attr, depth)
            }
            VECSXP => {
                let len = self.length(4)?;
                let mut values = Vec::with_capacity(len);
                for _ in 0..len {
                    values.push(self.item(depth + 1)?);
                }
                self.with_attributes(RData::List(values), has_attr, depth)
            }
            other => Err(self.err(format!("unsupported R object type {other}"))),
        }
    }

    /// Reads a pairlist iteratively (attributes, tag, CAR; then the CDR cell's flags).
    fn pairlist(&mut self, first_flags: u32, depth: usize) -> Result<RValue> {
        let mut cells = Vec::new();
        let mut attributes = Vec::new();
        let mut flags = first_flags;
        loop {
            if flags & HAS_ATTR_BIT != 0 {
                let attrs = self.item(depth + 1)?;
                if cells.is_empty() {
                    attributes = attributes_of(self, attrs)?;
                }
            }
            let tag = if flags & HAS_TAG_BIT != 0 {
                match self.item(depth + 1)?.data {
                    RData::Symbol(s) => Some(s),
                    RData::Strings(mut s) if s.len() == 1 => s.pop().flatten(),
                    other => return Err(self.err(format!("pairlist tag is {}", other.type_name()))),
                }
            } else {
                None
            };
            let value = self.item(depth + 1)?;
            cells.push((tag, value));
            // The CDR: another cons cell continues the list, NULL ends it.
            let next = self.int()? as u32;
            match (next & 0xff) as u8 {
                LISTSXP => flags = next,
                NILVALUE_SXP | NILSXP => break,
                other => return Err(self.err(format!("pairlist ends in unsupported type {other}"))),
            }
        }
        Ok(RValue {
            data: RData::PairList(cells),
            attributes,
        })
    }

    fn with_attributes(&mut self, data: RData, has_attr: bool, depth: usize) -> Result<RValue> {
        let attributes = if has_attr {
            let attrs = self.item(depth + 1)?;
            attributes_of(self, attrs)?
        } else {
            Vec::new()
        };
        Ok(RValue { data, attributes })
    }
}

fn attributes_of(p: &Parser, attrs: RValue) -> Result<Vec<(String, RValue)>> {
    match attrs.data {
        RData::PairList(cells) => cells
            .into_iter()
            .map(|(tag, v)| {
                tag.map(|t| (t, v))
                    .ok_or_else(|| p.err("attribute without a name"))
            })
            .collect(),
        other => Err(p.err(format!("attributes are {}", other.type_name()))),
    }
}

/// Decompresses gzip or bzip2 input; passes uncompressed input through.
fn decompress(file: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let result = if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)
    } else if bytes.starts_with(b"BZh") {
        bzip2::read::BzDecoder::new(bytes).read_to_end(&mut out)
    } else if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(format_err(file, "xz-compressed R data is not supported"));
    } else {
        return Ok(bytes.to_vec());
    };
    result.map_err(|e| format_err(file, format!("corrupt compressed R data: {e}")))?;
    Ok(out)
}

/// Parses an `.rda` file (as written by `save()`) into its `(name, value)` objects.
pub fn read_rda(file: &str, bytes: &[u8]) -> Result<Vec<(String, RValue)>> {
    let raw = decompress(file, bytes)?;
    let body = if raw.starts_with(b"RDX2\n") || raw.starts_with(b"RDX3\n") {
        &raw[5..]
    } else {
        return Err(format_err(
            file,
            "not an R data file (missing RDX2/RDX3 header)",
        ));
    };
    if !body.starts_with(b"X\n") {
        return Err(format_err(
            file,
            "only the XDR binary R serialization format is supported (not ASCII or native)",
        ));
    }
    let mut p = Parser {
        file,
        bytes: &body[2..],
        pos: 0,
        refs: Vec::new(),
    };
    let version = p.int()?;
    let _writer_version = p.int()?;
    let _min_reader_version = p.int()?;
    match version {
        2 => {}
        3 => {
            let encoding_len =
                usize::try_from(p.int()?).map_err(|_| p.err("bad encoding length"))?;
            p.take(encoding_len)?;
        }
        v => return Err(p.err(format!("unsupported serialization version {v}"))),
    }
    match p.item(0)?.data {
        RData::PairList(cells) => cells
            .into_iter()
            .map(|(tag, v)| {
                tag.map(|t| (t, v))
                    .ok_or_else(|| p.err("unnamed top-level object"))
            })
            .collect(),
        other => Err(p.err(format!(
            "top level is {}, expected a pairlist",
            other.type_name()
        ))),
    }
}

/// A data frame column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: ColumnValues,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    /// Numeric (double or integer) values.
    Real(Vec<f64>),
    /// A factor: 0-based level codes and the level names.
    Factor {
        codes: Vec<usize>,
        levels: Vec<String>,
    },
}

/// A data frame: named columns of equal length.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFrame {
    pub columns: Vec<Column>,
    pub rows: usize,
}

/// Reads the data frame called `object` from an `.rda` file. Numeric and integer columns
/// become [`ColumnValues::Real`], factors [`ColumnValues::Factor`]; `NA` in a factor, or any
/// other column type, is an error.
pub fn read_data_frame(file: &str, bytes: &[u8], object: &str) -> Result<DataFrame> {
    let objects = read_rda(file, bytes)?;
    let value = objects
        .into_iter()
        .find(|(name, _)| name == object)
        .map(|(_, v)| v)
        .ok_or_else(|| format_err(file, format!("no object named '{object}'")))?;
    let is_frame = value
        .string_attribute("class")
        .is_some_and(|c| c.iter().any(|c| c.as_deref() == Some("data.frame")));
    let RData::List(columns) = &value.data else {
        return Err(format_err(
            file,
            format!("'{object}' is {}, not a data frame", value.data.type_name()),
        ));
    };
    if !is_frame {
        return Err(format_err(
            file,
            format!("'{object}' is a list without class data.frame"),
        ));
    }
    let names = value
        .string_attribute("names")
        .ok_or_else(|| format_err(file, format!("'{object}' has no column names")))?;
    if names.len() != columns.len() {
        return Err(format_err(
            file,
            "column names and columns differ in number",
        ));
    }
    let mut out = Vec::with_capacity(columns.len());
    let mut rows = None;
    for (name, column) in names.iter().zip(columns) {
        let name = name.clone().unwrap_or_else(|| "NA".to_string());
        let is_factor = column
            .string_attribute("class")
            .is_some_and(|c| c.iter().any(|c| c.as_deref() == Some("factor")));
        let values = match (&column.data, is_factor) {
            (RData::Integer(codes), true) => {
                let levels: Vec<String> = column
                    .string_attribute("levels")
                    .ok_or_else(|| format_err(file, format!("factor '{name}' has no levels")))?
                    .iter()
                    .map(|l| l.clone().unwrap_or_else(|| "NA".to_string()))
                    .collect();
                let codes = codes
                    .iter()
                    .enumerate()
                    .map(|(row, &c)| {
                        usize::try_from(c)
                            .ok()
                            .filter(|&c| c >= 1 && c <= levels.len())
                            .map(|c| c - 1)
                            .ok_or_else(|| {
                                format_err(
                                    file,
                                    format!(
                                        "factor '{name}' has NA or invalid code {c} at row {row}"
                                    ),
                                )
                            })
                    })
                    .collect::<Result<_>>()?;
                ColumnValues::Factor { codes, levels }
            }
            (RData::Real(v), false) => ColumnValues::Real(v.clone()),
            (RData::Integer(v), false) => ColumnValues::Real(
                v.iter()
                    .map(|&x| if x == i32::MIN { f64::NAN } else { x as f64 })
                    .collect(),
            ),
            (other, _) => {
                return Err(format_err(
                    file,
                    format!("column '{name}' has unsupported type {}", other.type_name()),
                ))
            }
        };
        let len = match &values {
            ColumnValues::Real(v) => v.len(),
            ColumnValues::Factor { codes, .. } => codes.len(),
        };
        if *rows.get_or_insert(len) != len {
            return Err(format_err(
                file,
                format!("column '{name}' has {len} rows, others differ"),
            ));
        }
        out.push(Column { name, values });
    }
    Ok(DataFrame {
        columns: out,
        rows: rows.unwrap_or(0),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const IS_OBJECT_BIT: u32 = 1 << 8;

    /// Builds XDR R serialization by hand, mirroring serialize.c's writer.
    pub(crate) struct Writer(pub Vec<u8>);

    impl Writer {
        pub fn new(version: i32) -> Self {
            let mut w = Writer(b"RDX2\nX\n".to_vec());
            if version == 3 {
                w.0[3] = b'3';
            }
            w.int(version);
            w.int(0x040200);
            w.int(0x020300);
            if version == 3 {
                w.int(5);
                w.0.extend_from_slice(b"UTF-8");
            }
            w
        }
        pub fn int(&mut self, v: i32) {
            self.0.extend_from_slice(&v.to_be_bytes());
        }
        pub fn flags(&mut self, kind: u8, attr: bool, tag: bool, object: bool) {
            let mut f = kind as u32;
            if object {
                f |= IS_OBJECT_BIT;
            }
            if attr {
                f |= HAS_ATTR_BIT;
            }
            if tag {
                f |= HAS_TAG_BIT;
            }
            self.int(f as i32);
        }
        pub fn charsxp(&mut self, s: &str) {
            self.int(CHARSXP as i32 | (1 << 18)); // gp bit: UTF-8/ASCII, as R writes it
            self.int(s.len() as i32);
            self.0.extend_from_slice(s.as_bytes());
        }
        pub fn symbol(&mut self, s: &str) {
            self.flags(SYMSXP, false, false, false);
            self.charsxp(s);
        }
        pub fn strsxp(&mut self, values: &[&str], attr: bool) {
            self.flags(STRSXP, attr, false, false);
            self.int(values.len() as i32);
            for v in values {
                self.charsxp(v);
            }
        }
        pub fn reals(&mut self, values: &[f64]) {
            self.flags(REALSXP, false, false, false);
            self.int(values.len() as i32);
            for v in values {
                self.0.extend_from_slice(&v.to_be_bytes());
            }
        }
        pub fn nil(&mut self) {
            self.int(NILVALUE_SXP as i32);
        }
        /// One pairlist cell with a symbol tag (value written by `value`).
        pub fn cell(&mut self, tag: &str, value: impl FnOnce(&mut Self)) {
            self.flags(LISTSXP, false, true, false);
            self.symbol(tag);
            value(self);
        }
    }

    /// `spam <- data.frame(a = c(1.5, 2), type = factor(c("spam", "nonspam"), levels =
    /// c("nonspam", "spam")))`, saved.
    pub(crate) fn tiny_frame(version: i32) -> Vec<u8> {
        let mut w = Writer::new(version);
        w.cell("spam", |w| {
            w.flags(VECSXP, true, false, true);
            w.int(2);
            w.reals(&[1.5, 2.0]);
            // factor column
            w.flags(INTSXP, true, false, true);
            w.int(2);
            w.int(2);
            w.int(1);
            w.cell("levels", |w| w.strsxp(&["nonspam", "spam"], false));
            w.cell("class", |w| w.strsxp(&["factor"], false));
            w.nil();
            // data frame attributes; "class" is a back-reference to the symbol above
            w.cell("names", |w| w.strsxp(&["a", "type"], false));
            w.flags(LISTSXP, false, true, false);
            w.int(((3u32 << 8) | REFSXP as u32) as i32); // ref #3 = symbol "class"
            w.strsxp(&["data.frame"], false);
            w.nil();
        });
        w.nil();
        w.0
    }

    #[test]
    fn reads_a_hand_made_data_frame_v2_and_v3_and_compressed() {
        for version in [2, 3] {
            let bytes = tiny_frame(version);
            let frame = read_data_frame("t.rda", &bytes, "spam").unwrap();
            assert_eq!(frame.rows, 2);
            assert_eq!(frame.columns[0].name, "a");
            assert_eq!(frame.columns[0].values, ColumnValues::Real(vec![1.5, 2.0]));
            assert_eq!(
                frame.columns[1].values,
                ColumnValues::Factor {
                    codes: vec![1, 0],
                    levels: vec!["nonspam".into(), "spam".into()]
                }
            );
        }
        let raw = tiny_frame(2);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(read_data_frame("t", &gz, "spam").unwrap().rows, 2);
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        std::io::Write::write_all(&mut bz, &raw).unwrap();
        let bz = bz.finish().unwrap();
        assert_eq!(read_data_frame("t", &bz, "spam").unwrap().rows, 2);
    }

    /// Writes the `.rda` seeds of the fuzz corpus (`fuzz/corpus/rda/`, see
    /// `crates/mithridate-fuzz/examples/write_seeds.rs`) into `$MITHRIDATE_FUZZ_SEEDS/rda/`.
    #[test]
    #[ignore = "writes the fuzz seed corpus; run by hand"]
    fn write_fuzz_seeds() {
        let dir = std::path::PathBuf::from(
            std::env::var_os("MITHRIDATE_FUZZ_SEEDS").expect("MITHRIDATE_FUZZ_SEEDS"),
        )
        .join("rda");
        std::fs::create_dir_all(&dir).unwrap();
        for version in [2, 3] {
            std::fs::write(
                dir.join(format!("frame-v{version}.rda")),
                tiny_frame(version),
            )
            .unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tiny_frame(2)).unwrap();
        std::fs::write(dir.join("frame-v2.rda.gz"), gz.finish().unwrap()).unwrap();
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        let good = tiny_frame(2);
        // Every truncation is an error, never a panic.
        for cut in 0..good.len() {
            assert!(
                read_data_frame("t", &good[..cut], "spam").is_err(),
                "cut at {cut}"
            );
        }
        let e = |b: &[u8]| read_data_frame("t.rda", b, "spam").unwrap_err().to_string();
        assert!(e(b"hello").contains("missing RDX2/RDX3"));
        assert!(e(b"RDX2\nA\n").contains("only the XDR"));
        assert!(e(&[0x1f, 0x8b, 0, 0]).contains("corrupt compressed"));
        assert!(read_data_frame("t", &good, "other")
            .unwrap_err()
            .to_string()
            .contains("no object named 'other'"));
        // An environment (type 4) is unsupported.
        let mut w = Writer::new(2);
        w.cell("spam", |w| w.flags(4, false, false, false));
        assert!(e(&w.0).contains("unsupported R object type 4"));
        // A huge claimed length is refused before allocating.
        let mut w = Writer::new(2);
        w.cell("spam", |w| {
            w.flags(REALSXP, false, false, false);
            w.int(i32::MAX);
        });
        assert!(e(&w.0).contains("exceeds the remaining data"));
        // A dangling reference.
        let mut w = Writer::new(2);
        w.cell("spam", |w| w.int(((9u32 << 8) | REFSXP as u32) as i32));
        assert!(e(&w.0).contains("unknown object"));
        // A list without class data.frame.
        let mut w = Writer::new(2);
        w.cell("spam", |w| {
            w.flags(VECSXP, false, false, false);
            w.int(0);
        });
        w.nil();
        assert!(e(&w.0).contains("without class data.frame"));
    }
}
