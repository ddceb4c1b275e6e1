//! `eosflow schema …`: check Avro schema evolution with eosflow's engine ([`crate::schema`]),
//! offline on files or against a Schema Registry.
//!
//! Exit codes: 0 compatible (or valid), 1 incompatible (one reason per line on stdout, each with
//! its location), 2 undecidable input: a file that cannot be read, an invalid schema (the message
//! names the file and the place), a registry that cannot be asked.
//!
//! The logic is [`execute`], which returns the exit code and the output instead of printing, so
//! it is tested without spawning the binary; [`run`] prints and exits.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use apache_avro::Schema;
use clap::{Args, Subcommand};
use schema_registry_converter::async_impl::schema_registry::{
    get_all_versions, get_schema_by_subject_and_version, is_compatible_schema, SrSettings,
};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{SchemaType, SuppliedSchema};

use crate::schema::{
    check, check_level, parse_strict, Direction, Level, LevelIncompatibility, SchemaError,
};

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

/// What a command produced: the exit code and its output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub code: u8,
    pub stdout: String,
    pub stderr: String,
}

pub const COMPATIBLE: u8 = 0;
pub const INCOMPATIBLE: u8 = 1;
pub const INVALID_INPUT: u8 = 2;

/// A schema file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Invalid { path: PathBuf, source: SchemaError },
}

/// Runs `command`, prints its output, and returns its exit code.
pub fn run(command: &SchemaCommand) -> ExitCode {
    let outcome = execute(command);
    print!("{}", outcome.stdout);
    eprint!("{}", outcome.stderr);
    ExitCode::from(outcome.code)
}

/// Runs `command` and returns its exit code and output. Must not be called from within an async
/// runtime (`check --registry` starts its own).
pub fn execute(command: &SchemaCommand) -> Outcome {
    match command {
        SchemaCommand::Compat(args) => compat(args),
        SchemaCommand::Check(args) => match (&args.registry, &args.subject) {
            (Some(url), Some(subject)) => registry_check(args, url, subject),
            _ => files_check(args),
        },
        SchemaCommand::Lint(args) => lint(args),
    }
}

