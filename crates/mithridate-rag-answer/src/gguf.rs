//! The metadata of a GGUF file (the llama.cpp model format, version 2 or 3): the header and
//! the key-value pairs, stopping before the tensor descriptions.
//!
//! Layout (little-endian): magic `GGUF`, `u32` version, `u64` tensor count, `u64` key-value
//! count, then per pair a string key (`u64` length + UTF-8 bytes), a `u32` value type and
//! the value: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array
//! (`u32` element type, `u64` length, elements), 10 u64, 11 i64, 12 f64. candle reads the
//! same format for the weights; this reader exists so the tokenizer (and its tests) need no
//! candle.
//!
//! ```
//! use mithridate_rag_answer::gguf::{read_metadata, Value};
//! let mut b = b"GGUF".to_vec();
//! b.extend(3u32.to_le_bytes());
//! b.extend(0u64.to_le_bytes());
//! b.extend(1u64.to_le_bytes());
//! b.extend(3u64.to_le_bytes());
//! b.extend(b"key");
//! b.extend(4u32.to_le_bytes());
//! b.extend(7u32.to_le_bytes());
//! let meta = read_metadata(&mut &b[..], "toy")?;
//! assert_eq!(meta.get("key"), Some(&Value::U32(7)));
//! # Ok::<(), mithridate_rag_answer::AnswerError>(())
//! ```

use crate::{AnswerError, Result};
use std::collections::BTreeMap;
use std::io::Read;

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    /// An integer value of any width, when it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::I8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::U64(v) => i64::try_from(v).ok(),
            Value::I64(v) => Some(v),
            _ => None,
        }
    }

    /// A float value (or an integer), when it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }
}

/// Longest string and array accepted: a corrupt length must fail, not allocate terabytes.
const MAX_LEN: u64 = 1 << 28;

/// The key-value metadata of a GGUF stream (`what` names it in errors).
pub fn read_metadata(r: &mut impl Read, what: &str) -> Result<BTreeMap<String, Value>> {
    let mut reader = Reader { r, what };
    let mut magic = [0u8; 4];
    reader.exact(&mut magic)?;
    if &magic != b"GGUF" {
        return Err(AnswerError::format(what, "not a GGUF file (bad magic)"));
    }
    let version = reader.u32()?;
    if !(2..=3).contains(&version) {
        return Err(AnswerError::format(
            what,
            format!("GGUF version {version} (only 2 and 3 are read)"),
        ));
    }
    let _tensors = reader.u64()?;
    let pairs = reader.u64()?;
    let mut meta = BTreeMap::new();
    for _ in 0..pairs {
        let key = reader.string()?;
        let kind = reader.u32()?;
        let value = reader.value(kind, 0)?;
        meta.insert(key, value);
    }
    Ok(meta)
}

struct Reader<'a, R: Read> {
    r: &'a mut R,
    what: &'a str,
}

impl<R: Read> Reader<'_, R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.r
            .read_exact(buf)
            .map_err(|e| AnswerError::format(self.what, format!("truncated metadata ({e})")))
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.exact(&mut b)?;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }

    fn len(&mut self) -> Result<usize> {
        let n = self.u64()?;
        if n > MAX_LEN {
            return Err(AnswerError::format(
                self.what,
                format!("implausible length {n} in metadata"),
            ));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<String> {
        let mut b = vec![0u8; self.len()?];
        self.exact(&mut b)?;
        String::from_utf8(b).map_err(|_| AnswerError::format(self.what, "a string is not UTF-8"))
    }

    fn value(&mut self, kind: u32, depth: usize) -> Result<Value> {
        Ok(match kind {
            0 => Value::U8(u8::from_le_bytes(self.bytes()?)),
            1 => Value::I8(i8::from_le_bytes(self.bytes()?)),
            2 => Value::U16(u16::from_le_bytes(self.bytes()?)),
            3 => Value::I16(i16::from_le_bytes(self.bytes()?)),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(i32::from_le_bytes(self.bytes()?)),
            6 => Value::F32(f32::from_le_bytes(self.bytes()?)),
            7 => Value::Bool(u8::from_le_bytes(self.bytes()?) != 0),
            8 => Value::String(self.string()?),
            9 if depth < 4 => {
                let element = self.u32()?;
                let n = self.len()?;
                let mut items = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    items.push(self.value(element, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(i64::from_le_bytes(self.bytes()?)),
            12 => Value::F64(f64::from_le_bytes(self.bytes()?)),
            other => {
                return Err(AnswerError::format(
                    self.what,
                    format!("unknown metadata value type {other}"),
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(b: &mut Vec<u8>, s: &str) {
        b.extend((s.len() as u64).to_le_bytes());
        b.extend(s.as_bytes());
    }

    #[test]
    fn reads_arrays_strings_and_floats() {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(5u64.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        string(&mut b, "tokens");
        b.extend(9u32.to_le_bytes());
        b.extend(8u32.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        string(&mut b, "▁a");
        string(&mut b, "b");
        string(&mut b, "eps");
        b.extend(6u32.to_le_bytes());
        b.extend(0.5f32.to_le_bytes());
        b.extend(b"tensor infos follow and are not read");
        let meta = read_metadata(&mut &b[..], "t").unwrap();
        assert_eq!(
            meta["tokens"],
            Value::Array(vec![Value::String("▁a".into()), Value::String("b".into())])
        );
        assert_eq!(meta["eps"].as_f64(), Some(0.5));
    }

    #[test]
    fn rejects_bad_magic_truncation_and_huge_lengths() {
        assert!(read_metadata(&mut &b"GGML\x03\0\0\0"[..], "t").is_err());
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b.extend(1u64.to_le_bytes());
        let err = read_metadata(&mut &b[..], "t").unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        b.extend(u64::MAX.to_le_bytes());
        let err = read_metadata(&mut &b[..], "t").unwrap_err().to_string();
        assert!(err.contains("implausible"), "{err}");
    }
}
