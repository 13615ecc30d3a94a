//! The `.npy` header: the float-only [`Header`] and the any-dtype [`AnyHeader`] with their
//! parser (the preamble, then the Python dict literal), and the writer's [`header_bytes`].

use std::io::Read;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Longest header accepted. NumPy itself refuses headers over 10,000 bytes unless told
/// otherwise; anything near this bound is hostile, not a real array.
const MAX_HEADER_LEN: usize = 1 << 20;
/// Payloads start on a multiple of this (the NumPy format's alignment).
const ALIGN: usize = 64;

/// Element type of a float `.npy` array (always little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
}

impl Dtype {
    /// The NumPy type string, e.g. `<f4`.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
        }
    }

    pub fn item_bytes(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }
}

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub dtype: Dtype,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// Bytes before the payload (magic, version, length field and header text).
    pub data_offset: usize,
}

impl Header {
    /// Number of elements (1 for a scalar).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Payload size in bytes.
    pub fn payload_bytes(&self) -> usize {
        self.len() * self.dtype.item_bytes()
    }
}

/// Reads the header of an open `.npy` stream, leaving it positioned at the payload.
/// `file_len` bounds the header and must hold the whole payload.
pub fn read_header(reader: &mut impl Read, file_len: u64) -> std::result::Result<Header, String> {
    let (dict, data_offset) = read_dict(reader, file_len)?;
    let dtype = match dict.descr.as_str() {
        "<f4" => Dtype::F32,
        "<f8" => Dtype::F64,
        ">f4" | ">f8" => return Err(format!("big-endian dtype {} is not supported", dict.descr)),
        other => return Err(format!("dtype {other}, expected float32 or float64")),
    };
    let header = Header {
        dtype,
        fortran_order: dict.fortran_order,
        shape: dict.shape,
        data_offset,
    };
    let count = payload_len(&header.shape, header.dtype.item_bytes())?;
    let expected = data_offset as u64 + count as u64;
    if expected != file_len {
        return Err(format!(
            "shape {:?} of {} needs {} bytes of data, the file holds {}",
            header.shape,
            header.dtype.descr(),
            count,
            file_len - data_offset as u64
        ));
    }
    Ok(header)
}

/// Element type of any array the `.npz` reader takes: NumPy's numeric codes (`f4` = float32,
/// `i2` = int16, `u8` = uint64, ...) and fixed-width strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    F4,
    F8,
    I1,
    I2,
    I4,
    I8,
    U1,
    U2,
    U4,
    U8,
    /// `U<n>`: `n` UTF-32 code units per item.
    Unicode(usize),
    /// `S<n>` (or `a<n>`): `n` bytes per item.
    Bytes(usize),
}

/// A dtype as [`read_any_header`] accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnyDtype {
    pub element: Element,
    /// Byte order `>` (numbers and `U` strings; meaningless for one-byte items).
    pub big_endian: bool,
}

impl AnyDtype {
    /// Parses a NumPy type string (`<f4`, `|u1`, `>i8`, `<U12`, `|S5`, ...). Booleans,
    /// complex, float16/128, dates, objects and raw bytes are refused, as are multi-byte
    /// numbers without a byte order (`|i4`).
    pub fn parse(descr: &str) -> std::result::Result<AnyDtype, String> {
        let unsupported = || format!("unsupported dtype {descr}");
        let bytes = descr.as_bytes();
        let (Some(&order), Some(&code)) = (bytes.first(), bytes.get(1)) else {
            return Err(unsupported());
        };
        let digits = descr.get(2..).unwrap_or_default();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(unsupported());
        }
        let size: usize = digits.parse().map_err(|_| unsupported())?;
        let element = match (code, size) {
            (b'f', 4) => Element::F4,
            (b'f', 8) => Element::F8,
            (b'i', 1) => Element::I1,
            (b'i', 2) => Element::I2,
            (b'i', 4) => Element::I4,
            (b'i', 8) => Element::I8,
            (b'u', 1) => Element::U1,
            (b'u', 2) => Element::U2,
            (b'u', 4) => Element::U4,
            (b'u', 8) => Element::U8,
            (b'U', n) => Element::Unicode(n),
            (b'S' | b'a', n) => Element::Bytes(n),
            _ => return Err(unsupported()),
        };
        let multi_byte = !matches!(element, Element::I1 | Element::U1 | Element::Bytes(_));
        match order {
            b'<' | b'>' => {}
            b'|' if !multi_byte => {}
            b'|' => return Err(format!("dtype {descr} has no byte order")),
            _ => return Err(unsupported()),
        }
        Ok(AnyDtype {
            element,
            big_endian: order == b'>' && multi_byte,
        })
    }

    /// Bytes per item (`None` when a `U` width overflows).
    pub fn item_bytes(self) -> Option<usize> {
        Some(match self.element {
            Element::I1 | Element::U1 => 1,
            Element::I2 | Element::U2 => 2,
            Element::F4 | Element::I4 | Element::U4 => 4,
            Element::F8 | Element::I8 | Element::U8 => 8,
            Element::Unicode(n) => return n.checked_mul(4),
            Element::Bytes(n) => n,
        })
    }
}

