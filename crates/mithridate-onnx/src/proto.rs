//! A minimal reader of the ONNX protobuf messages a classifier needs.
//!
//! Why by hand: the protobuf wire format is four record kinds (varint, 64-bit, length-delimited,
//! 32-bit), and an ONNX model uses a handful of its messages. Decoding them directly costs
//! ~300 lines and no dependency, where `prost-build` (candle-onnx) needs `protoc` at build time
//! and tract-onnx adds ~9 minutes to a cold build (measured, `../shared/reference/stack.md`).
//! Field numbers are those of `onnx/onnx.proto` (ONNX 1.x; stable since IR version 3).
//! Unknown fields are skipped, as protobuf requires; malformed bytes are an error, never a panic.

use crate::error::OnnxError;

/// One field of a message as it appears on the wire.
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// Iterates over the `(field number, value)` records of one encoded message.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn malformed(what: &str) -> OnnxError {
    OnnxError::Format(format!(
        "malformed protobuf ({what}); the file is truncated or not ONNX"
    ))
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, OnnxError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| malformed("varint past the end"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed("varint longer than 10 bytes"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], OnnxError> {
        let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| malformed("field longer than the message"))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn next_field(&mut self) -> Result<Option<(u64, Wire<'a>)>, OnnxError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (field, kind) = (key >> 3, key & 7);
        if field == 0 {
            return Err(malformed("field number 0"));
        }
        let wire = match kind {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(
                self.take(8)?.try_into().expect("8 bytes"),
            )),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| malformed("huge length"))?;
                Wire::Bytes(self.take(len)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            )),
            _ => return Err(malformed(&format!("wire type {kind}"))),
        };
        Ok(Some((field, wire)))
    }
}

/// Calls `f` on every field of `buf`.
fn for_each_field<'a>(
    buf: &'a [u8],
    mut f: impl FnMut(u64, Wire<'a>) -> Result<(), OnnxError>,
) -> Result<(), OnnxError> {
    let mut r = Reader::new(buf);
    while let Some((field, wire)) = r.next_field()? {
        f(field, wire)?;
    }
    Ok(())
}

fn bytes<'a>(wire: Wire<'a>, what: &str) -> Result<&'a [u8], OnnxError> {
    match wire {
        Wire::Bytes(b) => Ok(b),
        _ => Err(malformed(&format!("{what} is not length-delimited"))),
    }
}

fn string(wire: Wire<'_>, what: &str) -> Result<String, OnnxError> {
    Ok(String::from_utf8_lossy(bytes(wire, what)?).into_owned())
}

fn int(wire: Wire<'_>, what: &str) -> Result<i64, OnnxError> {
    match wire {
        // int64 fields are two's complement in a 10-byte varint.
        Wire::Varint(v) => Ok(v as i64),
        _ => Err(malformed(&format!("{what} is not a varint"))),
    }
}

/// Appends a repeated int field, packed (one length-delimited run of varints) or not.
fn push_ints(out: &mut Vec<i64>, wire: Wire<'_>, what: &str) -> Result<(), OnnxError> {
    match wire {
        Wire::Bytes(b) => {
            let mut r = Reader::new(b);
            while r.pos < b.len() {
                out.push(r.varint()? as i64);
            }
            Ok(())
        }
        other => {
            out.push(int(other, what)?);
            Ok(())
        }
    }
}

/// Appends a repeated float (`fixed32`) field, packed or not.
fn push_floats(out: &mut Vec<f32>, wire: Wire<'_>, what: &str) -> Result<(), OnnxError> {
    match wire {
        Wire::Bytes(b) if b.len() % 4 == 0 => {
            out.extend(
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4"))),
            );
            Ok(())
        }
        Wire::Fixed32(v) => {
            out.push(f32::from_bits(v));
            Ok(())
        }
        _ => Err(malformed(&format!("{what} is not a float list"))),
    }
}

