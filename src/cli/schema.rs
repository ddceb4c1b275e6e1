//! `eosflow schema …`: check Avro schema evolution with eosflow's engine ([`crate::schema`]),
//! offline on files or against a Schema Registry.
//!
//! Exit codes: 0 compatible (or valid), 1 incompatible (one reason per line on stdout, each with
//! its location), 2 undecidable input: a file that cannot be read, an invalid schema (the message
//! names the file and the place), a registry that cannot be asked.
//!
//! The logic is the schema job ([`crate::pipeline::schema`]); [`execute`] wires the flags to it
//! and returns the exit code and the output instead of printing, so it is tested without
//! spawning the binary; [`run`] prints and exits.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub use crate::pipeline::schema::{
    load, InputError, Outcome, COMPATIBLE, INCOMPATIBLE, INVALID_INPUT,
};
use crate::registry::client::RegistryClient;
use crate::schema::Level;
use clap::{Args, Subcommand};

/// Schema evolution commands.
#[derive(Debug, Clone, Subcommand)]
pub enum SchemaCommand {
    /// Can the reader schema read data written with the writer schema? (Java Avro's rules, as
    /// Confluent's Schema Registry applies them.)
    Compat(CompatArgs),
    /// Is a candidate schema compatible with previous versions (files, oldest first), or with a
    /// registry subject, under a compatibility level?
    Check(CheckArgs),
    /// Check that the `<name>.vN.avsc` files in a directory parse strictly and evolve, in the
    /// order of N, under a compatibility level.
    Lint(LintArgs),
    /// What a candidate User schema would do before it is registered: the compatibility verdict
    /// with its reasons, whether this eosflow reads records written with it, and for each sink
    /// the DDL it would run on its users table (or why it cannot).
    Plan(PlanArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// The new schema.
    #[arg(long)]
    pub candidate: PathBuf,
    /// Previous versions, oldest first (default: eosflow's history in avro/, compiled in).
    pub previous: Vec<PathBuf>,
    /// The level the candidate must meet (what the subject is set to).
    #[arg(long, default_value_t = Level::FullTransitive)]
    pub level: Level,
    /// A sink to plan for (repeatable): sqlite://PATH, postgres://…, cassandra://…; its users
    /// table is read, nothing is changed.
    #[arg(long = "sink")]
    pub sinks: Vec<String>,
    /// Users table name.
    #[arg(long, default_value = crate::cli::defaults::TABLE)]
    pub table: String,
}

#[derive(Debug, Clone, Args)]
pub struct CompatArgs {
    /// Schema that decodes (e.g. the consumer's).
    #[arg(long)]
    pub reader: PathBuf,
    /// Schema the data was encoded with (e.g. the producer's).
    #[arg(long)]
    pub writer: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE.
    /// With --registry it is only used to explain a rejection locally (default BACKWARD).
    #[arg(long, required_unless_present = "registry")]
    pub level: Option<Level>,
    /// The new schema.
    #[arg(long)]
    pub candidate: PathBuf,
    /// Previous versions, oldest first.
    #[arg(conflicts_with = "registry")]
    pub previous: Vec<PathBuf>,
    /// Ask this Schema Registry instead (its subject's own level decides).
    #[arg(long, requires = "subject")]
    pub registry: Option<String>,
    /// The registry subject, e.g. users-value.
    #[arg(long, requires = "registry")]
    pub subject: Option<String>,
    /// Registry request timeout, in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
    #[command(flatten)]
    pub registry_auth: crate::cli::security::RegistryAuthArgs,
}

#[derive(Debug, Clone, Args)]
pub struct LintArgs {
    /// Directory holding `<name>.v1.avsc`, `<name>.v2.avsc`, …
    pub dir: PathBuf,
    /// The level each version must meet against the ones before it.
    #[arg(long, default_value_t = Level::FullTransitive)]
    pub level: Level,
}

/// Runs `command`, prints its output, and returns its exit code.
pub fn run(command: &SchemaCommand) -> ExitCode {
    let outcome = execute(command);
    crate::out!("{}", outcome.stdout);
    eprint!("{}", outcome.stderr);
    ExitCode::from(outcome.code)
}

/// Runs `command` and returns its exit code and output. Must not be called from within an async
/// runtime (`check --registry` starts its own).
pub fn execute(command: &SchemaCommand) -> Outcome {
    use crate::pipeline::schema as job;
    match command {
        SchemaCommand::Compat(args) => job::compat(&args.reader, &args.writer),
        SchemaCommand::Check(args) => match (&args.registry, &args.subject) {
            (Some(url), Some(subject)) => {
                let auth = crate::cli::security::registry_auth(
                    url,
                    &args.registry_auth,
                    &crate::config::RegistryFile::default(),
                );
                let timeout = Duration::from_secs(args.timeout_secs);
                match RegistryClient::connect(url, timeout, &auth) {
                    Ok(registry) => job::check_registry(
                        &args.candidate,
                        args.level.unwrap_or_default(),
                        &registry,
                        subject,
                    ),
                    Err(error) => Outcome {
                        code: INVALID_INPUT,
                        stdout: String::new(),
                        stderr: format!("{error}\n"),
                    },
                }
            }
            _ => job::check_files(
                args.level.unwrap_or_default(),
                &args.candidate,
                &args.previous,
            ),
        },
        SchemaCommand::Lint(args) => job::lint(&args.dir, args.level),
        SchemaCommand::Plan(args) => {
            crate::pipeline::schema_plan::plan(&crate::pipeline::schema_plan::PlanRequest {
                candidate: &args.candidate,
                previous: &args.previous,
                level: args.level,
                sinks: &args.sinks,
                table: &args.table,
            })
        }
    }
}
