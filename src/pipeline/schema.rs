//! `eosflow schema`: compatibility of schema files (`compat`, `check`, `lint`) and of a
//! candidate against a registry subject (`check --registry`), as exit codes and text. The CLI
//! only parses the flags and calls these.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use apache_avro::Schema;

use crate::registry::client::{RegistryClient, Verdict};
use crate::schema::{
    check, check_level, parse_strict, Direction, Level, LevelIncompatibility, SchemaError,
};

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

/// `eosflow schema compat`: can `reader` read what `writer` wrote?
pub fn compat(reader: &Path, writer: &Path) -> Outcome {
    let schemas = match load_all(&[reader, writer]) {
        Ok(schemas) => schemas,
        Err(outcome) => return outcome,
    };
    let found = check(&schemas[0], &schemas[1]);
    let (reader, writer) = (reader.display(), writer.display());
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

/// `eosflow schema check` against files: does `candidate` meet `level` against `previous`
/// (oldest first)?
pub fn check_files(level: Level, candidate_path: &Path, previous_paths: &[PathBuf]) -> Outcome {
    let mut paths: Vec<&Path> = vec![candidate_path];
    paths.extend(previous_paths.iter().map(PathBuf::as_path));
    let mut schemas = match load_all(&paths) {
        Ok(schemas) => schemas,
        Err(outcome) => return outcome,
    };
    let candidate = schemas.remove(0);
    let found = check_level(level, &candidate, &schemas);
    let name = candidate_path.display().to_string();
    let previous = |index: usize| {
        previous_paths
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

/// `eosflow schema lint`: the `<name>.vN.avsc` files of `dir` parse strictly and evolve under
/// `level`, in the order of N.
pub fn lint(dir: &Path, level: Level) -> Outcome {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(source) => {
            return invalid(&[InputError::Read {
                path: dir.to_path_buf(),
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
            dir.display()
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
            let found = check_level(level, &schemas[index], &schemas[..index]);
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
                level
            );
        } else if outcome.code == COMPATIBLE {
            outcome.code = INCOMPATIBLE;
        }
    }
    outcome
}

/// `eosflow schema check --registry`: the registry's verdict for `candidate` under `subject`
/// (the subject's own level decides). The registry's answer carries no reasons, so a rejection
/// is explained by eosflow's engine on the subject's versions under `level`.
pub fn check_registry(
    candidate_path: &Path,
    level: Level,
    registry: &RegistryClient,
    subject: &str,
) -> Outcome {
    let (text, candidate) = match load(candidate_path) {
        Ok(loaded) => loaded,
        Err(error) => return invalid(&[error]),
    };
    let url = registry.url().to_string();
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
    match runtime.block_on(registry.check_compatible(subject, &text)) {
        Err(error) => failed(error.to_string()),
        Ok(Verdict::NoSuchSubject { known }) => Outcome {
            code: INVALID_INPUT,
            stdout: String::new(),
            stderr: format!(
                "subject {subject:?} does not exist in the registry at {url} (it has {}): check the name; a subject's first version is registered without any compatibility check\n",
                if known.is_empty() { "no subjects".to_string() } else { format!("subjects {}", known.join(", ")) }
            ),
        },
        Ok(Verdict::Compatible) => Outcome {
            code: COMPATIBLE,
            stdout: format!(
                "compatible: the registry at {url} accepts the candidate for subject {subject:?}\n"
            ),
            stderr: String::new(),
        },
        Ok(Verdict::Incompatible) => {
            let mut stdout = String::new();
            let mut stderr = format!(
                "incompatible: the registry at {url} rejects the candidate for subject {subject:?}\n"
            );
            match runtime.block_on(registry.subject_versions(subject)) {
                Ok(previous) => {
                    let schemas: Vec<Schema> = previous.iter().map(|(_, s)| s.clone()).collect();
                    let found = check_level(level, &candidate, &schemas);
                    let name = candidate_path.display().to_string();
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
