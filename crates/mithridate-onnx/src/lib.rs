//! # mithridate-onnx
//!
//! Loads classifiers that users exported from PyTorch to ONNX (`torch.onnx.export`, both the
//! TorchScript exporter and the dynamo exporter) and applies them to Mithridate datasets:
//! logits and predictions, any intermediate value (embeddings for data-level detectors), and
//! gradients of the cross-entropy with respect to the input (trigger reverse-engineering).
//!
//! ## Design (why not tract-onnx or candle-onnx)
//!
//! Measured on this project's 2-core machine (`shared/reference/stack.md`): tract-onnx loads
//! every test export but has no autodiff and adds ~9 minutes to a cold build; candle-onnx has
//! autodiff but needs `protoc` at build time and fails on the `Mod` node of PyTorch's
//! `nn.Unflatten` export. This crate decodes the protobuf by hand ([`proto`], no dependency) and
//! evaluates the ~40 operators a feed-forward classifier uses on candle tensors, which the
//! workspace already builds for the engine: no new dependency, and candle's reverse-mode
//! autodiff gives input gradients through the whole graph.
//!
//! The other direction, [`export_classifier`], writes a model Mithridate trained (logreg, mlp,
//! cnn) as a standard ONNX classifier (IR 8, opset 17) that this importer and ONNX Runtime
//! evaluate to the engine's own logits (`mithridate export` on the command line).
//!
//! ```no_run
//! use mithridate_onnx::{InputOptions, OnnxClassifier};
//! # fn demo(data: &mithridate_data::Dataset) -> Result<(), mithridate_onnx::OnnxError> {
//! let model = OnnxClassifier::load("model.onnx".as_ref(), InputOptions::default())?;
//! model.check_compatible(data)?; // layout from the graph input, classes from its output
//! let predictions = model.predict(data)?;
//! let gradients = model.input_gradients(data, &predictions)?;
//! # Ok(()) }
//! ```

mod classifier;
mod error;
mod export;
#[cfg(test)]
mod export_tests;
mod graph;
mod ops;
pub mod proto;
mod proto_write;
pub mod row_parts;
mod shape_ops;
mod value;

pub use classifier::{InputLayout, InputOptions, OnnxClassifier};
pub use error::OnnxError;
pub use export::{
    export_classifier, OnnxExport, EXPORT_HIDDEN, EXPORT_INPUT, EXPORT_IR_VERSION, EXPORT_OPSET,
    EXPORT_OUTPUT,
};
pub use graph::OPSETS;
pub use ops::SUPPORTED as SUPPORTED_OPERATORS;
pub use proto_write::Dim;

/// True when `path` names an ONNX file (by extension), so commands can pick the loader.
pub fn is_onnx_path(path: &std::path::Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}
