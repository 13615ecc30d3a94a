//! Hand-computed cases for the operators the PyTorch fixtures do not reach (or reach only in
//! one configuration): each expected value is worked out from the ONNX specification.

use candle_core::{Device, Tensor};

use crate::ops::eval;
use crate::proto::{Attribute, Node};
use crate::value::Value;

fn node(op: &str, attrs: Vec<Attribute>) -> Node {
    Node {
        op_type: op.into(),
        name: format!("test_{op}"),
        outputs: vec!["y".into()],
        attributes: attrs,
        ..Node::default()
    }
}

fn int_attr(name: &str, v: i64) -> Attribute {
    Attribute {
        name: name.into(),
        i: Some(v),
        ..Attribute::default()
    }
}

fn ints_attr(name: &str, v: &[i64]) -> Attribute {
    Attribute {
        name: name.into(),
        ints: v.to_vec(),
        ..Attribute::default()
    }
}

fn f(values: &[f32], shape: &[usize]) -> Value {
    Value::Float(Tensor::from_vec(values.to_vec(), shape, &Device::Cpu).unwrap())
}

fn i(values: &[i64]) -> Value {
    Value::Int {
        data: values.to_vec(),
        shape: vec![values.len()],
    }
}

fn run(n: &Node, opset: i64, inputs: &[&Value]) -> Value {
    let args: Vec<Option<&Value>> = inputs.iter().map(|v| Some(*v)).collect();
    match eval(n, opset, &args) {
        Ok(mut out) => out.remove(0),
        Err(e) => panic!("{}: {}", n.op_type, e.message),
    }
}