/// Reads and strictly parses one schema file.
pub fn load(path: &Path) -> Result<(String, Schema), InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let schema = parse_strict(&text).map_err(|source| InputError::Invalid {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((text, schema))
}

fn invalid(errors: &[InputError]) -> Outcome {
    let mut stderr = String::new();
    for error in errors {
        let _ = writeln!(stderr, "invalid input: {error}");
    }
    Outcome {
        code: INVALID_INPUT,
        stdout: String::new(),
        stderr,
    }
}

/// Loads every path, or reports every one that fails.
fn load_all(paths: &[&Path]) -> Result<Vec<Schema>, Outcome> {
    let mut schemas = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match load(path) {
            Ok((_, schema)) => schemas.push(schema),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(schemas)
    } else {
        Err(invalid(&errors))
    }
}

fn compat(args: &CompatArgs) -> Outcome {
    let schemas = match load_all(&[&args.reader, &args.writer]) {
        Ok(schemas) => schemas,
        Err(outcome) => return outcome,
    };
    let found = check(&schemas[0], &schemas[1]);
    let (reader, writer) = (args.reader.display(), args.writer.display());
    if found.is_empty() {
        return Outcome {
            code: COMPATIBLE,
            stdout: format!("compatible: {reader} can read all data written with {writer}\n"),
            stderr: String::new(),
        };
    }
    let mut stdout = String::new();
    for incompatibility in &found {
        let _ = writeln!(stdout, "{incompatibility}");
    }
    Outcome {
        code: INCOMPATIBLE,
        stdout,
        stderr: format!(
            "incompatible: {reader} cannot read all data written with {writer} ({} problem(s); locations point into {reader})\n",
            found.len()
        ),
    }
}

/// One line per problem: which previous version, which way, where (file and pointer), what.
fn level_line(
    problem: &LevelIncompatibility,
    candidate: &str,
    previous: &dyn Fn(usize) -> String,
) -> String {
    let against = previous(problem.previous);
    let (way, reader) = match problem.direction {
        Direction::CandidateReadsPrevious => ("backward: the candidate reads it", candidate),
        Direction::PreviousReadsCandidate => ("forward: it reads the candidate", against.as_str()),
    };
    let found = &problem.incompatibility;
    format!(
        "against {against} ({way}): {} at {reader}:{}: {}",
        found.kind, found.location, found.message
    )
}

fn files_check(args: &CheckArgs) -> Outcome {
    let level = args.level.unwrap_or_default();
    let mut paths: Vec<&Path> = vec![&args.candidate];
    paths.extend(args.previous.iter().map(PathBuf::as_path));
    let mut schemas = match load_all(&paths) {
        Ok(schemas) => schemas,
        Err(outcome) => return outcome,
    };
    let candidate = schemas.remove(0);
    let found = check_level(level, &candidate, &schemas);
    let name = args.candidate.display().to_string();
    let previous = |index: usize| {
        args.previous
            .get(index)
            .map(|path| path.display().to_string())
            .unwrap_or_default()
    };
    if found.is_empty() {
        return Outcome {
            code: COMPATIBLE,
            stdout: format!(
                "compatible: {name} meets {level} against {} previous version(s)\n",
                schemas.len()
            ),
            stderr: String::new(),
        };
    }
    let mut stdout = String::new();
    for problem in &found {
        let _ = writeln!(stdout, "{}", level_line(problem, &name, &previous));
    }
    Outcome {
        code: INCOMPATIBLE,
        stdout,
        stderr: format!("incompatible: {name} does not meet {level}\n"),
    }
}

/// `<name>.v<N>.avsc` → (name, N).
fn versioned(file_name: &str) -> Option<(String, u32)> {
    let stem = file_name.strip_suffix(".avsc")?;
    let (name, version) = stem.rsplit_once(".v")?;
    let version: u32 = version.parse().ok()?;
    (!name.is_empty() && version > 0).then(|| (name.to_string(), version))
}

fn lint(args: &LintArgs) -> Outcome {
    let entries = match std::fs::read_dir(&args.dir) {
        Ok(entries) => entries,
        Err(source) => {
            return invalid(&[InputError::Read {
                path: args.dir.clone(),
                source,
            }])
        }
    };
    let mut families: BTreeMap<String, BTreeMap<u32, PathBuf>> = BTreeMap::new();
    let mut errors = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().to_string();
        if let Some((name, version)) = versioned(&file_name) {
            let family = families.entry(name).or_default();
            if let Some(other) = family.insert(version, entry.path()) {
                errors.push(format!(
                    "invalid input: {} and {} both claim version {version}",
                    other.display(),
                    entry.path().display()
                ));
            }
        }
    }
    if families.is_empty() {
        errors.push(format!(
            "invalid input: no <name>.vN.avsc files in {}",
            args.dir.display()
        ));
    }
    let mut outcome = Outcome::default();
    for message in errors {
        outcome.code = INVALID_INPUT;
        let _ = writeln!(outcome.stderr, "{message}");
    }
    for (name, versions) in &families {
        let paths: Vec<&Path> = versions.values().map(PathBuf::as_path).collect();
        let schemas = match load_all(&paths) {
            Ok(schemas) => schemas,
            Err(failed) => {
                outcome.code = INVALID_INPUT;
                outcome.stderr.push_str(&failed.stderr);
                continue;
            }
        };
        let shown = |index: usize| {
            paths
                .get(index)
                .map(|path| path.display().to_string())
                .unwrap_or_default()
        };
        let mut clean = true;
        for index in 1..schemas.len() {
            let found = check_level(args.level, &schemas[index], &schemas[..index]);
            for problem in &found {
                let line = level_line(problem, &shown(index), &shown);
                let _ = writeln!(outcome.stdout, "{line}");
            }
            clean &= found.is_empty();
        }
        if clean {
            let _ = writeln!(
                outcome.stdout,
                "ok: {name} v{} evolve under {} and parse strictly",
                versions
                    .keys()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", v"),
                args.level
            );
        } else if outcome.code == COMPATIBLE {
            outcome.code = INCOMPATIBLE;
        }
    }
    outcome
}

