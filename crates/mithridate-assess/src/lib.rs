//! # mithridate-assess
//!
//! The *evaluate -> report* stage of Mithridate's data flow: an assessment is a matrix of
//! datasets x attacks (with budgets) x defences x seeds, plus federated scenarios (rules x
//! update attacks), continual-retraining streams and retrieval-poisoning (RAG) matrices
//! (retrievers x attacks x poisons per target x defence settings). This crate holds
//! everything about it that does not train models:
//!
//! - [`config`]: the `assess.toml` format (and the built-in default), with line-numbered errors;
//! - [`plan`]: expanding a configuration into cells with stable ids, and `--shard i/n`;
//! - [`store`]: the crash-safe `results.jsonl` (atomic appends, merge of shard directories);
//! - [`runner`]: running pending cells on worker threads, resumable;
//! - [`record`]: the per-cell result format;
//! - `report`: HTML / Markdown / CSV / JSON reports and the risk summary.
//!
//! The caller (the `mithridate assess` command) supplies the function that executes one cell.
//!
//! Cost: the plan has `seeds x (1 + A + A x D)` centralized cells for `A` attack budgets and
//! `D` defences per block, `seeds x rules x attacks` federated cells, and `seeds x retrievers x
//! attacks x poisons x (1 + settings)` RAG cells per `[rag]` block; each append rewrites
//! `results.jsonl` (O(cells) bytes, negligible next to training).

pub mod config;
pub mod plan;
pub mod record;
pub mod report;
pub mod runner;
pub mod store;