/// Appends a repeated double (`fixed64`) field, packed or not.
fn push_doubles(out: &mut Vec<f64>, wire: Wire<'_>, what: &str) -> Result<(), OnnxError> {
    match wire {
        Wire::Bytes(b) if b.len() % 8 == 0 => {
            out.extend(
                b.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8"))),
            );
            Ok(())
        }
        Wire::Fixed64(v) => {
            out.push(f64::from_bits(v));
            Ok(())
        }
        _ => Err(malformed(&format!("{what} is not a double list"))),
    }
}

/// `ModelProto`: the file.
#[derive(Debug, Default)]
pub struct Model {
    pub ir_version: i64,
    /// `(domain, version)`; the default domain is `""` (or `"ai.onnx"`).
    pub opsets: Vec<(String, i64)>,
    pub graph: Option<Graph>,
}

/// `GraphProto`.
#[derive(Debug, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub initializers: Vec<TensorData>,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    pub has_sparse_initializers: bool,
}

/// `NodeProto`.
#[derive(Debug, Default)]
pub struct Node {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub attributes: Vec<Attribute>,
}

/// `AttributeProto` (the kinds a classifier's operators use).
#[derive(Debug, Default, Clone)]
pub struct Attribute {
    pub name: String,
    pub f: Option<f32>,
    pub i: Option<i64>,
    pub s: Option<Vec<u8>>,
    pub t: Option<TensorData>,
    pub floats: Vec<f32>,
    pub ints: Vec<i64>,
}

/// `TensorProto`: a constant, with its values decoded to f64 or i64 by element type.
#[derive(Debug, Default, Clone)]
pub struct TensorData {
    pub name: String,
    pub dims: Vec<i64>,
    /// ONNX `TensorProto.DataType` code (1 float, 6 int32, 7 int64, 11 double, ...).
    pub data_type: i32,
    pub raw: Vec<u8>,
    pub floats: Vec<f32>,
    pub doubles: Vec<f64>,
    pub ints: Vec<i64>,
    pub external: bool,
}

/// `ValueInfoProto` reduced to a tensor's element type and shape. A dimension is `Some(n)` when
/// fixed and `None` when symbolic (`dim_param`, e.g. the batch) or absent.
#[derive(Debug, Default, Clone)]
pub struct ValueInfo {
    pub name: String,
    pub elem_type: i32,
    pub dims: Option<Vec<Option<usize>>>,
}

