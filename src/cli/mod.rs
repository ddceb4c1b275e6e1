//! The command line: argument definitions ([`args`]) and wiring them to the jobs ([`run`]);
//! the security flags and their resolution in [`security`]; every option's default, once, in
//! [`defaults`] (which `--help` shows, through [`command`]).
//! No logic lives here beyond resolving configuration and choosing adapters.

pub mod args;
pub mod command;
pub mod defaults;
pub mod run;
pub mod schema;
pub mod security;
mod status_config;

pub use args::Cli;
pub use run::run;
