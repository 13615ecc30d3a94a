//! One module per subcommand group.

pub mod aggregate;
pub mod assess;
pub mod audit;
pub mod continual;
pub mod data;
pub mod defend;
pub mod evaluate;
pub mod export;
pub mod fl;
pub mod gate;
pub mod lm;
pub mod model_arg;
pub mod poison;
pub mod privacy;
pub mod provenance;
pub mod rag;
pub mod reader_flags;
pub mod repair;
pub mod report;
pub mod sanitize;
pub mod scan;
pub mod sweep;
pub mod text;
pub mod train;