/// Decodes an ONNX file's bytes.
pub fn parse_model(buf: &[u8]) -> Result<Model, OnnxError> {
    let mut m = Model::default();
    for_each_field(buf, |field, wire| {
        match field {
            1 => m.ir_version = int(wire, "ir_version")?,
            7 => m.graph = Some(parse_graph(bytes(wire, "graph")?)?),
            8 => {
                let (mut domain, mut version) = (String::new(), 0);
                for_each_field(bytes(wire, "opset_import")?, |f, w| {
                    match f {
                        1 => domain = string(w, "opset domain")?,
                        2 => version = int(w, "opset version")?,
                        _ => {}
                    }
                    Ok(())
                })?;
                m.opsets.push((domain, version));
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(m)
}

fn parse_graph(buf: &[u8]) -> Result<Graph, OnnxError> {
    let mut g = Graph::default();
    for_each_field(buf, |field, wire| {
        match field {
            1 => g.nodes.push(parse_node(bytes(wire, "node")?)?),
            5 => g
                .initializers
                .push(parse_tensor(bytes(wire, "initializer")?)?),
            11 => g.inputs.push(parse_value_info(bytes(wire, "input")?)?),
            12 => g.outputs.push(parse_value_info(bytes(wire, "output")?)?),
            15 => g.has_sparse_initializers = true,
            _ => {}
        }
        Ok(())
    })?;
    Ok(g)
}

fn parse_node(buf: &[u8]) -> Result<Node, OnnxError> {
    let mut n = Node::default();
    for_each_field(buf, |field, wire| {
        match field {
            1 => n.inputs.push(string(wire, "node input")?),
            2 => n.outputs.push(string(wire, "node output")?),
            3 => n.name = string(wire, "node name")?,
            4 => n.op_type = string(wire, "op_type")?,
            5 => n
                .attributes
                .push(parse_attribute(bytes(wire, "attribute")?)?),
            7 => n.domain = string(wire, "node domain")?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(n)
}

fn parse_attribute(buf: &[u8]) -> Result<Attribute, OnnxError> {
    let mut a = Attribute::default();
    for_each_field(buf, |field, wire| {
        match field {
            1 => a.name = string(wire, "attribute name")?,
            2 => match wire {
                Wire::Fixed32(v) => a.f = Some(f32::from_bits(v)),
                _ => return Err(malformed("attribute f is not a float")),
            },
            3 => a.i = Some(int(wire, "attribute i")?),
            4 => a.s = Some(bytes(wire, "attribute s")?.to_vec()),
            5 => a.t = Some(parse_tensor(bytes(wire, "attribute t")?)?),
            7 => push_floats(&mut a.floats, wire, "attribute floats")?,
            8 => push_ints(&mut a.ints, wire, "attribute ints")?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(a)
}

fn parse_tensor(buf: &[u8]) -> Result<TensorData, OnnxError> {
    let mut t = TensorData::default();
    for_each_field(buf, |field, wire| {
        match field {
            1 => push_ints(&mut t.dims, wire, "tensor dims")?,
            2 => t.data_type = int(wire, "tensor data_type")? as i32,
            4 => push_floats(&mut t.floats, wire, "float_data")?,
            // int32_data also carries bool/int8/uint8 (and float16 bits) as varints.
            5 | 7 => push_ints(&mut t.ints, wire, "int_data")?,
            8 => t.name = string(wire, "tensor name")?,
            9 => t.raw = bytes(wire, "raw_data")?.to_vec(),
            10 => push_doubles(&mut t.doubles, wire, "double_data")?,
            13 => t.external = true,
            14 => t.external |= int(wire, "data_location")? == 1,
            _ => {}
        }
        Ok(())
    })?;
    Ok(t)
}

fn parse_value_info(buf: &[u8]) -> Result<ValueInfo, OnnxError> {
    let mut v = ValueInfo::default();
    for_each_field(buf, |field, wire| {
        match field {
            1 => v.name = string(wire, "value name")?,
            2 => for_each_field(bytes(wire, "value type")?, |f, w| {
                if f == 1 {
                    // TypeProto.tensor_type
                    for_each_field(bytes(w, "tensor_type")?, |f, w| {
                        match f {
                            1 => v.elem_type = int(w, "elem_type")? as i32,
                            2 => v.dims = Some(parse_shape(bytes(w, "shape")?)?),
                            _ => {}
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(v)
}

fn parse_shape(buf: &[u8]) -> Result<Vec<Option<usize>>, OnnxError> {
    let mut dims = Vec::new();
    for_each_field(buf, |field, wire| {
        if field == 1 {
            let mut value = None;
            for_each_field(bytes(wire, "dim")?, |f, w| {
                if f == 1 {
                    value = usize::try_from(int(w, "dim_value")?).ok();
                }
                Ok(())
            })?;
            dims.push(value);
        }
        Ok(())
    })?;
    Ok(dims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_hand_encoded_node() {
        // NodeProto { input: "x", output: "y", op_type: "Relu",
        //             attribute { name: "k", ints: [3, -1] (packed) } }
        let mut buf = vec![
            0x0a, 1, b'x', 0x12, 1, b'y', 0x22, 4, b'R', b'e', b'l', b'u',
        ];
        let mut attr = vec![0x0a, 1, b'k', 0x42, 11, 3];
        attr.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]); // -1
        buf.push(0x2a);
        buf.push(attr.len() as u8);
        buf.extend(attr);
        let n = parse_node(&buf).unwrap();
        assert_eq!((n.inputs, n.outputs), (vec!["x".into()], vec!["y".into()]));
        assert_eq!(n.op_type, "Relu");
        assert_eq!(n.attributes[0].name, "k");
        assert_eq!(n.attributes[0].ints, vec![3, -1]);
    }

    #[test]
    fn truncated_bytes_are_an_error_not_a_panic() {
        let buf = [0x0a, 5, b'x'];
        let err = parse_node(&buf).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        for cut in 0..20 {
            let garbage: Vec<u8> = (0..cut).map(|i| (i * 37 + 11) as u8).collect();
            let _ = parse_model(&garbage);
        }
    }
}