fn sr_error(error: &SRCError) -> String {
    match &error.cause {
        Some(cause) => format!("{}: {cause}", error.error),
        None => error.error.clone(),
    }
}

/// Asks the registry (`POST /compatibility/subjects/{subject}/versions`, the subject's own
/// level). `schema_registry_converter` returns only the verdict, not Confluent's verbose
/// messages, so a rejection is explained by running eosflow's engine on the subject's versions.
fn registry_check(args: &CheckArgs, url: &str, subject: &str) -> Outcome {
    let (text, candidate) = match load(&args.candidate) {
        Ok(loaded) => loaded,
        Err(error) => return invalid(&[error]),
    };
    let auth = crate::cli::security::registry_auth(
        url,
        &args.registry_auth,
        &crate::config::RegistryFile::default(),
    );
    let timeout = Duration::from_secs(args.timeout_secs);
    let connection = match crate::registry::client::settings(url, timeout, &auth) {
        Ok(connection) => connection,
        Err(error) => {
            return Outcome {
                code: INVALID_INPUT,
                stdout: String::new(),
                stderr: format!("{error}\n"),
            }
        }
    };
    // From here on the URL is shown without credentials.
    let url = connection.url.as_str();
    let with_credentials = connection.with_credentials;
    let sr_error = |error: &SRCError| match crate::registry::client::auth_status(error) {
        Some(_) => crate::registry::client::unauthorized(url, error, with_credentials).to_string(),
        None => sr_error(error),
    };
    let failed = |what: String| Outcome {
        code: INVALID_INPUT,
        stdout: String::new(),
        stderr: format!("cannot ask the registry at {url}: {what}\n"),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return failed(format!("cannot start the async runtime: {error}")),
    };
    let settings = connection.settings;
    let supplied = SuppliedSchema::new(None, SchemaType::Avro, text);
    let verdict = runtime.block_on(is_compatible_schema(
        &settings,
        subject.to_string(),
        supplied,
    ));
    match verdict {
        Err(error) => failed(sr_error(&error)),
        Ok(true) => Outcome {
            code: COMPATIBLE,
            stdout: format!(
                "compatible: the registry at {url} accepts the candidate for subject {subject:?}\n"
            ),
            stderr: String::new(),
        },
        Ok(false) => {
            let level = args.level.unwrap_or_default();
            let mut stdout = String::new();
            let mut stderr = format!(
                "incompatible: the registry at {url} rejects the candidate for subject {subject:?}\n"
            );
            match runtime.block_on(subject_versions(&settings, subject)) {
                Ok(previous) => {
                    let schemas: Vec<Schema> = previous.iter().map(|(_, s)| s.clone()).collect();
                    let found = check_level(level, &candidate, &schemas);
                    let name = args.candidate.display().to_string();
                    let shown = |index: usize| {
                        previous
                            .get(index)
                            .map(|(version, _)| format!("{subject} version {version}"))
                            .unwrap_or_default()
                    };
                    for problem in &found {
                        let _ = writeln!(stdout, "{}", level_line(problem, &name, &shown));
                    }
                    let _ = writeln!(
                        stderr,
                        "explained by eosflow's engine under {level} (the subject's own level is not read; pass --level to match it){}",
                        if found.is_empty() { ": no problem found at that level" } else { "" }
                    );
                }
                Err(error) => {
                    let _ = writeln!(
                        stderr,
                        "cannot fetch the subject's versions to explain: {error}"
                    );
                }
            }
            Outcome {
                code: INCOMPATIBLE,
                stdout,
                stderr,
            }
        }
    }
}

/// The subject's versions that parse, oldest first.
async fn subject_versions(
    settings: &SrSettings,
    subject: &str,
) -> Result<Vec<(u32, Schema)>, String> {
    let mut versions = get_all_versions(settings, subject.to_string())
        .await
        .map_err(|error| sr_error(&error))?;
    versions.sort_unstable();
    let mut schemas = Vec::new();
    for version in versions {
        let registered = get_schema_by_subject_and_version(settings, subject, Some(version))
            .await
            .map_err(|error| sr_error(&error))?;
        if let Ok(schema) = Schema::parse_str(&registered.schema) {
            schemas.push((version, schema));
        }
    }
    Ok(schemas)
}
