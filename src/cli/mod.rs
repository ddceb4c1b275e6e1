//! The command line: argument definitions ([`args`]) and wiring them to the jobs ([`run`]).
//! No logic lives here beyond resolving configuration and choosing adapters.

pub mod args;
pub mod run;
pub mod schema;

pub use args::Cli;
pub use run::run;