/// A parsed `.npy` header of any dtype [`AnyDtype`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnyHeader {
    /// The type string as written (for messages).
    pub descr: String,
    pub dtype: AnyDtype,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// Bytes before the payload (magic, version, length field and header text).
    pub data_offset: usize,
    /// Payload size in bytes (elements x item size), checked to fit in the stream.
    pub payload_bytes: usize,
}

impl AnyHeader {
    /// Number of elements (1 for a scalar).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads the header of a `.npy` stream of `stream_len` bytes (e.g. a zip entry's
/// uncompressed size), leaving it positioned at the payload. Refuses, before anything is
/// allocated, a shape whose payload overflows or does not fit in the bytes after the header
/// (trailing bytes are allowed, as NumPy allows them).
pub fn read_any_header(
    reader: &mut impl Read,
    stream_len: u64,
) -> std::result::Result<AnyHeader, String> {
    let (dict, data_offset) = read_dict(reader, stream_len)?;
    let dtype = AnyDtype::parse(&dict.descr)?;
    let item_bytes = dtype
        .item_bytes()
        .ok_or_else(|| format!("unsupported dtype {}", dict.descr))?;
    let payload_bytes = payload_len(&dict.shape, item_bytes)?;
    let available = stream_len - data_offset as u64;
    if payload_bytes as u64 > available {
        return Err(format!(
            "truncated: shape {:?} of {} needs {payload_bytes} bytes of data, \
             {available} follow the header",
            dict.shape, dict.descr
        ));
    }
    Ok(AnyHeader {
        descr: dict.descr,
        dtype,
        fortran_order: dict.fortran_order,
        shape: dict.shape,
        data_offset,
        payload_bytes,
    })
}

/// Elements of `shape` times `item_bytes`, or an error when that overflows.
fn payload_len(shape: &[usize], item_bytes: usize) -> std::result::Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_mul(item_bytes))
        .ok_or_else(|| format!("shape {shape:?} overflows"))
}

/// The header dictionary's three entries.
struct Dict {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Reads the preamble and header dictionary; returns it with the payload's offset.
fn read_dict(
    reader: &mut impl Read,
    stream_len: u64,
) -> std::result::Result<(Dict, usize), String> {
    let mut preamble = [0u8; 8];
    reader
        .read_exact(&mut preamble)
        .map_err(|_| "not a .npy file (shorter than its 8-byte preamble)".to_string())?;
    if &preamble[..6] != MAGIC {
        return Err("not a .npy file (bad magic bytes)".into());
    }
    let (major, minor) = (preamble[6], preamble[7]);
    let length_bytes = match major {
        1 => 2,
        2 | 3 => 4,
        _ => return Err(format!("unsupported .npy format version {major}.{minor}")),
    };
    let mut length = [0u8; 4];
    reader
        .read_exact(&mut length[..length_bytes])
        .map_err(|_| "truncated .npy header".to_string())?;
    let header_len = u32::from_le_bytes(length) as usize;
    let data_offset = 8 + length_bytes + header_len;
    if header_len > MAX_HEADER_LEN || data_offset as u64 > stream_len {
        return Err(format!(
            "header length {header_len} is impossible for a {stream_len}-byte file"
        ));
    }
    let mut text = vec![0u8; header_len];
    reader
        .read_exact(&mut text)
        .map_err(|_| "truncated .npy header".to_string())?;
    // Versions 1 and 2 are latin-1 and 3 is UTF-8; every header this crate reads is ASCII.
    let text = std::str::from_utf8(&text)
        .ok()
        .filter(|t| t.is_ascii())
        .ok_or("the header is not ASCII text")?;
    Ok((parse_dict(text)?, data_offset))
}

/// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` (any key order,
/// single or double quotes, optional trailing comma and padding).
fn parse_dict(text: &str) -> std::result::Result<Dict, String> {
    let mut c = Cursor {
        s: text.trim_end().as_bytes(),
        i: 0,
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    c.expect(b'{')?;
    loop {
        c.skip_ws();
        if c.eat(b'}') {
            break;
        }
        let key = c.string()?;
        c.expect(b':')?;
        let duplicate = match key {
            "descr" => {
                if c.eat(b'[') {
                    return Err("unsupported structured dtype (a list of fields)".into());
                }
                descr.replace(c.string()?.to_string()).is_some()
            }
            "fortran_order" => fortran.replace(c.boolean()?).is_some(),
            "shape" => shape.replace(c.tuple()?).is_some(),
            other => return Err(format!("unknown header key '{other}'")),
        };
        if duplicate {
            return Err(format!("header key '{key}' appears twice"));
        }
        c.skip_ws();
        if !c.eat(b',') {
            c.expect(b'}')?;
            break;
        }
    }
    c.skip_ws();
    if c.i != c.s.len() {
        return Err("text after the header dictionary".into());
    }
    Ok(Dict {
        descr: descr.ok_or("header has no 'descr'")?,
        fortran_order: fortran.ok_or("header has no 'fortran_order'")?,
        shape: shape.ok_or("header has no 'shape'")?,
    })
}

/// A position in the header text.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        let hit = self.s.get(self.i) == Some(&b);
        self.i += usize::from(hit);
        hit
    }

