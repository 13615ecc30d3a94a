//! A bounded walk over the Thrift compact-protocol structs of a Parquet file (its footer and
//! every page header), run before the `parquet` crate parses them.
//!
//! Why: `parquet` 60.1 skips unknown Thrift fields with `skip_till_depth`, which treats a
//! boolean as taking no bytes, also inside a list, set or map, where the compact protocol
//! stores one byte per boolean. A list header declaring 2^31 booleans therefore makes it
//! loop 2^31 times without reading input: a 534-byte file kept the fuzzer busy for over
//! 12 s (`fuzz/findings/parquet-timeout-2.parquet`), and a file of many such headers
//! would run for hours.
//!
//! The walk reads exactly what the compact protocol stores (Apache Thrift's
//! `thrift-compact-protocol.md`) and refuses:
//! - a list, set or map of booleans that is not empty (Parquet's own structs, the footer's
//!   `FileMetaData` and the `PageHeader`, hold none, so no valid file is refused);
//! - a collection declaring more elements than bytes remain (every other element takes at
//!   least one byte);
//! - nesting deeper than 64 (`parquet`'s own skip depth) and unknown type codes.
//!
//! Up to the first refused collection the walk consumes the same bytes as `parquet`'s
//! reader, so after it succeeds `parquet`'s own walk of the same bytes is linear in them.
//! Cost: one pass over the footer and the page headers (not the page bodies).

/// The `parquet` crate's skip depth.
const MAX_DEPTH: u32 = 64;

/// Compact-protocol type codes (fields and collection elements).
mod code {
    pub const STOP: u8 = 0;
    pub const BOOL_TRUE: u8 = 1;
    pub const BOOL_FALSE: u8 = 2;
    pub const BYTE: u8 = 3;
    pub const I16: u8 = 4;
    pub const I32: u8 = 5;
    pub const I64: u8 = 6;
    pub const DOUBLE: u8 = 7;
    pub const BINARY: u8 = 8;
    pub const LIST: u8 = 9;
    pub const SET: u8 = 10;
    pub const MAP: u8 = 11;
    pub const STRUCT: u8 = 12;
    pub const UUID: u8 = 13;
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or("a Thrift struct runs past its end")?;
        self.pos += 1;
        Ok(b)
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        if n > self.remaining() as u64 {
            return Err(format!(
                "a Thrift value declares {n} bytes, {} remain",
                self.remaining()
            ));
        }
        self.pos += n as usize;
        Ok(())
    }

    /// An unsigned LEB128 varint, read like `parquet` does (any length, wrapping shifts).
    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f).wrapping_shl(shift);
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift = shift.saturating_add(7);
        }
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let n = self.varint()?;
        Ok((n >> 1) as i64 ^ -((n & 1) as i64))
    }

    /// A collection's element count, refused when it cannot fit in the bytes left.
    fn count(&mut self, n: u64, element: u8, what: &str) -> Result<u64, String> {
        if n > 0 && matches!(element, code::BOOL_TRUE | code::BOOL_FALSE) {
            return Err(format!(
                "a Thrift {what} of {n} booleans (Parquet's metadata holds none)"
            ));
        }
        if n > self.remaining() as u64 {
            return Err(format!(
                "a Thrift {what} declares {n} elements, only {} bytes remain",
                self.remaining()
            ));
        }
        Ok(n)
    }

    fn value(&mut self, kind: u8, depth: u32) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("Thrift values nested deeper than {MAX_DEPTH}"));
        }
        match kind {
            code::BOOL_TRUE | code::BOOL_FALSE => Ok(()),
            code::BYTE => self.byte().map(drop),
            code::I16 | code::I32 | code::I64 => self.varint().map(drop),
            code::DOUBLE => self.skip(8),
            code::UUID => self.skip(16),
            code::BINARY => {
                let n = self.varint()?;
                self.skip(n)
            }
            code::LIST | code::SET => {
                let header = self.byte()?;
                if header == 0 {
                    return Ok(()); // an empty list written with element type 0
                }
                let element = header & 0x0f;
                check_element(element)?;
                let n = match header >> 4 {
                    15 => self.varint()?,
                    short => u64::from(short),
                };
                for _ in 0..self.count(n, element, "list")? {
                    // Booleans were refused above, so each element consumes a byte or more.
                    self.value(element, depth + 1)?;
                }
                Ok(())
            }
            code::MAP => {
                let n = self.varint()?;
                if n == 0 {
                    return Ok(());
                }
                let kv = self.byte()?;
                let (key, val) = (kv >> 4, kv & 0x0f);
                check_element(key)?;
                check_element(val)?;
                self.count(n, key, "map")?;
                for _ in 0..self.count(n, val, "map")? {
                    self.value(key, depth + 1)?;
                    self.value(val, depth + 1)?;
                }
                Ok(())
            }
            code::STRUCT => self.fields(depth + 1, &mut |_, _, _| Ok(false)),
            other => Err(format!("unknown Thrift type code {other}")),
        }
    }

    /// Walks a struct's fields to its stop byte; `top` sees each field's id, type and (for
    /// integers) value, before the value is consumed.
    fn fields(
        &mut self,
        depth: u32,
        top: &mut dyn FnMut(i64, u8, &mut Cursor) -> Result<bool, String>,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("Thrift values nested deeper than {MAX_DEPTH}"));
        }
        let mut last_id = 0i64;
        loop {
            let header = self.byte()?;
            let kind = header & 0x0f;
            if kind == code::STOP {
                return Ok(());
            }
            let id = match header >> 4 {
                0 => self.zigzag()?,
                delta => last_id.wrapping_add(i64::from(delta)),
            };
            last_id = id;
            if !top(id, kind, self)? {
                self.value(kind, depth)?;
            }
        }
    }
}

