//! One module per subcommand group.

pub mod data;
pub mod evaluate;
pub mod train;
