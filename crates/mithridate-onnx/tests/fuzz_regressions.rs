//! Inputs the fuzzer (`fuzz/`, target `onnx`) found crashing the loader, kept as files in
//! `tests/regressions/`: each must now be a one-line error.

use mithridate_onnx::{InputOptions, OnnxClassifier};

fn load_error(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/regressions")
        .join(name);
    let bytes = std::fs::read(path).unwrap();
    OnnxClassifier::from_bytes(&bytes, InputOptions::default())
        .unwrap_err()
        .to_string()
}

/// An initializer whose dims multiply past `usize::MAX` (a mutated `ops_nhwc_torchscript`):
/// the element count overflowed (`attempt to multiply with overflow` in `Value::from_proto`).
#[test]
fn initializer_dims_whose_product_overflows_are_an_error() {
    let e = load_error("overflowing_dims.onnx");
    assert!(e.contains("whose product overflows"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}
