//! A minimal writer of the ONNX protobuf messages an exported classifier needs: the mirror of
//! [`crate::proto`]'s reader, with the same field numbers (`onnx/onnx.proto`, ONNX 1.x).
//!
//! Why by hand: for the same reason as the reader (no `protoc`, no dependency), and because
//! encoding is simpler than decoding: every message is written into its own buffer, then
//! embedded in its parent as a length-delimited field. Fields are written in field-number
//! order and nothing depends on a hash map, so the same model gives the same bytes.

/// Protobuf wire types used here.
const VARINT: u64 = 0;
const LEN: u64 = 2;

/// One protobuf message being encoded.
#[derive(Default)]
pub(crate) struct Msg(Vec<u8>);

impl Msg {
    pub fn new() -> Msg {
        Msg::default()
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u64, wire: u64) {
        self.varint((field << 3) | wire);
    }

    /// An `int64`/`int32`/enum field: two's complement in a varint (10 bytes when negative).
    pub fn int(&mut self, field: u64, v: i64) -> &mut Msg {
        self.key(field, VARINT);
        self.varint(v as u64);
        self
    }

    /// A `bytes` field.
    pub fn bytes(&mut self, field: u64, b: &[u8]) -> &mut Msg {
        self.key(field, LEN);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    /// A `string` field.
    pub fn string(&mut self, field: u64, s: &str) -> &mut Msg {
        self.bytes(field, s.as_bytes())
    }

    /// An embedded message field.
    pub fn msg(&mut self, field: u64, m: &Msg) -> &mut Msg {
        self.bytes(field, &m.0)
    }

    /// A repeated `int64` field, one record per value: `onnx.proto` is proto2, whose repeated
    /// scalars are unpacked unless marked (readers accept both).
    pub fn ints(&mut self, field: u64, values: &[i64]) -> &mut Msg {
        for &v in values {
            self.int(field, v);
        }
        self
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// `TensorProto.DataType.FLOAT`.
pub(crate) const FLOAT: i64 = 1;

/// `TensorProto` of float32 values, stored as little-endian `raw_data` (field 9).
pub(crate) fn float_tensor(name: &str, dims: &[usize], values: &[f32]) -> Msg {
    debug_assert_eq!(dims.iter().product::<usize>(), values.len());
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    let mut t = Msg::new();
    t.ints(1, &dims)
        .int(2, FLOAT)
        .string(8, name)
        .bytes(9, &raw);
    t
}

/// An attribute value (`AttributeProto` with its `type`, which `onnx.checker` requires).
pub(crate) enum Attr {
    Int(i64),
    Ints(Vec<i64>),
}

/// `AttributeProto`: name (1), i (3) or ints (8), type (20: INT = 2, INTS = 7).
fn attribute(name: &str, value: &Attr) -> Msg {
    let mut a = Msg::new();
    a.string(1, name);
    match value {
        Attr::Int(v) => {
            a.int(3, *v).int(20, 2);
        }
        Attr::Ints(v) => {
            a.ints(8, v).int(20, 7);
        }
    }
    a
}

/// `NodeProto`: inputs (1), outputs (2), name (3), op_type (4), attributes (5).
pub(crate) fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    output: &str,
    attrs: &[(&str, Attr)],
) -> Msg {
    let mut n = Msg::new();
    for i in inputs {
        n.string(1, i);
    }
    n.string(2, output).string(3, name).string(4, op);
    for (k, v) in attrs {
        n.msg(5, &attribute(k, v));
    }
    n
}

/// One dimension of a tensor shape: fixed or symbolic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    Fixed(usize),
    Symbolic(&'static str),
}

/// `ValueInfoProto` of a float tensor: name (1), type (2) = `TypeProto { tensor_type (1) {
/// elem_type (1), shape (2) { dim (1) { dim_value (1) | dim_param (2) } } } }`.
pub(crate) fn float_value_info(name: &str, dims: &[Dim]) -> Msg {
    let mut shape = Msg::new();
    for d in dims {
        let mut dim = Msg::new();
        match d {
            Dim::Fixed(v) => dim.int(1, *v as i64),
            Dim::Symbolic(p) => dim.string(2, p),
        };
        shape.msg(1, &dim);
    }
    let mut tensor_type = Msg::new();
    tensor_type.int(1, FLOAT).msg(2, &shape);
    let mut ty = Msg::new();
    ty.msg(1, &tensor_type);
    let mut v = Msg::new();
    v.string(1, name).msg(2, &ty);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_protobuf_encoding() {
        // Hand-computed: 1 -> 01, 300 -> ac 02, -1 -> ten bytes ending in 01.
        let mut m = Msg::new();
        m.int(1, 1).int(2, 300).int(3, -1);
        let mut want = vec![0x08, 0x01, 0x10, 0xac, 0x02, 0x18];
        want.extend([0xff; 9]);
        want.push(0x01);
        assert_eq!(m.into_bytes(), want);
    }

    #[test]
    fn the_reader_decodes_what_the_writer_writes() {
        let n = node(
            "Conv",
            "conv1",
            &["x", "w", "b"],
            "y",
            &[
                ("pads", Attr::Ints(vec![2, 2, 2, 2])),
                ("group", Attr::Int(1)),
            ],
        );
        let mut graph = Msg::new();
        graph
            .msg(1, &n)
            .msg(5, &float_tensor("w", &[1, 2], &[0.5, -1.25]))
            .msg(
                11,
                &float_value_info("x", &[Dim::Symbolic("batch"), Dim::Fixed(3)]),
            )
            .msg(12, &float_value_info("y", &[Dim::Fixed(4)]));
        let mut model = Msg::new();
        model.int(1, 8).msg(7, &graph);
        let mut opset = Msg::new();
        opset.string(1, "").int(2, 17);
        model.msg(8, &opset);
        let m = crate::proto::parse_model(&model.into_bytes()).unwrap();
        assert_eq!(m.ir_version, 8);
        assert_eq!(m.opsets, vec![(String::new(), 17)]);
        let g = m.graph.unwrap();
        let node = &g.nodes[0];
        assert_eq!(
            (node.op_type.as_str(), node.name.as_str()),
            ("Conv", "conv1")
        );
        assert_eq!(node.inputs, ["x", "w", "b"]);
        assert_eq!(node.attributes[0].ints, [2, 2, 2, 2]);
        assert_eq!(node.attributes[1].i, Some(1));
        let w = &g.initializers[0];
        assert_eq!((w.dims.as_slice(), w.data_type), (&[1i64, 2][..], 1));
        assert_eq!(w.raw, [0.5f32, -1.25].map(f32::to_le_bytes).concat());
        assert_eq!(g.inputs[0].dims, Some(vec![None, Some(3)]));
        assert_eq!(g.outputs[0].dims, Some(vec![Some(4)]));
    }
}
