//! One module per subcommand group.

pub mod data;
pub mod evaluate;
pub mod poison;
pub mod sweep;
pub mod train;