fn floats(v: &Value) -> (Vec<f32>, Vec<usize>) {
    let t = v.to_float().unwrap();
    (
        t.flatten_all().unwrap().to_vec1().unwrap(),
        t.dims().to_vec(),
    )
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

#[test]
fn softmax_and_log_softmax_over_the_last_axis() {
    let x = f(&[0.0, 0.0, 3f32.ln(), 1.0, 1.0, 1.0], &[2, 3]);
    let (p, _) = floats(&run(&node("Softmax", vec![]), 13, &[&x]));
    close(&p, &[0.2, 0.2, 0.6, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]);
    let (lp, _) = floats(&run(&node("LogSoftmax", vec![]), 13, &[&x]));
    close(
        &lp,
        &[
            0.2f32.ln(),
            0.2f32.ln(),
            0.6f32.ln(),
            -(3f32.ln()),
            -(3f32.ln()),
            -(3f32.ln()),
        ],
    );
}

#[test]
fn elementwise_unary_operators() {
    let x = f(&[-2.0, 0.5, 4.0], &[3]);
    let cases: [(&str, [f32; 3]); 5] = [
        ("Abs", [2.0, 0.5, 4.0]),
        ("Neg", [2.0, -0.5, -4.0]),
        ("Reciprocal", [-0.5, 2.0, 0.25]),
        ("Exp", [(-2f32).exp(), 0.5f32.exp(), 4f32.exp()]),
        ("Relu", [0.0, 0.5, 4.0]),
    ];
    for (op, want) in cases {
        close(&floats(&run(&node(op, vec![]), 13, &[&x])).0, &want);
    }
    let pos = f(&[1.0, 4.0], &[2]);
    close(
        &floats(&run(&node("Sqrt", vec![]), 13, &[&pos])).0,
        &[1.0, 2.0],
    );
    close(
        &floats(&run(&node("Log", vec![]), 13, &[&pos])).0,
        &[0.0, 4f32.ln()],
    );
    // Clip before opset 11 takes attributes, from 11 inputs.
    let lo = Attribute {
        name: "min".into(),
        f: Some(0.0),
        ..Attribute::default()
    };
    let hi = Attribute {
        name: "max".into(),
        f: Some(1.0),
        ..Attribute::default()
    };
    close(
        &floats(&run(&node("Clip", vec![lo, hi]), 9, &[&x])).0,
        &[0.0, 0.5, 1.0],
    );
    let (a, b) = (f(&[0.0], &[]), f(&[1.0], &[]));
    close(
        &floats(&run(&node("Clip", vec![]), 13, &[&x, &a, &b])).0,
        &[0.0, 0.5, 1.0],
    );
}

#[test]
fn integer_arithmetic_broadcasts_and_mod_follows_the_divisor_sign() {
    let m = run(&node("Mod", vec![]), 13, &[&i(&[-7, 7, 5]), &i(&[3])]);
    assert_eq!(m.to_ints().unwrap().0, vec![2, 1, 2]);
    let m = run(
        &node("Mod", vec![int_attr("fmod", 1)]),
        13,
        &[&i(&[-7, 7]), &i(&[3])],
    );
    assert_eq!(m.to_ints().unwrap().0, vec![-1, 1]);
    let col = Value::Int {
        data: vec![10, 20],
        shape: vec![2, 1],
    };
    let s = run(&node("Add", vec![]), 13, &[&col, &i(&[1, 2, 3])]);
    assert_eq!(
        s.to_ints().unwrap(),
        (vec![11, 12, 13, 21, 22, 23], vec![2, 3])
    );
    let d = run(&node("Div", vec![]), 13, &[&i(&[7, -7]), &i(&[2])]);
    assert_eq!(d.to_ints().unwrap().0, vec![3, -3], "integer Div truncates");
}

#[test]
fn shape_gather_slice_concat_squeeze() {
    let x = f(&[0.0; 24], &[2, 3, 4]);
    let shape = run(&node("Shape", vec![]), 13, &[&x]);
    assert_eq!(shape.to_ints().unwrap().0, vec![2, 3, 4]);
    let shape15 = run(&node("Shape", vec![int_attr("start", 1)]), 15, &[&x]);
    assert_eq!(shape15.to_ints().unwrap().0, vec![3, 4]);
    let g = run(
        &node("Gather", vec![]),
        13,
        &[&shape, &Value::scalar_int(-1)],
    );
    assert_eq!(g.to_ints().unwrap(), (vec![4], vec![]));
    // Float Gather along axis 1 of a 2x3 matrix.
    let m = f(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let g = run(
        &node("Gather", vec![int_attr("axis", 1)]),
        13,
        &[&m, &i(&[2, 0])],
    );
    assert_eq!(floats(&g), (vec![3.0, 1.0, 6.0, 4.0], vec![2, 2]));
    // Slice (opset 10+: inputs), negative start, end past the dimension.
    let s = run(
        &node("Slice", vec![]),
        13,
        &[&m, &i(&[-2]), &i(&[100]), &i(&[1])],
    );
    assert_eq!(floats(&s), (vec![2.0, 3.0, 5.0, 6.0], vec![2, 2]));
    let c = run(
        &node("Concat", vec![int_attr("axis", 0)]),
        13,
        &[&i(&[1]), &i(&[2, 3])],
    );
    assert_eq!(c.to_ints().unwrap().0, vec![1, 2, 3]);
    let c = run(&node("Concat", vec![int_attr("axis", 1)]), 13, &[&m, &m]);
    assert_eq!(floats(&c).1, vec![2, 6]);
    let u = run(&node("Unsqueeze", vec![]), 13, &[&m, &i(&[0, -1])]);
    assert_eq!(u.shape(), vec![1, 2, 3, 1]);
    let u9 = run(&node("Unsqueeze", vec![ints_attr("axes", &[1])]), 9, &[&m]);
    assert_eq!(u9.shape(), vec![2, 1, 3]);
    assert_eq!(run(&node("Squeeze", vec![]), 13, &[&u]).shape(), vec![2, 3]);
    let t = run(&node("Transpose", vec![]), 13, &[&m]);
    assert_eq!(floats(&t), (vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0], vec![3, 2]));
    let cast = run(
        &node("Cast", vec![int_attr("to", 7)]),
        13,
        &[&f(&[2.7, -2.7], &[2])],
    );
    assert_eq!(cast.to_ints().unwrap().0, vec![2, -2]);
    let cos = run(&node("ConstantOfShape", vec![]), 13, &[&i(&[2, 2])]);
    assert_eq!(floats(&cos), (vec![0.0; 4], vec![2, 2]));
}

#[test]
fn pooling_padding_rules() {
    // 1x1x3x3 input 1..9.
    let x = f(
        &(1..=9).map(|v| v as f32).collect::<Vec<_>>(),
        &[1, 1, 3, 3],
    );
    // MaxPool 2x2 stride 2 with ceil_mode: windows {1,2,4,5} {3,6} {7,8} {9}.
    let attrs = vec![
        ints_attr("kernel_shape", &[2, 2]),
        ints_attr("strides", &[2, 2]),
        int_attr("ceil_mode", 1),
    ];
    assert_eq!(
        floats(&run(&node("MaxPool", attrs), 13, &[&x])),
        (vec![5.0, 6.0, 8.0, 9.0], vec![1, 1, 2, 2])
    );
    // AveragePool 2x2 stride 1, SAME_UPPER: pads the end; without pad counting the corner
    // window {9} averages to 9, with it to 9/4.
    let same = Attribute {
        name: "auto_pad".into(),
        s: Some(b"SAME_UPPER".to_vec()),
        ..Attribute::default()
    };
    let attrs = |count: i64| {
        vec![
            ints_attr("kernel_shape", &[2, 2]),
            same.clone(),
            int_attr("count_include_pad", count),
        ]
    };
    let (v, shape) = floats(&run(&node("AveragePool", attrs(0)), 13, &[&x]));
    assert_eq!(shape, vec![1, 1, 3, 3]);
    close(&v, &[3.0, 4.0, 4.5, 6.0, 7.0, 7.5, 7.5, 8.5, 9.0]);
    let (v, _) = floats(&run(&node("AveragePool", attrs(1)), 13, &[&x]));
    close(&v[8..], &[9.0 / 4.0]);
    let (v, shape) = floats(&run(&node("GlobalMaxPool", vec![]), 13, &[&x]));
    assert_eq!((v, shape), (vec![9.0], vec![1, 1, 1, 1]));
    let (v, _) = floats(&run(&node("GlobalAveragePool", vec![]), 13, &[&x]));
    close(&v, &[5.0]);
}

#[test]
fn conv_with_asymmetric_padding_and_groups() {
    // Two channels, group 2, 1x1 kernels of weights 2 and 3, bias 1 and 0, pads top 1 only.
    let x = f(&[1.0, 2.0, 3.0, 4.0], &[1, 2, 1, 2]);
    let w = f(&[2.0, 3.0], &[2, 1, 1, 1]);
    let b = f(&[1.0, 0.0], &[2]);
    let attrs = vec![int_attr("group", 2), ints_attr("pads", &[1, 0, 0, 0])];
    let (v, shape) = floats(&run(&node("Conv", attrs), 13, &[&x, &w, &b]));
    assert_eq!(shape, vec![1, 2, 2, 2]);
    close(&v, &[1.0, 1.0, 3.0, 5.0, 0.0, 0.0, 9.0, 12.0]);
}

#[test]
fn unsupported_configurations_say_so() {
    let x = f(&[0.0; 8], &[1, 1, 8]);
    let w = f(&[1.0; 3], &[1, 1, 3]);
    let err = eval(&node("Conv", vec![]), 13, &[Some(&x), Some(&w)]).unwrap_err();
    assert!(
        err.unsupported && err.message.contains("rank 3"),
        "{}",
        err.message
    );
    let m = f(&[1.0; 4], &[2, 2]);
    let steps = eval(
        &node("Slice", vec![]),
        13,
        &[
            Some(&m),
            Some(&i(&[0])),
            Some(&i(&[2])),
            Some(&i(&[0])),
            Some(&i(&[2])),
        ],
    );
    assert!(steps.unwrap_err().unsupported);
}