fn check_element(element: u8) -> Result<(), String> {
    match element {
        code::BOOL_TRUE..=code::UUID => Ok(()),
        other => Err(format!("unknown Thrift element type code {other}")),
    }
}

/// Walks one struct at the start of `bytes`; returns the bytes it takes.
pub(crate) fn check_struct(bytes: &[u8]) -> Result<usize, String> {
    let mut cursor = Cursor { bytes, pos: 0 };
    cursor.fields(0, &mut |_, _, _| Ok(false))?;
    Ok(cursor.pos)
}

/// Walks the page headers of one column chunk (`bytes` is the chunk, as its metadata's byte
/// range gives it), each followed by its `compressed_page_size` (field 3) bytes of data.
pub(crate) fn check_page_headers(bytes: &[u8]) -> Result<(), String> {
    let mut pos = 0usize;
    while pos < bytes.len() {
        let mut cursor = Cursor {
            bytes: &bytes[pos..],
            pos: 0,
        };
        let mut body: Option<i64> = None;
        cursor.fields(0, &mut |id, kind, c| {
            if id == 3 && kind == code::I32 {
                body = Some(c.zigzag()?);
                return Ok(true);
            }
            Ok(false)
        })?;
        let body = body.ok_or("a page header without its compressed_page_size")?;
        let body = u64::try_from(body)
            .map_err(|_| format!("a page header declares {body} compressed bytes"))?;
        cursor.skip(body)?;
        pos += cursor.pos;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_booleans_is_refused_before_it_is_walked() {
        // struct { 1: list<bool> of 2^31 } -> field header 0x19, list header 0xF1, varint.
        let hostile = [0x19, 0xF1, 0x80, 0x80, 0x80, 0x80, 0x08, 0x00];
        let err = check_struct(&hostile).unwrap_err();
        assert!(err.contains("2147483648 booleans"), "{err}");
        // The same count of i32 elements cannot fit in the bytes left.
        let long = [0x19, 0xF5, 0x80, 0x80, 0x80, 0x80, 0x08, 0x00];
        assert!(check_struct(&long).unwrap_err().contains("only 1 bytes"));
        // A map of booleans too.
        let map = [0x1B, 0x80, 0x80, 0x04, 0x11, 0x00];
        assert!(check_struct(&map).unwrap_err().contains("booleans"));
    }

    #[test]
    fn a_hand_encoded_struct_is_walked_to_its_stop_byte() {
        // { 1: i32 -3 (zigzag 5), 2: true, 4: binary "ab", 5: list<i64> [1, 2],
        //   6: struct { 1: double }, 20 (long form): byte 7 } then trailing bytes.
        let mut bytes = vec![
            0x15, 0x05, 0x11, 0x28, 0x02, b'a', b'b', 0x19, 0x26, 0x02, 0x04,
        ];
        bytes.extend([0x1C, 0x17]);
        bytes.extend([0u8; 8]);
        bytes.extend([0x00, 0x03, 0x28, 0x07, 0x00, 0xAA, 0xBB]);
        assert_eq!(check_struct(&bytes), Ok(bytes.len() - 2));
        assert!(check_struct(&bytes[..bytes.len() - 3]).is_err());
    }

    #[test]
    fn field_ids_near_the_i64_limit_do_not_overflow() {
        // Found by cargo-fuzz in this walk: a long-form id of i64::MAX, then a delta.
        let mut bytes = vec![0x05, 0xFE];
        bytes.extend([0xFF; 8]);
        bytes.extend([0x01, 0x00, 0x15, 0x00, 0x00]);
        assert_eq!(check_struct(&bytes), Ok(bytes.len()));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut bytes = vec![0x1C; 70];
        bytes.extend(vec![0x00; 71]);
        assert!(check_struct(&bytes).unwrap_err().contains("deeper"));
    }

    #[test]
    fn page_headers_follow_their_bodies() {
        // { 3: i32 2 (zigzag 4) } + 2 body bytes, twice.
        let page = [0x35, 0x04, 0x00, 0xEE, 0xEE];
        let chunk: Vec<u8> = page.iter().chain(page.iter()).copied().collect();
        assert_eq!(check_page_headers(&chunk), Ok(()));
        assert!(check_page_headers(&chunk[..9]).is_err());
        assert!(check_page_headers(&[0x35, 0x03, 0x00]).is_err()); // -2 bytes
        assert!(check_page_headers(&[0x00]).is_err()); // no size
    }
}
