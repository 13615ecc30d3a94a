//! Canonical JSON bytes for hashing: no whitespace, object keys sorted by their UTF-8 bytes,
//! strings escaped as serde_json escapes them, numbers as serde_json prints them (integers
//! exactly, floats in shortest round-trip form). Parsing these bytes and canonicalising
//! again gives the same bytes, whatever map order serde_json was compiled with.

use serde_json::Value;

/// Appends the canonical encoding of `value` to `out`.
pub(crate) fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write(item, out);
            }
            out.push(b'}');
        }
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // Serialising a &str cannot fail; the fallback keeps this total anyway.
    match serde_json::to_vec(s) {
        Ok(bytes) => out.extend_from_slice(&bytes),
        Err(_) => out.extend_from_slice(b"\"\""),
    }
}

/// The canonical bytes of `value`.
pub(crate) fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(value, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_sorted_no_whitespace() {
        let v = json!({"b": 1, "a": [true, null, "x\"y"], "c": {"z": 1.5, "y": -0.0}});
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap(),
            r#"{"a":[true,null,"x\"y"],"b":1,"c":{"y":-0.0,"z":1.5}}"#
        );
    }

    #[test]
    fn idempotent_through_parsing() {
        let v = json!({"big": u64::MAX, "neg": i64::MIN, "f": 0.1, "e": 1e300, "s": "é\n\u{1}"});
        let once = to_vec(&v);
        let reparsed: Value = serde_json::from_slice(&once).unwrap();
        assert_eq!(to_vec(&reparsed), once);
    }
}
