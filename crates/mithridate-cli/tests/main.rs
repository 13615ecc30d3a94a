//! All of this crate's integration tests, one module per file, linked into one test binary:
//! each binary statically links the whole dependency tree, so one instead of several saves
//! link time and disk (CI ran out of disk with ~100 test binaries).

mod aggregate_cli;
mod assess_cli;
mod common;
mod data_cli;
mod export_cli;
mod fl_cli;
mod gate_cli;
mod gate_onnx;
mod lm_cli;
mod onnx_cli;
mod privacy_cli;
mod provenance_cli;
mod rag_cli;
mod readers_cli;
mod registry_cli;
mod repair_cli;
mod scan_data_onnx_cli;
mod scan_model_cli;
mod scan_sanitize_cli;
mod sweep_cli;
mod text_cli;
mod train_cli;