    fn expect(&mut self, b: u8) -> std::result::Result<(), String> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!(
                "malformed header: expected '{}' at byte {}",
                b as char, self.i
            ))
        }
    }

    fn string(&mut self) -> std::result::Result<&'a str, String> {
        self.skip_ws();
        let quote = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => {
                return Err(format!(
                    "malformed header: expected a string at byte {}",
                    self.i
                ))
            }
        };
        let start = self.i + 1;
        let len = self.s[start..]
            .iter()
            .position(|&b| b == quote)
            .ok_or("malformed header: unterminated string")?;
        self.i = start + len + 1;
        // The header text was checked to be ASCII, so any byte range is valid UTF-8.
        Ok(std::str::from_utf8(&self.s[start..start + len]).unwrap_or_default())
    }

    fn word(&mut self) -> &'a [u8] {
        self.skip_ws();
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_alphanumeric) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    fn boolean(&mut self) -> std::result::Result<bool, String> {
        match self.word() {
            b"True" => Ok(true),
            b"False" => Ok(false),
            _ => Err("malformed header: 'fortran_order' is not True or False".into()),
        }
    }

    fn tuple(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.eat(b')') {
                return Ok(dims);
            }
            let word = self.word();
            // Python 2 wrote long integers with an `L` suffix.
            let digits = word.strip_suffix(b"L").unwrap_or(word);
            let dim = std::str::from_utf8(digits)
                .ok()
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse::<usize>().ok())
                .ok_or("malformed header: a shape entry is not a non-negative integer")?;
            dims.push(dim);
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

/// The header bytes NumPy-compatible writers produce for a C-order array: version 1.0 (2.0
/// when the text exceeds 64 KiB), the dictionary, space padding and a newline so the payload
/// starts on a multiple of 64 bytes.
pub fn header_bytes(dtype: Dtype, shape: &[usize]) -> Vec<u8> {
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': (",
        dtype.descr()
    );
    for d in shape {
        dict.push_str(&format!("{d}, "));
    }
    dict.push_str("), }");
    let pad = |before_text: usize| ALIGN - 1 - (dict.len() + before_text) % ALIGN;
    // Version 1.0 stores the text length in 2 bytes; 2.0 in 4 (for shapes of thousands of
    // dimensions), which moves the padding.
    let (version, length_bytes) = if dict.len() + pad(10) < u16::MAX as usize {
        (1u8, 2)
    } else {
        (2u8, 4)
    };
    let before_text = 8 + length_bytes;
    let mut text = dict.clone().into_bytes();
    text.extend(std::iter::repeat_n(b' ', pad(before_text)));
    text.push(b'\n');
    let mut out = Vec::with_capacity(before_text + text.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if length_bytes == 2 {
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(&text);
    out
}
