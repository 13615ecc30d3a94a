//! The low-level reader of R's XDR serialization format (see the [parent module](super) for
//! the supported subset): decompression, the `RDX2`/`RDX3` header and the recursive parser
//! that turns the stream into [`RValue`]s.

use super::format_err;
use crate::{DataError, Result};
use std::io::Read;

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
    pub(super) fn string_attribute(&self, name: &str) -> Option<&[Option<String>]> {
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
    pub(super) fn type_name(&self) -> &'static str {
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

// SEXP type codes and special markers from serialize.c. Those the parent module's tests
// write with their hand-made serializer are pub(super).
const NILSXP: u8 = 0;
pub(super) const SYMSXP: u8 = 1;
pub(super) const LISTSXP: u8 = 2;
pub(super) const CHARSXP: u8 = 9;
const LGLSXP: u8 = 10;
pub(super) const INTSXP: u8 = 13;
pub(super) const REALSXP: u8 = 14;
pub(super) const STRSXP: u8 = 16;
pub(super) const VECSXP: u8 = 19;
pub(super) const REFSXP: u8 = 255;
pub(super) const NILVALUE_SXP: u8 = 254;

pub(super) const HAS_ATTR_BIT: u32 = 1 << 9;
pub(super) const HAS_TAG_BIT: u32 = 1 << 10;
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
